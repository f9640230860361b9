"""The Azure Blob catalog plugin end to end, against the Azurite emulator on loopback.

Published with the publisher tool, installed through ``dagflux plugins``; a connection with
a random account key (Azurite runs with that account and key); workflows read Parquet, CSV
and a prefix of JSON Lines blobs and write CSV and Parquet back; the browser lists every
container's blobs and previews 5 rows; then removal. The account key never appears in any
file, output, log or frame (the ``secret_leak`` search, as in test_secret_leak.py).
"""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import pytest

from engine import frametap
from tests.integration.helpers import RecordedCli, node, sql, start, write_workflow
from tests.integration.objectstores import S3Catalog, azurite, plugin_copy
from tests.integration.test_secret_leak import _encodings

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _seed(fs) -> None:
    fs.create_dir("data")
    fs.create_dir("other")
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2, 3], "amount": [9.5, 20.0, 7.25], "city": ["Lyon", "Oslo", "Lyon"]}), sink)
    for path, body in (("data/in/orders.parquet", sink.getvalue()), ("data/in/people.csv", b"name,age\nada,36\n"),
                       ("data/in/parts/a.jsonl", b'{"k": "x"}\n{"k": "y"}\n'),
                       ("data/in/parts/b.jsonl", b'{"k": "z"}\n'),
                       ("other/readme.csv", b"a\n1\n")):
        with fs.open_output_stream(path) as out:
            out.write(body)


def _read(fs, path: str) -> bytes:
    with fs.open_input_stream(path) as src:
        return src.read()


def test_azure_blob_plugin_against_azurite(keyring_ready, cli, dagflux_home, tmp_path, monkeypatch):
    account, key = "dagfluxtest", base64.b64encode(os.urandom(64)).decode()
    run = RecordedCli(cli, tmp_path, monkeypatch)
    outputs, frame_log = run.outputs, run.frame_log

    with azurite(tmp_path, account, key) as emulator, S3Catalog(tmp_path / "cat") as catalog:
        fs = emulator.filesystem()
        _seed(fs)
        catalog.publish(plugin_copy(tmp_path, "azure_blob", "1.0.0"))
        catalog.activate(monkeypatch)
        out = run("plugins", "install", "azure_blob")
        assert out.returncode == 0 and "installed azure_blob 1.0.0" in out.stdout, out.stderr
        settings = ["--set", f"account_name={account}", "--set", f"endpoint={emulator.url}"]
        assert run("connections", "add", "azure_blob", "store", *settings, "--set", "container=data",
                   input=f"{key}\n").returncode == 0
        assert run("connections", "add", "azure_blob", "everything", *settings, input=f"{key}\n").returncode == 0
        assert "container 'data' is reachable" in run("connections", "test", "store").stdout
        listed = json.loads(run("connections", "objects", "everything", "--json").stdout)
        assert {"data/in/orders.parquet", "other/readme.csv"} <= set(listed)
        sample = run("connections", "sample", "store", "in/orders.parquet", "--json")
        assert json.loads(sample.stdout)["rows"][:2] == [[1, 9.5, "Lyon"], [2, 20.0, "Oslo"]], sample.stderr

        by_city = write_workflow(tmp_path, "az_by_city", [
            start(), node("orders", "data_source", {"source": "storage", "connection": "store",
                                                    "path": "in/orders.parquet"}),
            sql("by_city", "SELECT city, count(*) AS n FROM {{ input }} GROUP BY city ORDER BY city"),
            node("out", "output", {"connection": "store", "path": "out/by_city.csv"})],
            [("start", "orders"), ("orders", "by_city"), ("by_city", "out")])
        parts = write_workflow(tmp_path, "az_parts", [
            start(), node("parts", "data_source", {"source": "storage", "connection": "store", "path": "in/parts/"}),
            node("out", "output", {"connection": "everything", "path": "other/parts.parquet"})],
            [("start", "parts"), ("parts", "out")])
        missing = write_workflow(tmp_path, "az_missing", [
            start(), node("x", "data_source", {"source": "storage", "connection": "store", "path": "in/none.csv"})],
            [("start", "x")])
        for flow in (by_city, parts):
            done = run("run", "--json", str(flow))
            assert done.returncode == 0, (flow.stem, done.stdout, done.stderr)
        failed = run("run", "--json", str(missing))
        assert failed.returncode == 1 and "has no object at 'in/none.csv'" in failed.stdout + failed.stderr
        assert _read(fs, "data/out/by_city.csv").decode().splitlines() == ["city,n", "Lyon,2", "Oslo,1"]
        table = pq.read_table(io.BytesIO(_read(fs, "other/parts.parquet")))
        assert table.column("k").to_pylist() == ["x", "y", "z"]

        assert run("plugins", "remove", "azure_blob").returncode == 0
        gone = run("run", "--json", str(by_city))
        assert gone.returncode != 0 and "no loaded plugin provides" in gone.stdout + gone.stderr

    haystacks: dict[str, bytes] = {"printed and logged": "\n".join(outputs).encode(),
                                   "frames": b"".join(frametap.read_all(str(frame_log)))}
    for path in Path(dagflux_home).rglob("*"):
        if path.is_file():
            haystacks[str(path)] = path.read_bytes()
    assert b"NodeResult" in haystacks["frames"] and b"OpResult" in haystacks["frames"]
    hits = [where for where, data in haystacks.items() if any(form in data for form in _encodings(key, [account]))]
    assert hits == []
