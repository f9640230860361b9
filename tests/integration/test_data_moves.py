"""Outputs work wherever their input lives (issue 18): a table in PostgreSQL, MariaDB or a
SQLite file is exported to every file format streamed from its database, and copied into
another connection, against the real servers the tests start."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from tests.integration.helpers import node, write_workflow
from tests.integration.places import COLUMNS, SAMPLE, add_postgres, seed


def _run(cli, flow: Path) -> dict[str, dict]:
    out = cli("run", "--json", flow, timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    return {n["id"]: n for n in json.loads(out.stdout)["nodes"]}


def _workspace_tables(home: Path) -> list[str]:
    path = home / "workspace.sqlite"
    if not path.exists():
        return []
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    finally:
        conn.close()


def test_a_pushdown_aggregate_exports_to_csv_without_the_workspace(
        keyring_ready, postgres_server, cli, dagflux_home, tmp_path):
    """The issue's repro: a database Transformer aggregates 50,000 rows into 5,000 in
    PostgreSQL, and the Output writes those 5,000 rows to a CSV file."""
    login = add_postgres(cli, postgres_server, "pd")
    rows = [(i, f"c{i % 5000}", i % 5000, i % 7 == 0, "2026-01-01", None) for i in range(50_000)]
    seed("postgresql", login, "orders", rows)
    flow = write_workflow(tmp_path, "pd", [
        node("start", "start", {"trigger": {"kind": "manual"}}),
        node("orders", "data_source", {"source": "connection", "connection": "pd", "table": "orders"}),
        node("agg", "transformer", {"language": "sql", "mode": "new_table", "storage": "database",
                                    "sql": "SELECT amount AS customer_id, sum(id) AS total, count(*) AS n "
                                           "FROM {{ input }} GROUP BY amount"}),
        node("out", "output", {"path": str(tmp_path / "agg.csv")}),
    ], [("start", "orders"), ("orders", "agg"), ("agg", "out")])
    nodes = _run(cli, flow)
    assert nodes["agg"]["records"] == 5000 and nodes["out"]["records"] == 5000
    assert nodes["out"]["status"] == "succeeded"
    with (tmp_path / "agg.csv").open(newline="", encoding="utf-8") as fh:
        written = list(csv.reader(fh))
    assert written[0] == ["customer_id", "total", "n"] and len(written) == 5001
    by_customer = {int(float(r[0])): (int(r[1]), int(r[2])) for r in written[1:]}
    assert by_customer[0] == (sum(range(0, 50_000, 5000)), 10)
    assert by_customer[4999] == (sum(range(4999, 50_000, 5000)), 10)
    assert _workspace_tables(dagflux_home) == []          # nothing passed through the workspace


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "excel", "sqlite", "parquet", "avro"])
def test_every_file_format_exports_a_postgres_table(fmt, keyring_ready, postgres_server, cli, dagflux_home,
                                                     tmp_path):
    login = add_postgres(cli, postgres_server, "pg")
    seed("postgresql", login)
    target = tmp_path / f"sample.{ {'excel': 'xlsx', 'sqlite': 'db'}.get(fmt, fmt) }"
    flow = write_workflow(tmp_path, "fmt", [
        node("start", "start", {"trigger": {"kind": "manual"}}),
        node("sample", "data_source", {"source": "connection", "connection": "pg", "table": "sample"}),
        node("out", "output", {"path": str(target), "format": fmt}),
    ], [("start", "sample"), ("sample", "out")])
    assert _run(cli, flow)["out"]["records"] == len(SAMPLE)
    assert _read_back(fmt, target) == [_expected(r) for r in SAMPLE]
    assert _workspace_tables(dagflux_home) == []


def _expected(row: tuple) -> list:
    """A sample row as a file holds it: booleans 1/0, numeric a float, a date its text."""
    return [row[0], row[1], float(row[2]), int(row[3]), row[4], row[5]]


def _read_back(fmt: str, path: Path) -> list[list]:
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as fh:
            body = list(csv.reader(fh))
        assert body[0] == COLUMNS
        return [[int(r[0]), r[1], float(r[2]), int(r[3]), r[4], r[5] or None] for r in body[1:]]
    if fmt in ("json", "jsonl"):
        text = path.read_text(encoding="utf-8")
        objects = json.loads(text) if fmt == "json" else [json.loads(line) for line in text.splitlines()]
        return [[o[c] for c in COLUMNS] for o in objects]
    if fmt == "excel":
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True)
        try:    # a read-only workbook keeps its file open until closed (an unclosed file fails the session)
            values = [list(r) + [None] * (len(COLUMNS) - len(r)) for r in book.active.iter_rows(values_only=True)]
        finally:
            book.close()
        assert values[0] == COLUMNS
        return [[r[0], r[1], float(r[2]), r[3], r[4], r[5]] for r in values[1:]]
    if fmt == "sqlite":
        conn = sqlite3.connect(path)
        try:
            assert [r[2] for r in conn.execute("PRAGMA table_info(sample)")] == \
                ["INTEGER", "TEXT", "REAL", "INTEGER", "TEXT", "TEXT"]
            return [list(r) for r in conn.execute("SELECT * FROM sample")]
        finally:
            conn.close()
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        assert [str(t) for t in table.schema.types] == ["int64", "string", "double", "int64", "string", "string"]
        return [[r[c] for c in COLUMNS] for r in table.to_pylist()]
    from tests.engine.test_writers import read_avro  # the independent decoder the writer tests use

    schema, _, records = read_avro(path)
    assert [f["type"] for f in schema["fields"]] == [["null", t] for t in
                                                     ("long", "string", "double", "long", "string", "string")]
    return [[r[c] for c in COLUMNS] for r in records]
