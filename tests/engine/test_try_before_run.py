""""Try on sample" before the workflow ever ran: the engine's node-panel service with a real
store, history, workspace and connection service, and the inline executor (the worker
operations run in this process). Inputs that never ran are computed on a sample into the
sample cache — never the workspace, never History — and re-used until something above
them changes."""

from __future__ import annotations

import csv
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from engine import workspace
from engine.connectors.service import ConnectionService
from engine.errors import DagfluxError
from engine.executor import InlineExecutor
from engine.history import History
from engine.io import readers
from engine.model.workflow import Edge, Node, Workflow
from engine.plugins import load_registry
from engine.runner import Run
from engine.service.previews import NodePanelService
from engine.service.store import WorkflowStore
from engine.workers import sample_cache

REGISTRY = load_registry()


def _orders(path: Path, rows: int, factor: int = 1) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "customer", "total"])
        writer.writerows([i, i % 3 + 1, i * factor] for i in range(1, rows + 1))


def _customers(path: Path) -> None:
    path.write_text("cid,name\n1,Ada\n2,Bob\n3,Cy\n")


def _sql(node_id: str, title: str, text: str) -> Node:
    return Node(node_id, "transformer", title, config={"language": "sql", "mode": "new_table", "sql": text})


def _workflow(project: Path) -> Workflow:
    nodes = [Node("start", "start", config={"trigger": {"kind": "manual"}}),
             Node("orders", "data_source", "Orders", config={"source": "file", "path": "orders.csv"}),
             Node("customers", "data_source", "Customers", config={"source": "file", "path": "customers.json"}),
             _sql("cleaned", "Cleaned", "SELECT id, customer, total FROM {{ input }} WHERE total % 2 = 0"),
             _sql("big", "Big", "SELECT id, total FROM {{ input }} WHERE total > 10"),
             Node("joined", "join", "Joined", config={"joins": [{"left": "orders", "right": "customers",
                                                                 "type": "inner", "on": [["customer", "cid"]]}]})]
    edges = [Edge("start", "orders"), Edge("start", "customers"), Edge("orders", "cleaned"),
             Edge("cleaned", "big"), Edge("orders", "joined"), Edge("customers", "joined")]
    return Workflow("flow", "Flow", nodes=nodes, edges=edges, settings={"base_dir": str(project)})


class Panels:
    def __init__(self, root: Path) -> None:
        self.project = root / "project"
        self.project.mkdir()
        _orders(self.project / "orders.csv", 2500)
        (self.project / "customers.json").write_text('[{"cid": 1, "name": "Ada"}, {"cid": 2, "name": "Bob"}, '
                                                     '{"cid": 3, "name": "Cy"}]')
        self.ws = root / "workspace.sqlite"
        workspace.connect(self.ws).close()
        self.store = WorkflowStore(root / "workflows")
        self.wf = self.store.save(_workflow(self.project))
        self.history = History(root / "history.sqlite")
        self.executor = InlineExecutor(REGISTRY, self.ws, root / "connections.json")
        connections = ConnectionService(root / "connections.json", REGISTRY, self.executor)
        self.service = NodePanelService(self.store, self.history, self.executor, connections)

    def try_node(self, node_id: str, **kwargs):
        node = self.store.load("flow").node(node_id)
        return self.service.try_sample("flow", {"id": node.id, "type": node.type, "title": node.title,
                                                "config": node.config}, **kwargs)

    def edit(self, node_id: str, **config) -> None:
        wf = self.store.load("flow")
        wf.node(node_id).config.update(config)
        self.store.save(wf)

    def workspace_tables(self) -> list[str]:
        with closing(workspace.connect(self.ws)) as conn:
            return [t["name"] for t in workspace.list_tables(conn)]

    def close(self) -> None:
        self.executor.close()
        self.history.close()


@pytest.fixture
def panels(tmp_path):
    p = Panels(tmp_path)
    yield p
    p.close()


