"""Accepting an AI proposal into an open document (app/ai_commands.py), the diff the panel shows
(app/widgets/inspector/ai_diff.py) and the Join question's steps (ai_questions.py) — pure
Python on real workflows and proposal records shaped as ``ai.assist_node`` returns them."""

from __future__ import annotations

import pytest

from app.ai_commands import AcceptProposalCommand, accept_command, provenance_state
from app.document import WorkflowDocument
from app.widgets.inspector.ai_diff import diff_lines
from app.widgets.inspector.ai_questions import InputColumns, answer_text, steps_for
from engine.errors import DagfluxError
from engine.model import fileformat
from engine.model.commands import ChangeConfigCommand
from engine.plugins import load_registry


def _doc() -> WorkflowDocument:
    wf = fileformat.from_dict({
        "format": "dagflux-workflow", "version": 2, "id": "wf", "name": "wf",
        "nodes": [{"id": "start", "type": "start", "config": {"trigger": {"kind": "manual"}}},
                  {"id": "src", "type": "data_source", "config": {"source": "file", "path": "a.csv"}},
                  {"id": "api", "type": "data_source", "config": {"source": "rest", "connection": "web",
                                                                  "path": "/old", "description": "kept"}},
                  {"id": "check", "type": "branch", "config": {"condition": "count(*) > 0"}},
                  {"id": "yes", "type": "transformer", "config": {"sql": "SELECT * FROM {{ input }}"}}],
        "edges": [{"from": "start", "to": "src"}, {"from": "start", "to": "api"}, {"from": "src", "to": "check"},
                  {"from": "check", "from_port": "true", "to": "yes"}]}, "<test>")
    return WorkflowDocument(wf, load_registry().node_types)


def _record(node_id: str, node_type: str, kind: str, mode: str, code, status: str = "verified") -> dict:
    return {"id": "prop-1", "workflow_id": "wf", "node_id": node_id, "node_type": node_type, "kind": kind,
            "status": status, "message_id": "msg-1", "session": None, "connection": "ai", "model": "m1",
            "proposal": {"mode": mode, "code": code, "explanation": "x"}, "error": None if status == "verified"
            else "no such column: nope"}


def test_a_branch_condition_is_accepted_as_one_undo_step_with_provenance() -> None:
    doc = _doc()
    node = doc.workflow.node("check")
    doc.push(accept_command(doc.workflow, _record("check", "branch", "condition", "condition", "sum(x) > 5"),
                            doc.types))
    assert node.config == {"condition": "sum(x) > 5"} and node.ai["model"] == "m1"
    assert provenance_state(node) == "generated" and doc.stack.index == 1
    doc.push(ChangeConfigCommand(doc.workflow, "check", {"condition": "sum(x) > 6"}))
    assert provenance_state(node) == "edited"
    doc.undo()
    doc.undo()
    assert node.config == {"condition": "count(*) > 0"} and node.ai is None and provenance_state(node) is None
    doc.redo()
    assert node.config == {"condition": "sum(x) > 5"} and provenance_state(node) == "generated"


def test_a_rest_spec_keeps_the_connection_and_description() -> None:
    doc = _doc()
    command = accept_command(doc.workflow, _record("api", "data_source", "rest", "rest",
                                                   {"path": "/orders", "records_path": "data"}), doc.types)
    assert isinstance(command, AcceptProposalCommand)
    doc.push(command)
    assert doc.workflow.node("api").config == {"source": "rest", "connection": "web", "description": "kept",
                                               "path": "/orders", "records_path": "data"}


def test_a_failed_or_stale_proposal_is_refused_and_nothing_changes() -> None:
    doc = _doc()
    with pytest.raises(DagfluxError, match="did not run cleanly.*no such column"):
        accept_command(doc.workflow, _record("yes", "transformer", "sql", "sql", "SELECT nope", status="failed"))
    with pytest.raises(DagfluxError, match="cannot be accepted"):
        accept_command(doc.workflow, {**_record("check", "branch", "condition", "condition", "x"),
                                      "status": "question"})
    with pytest.raises(DagfluxError, match="now a branch, not the transformer"):
        accept_command(doc.workflow, _record("check", "transformer", "sql", "sql", "SELECT 1"))
    with pytest.raises(DagfluxError, match="would not be valid"):     # a problem the proposal brings
        accept_command(doc.workflow, _record("yes", "transformer", "sql", "sql", "SELECT {{ input.7 }}"), doc.types)
    with pytest.raises(DagfluxError, match="no longer in the workflow"):
        accept_command(doc.workflow, _record("gone", "branch", "condition", "condition", "x"))
    assert doc.stack.index == 0 and doc.workflow.node("yes").ai is None


def test_the_diff_lists_removed_then_added_lines() -> None:
    assert diff_lines("SELECT a\nFROM t", "SELECT b\nFROM t\nWHERE x") == [
        ("-", "SELECT a"), ("+", "SELECT b"), (" ", "FROM t"), ("+", "WHERE x")]
    assert diff_lines(None, {"path": "/x"}) == [("+", "{"), ("+", ' "path": "/x"'), ("+", "}")]


def test_join_question_steps_pair_the_first_input_with_each_other_then_ask_the_join_type() -> None:
    inputs = [InputColumns("Orders", ["id", "customer_id"]), InputColumns("Customers", ["id", "name"]),
              InputColumns("Regions", ["code"])]
    steps = steps_for(inputs)
    assert [s.key for s in steps] == ["left:Customers", "right:Customers", "left:Regions", "right:Regions", "how"]
    picked = {"left:Customers": "customer_id", "right:Customers": "id", "left:Regions": "id",
              "right:Regions": "code", "how": "left"}
    assert answer_text(inputs, picked) == "Orders.customer_id = Customers.id, Orders.id = Regions.code, left join"
    assert [s.key for s in steps_for([InputColumns("A", []), InputColumns("B", [])])] == ["how"]
