"""The Data Source's "Storage" source in the node panel, on a real engine: an S3 connection
(the repo's catalog plugin ``s3``, installed in the data dir's plugin folder, talking to
moto's real S3 server on loopback), only object-storage connections offered, an object
picked from the connection's listing, and the preview of its rows. Secrets go to the real
keychain; the form never holds them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.main import build_app_class
from engine import paths
from tests.app.kivyrun import running, wait_until
from tests.app.test_inspector import Harness, _pick_from_menu, example  # noqa: F401  (fixture)
from tests.integration.objectstores import CATALOG_PLUGINS, moto_s3

pytest.importorskip("moto")
pytest.importorskip("pyarrow")


@pytest.fixture
def storage(example: Path, keyring_ready):  # noqa: F811
    plugins = paths.default_paths().plugins
    plugins.mkdir(parents=True, exist_ok=True)
    shutil.copytree(CATALOG_PLUGINS / "s3", plugins / "s3", ignore=shutil.ignore_patterns("__pycache__"))
    with moto_s3() as s3:
        client = s3.client()
        client.create_bucket(Bucket="drops")
        client.put_object(Bucket="drops", Key="in/orders.csv", Body=b"id,amount\n1,2.5\n2,4\n3,10\n")
        client.put_object(Bucket="drops", Key="in/other.json", Body=b'[{"x": 1}]')
        app = build_app_class()()
        with running(app):
            try:
                wait_until(lambda: app.engine_ok, 60, "the engine link")
                app.bridge.call_blocking(
                    "connections.add", id="lake", type="s3", name="Lake",
                    settings={"endpoint": s3.url, "region": s3.region, "bucket": "drops"},
                    secrets={"access_key_id": "testing", "secret_key": "testing"})
                db = example / "shop.sqlite"
                app.bridge.call_blocking("connections.add", id="shop", type="sqlite", name="Shop",
                                         settings={"path": str(db)})
                yield Harness(app, example)
            finally:
                app.bridge.call_blocking("shutdown", timeout=15)


def test_a_data_source_reads_an_object_picked_from_a_storage_connection(storage: Harness) -> None:
    h = storage
    form = h.show("orders")
    h.tap(form.source.button_for("storage"))
    assert h.config("orders") == {"source": "storage", "connection": "", "path": ""}
    assert "Choose the connection" in form.preview.status

    connection = form.fields["connection"]
    _pick_from_menu(connection, "Lake (s3)")
    assert [label for _, label in connection.options] == ["Lake (s3)"]     # not the SQLite database
    assert h.config("orders")["connection"] == "lake"

    objects = next(w for w in form.details.children if getattr(w, "key", "") == "objects")
    _pick_from_menu(objects, "in/orders.csv")
    assert h.config("orders") == {"source": "storage", "connection": "lake", "path": "in/orders.csv"}
    assert form.fields["path"].text == "in/orders.csv"
    wait_until(lambda: form.preview.table.columns == [("id", "INTEGER"), ("amount", "REAL")], 60,
               "the object's preview")
    assert form.preview.table.cell_texts()[:3] == [["1", "2.5"], ["2", "4.0"], ["3", "10.0"]]
    h.shots("data_source_storage")

    h.doc.undo()
    assert h.config("orders") == {"source": "storage", "connection": "lake", "path": ""}