def test_a_transformer_below_a_csv_source_tries_on_a_sample_of_it_before_any_run(panels):
    reply = panels.try_node("big", limit=3)
    # orders.csv read to its first 1,000 rows; cleaned keeps the even totals (500); big those > 10.
    assert reply["rows"] == [[12, 12], [14, 14], [16, 16]]
    assert reply["total"] == 495
    assert reply["inputs"] == [{"node_id": "cleaned", "how": "sample",
                                "note": "computed from a 1,000-row sample of Orders (CSV)"}]
    assert reply["provenance"] == "Input: computed from a 1,000-row sample of Orders (CSV)"
    # Nothing real: no workspace table, no run in the execution log.
    assert panels.workspace_tables() == []
    assert panels.history.list_runs(limit=10) == []


def test_a_join_of_two_never_run_sources_gives_the_right_sample_rows(panels):
    reply = panels.try_node("joined", limit=4)
    assert reply["columns"] == ["id", "customer", "total", "cid", "name"]
    assert reply["rows"] == [[1, 2, 1, 2, "Bob"], [2, 3, 2, 3, "Cy"], [3, 1, 3, 1, "Ada"], [4, 2, 4, 2, "Bob"]]
    assert reply["total"] == 1000
    notes = {i["node_id"]: i["note"] for i in reply["inputs"]}
    assert notes == {"orders": "computed from a 1,000-row sample of Orders (CSV)",
                     "customers": "computed from a 3-row sample of Customers (JSON)"}


