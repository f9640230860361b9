"""The S3 catalog plugin end to end, against moto's real S3 server on loopback.

The plugin's source (``catalog-plugins/s3``) is not a built-in: it is published with the
publisher tool, served by a loopback catalog and installed through ``dagflux plugins``.
Then a connection is added (both key halves into the keychain), workflows read Parquet,
CSV and a prefix of JSON Lines objects from moto and write CSV and Parquet back; the
plugin is updated, rolled back and removed — after which the same workflow is refused
with the reason.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from tests.integration.engine_harness import EngineProcess
from tests.integration.helpers import node, sql, start, write_workflow
from tests.integration.objectstores import CountingRelay, S3Catalog, moto_s3, plugin_copy

pytest.importorskip("moto")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _parquet_bytes(table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _seed(s3) -> None:
    s3.create_bucket(Bucket="data")
    orders = pa.table({"id": [1, 2, 3], "amount": [9.5, 20.0, 7.25], "city": ["Lyon", "Oslo", "Lyon"]})
    s3.put_object(Bucket="data", Key="in/orders.parquet", Body=_parquet_bytes(orders))
    s3.put_object(Bucket="data", Key="in/people.csv", Body=b"name,age\nada,36\nalan,41\n")
    s3.put_object(Bucket="data", Key="in/parts/a.jsonl", Body=b'{"k": "x", "n": 1}\n{"k": "y", "n": 2}\n')
    s3.put_object(Bucket="data", Key="in/parts/b.jsonl", Body=b'{"k": "z", "n": 3}\n')


def _flows(folder: Path) -> dict[str, Path]:
    parquet_in = node("orders", "data_source", {"source": "storage", "connection": "store",
                                                "path": "in/orders.parquet"})
    by_city = sql("by_city", "SELECT city, sum(amount) AS total, count(*) AS n FROM {{ input }} "
                             "GROUP BY city ORDER BY city")
    to_csv = node("out", "output", {"connection": "store", "path": "out/by_city.csv"})
    csv_in = node("people", "data_source", {"source": "storage", "connection": "store", "path": "in/people.csv"})
    to_parquet = node("out", "output", {"connection": "store", "path": "out/people.parquet"})
    prefix_in = node("parts", "data_source", {"source": "storage", "connection": "store", "path": "in/parts/"})
    to_jsonl = node("out", "output", {"connection": "store", "path": "out/parts.jsonl"})
    missing = node("orders", "data_source", {"source": "storage", "connection": "store", "path": "in/nope.csv"})
    return {"parquet_to_csv": write_workflow(folder, "parquet_to_csv", [start(), parquet_in, by_city, to_csv],
                                             [("start", "orders"), ("orders", "by_city"), ("by_city", "out")]),
            "csv_to_parquet": write_workflow(folder, "csv_to_parquet", [start(), csv_in, to_parquet],
                                             [("start", "people"), ("people", "out")]),
            "prefix_to_jsonl": write_workflow(folder, "prefix_to_jsonl", [start(), prefix_in, to_jsonl],
                                              [("start", "parts"), ("parts", "out")]),
            "missing": write_workflow(folder, "missing", [start(), missing], [("start", "orders")])}


def test_s3_plugin_published_installed_used_updated_rolled_back_removed(keyring_ready, cli, dagflux_home,
                                                                          tmp_path, monkeypatch):
    with moto_s3() as moto, S3Catalog(tmp_path) as catalog:
        s3 = moto.client()
        _seed(s3)
        catalog.publish(plugin_copy(tmp_path, "s3", "1.0.0"))
        catalog.activate(monkeypatch)

        found = cli("plugins", "search", "parquet")
        assert found.returncode == 0 and found.stdout.startswith("s3 1.0.0 — S3-compatible"), found.stdout
        # not a built-in: before the install nothing provides the connection type
        assert "s3" not in cli("connections", "types").stdout.split()
        out = cli("plugins", "install", "s3")
        assert out.returncode == 0 and "installed s3 1.0.0" in out.stdout, out.stderr
        listed = cli("plugins")
        assert "✓ s3 1.0.0 (installed)" in listed.stdout and "connectors: s3" in listed.stdout, listed.stdout

        out = cli("connections", "add", "s3", "store", "--set", f"endpoint={moto.url}", "--set", "bucket=data",
                  input="AKIAEXAMPLEKEY\nexample-secret-key\n")
        assert out.returncode == 0, out.stderr
        assert "reachable" in cli("connections", "test", "store").stdout
        objects = cli("connections", "objects", "store", "--json")
        assert objects.returncode == 0, objects.stderr
        assert {"in/orders.parquet", "in/people.csv", "in/parts/a.jsonl"} <= set(json.loads(
            objects.stdout))
        sample = cli("connections", "sample", "store", "in/orders.parquet", "--json")
        assert sample.returncode == 0, sample.stderr
        assert json.loads(sample.stdout)["rows"][0] == [1, 9.5, "Lyon"]

        engine = EngineProcess(dagflux_home)     # the node panel's preview of a storage Data Source
        try:
            with engine.client(timeout=60) as client:
                shown = client.call("nodes.preview", workflow_id=None, limit=2, node=node(
                    "parts", "data_source", {"source": "storage", "connection": "store", "path": "in/parts/"}))
        finally:
            engine.stop()
        assert shown["rows"] == [["x", 1], ["y", 2]]
        assert "'in/parts/a.jsonl' (the first of 2 objects) in connection 'store'" in shown["note"], shown

        flows = _flows(tmp_path)
        for name in ("parquet_to_csv", "csv_to_parquet", "prefix_to_jsonl"):
            run = cli("run", "--json", flows[name])
            assert run.returncode == 0, (name, run.stdout, run.stderr)
        by_city = s3.get_object(Bucket="data", Key="out/by_city.csv")["Body"].read().decode()
        assert by_city.splitlines() == ["city,total,n", "Lyon,16.75,2", "Oslo,20.0,1"]
        people = pq.read_table(io.BytesIO(s3.get_object(Bucket="data", Key="out/people.parquet")["Body"].read()))
        assert people.to_pydict() == {"name": ["ada", "alan"], "age": [36, 41]}
        parts = s3.get_object(Bucket="data", Key="out/parts.jsonl")["Body"].read().decode().splitlines()
        assert [json.loads(line)["k"] for line in parts] == ["x", "y", "z"]
        missing = cli("run", "--json", flows["missing"])
        assert missing.returncode == 1 and "has no object at 'in/nope.csv'" in missing.stdout + missing.stderr

        catalog.publish(plugin_copy(tmp_path, "s3", "1.1.0"))
        out = cli("plugins", "update")
        assert out.returncode == 0 and "updated s3 1.0.0 → 1.1.0" in out.stdout, out.stderr
        assert "✓ s3 1.1.0 (installed; kept: 1.0.0)" in cli("plugins").stdout
        assert cli("run", "--json", flows["csv_to_parquet"]).returncode == 0
        out = cli("plugins", "rollback", "s3")
        assert out.returncode == 0 and "rolled back s3 to 1.0.0" in out.stdout
        assert "✓ s3 1.0.0 (installed)" in cli("plugins").stdout
        assert cli("run", "--json", flows["parquet_to_csv"]).returncode == 0

        assert cli("plugins", "remove", "s3").returncode == 0
        assert not (dagflux_home / "plugins" / "s3").exists()
        gone = cli("run", "--json", flows["parquet_to_csv"])
        assert gone.returncode != 0
        assert "no loaded plugin provides" in gone.stdout + gone.stderr


def _connector(tmp_path: Path, url: str, **settings):
    """The plugin's connector loaded from a catalog install, as a worker would build it."""
    from engine.catalog.manager import PluginManager
    from engine.catalog.trust import load_root
    from engine.paths import default_paths, ensure_data_dir
    from engine.plugins import load_registry

    paths = ensure_data_dir(default_paths())
    if not (paths.plugins / "s3").exists():
        with S3Catalog(tmp_path) as catalog:
            catalog.publish(plugin_copy(tmp_path, "s3", "1.0.0"))
            PluginManager(paths, url=catalog.server.url, root=load_root(catalog.root)).install("s3")
    registry = load_registry([paths.plugins])
    cls = registry.connection_types["s3"]
    base = {"endpoint": url, "region": "us-east-1", "access_key_id": "AKIAEXAMPLEKEY", "secret_key": "k"}
    connector = cls("store", "store", {**base, **settings})
    connector.registry = registry   # pluginbase empties a plugin's modules when its registry goes
    return connector


