"""File exports of a table that lives in a connection (engine.io.writers.export_connection_table),
here a SQLite-file connection — a real connector, no server needed."""

from __future__ import annotations

import csv
import sqlite3
import threading

import pytest

from engine.errors import NodeError
from engine.io import writers
from engine.io.writers._connector_source import ConnectorTableSource, kind_of_declared
from plugins.connectors.sqlite_file import SQLiteFileConnector


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "src.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER, mixed, blob BLOB)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)",
                     [(i, i if i % 2 else f"text {i}", bytes([i % 256])) for i in range(12_345)])
    conn.commit()
    conn.close()
    connector = SQLiteFileConnector("src", "Source file", {"path": str(path)})
    yield connector
    connector.close()


@pytest.fixture
def workspace(tmp_path):
    conn = sqlite3.connect(tmp_path / "workspace.sqlite")
    yield conn
    conn.close()


def test_a_sqlite_file_table_exports_with_its_storage_classes_scanned(db, workspace, tmp_path):
    target = tmp_path / "out.csv"
    assert writers.export_connection_table(db, "t", target, None, {}, workspace) == 12_345
    with target.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["id", "mixed", "blob"] and len(rows) == 12_346
    assert rows[1] == ["0", "text 0", "AA=="] and rows[2] == ["1", "1", "AQ=="]   # blobs as base64
    source = ConnectorTableSource(db, "t")
    assert [(c.kind, sorted(c.storage)) for c in source.columns()] == \
        [("integer", ["integer"]), ("text", ["integer", "text"]), ("blob", ["blob"])]


def test_parquet_from_a_connection_keeps_the_kinds(db, workspace, tmp_path):
    import pyarrow.parquet as pq

    target = tmp_path / "out.parquet"
    writers.export_connection_table(db, "t", target, "parquet", {}, workspace)
    table = pq.read_table(target)
    assert [str(t) for t in table.schema.types] == ["int64", "string", "binary"]
    assert table.num_rows == 12_345 and table.column("mixed")[1].as_py() == "1"


def test_a_failed_write_leaves_the_old_file_and_stops_the_read(db, workspace, tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(NodeError, match="CSV delimiter"):
        writers.export_connection_table(db, "t", tmp_path / "x.csv", None, {"delimiter": ";;"}, workspace)
    with pytest.raises(NodeError, match="already exists"):
        writers.export_connection_table(db, "t", target, None, {"if_exists": "fail"}, workspace)
    assert target.read_text() == "old"
    assert not [t for t in threading.enumerate() if t.name == "dagflux-export-read"]
    assert db.count("t") == 12_345           # the connector is free for the next call


def test_a_writer_that_stops_early_ends_the_reader_thread(db):
    source = ConnectorTableSource(db, "t")
    batches = source.batches()
    assert len(next(batches)) == 5_000
    batches.close()                          # what an exception inside a writer does
    assert not [t for t in threading.enumerate() if t.name == "dagflux-export-read"]
    assert db.count("t") == 12_345


def test_the_connection_file_itself_is_never_the_target(db, workspace):
    with pytest.raises(NodeError, match="database file of connection 'Source file'"):
        writers.export_connection_table(db, "t", db.path, "sqlite", {}, workspace)


def test_a_missing_table_names_the_connection(db, workspace, tmp_path):
    with pytest.raises(Exception, match="Source file"):
        writers.export_connection_table(db, "nope", tmp_path / "x.csv", None, {}, workspace)


@pytest.mark.parametrize(("declared", "kind"), [
    ("integer", "integer"), ("bigint", "integer"), ("boolean", "integer"), ("tinyint(1)", "integer"),
    ("numeric(10,2)", "real"), ("double precision", "real"), ("decimal(65,30)", "real"), ("float", "real"),
    ("bytea", "blob"), ("varbinary(16)", "blob"), ("longblob", "blob"),
    ("character varying(40)", "text"), ("date", "text"), ("timestamp with time zone", "text"),
    ("uuid", "text"), ("jsonb", "text"), ("integer[]", "text"), ("interval", "text"),
])
def test_server_column_kinds_come_from_the_declared_type(declared, kind):
    assert kind_of_declared(declared) == kind


def test_a_read_that_fails_mid_stream_leaves_the_old_file(tmp_path, workspace):
    path = tmp_path / "bad.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER, name TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"n{i}") for i in range(9_000)])
    conn.execute("INSERT INTO t VALUES (9000, CAST(x'ff' AS TEXT))")    # not UTF-8: fails when fetched
    conn.commit()
    conn.close()
    connector = SQLiteFileConnector("bad", "Bad file", {"path": str(path)})
    target = tmp_path / "out.csv"
    target.write_text("old")
    try:
        with pytest.raises(Exception, match="Bad file"):
            writers.export_connection_table(connector, "t", target, None, {}, workspace)
    finally:
        connector.close()
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == \
        ["bad.db", "out.csv", "workspace.sqlite"]
    assert not [t for t in threading.enumerate() if t.name == "dagflux-export-read"]