def test_the_sample_is_reused_until_an_upstream_config_or_file_changes(panels):
    assert panels.try_node("big")["inputs"][0]["how"] == "sample"
    again = panels.try_node("big")
    assert again["inputs"][0]["how"] == "cached"
    assert "re-used: nothing above it changed" in again["inputs"][0]["note"] and again["total"] == 495
    # An upstream node's config changes: that node (and what is below it) is computed again.
    panels.edit("cleaned", sql="SELECT id, customer, total FROM {{ input }} WHERE total % 5 = 0")
    changed = panels.try_node("big", limit=2)
    assert changed["inputs"][0]["how"] == "sample"
    assert changed["rows"] == [[15, 15], [20, 20]] and changed["total"] == 198
    assert panels.try_node("big")["inputs"][0]["how"] == "cached"
    # The source file changes (new content, new modification time): computed from the new file.
    _orders(panels.project / "orders.csv", 2500, factor=10)
    st = os.stat(panels.project / "orders.csv")
    os.utime(panels.project / "orders.csv", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    fresh = panels.try_node("big", limit=2)
    assert fresh["inputs"][0]["how"] == "sample"
    assert fresh["rows"] == [[2, 20], [3, 30]] and fresh["total"] == 999


def test_the_editors_unsaved_workflow_is_the_one_planned(panels):
    doc_wf = panels.store.load("flow")
    doc_wf.node("cleaned").config["sql"] = "SELECT id, customer, total FROM {{ input }} WHERE id <= 20"
    from engine.model import fileformat

    node = doc_wf.node("big")
    reply = panels.service.try_sample("flow", {"id": "big", "type": "transformer", "config": node.config},
                                      workflow=fileformat.to_dict(doc_wf))
    assert reply["total"] == 10


def test_real_outputs_are_used_and_never_touched(panels):
    wf = panels.store.load("flow")
    result = Run(wf, panels.project, REGISTRY, panels.executor, panels.history).execute()
    assert result.status == "succeeded"
    before = panels.workspace_tables()
    with closing(workspace.connect(panels.ws)) as conn:
        real_rows = workspace.count_rows(conn, "flow__cleaned")
    reply = panels.try_node("big")
    assert reply["inputs"][0]["how"] == "last run" and reply["provenance"].startswith("Input: its output table")
    # An in-place try below a sampled input changes a copy only; the real tables stay as they were.
    reply = panels.service.try_sample("flow", {"id": "x", "type": "transformer", "config": {
        "language": "sql", "mode": "in_place", "sql": "DELETE FROM {{ input }} WHERE total > 5"}}, inputs=["cleaned"])
    assert reply["total"] == 2
    assert panels.workspace_tables() == before
    with closing(workspace.connect(panels.ws)) as conn:
        assert workspace.count_rows(conn, "flow__cleaned") == real_rows == 1250
    assert len(panels.history.list_runs(limit=10)) == 1


def test_an_in_place_step_upstream_changes_a_copy_not_the_cached_source(panels):
    panels.edit("cleaned", mode="in_place", sql="DELETE FROM {{ input }} WHERE total > 3")
    assert panels.try_node("big")["total"] == 0
    reply = panels.try_node("joined")        # orders' cached sample still has its 1,000 rows
    assert reply["total"] == 1000 and reply["inputs"][0]["how"] == "cached"


def test_a_source_failing_on_the_sample_names_that_node(panels):
    panels.edit("orders", path="missing.csv")
    with pytest.raises(DagfluxError, match=r"could not prepare the sample input of 'Big': node 'Orders' failed on "
                                           r"the sample: .*missing\.csv does not exist"):
        panels.try_node("big")


def test_input_columns_before_any_run(panels):
    columns = panels.service.input_columns("flow", "joined")
    assert [(c["node_id"], c["columns"]) for c in columns] == [
        ("orders", [["id", "INTEGER"], ["customer", "INTEGER"], ["total", "INTEGER"]]),
        ("customers", [["cid", "INTEGER"], ["name", "TEXT"]])]
    assert columns[0]["note"] == "computed from a 1,000-row sample of Orders (CSV)"
    panels.edit("customers", path="gone.json")
    columns = panels.service.input_columns("flow", "joined")
    assert columns[0]["columns"] and "node 'Customers' failed" in columns[1]["error"]


def test_the_cache_is_bounded_and_drops_its_tables(panels, monkeypatch):
    panels.try_node("big")
    panels.try_node("joined")
    monkeypatch.setattr(sample_cache, "VACUUM_FREE_PAGES", 0)
    path = sample_cache.cache_path(type("S", (), {"workspace_path": panels.ws})())
    assert path.parent == panels.ws.parent and path.name == "try-samples.sqlite"
    assert (path.stat().st_mode & 0o777) == 0o600
    with sample_cache.SampleCache(path) as cache:
        pages = cache.conn.execute("PRAGMA page_count").fetchone()[0]
        entries = cache.conn.execute("SELECT count(*) FROM sample_entries").fetchone()[0]
        assert entries == 3          # orders (shared by both tries), cleaned, customers
        assert cache.prune(max_entries=1) == entries - 1
        tables = [t["name"] for t in workspace.list_tables(cache.conn)]
        assert len([t for t in tables if t.startswith(sample_cache.TABLE_PREFIX)]) == 1
        assert cache.prune(max_entries=10, max_age_s=-1) == 1
        assert not [t for t in workspace.list_tables(cache.conn) if t["name"].startswith("sample__")]
        assert cache.conn.execute("PRAGMA page_count").fetchone()[0] < pages     # compacted


def test_a_file_import_can_stop_after_the_first_rows(tmp_path):
    _orders(tmp_path / "o.csv", 50_000)
    path = tmp_path / "w.sqlite"
    conn, lease = workspace.connect(path), workspace.WriteLease(path)
    try:
        result = readers.import_file(conn, lease, tmp_path / "o.csv", "t", max_rows=10)
        assert result.records == 10
        assert conn.execute("SELECT min(id), max(id), count(*) FROM t").fetchone() == (1, 10, 10)
        db = tmp_path / "src.sqlite"
        with closing(sqlite3.connect(db)) as src, src:
            src.execute("CREATE TABLE s (a INTEGER)")
            src.executemany("INSERT INTO s VALUES (?)", [(i,) for i in range(30)])
        assert readers.import_file(conn, lease, db, "u", options={"table": "s"}, max_rows=7).records == 7
        assert workspace.count_rows(conn, "u") == 7
    finally:
        conn.close()
        lease.close()


def test_an_input_that_makes_no_table_is_named(panels):
    with pytest.raises(DagfluxError, match="the input 'start' of 'x' makes no table to try on"):
        panels.service.try_sample("flow", {"id": "x", "title": "x", "type": "transformer", "config": {
            "language": "sql", "mode": "new_table", "sql": "SELECT 1 FROM {{ input }}"}}, inputs=["start"])


def test_an_upstream_node_with_unfinished_settings_is_named_with_what_is_missing(panels):
    panels.edit("orders", path=None)
    with pytest.raises(DagfluxError, match=r"node 'Orders' failed on the sample: its settings are not complete: "
                                           r"path: "):
        panels.try_node("big")
