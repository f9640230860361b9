"""The model keeps the connect rules: ConnectCommand and PasteFragmentCommand given the
node types refuse a cycle, a full input, a missing port or a duplicate with a named
EdgeRefused, and leave the workflow as it was."""

from __future__ import annotations

import pytest

from engine.model.commands import ConnectCommand, PasteFragmentCommand, UndoStack
from engine.model.edge_rules import KINDS, EdgeRefused
from engine.model.workflow import Edge, Node, Workflow
from engine.plugins import load_registry

TYPES = load_registry().node_types


def _wf() -> Workflow:
    nodes = [Node("start", "start"), Node("src", "data_source"), Node("a", "transformer"),
             Node("b", "transformer"), Node("out", "output")]
    edges = [Edge("start", "src"), Edge("src", "a"), Edge("a", "b")]
    return Workflow("w", "W", nodes=nodes, edges=edges)


@pytest.mark.parametrize("edge, kind, words", [
    (Edge("b", "a"), "cycle", "would make a loop"),
    (Edge("b", "src"), "cycle", "would make a loop"),
    (Edge("src", "b"), "arity", "already has an input"),
    (Edge("a", "b"), "duplicate", "already connected"),
    (Edge("out", "a"), "port", "no output to connect"),
    (Edge("a", "start"), "arity", "takes no input"),
    (Edge("a", "a"), "self", "cannot be connected to itself"),
    (Edge("a", "ghost"), "missing", "no node 'ghost'"),
])
def test_connect_refuses_what_the_rules_forbid_and_changes_nothing(edge, kind, words):
    wf, stack = _wf(), UndoStack()
    before = list(wf.edges)
    with pytest.raises(EdgeRefused, match=words) as refused:
        stack.push(ConnectCommand(wf, edge, types=TYPES))
    assert refused.value.kind == kind and kind in KINDS
    assert list(wf.edges) == before and not stack.can_undo


def test_a_valid_connection_is_made_and_undone():
    wf, stack = _wf(), UndoStack()
    stack.push(ConnectCommand(wf, Edge("b", "out"), types=TYPES))
    assert Edge("b", "out") in wf.edges
    stack.undo()
    assert Edge("b", "out") not in wf.edges


def test_pasting_a_fragment_with_a_cycle_is_refused():
    wf, stack = _wf(), UndoStack()
    fragment = {"nodes": [{"id": "x", "type": "transformer"}, {"id": "y", "type": "transformer"}],
                "edges": [{"from": "x", "to": "y"}, {"from": "y", "to": "x"}]}
    with pytest.raises(EdgeRefused, match="loop") as refused:
        stack.push(PasteFragmentCommand(wf, fragment, types=TYPES))
    assert refused.value.kind == "cycle"
    assert [n.id for n in wf] == ["start", "src", "a", "b", "out"]
