"""The worker operations behind the node panels, called directly on a real worker state:
a real workspace, real files, a real SQLite-file connection (no processes)."""

from __future__ import annotations

import csv
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import msgpack
import openpyxl
import pytest

from engine import workspace
from engine.connectors.store import ConnectionStore
from engine.errors import DagfluxError
from engine.messages import RunOp
from engine.plugins import load_registry
from engine.workers import preview_ops
from engine.workers.ops import run_op
from engine.workers.task import WorkerState, execute_op

REGISTRY = load_registry()


@pytest.fixture
def state(tmp_path: Path):
    ws = tmp_path / "workspace.sqlite"
    conn = workspace.connect(ws)
    conn.execute("CREATE TABLE flow__orders (id INTEGER, status TEXT, total REAL)")
    conn.executemany("INSERT INTO flow__orders VALUES (?, ?, ?)",
                     [(i, "shipped" if i % 3 else "cancelled", i * 1.5) for i in range(1, 2501)])
    conn.execute("CREATE TABLE flow__customers (id INTEGER, name TEXT)")
    conn.executemany("INSERT INTO flow__customers VALUES (?, ?)", [(i, f"c{i}") for i in range(1, 11)])
    conn.close()
    st = WorkerState.open(REGISTRY, ws, tmp_path / "connections.json")
    yield st
    st.close()


def _write_csv(path: Path, rows: int) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Order ID", "Status", "Unit Price", "Zip"])
        for i in range(rows):
            writer.writerow([i + 1, "shipped", f"{i}.5", f"0{i % 9}123"])
    return path


def _sqlite_connection(tmp_path: Path) -> Path:
    db = tmp_path / "shop.db"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, amount NUMERIC, day DATE)")
        conn.executemany("INSERT INTO sales VALUES (?, ?, ?)", [(i, i * 10, f"2024-01-0{i % 9 + 1}")
                                                                 for i in range(1, 31)])
    ConnectionStore(tmp_path / "connections.json").save("shop", "Shop", "sqlite", {"path": str(db)}, [], [],
                                                          bump=True)
    return db


# --- Data Source preview ------------------------------------------------------------------
def test_csv_preview_has_the_names_and_types_an_import_creates_and_reads_few_rows(state, tmp_path):
    _write_csv(tmp_path / "orders.csv", 50_000)
    reply = preview_ops.preview(state, str(tmp_path), {"source": "file", "path": "orders.csv"}, limit=5)
    assert reply["columns"] == ["Order_ID", "Status", "Unit_Price", "Zip"]
    assert reply["types"] == [["Order_ID", "INTEGER"], ["Status", "TEXT"], ["Unit_Price", "REAL"],
                              ["Zip", "TEXT"]]
    assert reply["rows"] == [[1, "shipped", 0.5, "00123"], [2, "shipped", 1.5, "01123"],
                             [3, "shipped", 2.5, "02123"], [4, "shipped", 3.5, "03123"],
                             [5, "shipped", 4.5, "04123"]]
    assert "orders.csv" in reply["note"]
    msgpack.packb(reply)   # crosses the wire as it is
    # nothing was imported into the workspace
    assert [t["name"] for t in workspace.list_tables(state.conn)] == ["flow__customers", "flow__orders"]


def test_csv_preview_applies_options_like_the_import(state, tmp_path):
    (tmp_path / "semi.csv").write_text("a;b\n1;NA\n2;x\n")
    reply = preview_ops.preview(state, str(tmp_path), {"source": "file", "path": "semi.csv",
                                                       "options": {"delimiter": ";", "null_values": ["NA"]}})
    assert reply["rows"] == [[1, None], [2, "x"]]


def test_file_preview_reply_carries_the_findings_and_the_sample_size(state, tmp_path):
    (tmp_path / "x.csv").write_text("x,y\n1,a\nNA,b\n3,c\n")
    config = {"source": "file", "path": "x.csv", "options": {"default_nulls": False}}
    reply = preview_ops.preview(state, str(tmp_path), config, limit=2)
    assert reply["types"] == [["x", "TEXT"], ["y", "TEXT"]] and reply["sampled"] == 3
    assert [(f["column"], f["not_numbers"], f["values"]) for f in reply["findings"]] == [("x", 1, 3)]
    assert reply["findings"][0]["message"].startswith("column x: 1 of 3 values are not numbers ('NA' ×1)")
    msgpack.packb(reply)                                  # plain data: it crosses the wire
    fixed = preview_ops.preview(state, str(tmp_path), {"source": "file", "path": "x.csv"})
    assert fixed["types"] == [["x", "INTEGER"], ["y", "TEXT"]] and fixed["findings"] == []


