"""The node-panel calls through a real engine process: nodes.preview, nodes.sheets,
nodes.try and tables.page (run as worker operations, replies scrubbed)."""

from __future__ import annotations

import secrets
from pathlib import Path

import openpyxl
import pytest

from engine.client import EngineCallError
from tests.integration.engine_harness import EngineProcess
from tests.integration.helpers import node, source, sql, start, write_csv, write_workflow
from tests.integration.restserver import RestServer


@pytest.fixture
def engine(dagflux_home):
    proc = EngineProcess(dagflux_home)
    yield proc
    proc.stop()


def _import_flow(client, folder: Path) -> str:
    """orders.csv → src → check (branch) → shipped (true) / rest (false); saved with base_dir=folder."""
    (folder / "data").mkdir(parents=True)
    write_csv(folder / "data" / "orders.csv", ["id", "status", "total"],
              [[i, "shipped" if i % 4 else "open", i * 2.5] for i in range(1, 251)])
    nodes = [start(), source("src", "data/orders.csv"), node("check", "branch", {"condition": "count(*) > 0"}),
             sql("shipped", "SELECT id, total FROM {{ input }} WHERE status = 'shipped'"),
             sql("rest", "SELECT * FROM {{ input }}")]
    path = write_workflow(folder, "panel_flow", nodes, [("start", "src"), ("src", "check"),
                                                        ("check", "shipped", "true"), ("check", "rest", "false")])
    return client.call("workflows.import", path=str(path))["id"]


def test_preview_resolves_relative_paths_against_the_workflow_folder(engine, tmp_path):
    with engine.client() as client:
        wf_id = _import_flow(client, tmp_path / "project")
        reply = client.call("nodes.preview", workflow_id=wf_id,
                            node={"id": "src", "type": "data_source",
                                  "config": {"source": "file", "path": "data/orders.csv"}})
        assert reply["types"] == [["id", "INTEGER"], ["status", "TEXT"], ["total", "REAL"]]
        assert reply["rows"] == [[1, "shipped", 2.5], [2, "shipped", 5.0], [3, "shipped", 7.5],
                                 [4, "open", 10.0], [5, "shipped", 12.5]]
        with pytest.raises(EngineCallError, match=r"the file .*project/data/nope.csv does not exist"):
            client.call("nodes.preview", workflow_id=wf_id,
                        node={"id": "src", "type": "data_source", "config": {"path": "data/nope.csv"}})
        with pytest.raises(EngineCallError, match="no connection 'ghost'"):
            client.call("nodes.preview", workflow_id=wf_id, node={
                "id": "src", "type": "data_source",
                "config": {"source": "connection", "connection": "ghost", "table": "t"}})
        with pytest.raises(EngineCallError, match="no saved workflow 'unknown_flow'"):
            client.call("nodes.preview", workflow_id="unknown_flow", node={"id": "a", "type": "data_source",
                                                                          "config": {"path": "x.csv"}})


