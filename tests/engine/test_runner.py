"""The scheduling loop's semantics, with the inline executor (no processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import workspace
from engine.errors import WorkflowValidationError
from engine.executor import InlineExecutor
from engine.history import History
from engine.messages import NodeFinished, RunFinished, RunStarted
from engine.model.workflow import Edge, Node, Workflow
from engine.plugins import load_registry
from engine.runner import Run

REGISTRY = load_registry()


@pytest.fixture
def ws(tmp_path: Path):
    path = tmp_path / "workspace.sqlite"
    conn = workspace.connect(path)
    conn.execute("CREATE TABLE sales AS SELECT 1 AS id, 100 AS amount UNION ALL SELECT 2, 250")
    conn.close()
    return path


def _sql(node_id: str, text: str) -> Node:
    return Node(node_id, "transformer", config={"language": "sql", "mode": "new_table", "sql": text})


def _flow(*extra_nodes: Node, edges: list[Edge]) -> Workflow:
    base = [Node("start", "start", config={"trigger": {"kind": "manual"}}),
            Node("sales", "data_source", config={"source": "workspace", "table": "sales"})]
    return Workflow("flow", "Flow", nodes=base + list(extra_nodes), edges=[Edge("start", "sales"), *edges])


def _run(wf: Workflow, ws: Path, history: History | None = None):
    events = []
    executor = InlineExecutor(REGISTRY, ws)
    try:
        result = Run(wf, ws.parent, REGISTRY, executor, history, on_event=events.append).execute()
    finally:
        executor.close()
    return result, events


def test_branch_runs_the_taken_side_and_skips_everything_only_reachable_from_the_other(ws):
    wf = _flow(Node("check", "branch", config={"condition": "sum(amount) > 300"}),
               _sql("big", "SELECT * FROM {{ input }}"), _sql("big_more", "SELECT * FROM {{ input }}"),
               _sql("small", "SELECT * FROM {{ input }}"), _sql("small_more", "SELECT * FROM {{ input }}"),
               edges=[Edge("sales", "check"), Edge("check", "big", "true"), Edge("big", "big_more"),
                      Edge("check", "small", "false"), Edge("small", "small_more")])
    result, _ = _run(wf, ws)
    status = {n.id: n.status for n in result.nodes}
    assert result.status == "succeeded"
    assert status == {"start": "succeeded", "sales": "succeeded", "check": "succeeded",
                      "big": "succeeded", "big_more": "succeeded", "small": "skipped",
                      "small_more": "skipped"}
    assert result.node("check").branch == "true" and result.node("check").table == "sales"
    assert result.node("big_more").records == 2


def test_fail_fast_leaves_unreached_nodes_not_run_and_logs_every_node(ws, tmp_path):
    wf = _flow(_sql("broken", "SELECT nope FROM {{ input }}"), _sql("after", "SELECT * FROM {{ input }}"),
               edges=[Edge("sales", "broken"), Edge("broken", "after")])
    with History(tmp_path / "history.sqlite") as history:
        result, events = _run(wf, ws, history)
        logged = history.get_run(result.run_id)
    assert result.status == "failed"
    assert result.error.startswith("node 'broken' failed: SQL error in node 'broken': no such column: nope")
    assert {n.id: n.status for n in result.nodes}["after"] == "not_run"
    assert [n["node_id"] for n in logged["nodes"]] == ["start", "sales", "broken", "after"]
    assert logged["status"] == "failed" and logged["nodes"][3]["status"] == "not_run"
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    finished = [e for e in events if isinstance(e, NodeFinished)]
    assert [e.node_id for e in finished] == ["start", "sales", "broken", "after"]


def test_records_in_and_out_are_counted_per_node(ws, tmp_path):
    wf = _flow(_sql("big", "SELECT * FROM {{ input }} WHERE amount > 200"),
               edges=[Edge("sales", "big")])
    with History(tmp_path / "history.sqlite") as history:
        result, _ = _run(wf, ws, history)
        nodes = {n["node_id"]: n for n in history.get_run(result.run_id)["nodes"]}
        run = history.list_runs(limit=1)[0]
    assert nodes["big"]["records_in"] == 2 and nodes["big"]["records_out"] == 1
    assert run["records"] == 1 and run["status"] == "succeeded"


def test_join_merges_inputs_and_keeps_same_name_columns_apart(ws):
    wf = _flow(_sql("a", "SELECT id, amount FROM {{ input }}"),
               _sql("b", "SELECT id, amount * 2 AS amount FROM {{ input }}"),
               Node("j", "join", config={"joins": [{"left": "a", "right": "b", "type": "inner",
                                                    "on": [["id", "id"]]}]}),
               edges=[Edge("sales", "a"), Edge("sales", "b"), Edge("a", "j"), Edge("b", "j")])
    result, _ = _run(wf, ws)
    assert result.status == "succeeded", result.error
    conn = workspace.connect(ws)
    try:
        cols = [c for c, _ in workspace.columns(conn, "flow__j")]
        rows = conn.execute('SELECT * FROM "flow__j" ORDER BY 1').fetchall()
    finally:
        conn.close()
    assert cols == ["a_id", "a_amount", "b_id", "b_amount"]
    assert rows == [(1, 100, 1, 200), (2, 250, 2, 500)]


def test_in_place_transform_changes_its_input_table(ws):
    wf = _flow(_sql("copy", "SELECT * FROM {{ input }}"),
               Node("drop_small", "transformer", config={"language": "sql", "mode": "in_place",
                                                         "sql": "DELETE FROM {{ input }} WHERE amount < 200"}),
               edges=[Edge("sales", "copy"), Edge("copy", "drop_small")])
    result, _ = _run(wf, ws)
    assert result.node("drop_small").table == "flow__copy" and result.node("drop_small").records == 1


def test_an_invalid_workflow_is_refused_before_anything_runs(ws, tmp_path):
    wf = _flow(_sql("t", "SELECT * FROM {{ input }}"), edges=[Edge("t", "t")])
    with History(tmp_path / "history.sqlite") as history:
        with pytest.raises(WorkflowValidationError, match="connected to itself"):
            _run(wf, ws, history)
        assert history.count_runs() == 0
