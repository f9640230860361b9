"""The Assistant's pure parts: the Markdown reader and applying a workflow proposal as one
undoable command (no window needed)."""

from __future__ import annotations

import copy

import pytest

from app.screens.assistant_apply import ProposalRefused, config_summary, proposal_command
from app.screens.workflows import new_workflow_doc
from app.widgets.markdown_parse import inline_markup, parse_blocks
from engine.model import fileformat
from engine.model.commands import UndoStack
from engine.model.workflow import Edge, Node
from engine.plugins import load_registry

TYPES = load_registry([]).node_types
PROPOSAL_NODES = [
    {"id": "start", "type": "start", "config": {"trigger": {"kind": "manual"}}, "position": [0, 0]},
    {"id": "orders", "type": "data_source", "config": {"source": "file", "path": "orders.csv"}, "position": [220, 0]},
    {"id": "paid", "type": "transformer", "config": {"language": "sql", "mode": "new_table",
                                                     "sql": "SELECT * FROM {{ input }} WHERE paid"},
     "position": [440, 0]},
    {"id": "out", "type": "output", "config": {"path": "out/paid.csv"}, "position": [660, 0]}]
PROPOSAL_EDGES = [{"from": "start", "to": "orders"}, {"from": "orders", "to": "paid"}, {"from": "paid", "to": "out"}]


def _proposal(status: str = "valid", **extra) -> dict:
    doc = {"format": fileformat.FORMAT_NAME, "version": fileformat.CURRENT_VERSION, "id": "paid_orders",
           "name": "Paid orders", "nodes": copy.deepcopy(PROPOSAL_NODES), "edges": copy.deepcopy(PROPOSAL_EDGES)}
    return {"status": status, "workflow": doc, **extra}


def test_markdown_blocks_cover_headings_lists_tables_code_and_rules() -> None:
    text = ("# Title\nSome *text* with `code`.\n\n1. first\n2. second\n   continued\n\n- a\n- b\n\n"
            "| x | y |\n|:--|--:|\n| 1 | 2 |\n| 3 |\n\n---\n```python\nprint('[b]')\n```\ntail")
    assert parse_blocks(text) == [
        ("heading", 1, "Title"), ("paragraph", "Some *text* with `code`."),
        ("list", True, (("1.", "first"), ("2.", "second continued"))),
        ("list", False, (("•", "a"), ("•", "b"))),
        ("table", ("x", "y"), (("1", "2"), ("3", ""))), ("rule",),
        ("code", "python", "print('[b]')"), ("paragraph", "tail")]


def test_an_unclosed_fence_runs_to_the_end_as_a_streaming_reply_has_it() -> None:
    assert parse_blocks("Here:\n```sql\nSELECT 1") == [("paragraph", "Here:"), ("code", "sql", "SELECT 1")]


def test_inline_markup_is_escaped_so_a_reply_cannot_inject_markup() -> None:
    assert inline_markup("**bold** and *it* and `x[1]` [color=ff0000]red[/color]") == (
        "[b]bold[/b] and [i]it[/i] and [font=RobotoMono-Regular]x&bl;1&br;[/font] "
        "&bl;color=ff0000&br;red&bl;/color&br;")
    assert inline_markup("[docs](https://example.org) & more") == "[u]docs[/u] &amp; more"


def test_a_proposal_goes_into_a_new_workflow_as_one_undoable_step_laid_out_left_to_right() -> None:
    wf = fileformat.from_dict(new_workflow_doc("paid_orders", "Paid orders"), "new")
    stack = UndoStack()
    command, ids = proposal_command(wf, _proposal(), TYPES)
    stack.push(command)
    assert ids == {"start": "start", "orders": "orders", "paid": "paid", "out": "out"}
    assert [str(e) for e in wf.edges] == ["start -> orders", "orders -> paid", "paid -> out"]
    xs = [n.position[0] for n in wf]
    assert xs == sorted(xs) and len(set(xs)) == 4
    assert [p for p in fileformat_problems(wf)] == []
    stack.undo()
    assert [n.id for n in wf] == ["start"] and wf.edges == []
    stack.redo()
    assert len(wf.nodes) == 4


def fileformat_problems(wf) -> list:
    from engine.model.validation import validate

    return validate(wf, TYPES)


def test_into_an_open_workflow_ids_that_clash_get_new_ones_and_the_start_is_shared() -> None:
    wf = fileformat.from_dict(new_workflow_doc("mine", "Mine"), "new")
    wf.insert_node(Node("orders", "data_source", "Orders", (240.0, 0.0), {"source": "file", "path": "a.csv"}))
    wf.insert_edge(Edge("start", "orders"))
    command, ids = proposal_command(wf, _proposal(), TYPES)
    command.redo()
    assert ids["orders"] == "orders_2" and ids["start"] == "start"
    assert "start -> orders_2" in [str(e) for e in wf.edges]
    assert min(wf.node(i).position[1] for i in ("orders_2", "paid", "out")) > wf.node("orders").position[1]
    command.undo()
    assert [n.id for n in wf] == ["start", "orders"]


def test_an_invalid_proposal_is_refused_with_its_problems_and_changes_nothing() -> None:
    wf = fileformat.from_dict(new_workflow_doc("x", "X"), "new")
    with pytest.raises(ProposalRefused, match="not valid: the graph has a cycle"):
        proposal_command(wf, _proposal("invalid", problems=["the graph has a cycle"]), TYPES)
    bad = _proposal()
    bad["workflow"]["edges"].append({"from": "out", "to": "orders"})   # said valid, yet a cycle
    with pytest.raises(ProposalRefused, match="does not fit"):
        proposal_command(wf, bad, TYPES)
    assert [n.id for n in wf] == ["start"]


def test_config_summaries_say_what_each_node_does() -> None:
    summaries = [config_summary(n["type"], n["config"]) for n in PROPOSAL_NODES]
    assert summaries == ["trigger: manual", "reads orders.csv", "SELECT * FROM {{ input }} WHERE paid",
                         "writes out/paid.csv"]
    assert config_summary("branch", {"condition": "count(*) > 0"}) == "if count(*) > 0"