def test_sheets_of_an_excel_file(engine, tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "First"
    book.create_sheet("Second")
    book.save(tmp_path / "book.xlsx")
    with engine.client() as client:
        assert client.call("nodes.sheets", workflow_id=None, path=str(tmp_path / "book.xlsx")) == ["First", "Second"]
        with pytest.raises(EngineCallError, match="not a readable .xlsx workbook"):
            (tmp_path / "fake.xlsx").write_text("not a zip")
            client.call("nodes.sheets", workflow_id=None, path=str(tmp_path / "fake.xlsx"))


def test_try_needs_a_run_first_then_uses_the_last_run_tables(engine, tmp_path):
    with engine.client() as client:
        wf_id = _import_flow(client, tmp_path / "project")
        shipped = {"id": "shipped", "type": "transformer", "title": "Shipped",
                   "config": {"language": "sql", "mode": "new_table",
                              "sql": "SELECT id, total * 10 AS big FROM {{ input }} WHERE status = 'shipped'"}}
        # Never run: the Branch and its source are computed on a sample (nothing written, no run logged).
        sampled = client.call("nodes.try", workflow_id=wf_id, node=shipped, limit=2)
        assert sampled["rows"] == [[1, 25.0], [2, 50.0]] and sampled["total"] == 188
        assert sampled["provenance"] == "Input: computed from a 250-row sample of src (CSV)"
        assert client.call("history.list", workflow_id=wf_id) == []
        columns = client.call("nodes.input_columns", workflow_id=wf_id, node_id="shipped")
        assert columns[0]["columns"] == [["id", "INTEGER"], ["status", "TEXT"], ["total", "REAL"]]
        assert columns[0]["how"] == "cached"
        run = client.call("runs.start", workflow_id=wf_id)
        assert client.call("runs.wait", run_id=run["run_id"], timeout=60)["status"] == "succeeded"
        # The Branch passes src's table on: the input table comes from the execution log.
        reply = client.call("nodes.try", workflow_id=wf_id, node=shipped, limit=3, sample=100)
        assert reply["rows"] == [[1, 25.0], [2, 50.0], [3, 75.0]]
        assert reply["total"] == 75 and "100 of 250 rows" in reply["note"]
        # The editor's own inputs win over the saved graph.
        reply = client.call("nodes.try", workflow_id=wf_id, node=shipped, inputs=["src"], limit=1)
        assert reply["rows"] == [[1, 25.0]]
        # An in-place try leaves the real table alone.
        in_place = {**shipped, "config": {"language": "sql", "mode": "in_place",
                                          "sql": "DELETE FROM {{ input }} WHERE status = 'open'"}}
        assert client.call("nodes.try", workflow_id=wf_id, node=in_place, inputs=["src"])["total"] == 188
        page = client.call("tables.page", table=f"{wf_id}__src", offset=0, limit=0)
        assert page["total"] == 250
        # Python code runs on the copy too (in a fresh, sandboxed worker).
        code = "def transform(rows):\n    for r in rows:\n        yield {'id': r['id'], 'half': r['total'] / 2}\n"
        reply = client.call("nodes.try", workflow_id=wf_id, inputs=["src"], limit=2, node={
            "id": "py", "type": "transformer", "config": {"language": "python", "code": code}})
        assert reply["rows"] == [[1, 1.25], [2, 2.5]] and reply["total"] == 250


def test_try_below_a_python_node_that_never_ran_uses_the_editors_unsaved_graph(engine, tmp_path):
    """The editor sends its workflow: a Python node it added (not yet saved) is computed on the
    sample in a sandboxed worker, into the sample cache, and the node below it is tried there."""
    with engine.client() as client:
        wf_id = _import_flow(client, tmp_path / "project")
        doc = client.call("workflows.get", id=wf_id)
        code = "def transform(rows):\n    for r in rows:\n        yield {'id': r['id'], 'half': r['total'] / 2}\n"
        doc["nodes"].append(node("halves", "transformer", {"language": "python", "code": code}, title="Halves"))
        doc["edges"].append({"from": "src", "to": "halves"})
        tried = {"id": "big", "type": "transformer", "config": {
            "language": "sql", "mode": "new_table", "sql": "SELECT id FROM {{ input }} WHERE half > 300"}}
        reply = client.call("nodes.try", workflow_id=wf_id, node=tried, inputs=["halves"], workflow=doc, limit=3)
        assert reply["rows"] == [[241], [242], [243]] and reply["total"] == 10
        assert reply["provenance"] == "Input: computed from a 250-row sample of src (CSV)"
        assert client.call("history.list", workflow_id=wf_id) == []
        assert "halves" not in [n["id"] for n in client.call("workflows.get", id=wf_id)["nodes"]]


def test_tables_page_pages_and_refuses_unknown_tables(engine, tmp_path):
    with engine.client() as client:
        wf_id = _import_flow(client, tmp_path / "project")
        run = client.call("runs.start", workflow_id=wf_id)
        assert client.call("runs.wait", run_id=run["run_id"], timeout=60)["status"] == "succeeded"
        table = f"{wf_id}__src"
        pages = [client.call("tables.page", table=table, offset=offset, limit=100) for offset in (0, 100, 200)]
        assert [len(p["rows"]) for p in pages] == [100, 100, 50]
        assert [p["rows"][0][0] for p in pages] == [1, 101, 201]
        assert pages[0]["types"] == [["id", "INTEGER"], ["status", "TEXT"], ["total", "REAL"]]
        assert {p["total"] for p in pages} == {250}
        for bad in ("nope", f"{table}\"; DROP TABLE \"{table}"):
            with pytest.raises(EngineCallError, match="the workspace has no table"):
                client.call("tables.page", table=bad)
        with pytest.raises(EngineCallError, match="no connection 'ghost'"):
            client.call("tables.page", table="t", connection="ghost")
        assert client.call("tables.page", table=table, limit=1)["total"] == 250


def test_rest_preview_takes_one_request_and_its_reply_is_scrubbed(keyring_ready, engine):
    token = "tok-" + secrets.token_hex(12)
    with RestServer(token=token) as server, engine.client() as client:
        client.call("connections.add", id="api", type="rest", name="API",
                    settings={"base_url": server.url, "auth": "bearer"}, secrets={"token": token})
        reply = client.call("nodes.preview", workflow_id=None, node={
            "id": "items", "type": "data_source",
            "config": {"source": "rest", "connection": "api", "path": "/items", "records_path": "data.items",
                       "pagination": "page"}}, limit=4)
        assert [r[0] for r in reply["rows"]] == [1, 2, 3, 4]
        assert reply["columns"][:3] == ["id", "name", "price"]
        assert server.hits[("/items", "")] == 1
        echoed = client.call("nodes.preview", workflow_id=None, node={
            "id": "echo", "type": "data_source", "config": {"source": "rest", "connection": "api", "path": "/echo"}})
        text = repr(echoed)
        assert "Authorization" in text and token not in text
