"""The open-workflow document: edits through the stack, autosave, disk changes, run states."""

from __future__ import annotations

from pathlib import Path

from app.document import WorkflowDocument
from engine.messages import NodeFinished, NodeRetrying, NodeStarted, RunFinished, RunStarted
from engine.model import fileformat
from engine.model.commands import AddNodeCommand, MoveNodesCommand
from engine.model.workflow import Edge, Node, Workflow
from engine.plugins import load_registry


def small() -> Workflow:
    return Workflow("orders", "Orders", nodes=[Node("start", "start", config={"trigger": {"kind": "manual"}}),
                                             Node("load", "data_source", config={"source": "file", "path": "a.csv"})],
                    edges=[Edge("start", "load")])


def test_edits_go_through_the_stack_and_are_saved_once_per_change() -> None:
    saved: list[dict] = []
    doc = WorkflowDocument(small(), save=saved.append)
    assert not doc.save()  # nothing changed yet
    doc.push(MoveNodesCommand(doc.workflow, {"load": (200, 40)}))
    assert doc.dirty
    assert doc.save() and not doc.dirty
    assert saved[-1]["nodes"][1]["position"] == [200, 40]
    assert not doc.save()
    doc.undo()
    assert doc.save() and saved[-1]["nodes"][1]["position"] == [0, 0]
    assert doc.save(force=True) and len(saved) == 3


def test_a_file_changed_by_someone_else_is_noticed_and_can_be_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "orders.json"
    fileformat.save(small(), path)
    doc = WorkflowDocument(fileformat.load(path), save=lambda d: fileformat.save(fileformat.from_dict(d), path),
                           path=path)
    assert not doc.changed_on_disk()
    doc.push(AddNodeCommand(doc.workflow, Node("clean", "transformer")))
    doc.save()
    assert not doc.changed_on_disk()  # our own save is not "someone else"
    other = fileformat.load(path)
    other.name = "Renamed elsewhere"
    fileformat.save(other, path)
    assert doc.changed_on_disk()
    doc.reload(fileformat.load(path))
    assert doc.workflow.name == "Renamed elsewhere" and not doc.stack.can_undo and not doc.changed_on_disk()
    path.write_text("{ half-written")
    assert doc.changed_on_disk()


def test_run_events_become_node_states_for_this_workflow_only() -> None:
    doc = WorkflowDocument(small())
    seen: list[str | None] = []
    doc.subscribe_run(seen.append)
    assert not doc.apply_event(RunStarted(run_id="r0", workflow_id="other", node_ids=["x"]))
    assert doc.apply_event(RunStarted(run_id="r1", workflow_id="orders", node_ids=["start", "load"]))
    assert doc.running and {s.status for s in doc.node_states.values()} == {"queued"}
    doc.apply_event(NodeStarted(run_id="r1", node_id="start"))
    doc.apply_event(NodeFinished(run_id="r1", node_id="start", status="succeeded"))
    doc.apply_event(NodeStarted(run_id="r1", node_id="load"))
    assert not doc.apply_event(NodeFinished(run_id="r0", node_id="load", status="failed"))
    doc.apply_event(NodeFinished(run_id="r1", node_id="load", status="succeeded", records=42,
                                 table="orders__load"))
    doc.apply_event(RunFinished(run_id="r1", workflow_id="orders", status="succeeded"))
    assert not doc.running and doc.run_status == "succeeded"
    assert doc.node_states["load"].records == 42 and doc.node_states["load"].table == "orders__load"
    assert seen == [None, "start", "start", "load", "load", None]


def test_a_retrying_node_stays_running_and_says_why() -> None:
    doc = WorkflowDocument(small())
    doc.apply_event(RunStarted(run_id="r1", workflow_id="orders", node_ids=["start", "load"]))
    doc.apply_event(NodeStarted(run_id="r1", node_id="load"))
    doc.apply_event(NodeRetrying(run_id="r1", node_id="load", attempt=1, delay_s=2.0, error="HTTP 503"))
    state = doc.node_states["load"]
    assert (state.status, state.attempts) == ("running", 2)
    assert state.error == "attempt 1 failed, retrying in 2 s: HTTP 503"
    doc.apply_event(NodeFinished(run_id="r1", node_id="load", status="succeeded", records=3, attempts=2))
    assert (state.status, state.attempts, state.error) == ("succeeded", 2, None)


def test_a_cancelled_run_leaves_no_node_looking_busy() -> None:
    doc = WorkflowDocument(small())
    doc.apply_event(RunStarted(run_id="r1", workflow_id="orders", node_ids=["start", "load"]))
    doc.apply_event(NodeStarted(run_id="r1", node_id="start"))
    doc.apply_event(RunFinished(run_id="r1", workflow_id="orders", status="cancelled"))
    assert doc.node_states["start"].status == "cancelled" and doc.node_states["load"].status == "not_run"


def test_problems_are_listed_per_node() -> None:
    registry = load_registry()
    wf = small()
    wf.insert_node(Node("join", "join"))
    doc = WorkflowDocument(wf, registry.node_types)
    problems = doc.problems_by_node()
    assert "join" in problems and any("input" in p for p in problems["join"])


def test_a_past_run_from_the_log_is_shown() -> None:
    doc = WorkflowDocument(small())
    doc.load_run({"run_id": "r9", "status": "failed", "error": "boom",
                  "nodes": [{"node_id": "load", "status": "failed", "records_out": None, "error": "no file",
                             "duration_ms": 3.0, "output_table": None, "output_connection": None}]})
    assert doc.run_status == "failed" and doc.node_states["load"].error == "no file"