def test_large_upload_is_multipart_and_download_streams_in_chunks(tmp_path):
    with moto_s3() as moto:
        s3 = moto.client()
        s3.create_bucket(Bucket="big")
        connector = _connector(tmp_path, moto.url, bucket="big")
        source = tmp_path / "big.bin"
        source.write_bytes(os.urandom(12 * 1024 * 1024 + 17))
        assert connector.upload(source, "blobs/big.bin") == source.stat().st_size
        head = s3.head_object(Bucket="big", Key="blobs/big.bin")
        assert head["ContentLength"] == source.stat().st_size
        assert "-" in head["ETag"]      # a multipart upload's ETag is "<md5 of part md5s>-<parts>"
        back = tmp_path / "back.bin"
        assert connector.download("blobs/big.bin", back) == source.stat().st_size
        assert back.read_bytes() == source.read_bytes()
        head_only = tmp_path / "head.bin"
        assert connector.download("blobs/big.bin", head_only, max_bytes=1000) == 1000


def test_a_parquet_sample_fetches_its_footer_and_first_pages_not_the_whole_object(tmp_path):
    # A sample used to download the whole object (and refused one over 64 MiB): a 70 MiB
    # object now costs the footer and the first rows' pages, measured on the wire.
    from engine.connectors.objects import SAMPLE_LIMIT

    rows = 1_300_000
    payload = os.urandom(56 * rows)                       # incompressible: the file is ~73 MB
    table = pa.table({"id": pa.array(range(rows), pa.int64()),
                      "blob": pa.FixedSizeBinaryArray.from_buffers(pa.binary(56), rows,
                                                                   [None, pa.py_buffer(payload)]),
                      "city": pa.array(["Lyon", "Oslo"] * (rows // 2)).dictionary_encode()})
    body = _parquet_bytes(table)
    assert len(body) > SAMPLE_LIMIT
    with moto_s3() as moto:
        s3 = moto.client()
        s3.create_bucket(Bucket="big")
        s3.put_object(Bucket="big", Key="wide/huge.parquet", Body=body)
        with CountingRelay(moto.url) as relay:
            connector = _connector(tmp_path, relay.url, bucket="big")
            names, got = connector.sample("wide/huge.parquet", 5)
            fetched = relay.received
    assert names == ["id", "blob", "city"]
    assert got == [(i, payload[56 * i:56 * (i + 1)], "Lyon" if i % 2 == 0 else "Oslo") for i in range(5)]
    assert fetched < 8 * 1024 * 1024, f"{fetched:,} bytes fetched of a {len(body):,}-byte object"


def test_bucketless_connection_lists_every_bucket_and_needs_bucket_in_paths(tmp_path):
    from engine.connectors.base import ConnectorError

    with moto_s3() as moto:
        s3 = moto.client()
        for bucket in ("alpha", "beta"):
            s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key="x/one.csv", Body=b"a\n1\n")
        connector = _connector(tmp_path, moto.url)
        assert connector.list_objects() == ["alpha/x/one.csv", "beta/x/one.csv"]
        assert "2 bucket(s) — alpha, beta" in connector.test()
        assert connector.object_keys("beta/x/") == ["beta/x/one.csv"]
        assert connector.sample("alpha/x/one.csv") == (["a"], [(1,)])
        with pytest.raises(ConnectorError, match="has no bucket set"):
            connector.object_keys("one.csv")
        wrong = _connector(tmp_path, moto.url, bucket="nope")
        with pytest.raises(ConnectorError, match="bucket 'nope' does not exist"):
            wrong.test()
        bad = _connector(tmp_path, "ftp://127.0.0.1:1", bucket="alpha")
        with pytest.raises(ConnectorError, match="is not an http"):
            bad.list_objects()