def test_excel_preview_reads_the_chosen_sheet_and_lists_sheets(state, tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "Summary"
    book.active.append(["note"])
    book.active.append(["hello"])
    q1 = book.create_sheet("Q1")
    q1.append(["Region", "Revenue"])
    for i in range(20):
        q1.append([f"r{i}", i * 100])
    book.save(tmp_path / "book.xlsx")
    assert preview_ops.sheets(state, str(tmp_path), "book.xlsx") == ["Summary", "Q1"]
    reply = preview_ops.preview(state, str(tmp_path), {"source": "file", "path": "book.xlsx",
                                                       "options": {"sheet": "Q1"}}, limit=3)
    assert reply["types"] == [["Region", "TEXT"], ["Revenue", "INTEGER"]]
    assert reply["rows"] == [["r0", 0], ["r1", 100], ["r2", 200]]
    assert "sheet 'Q1'" in reply["note"]
    with pytest.raises(DagfluxError, match="no sheet 'Q9'; the workbook has 'Summary', 'Q1'"):
        preview_ops.preview(state, str(tmp_path), {"source": "file", "path": "book.xlsx",
                                                   "options": {"sheet": "Q9"}})


def test_json_and_sqlite_file_previews(state, tmp_path):
    (tmp_path / "c.json").write_text(json.dumps([{"id": 1, "tags": ["a"]}, {"id": 2, "extra": 1.5}]))
    reply = preview_ops.preview(state, str(tmp_path), {"source": "file", "path": "c.json"})
    assert reply["columns"] == ["id", "tags", "extra"]
    assert reply["rows"] == [[1, '["a"]', None], [2, None, 1.5]]
    db = _sqlite_connection(tmp_path)
    reply = preview_ops.preview(state, str(tmp_path), {"source": "file", "path": db.name,
                                                       "options": {"table": "sales"}}, limit=2)
    assert reply["types"] == [["id", "INTEGER"], ["amount", "NUMERIC"], ["day", "DATE"]]
    assert reply["rows"] == [[1, 10, "2024-01-02"], [2, 20, "2024-01-03"]]
    with pytest.raises(DagfluxError, match="option 'table' is required; tables in the file: 'sales'"):
        preview_ops.preview(state, str(tmp_path), {"source": "file", "path": db.name})


@pytest.mark.parametrize(("config", "message"), [
    ({"source": "file", "path": "missing.csv"}, r"the file .*missing.csv does not exist"),
    ({"source": "file", "path": ""}, "choose a file first"),
    ({"source": "file", "path": "."}, "is a folder, not a file"),
    ({"source": "workspace", "table": "nope"}, "the workspace has no table 'nope'"),
    ({"source": "connection", "connection": "ghost", "table": "t"}, "no connection 'ghost'"),
    ({"source": "carrier_pigeon"}, "unknown source 'carrier_pigeon'"),
])
def test_preview_errors_are_clear(state, tmp_path, config, message):
    with pytest.raises(DagfluxError, match=message):
        preview_ops.preview(state, str(tmp_path), config)


def test_workspace_and_connection_previews(state, tmp_path):
    reply = preview_ops.preview(state, str(tmp_path), {"source": "workspace", "table": "flow__customers"}, 2)
    assert reply == {"columns": ["id", "name"], "types": [["id", "INTEGER"], ["name", "TEXT"]],
                     "rows": [[1, "c1"], [2, "c2"]], "total": 10,
                     "note": "First 2 of 10 rows of workspace table 'flow__customers'"}
    _sqlite_connection(tmp_path)
    reply = preview_ops.preview(state, str(tmp_path), {"source": "connection", "connection": "shop",
                                                       "table": "sales"}, 3)
    assert reply["types"] == [["id", "INTEGER"], ["amount", "NUMERIC"], ["day", "DATE"]]
    assert [r[0] for r in reply["rows"]] == [1, 2, 3]
    with pytest.raises(DagfluxError, match="connection 'Shop' has no table 'refunds'"):
        preview_ops.preview(state, str(tmp_path), {"source": "connection", "connection": "shop",
                                                   "table": "refunds"})


def test_ops_are_registered_and_failures_come_back_as_failed_replies(state, tmp_path):
    reply = execute_op(RunOp(id=1, op="tables.page", params={"table": "flow__customers", "limit": 3}), state)
    assert reply.status == "succeeded" and reply.value["total"] == 10 and len(reply.value["rows"]) == 3
    assert run_op(RunOp(id=2, op="nodes.preview", params={"base_dir": str(tmp_path), "config": {
        "source": "workspace", "table": "flow__orders"}}), state)["total"] == 2500
    failed = execute_op(RunOp(id=3, op="tables.page", params={"table": "sqlite_master"}), state)
    assert failed.status == "failed" and failed.error == "the workspace has no table 'sqlite_master'"
    failed = execute_op(RunOp(id=4, op="nodes.sheets", params={"base_dir": str(tmp_path), "path": "x.xlsx"}),
                        state)
    assert failed.status == "failed" and "x.xlsx does not exist" in failed.error


# --- table pages ---------------------------------------------------------------------------
def test_page_of_a_workspace_table(state):
    first = preview_ops.page(state, "flow__orders", offset=0, limit=100)
    assert first["total"] == 2500 and len(first["rows"]) == 100
    assert first["types"] == [["id", "INTEGER"], ["status", "TEXT"], ["total", "REAL"]]
    last = preview_ops.page(state, "flow__orders", offset=2450, limit=100)
    assert [r[0] for r in last["rows"]] == list(range(2451, 2501))
    assert preview_ops.page(state, "flow__orders", limit=0)["rows"] == []
    assert len(preview_ops.page(state, "flow__orders", limit=10**6)["rows"]) == preview_ops.PAGE_MAX


@pytest.mark.parametrize("name", ["nope", "", "flow__orders; DROP TABLE flow__orders", 'x" OR 1=1 --'])
def test_page_refuses_names_that_are_not_tables(state, name):
    with pytest.raises(DagfluxError, match="the workspace has no table"):
        preview_ops.page(state, name)
    assert workspace.count_rows(state.conn, "flow__orders") == 2500


def test_page_of_a_connection_table(state, tmp_path):
    _sqlite_connection(tmp_path)
    reply = preview_ops.page(state, "sales", connection="shop", offset=25, limit=10)
    assert reply["total"] == 30
    assert [r[0] for r in reply["rows"]] == [26, 27, 28, 29, 30]
    with pytest.raises(DagfluxError, match="connection 'Shop' has no table 'x'"):
        preview_ops.page(state, "x", connection="shop")


# --- try on sample --------------------------------------------------------------------------
def _transformer(sql: str, **config) -> dict:
    return {"id": "shipped", "type": "transformer", "title": "Shipped",
            "config": {"language": "sql", "mode": "new_table", "sql": sql, **config}}


ORDERS = [{"node_id": "orders", "table": "flow__orders", "connection": None}]


def test_try_new_table_runs_on_a_sample_and_writes_nothing(state, tmp_path):
    node = _transformer("SELECT id, total * 2 AS doubled FROM {{ input }} WHERE status = 'shipped'")
    reply = preview_ops.try_sample(state, "flow", str(tmp_path), node, ORDERS, limit=3, sample=30)
    assert reply["columns"] == ["id", "doubled"]
    assert reply["rows"] == [[1, 3.0], [2, 6.0], [4, 12.0]]
    assert reply["total"] == 20         # 20 of the 30 sampled rows are shipped
    assert "30 of 2,500 rows" in reply["note"]
    assert not workspace.table_exists(state.conn, "flow__shipped")


def test_try_in_place_changes_only_the_copy(state, tmp_path):
    node = _transformer("DELETE FROM {{ input }} WHERE status = 'cancelled'; "
                        "UPDATE {{ input }} SET total = 0", mode="in_place")
    reply = preview_ops.try_sample(state, "flow", str(tmp_path), node, ORDERS, limit=2, sample=9)
    assert reply["rows"] == [[1, "shipped", 0], [2, "shipped", 0]]
    assert reply["total"] == 6
    assert workspace.count_rows(state.conn, "flow__orders") == 2500
    assert state.conn.execute("SELECT total FROM flow__orders WHERE id = 1").fetchone() == (1.5,)


def test_try_python_and_join(state, tmp_path):
    code = "def transform(rows):\n    for r in rows:\n        yield {'id': r['id'], 'big': r['total'] > 3}\n"
    node = {"id": "py", "type": "transformer", "config": {"language": "python", "code": code}}
    reply = preview_ops.try_sample(state, "flow", str(tmp_path), node, ORDERS, limit=3, sample=5)
    assert reply["rows"] == [[1, 0], [2, 0], [3, 1]]
    join = {"id": "j", "type": "join", "config": {
        "joins": [{"left": "orders", "right": "customers", "type": "inner", "on": [["id", "id"]]}],
        "columns": ["orders.id", "customers.name"]}}
    inputs = ORDERS + [{"node_id": "customers", "table": "flow__customers", "connection": None}]
    reply = preview_ops.try_sample(state, "flow", str(tmp_path), join, inputs, limit=2, sample=100)
    assert reply["columns"] == ["id", "name"]
    assert reply["rows"][0][1] == "c1" and reply["total"] == 10


def test_try_says_what_to_do_when_it_cannot_run(state, tmp_path):
    node = _transformer("SELECT * FROM {{ input }}")
    with pytest.raises(DagfluxError, match="input 'cleaned' has no output table yet — run the workflow once"):
        preview_ops.try_sample(state, "flow", str(tmp_path), node,
                               [{"node_id": "cleaned", "table": "flow__cleaned", "connection": None}])
    with pytest.raises(DagfluxError, match="fix the settings of 'Shipped' first: sql"):
        preview_ops.try_sample(state, "flow", str(tmp_path), _transformer(""), ORDERS)
    with pytest.raises(DagfluxError, match="SQL error in node 'Shipped'"):
        preview_ops.try_sample(state, "flow", str(tmp_path), _transformer("SELECT nope FROM {{ input }}"), ORDERS)
    with pytest.raises(DagfluxError, match="works for Transformer and Join nodes, not 'output'"):
        preview_ops.try_sample(state, "flow", str(tmp_path), {"id": "o", "type": "output", "config": {}}, ORDERS)


def test_try_with_an_input_in_a_database_reads_only(state, tmp_path):
    db = _sqlite_connection(tmp_path)
    inputs = [{"node_id": "sales", "table": "sales", "connection": "shop"}]
    node = _transformer("SELECT id, amount * 2 AS twice FROM {{ input }} WHERE id > 27")
    reply = preview_ops.try_sample(state, "flow", str(tmp_path), node, inputs, limit=5)
    assert reply["rows"] == [[28, 560], [29, 580], [30, 600]]
    assert reply["types"] == [["id", "INTEGER"], ["twice", "INTEGER"]]
    with pytest.raises(DagfluxError, match="cannot be tried without changing the table"):
        preview_ops.try_sample(state, "flow", str(tmp_path), _transformer("DELETE FROM {{ input }}",
                                                                          mode="in_place"), inputs)
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT count(*) FROM sales").fetchone() == (30,)
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE 'flow%'").fetchone() == (0,)


def test_page_sorts_by_a_column_and_filters_by_text(state, tmp_path):
    down = preview_ops.page(state, "flow__orders", limit=3, order_by="id", descending=True)
    assert [r[0] for r in down["rows"]] == [2500, 2499, 2498] and down["total"] == 2500
    with pytest.raises(DagfluxError, match=r"no column 'nope' to sort by \(it has: id, status, total\)"):
        preview_ops.page(state, "flow__orders", order_by="nope")
    found = preview_ops.page(state, "flow__orders", limit=1000, search="249")
    ids = [r[0] for r in found["rows"]]
    assert found["total"] == len(ids) and 249 in ids and 2490 in ids and all("249" in str(r) for r in found["rows"])
    assert preview_ops.page(state, "flow__orders", search="100%")["total"] == 0   # % is a character, not a wildcard
    _sqlite_connection(tmp_path)
    sorted_sales = preview_ops.page(state, "sales", connection="shop", limit=2, order_by="id", descending=True)
    assert [r[0] for r in sorted_sales["rows"]] == [30, 29]
    with pytest.raises(DagfluxError, match="filtering rows by text works on workspace tables"):
        preview_ops.page(state, "sales", connection="shop", search="1")
