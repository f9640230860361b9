"""Undo/redo commands: every edit applies, undoes exactly, redoes, and emits model events."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from engine.errors import ModelError
from engine.model import fileformat
from engine.model.commands import (
    AddNodeCommand,
    ChangeConfigCommand,
    Command,
    ConnectCommand,
    DeleteSelectionCommand,
    DisconnectCommand,
    MacroCommand,
    MoveNodesCommand,
    PasteFragmentCommand,
    RemoveNodeCommand,
    RenameWorkflowCommand,
    SetNodeFieldsCommand,
    UndoStack,
    copy_fragment,
)
from engine.model.workflow import Edge, Node, Workflow


# --- fixtures ----------------------------------------------------------------------------
def make_workflow() -> Workflow:
    """start -> load -> check -(true)-> left  -> join
                              -(false)-> right -> join"""
    nodes = [
        Node("start", "start", "Start", (0, 0)),
        Node("load", "sql", "Load orders", (100, 0), {"query": "select 1", "limit": [1, 2]}),
        Node("check", "branch", "", (200, 0), {"condition": "x > 1"}, timeout_s=5.0),
        Node("left", "transform", "", (300, -50)),
        Node("right", "transform", "", (300, 50), pinned=True),
        Node("join", "join", "", (400, 0)),
    ]
    edges = [
        Edge("start", "load"),
        Edge("load", "check"),
        Edge("check", "left", "true"),
        Edge("check", "right", "false"),
        Edge("left", "join"),
        Edge("right", "join", target_port="in2"),
    ]
    return Workflow("orders", "Orders", "daily orders", nodes, edges)


def snapshot(wf: Workflow) -> dict[str, Any]:
    return fileformat.to_dict(wf)


class Recorder:
    """Model events as (event, id) pairs: node id, edge text or workflow id."""

    def __init__(self, wf: Workflow) -> None:
        self.events: list[tuple[str, str]] = []
        wf.subscribe(self._record)

    def _record(self, event: str, payload: Any) -> None:
        key = str(payload) if isinstance(payload, Edge) else payload.id
        self.events.append((event, key))

    def take(self) -> list[tuple[str, str]]:
        events, self.events = self.events, []
        return events


def exercise(stack: UndoStack, wf: Workflow, command: Command, check: Callable[[], bool | None]) -> None:
    """push → check; undo → exactly before; redo → check; undo → before; redo → check.

    ``check`` asserts itself or returns a bool."""
    before = snapshot(wf)
    stack.push(command)
    after = snapshot(wf)
    assert check() is not False
    for _ in range(2):
        stack.undo()
        assert snapshot(wf) == before
        stack.redo()
        assert snapshot(wf) == after
        assert check() is not False


@pytest.fixture
def wf() -> Workflow:
    return make_workflow()


@pytest.fixture
def stack() -> UndoStack:
    return UndoStack()


# --- node commands -----------------------------------------------------------------------
def test_add_node_appends_and_undo_removes(wf: Workflow, stack: UndoStack) -> None:
    def check() -> None:
        assert wf.node("save").config == {"table": "out"}
        assert [n.id for n in wf][-1] == "save"

    exercise(stack, wf, AddNodeCommand(wf, Node("save", "write", config={"table": "out"})), check)
    assert stack.undo_text == "Add node 'save'"


def test_add_node_at_index(wf: Workflow, stack: UndoStack) -> None:
    exercise(stack, wf, AddNodeCommand(wf, Node("note", "comment"), index=1),
             lambda: wf.node_index("note") == 1)


def test_add_node_keeps_its_own_copy(wf: Workflow, stack: UndoStack) -> None:
    node = Node("save", "write", config={"table": "out"})
    stack.push(AddNodeCommand(wf, node))
    node.config["table"] = "changed"
    assert wf.node("save").config == {"table": "out"}


def test_add_node_events(wf: Workflow, stack: UndoStack) -> None:
    rec = Recorder(wf)
    stack.push(AddNodeCommand(wf, Node("save", "write")))
    stack.undo()
    stack.redo()
    assert rec.take() == [("node_added", "save"), ("node_removed", "save"), ("node_added", "save")]


def test_remove_node_takes_its_edges_and_undo_restores_indices(wf: Workflow, stack: UndoStack) -> None:
    def check() -> None:
        assert not wf.has_node("check")
        assert all("check" not in (e.source, e.target) for e in wf.edges)
        assert len(wf.edges) == 3

    exercise(stack, wf, RemoveNodeCommand(wf, "check"), check)


def test_remove_node_events(wf: Workflow, stack: UndoStack) -> None:
    rec = Recorder(wf)
    stack.push(RemoveNodeCommand(wf, "left"))
    assert rec.take() == [("edge_removed", "left -> join"), ("edge_removed", "check.true -> left"),
                          ("node_removed", "left")]
    stack.undo()
    assert rec.take() == [("node_added", "left"), ("edge_added", "check.true -> left"),
                          ("edge_added", "left -> join")]


def test_move_one_node(wf: Workflow, stack: UndoStack) -> None:
    exercise(stack, wf, MoveNodesCommand(wf, {"load": (120, 30)}),
             lambda: wf.node("load").position == (120.0, 30.0))
    assert stack.undo_text == "Move node 'Load orders'"


def test_move_many_nodes_with_explicit_old_positions(wf: Workflow, stack: UndoStack) -> None:
    # The canvas previewed the drag and reports where it started.
    wf.set_position("left", (333, -55))
    wf.set_position("right", (333, 55))
    before = snapshot(wf)
    command = MoveNodesCommand(wf, {"left": (350, -60), "right": (350, 60)},
                               old_positions={"left": (300, -50), "right": (300, 50)})
    stack.push(command)
    assert [wf.node("left").position, wf.node("right").position] == [(350, -60), (350, 60)]
    stack.undo()
    assert [wf.node("left").position, wf.node("right").position] == [(300, -50), (300, 50)]
    stack.redo()
    assert snapshot(wf) != before
    assert stack.undo_text == "Move 2 nodes"


def test_move_needs_every_old_position(wf: Workflow) -> None:
    with pytest.raises(ValueError, match="no old position"):
        MoveNodesCommand(wf, {"left": (1, 1), "right": (2, 2)}, old_positions={"left": (0, 0)})


def test_move_events(wf: Workflow, stack: UndoStack) -> None:
    rec = Recorder(wf)
    stack.push(MoveNodesCommand(wf, {"left": (1, 1), "right": (2, 2)}))
    stack.undo()
    assert rec.take() == [("node_moved", "left"), ("node_moved", "right")] * 2


def test_set_node_fields(wf: Workflow, stack: UndoStack) -> None:
    def check() -> None:
        node = wf.node("check")
        assert (node.title, node.timeout_s, node.pinned) == ("Big orders?", None, True)

    exercise(stack, wf, SetNodeFieldsCommand(wf, "check", {"title": "Big orders?", "timeout_s": None,
                                                          "pinned": True}), check)
    assert stack.undo_text == "Edit node 'check'"


def test_change_config_replaces_whole_config(wf: Workflow, stack: UndoStack) -> None:
    config = {"query": "select 2"}
    command = ChangeConfigCommand(wf, "load", config)
    config["query"] = "edited after the command was made"
    exercise(stack, wf, command,
             lambda: wf.node("load").config == {"query": "select 2"})
    assert stack.undo_text == "Change settings of 'Load orders'"


def test_change_config_events(wf: Workflow, stack: UndoStack) -> None:
    rec = Recorder(wf)
    stack.push(ChangeConfigCommand(wf, "load", {}))
    stack.undo()
    assert rec.take() == [("node_changed", "load")] * 2


def test_undo_restores_config_even_if_it_was_mutated_in_place(wf: Workflow, stack: UndoStack) -> None:
    original = snapshot(wf)
    stack.push(ChangeConfigCommand(wf, "load", {"query": "select 2"}))
    wf.node("load").config["query"] = "a view misbehaved"
    stack.undo()
    assert snapshot(wf) == original


# --- edge commands -----------------------------------------------------------------------
def test_connect_appends_edge_with_ports(wf: Workflow, stack: UndoStack) -> None:
    edge = Edge("check", "join", "true", "in3")
    exercise(stack, wf, ConnectCommand(wf, edge), lambda: wf.edges[-1] == edge)
    assert stack.undo_text == "Connect check.true -> join"


def test_connect_at_index(wf: Workflow, stack: UndoStack) -> None:
    edge = Edge("start", "join")
    exercise(stack, wf, ConnectCommand(wf, edge, index=0),
             lambda: wf.edge_index(edge) == 0)


def test_disconnect_restores_edge_at_its_index(wf: Workflow, stack: UndoStack) -> None:
    edge = Edge("check", "left", "true")
    exercise(stack, wf, DisconnectCommand(wf, edge), lambda: edge not in wf.edges)


def test_edge_events(wf: Workflow, stack: UndoStack) -> None:
    rec = Recorder(wf)
    stack.push(DisconnectCommand(wf, Edge("start", "load")))
    stack.undo()
    assert rec.take() == [("edge_removed", "start -> load"), ("edge_added", "start -> load")]


# --- workflow meta -----------------------------------------------------------------------
def test_rename_workflow(wf: Workflow, stack: UndoStack) -> None:
    def check() -> None:
        assert (wf.name, wf.description) == ("Orders v2", "daily orders")

    exercise(stack, wf, RenameWorkflowCommand(wf, name="Orders v2"), check)
    assert stack.undo_text == "Rename workflow"


def test_change_workflow_description(wf: Workflow, stack: UndoStack) -> None:
    rec = Recorder(wf)
    exercise(stack, wf, RenameWorkflowCommand(wf, description="hourly"),
             lambda: (wf.name, wf.description) == ("Orders", "hourly"))
    assert set(rec.take()) == {("workflow_changed", "orders")}


def test_rename_workflow_refuses_empty_name(wf: Workflow, stack: UndoStack) -> None:
    with pytest.raises(ModelError, match="name cannot be empty"):
        stack.push(RenameWorkflowCommand(wf, name="  "))
    assert wf.name == "Orders" and len(stack) == 0


def test_rename_workflow_needs_something_to_change(wf: Workflow) -> None:
    with pytest.raises(ValueError, match="name or a description"):
        RenameWorkflowCommand(wf)


# --- macro and delete selection ----------------------------------------------------------
def test_macro_is_one_undo_step(wf: Workflow, stack: UndoStack) -> None:
    macro = MacroCommand("Insert filter", [
        DisconnectCommand(wf, Edge("start", "load")),
        AddNodeCommand(wf, Node("filter", "filter"), index=1),
        ConnectCommand(wf, Edge("start", "filter"), index=0),
        ConnectCommand(wf, Edge("filter", "load"), index=1),
    ])

    def check() -> None:
        assert wf.inputs_of("load") == [Edge("filter", "load")]
        assert len(stack) == 1

    exercise(stack, wf, macro, check)
    assert stack.undo_text == "Insert filter"


def test_macro_rolls_back_when_a_step_fails(wf: Workflow, stack: UndoStack) -> None:
    before = snapshot(wf)
    rec = Recorder(wf)
    macro = MacroCommand("Broken", [AddNodeCommand(wf, Node("extra", "x")),
                                    ConnectCommand(wf, Edge("extra", "nowhere"))])
    with pytest.raises(ModelError, match="no node 'nowhere'"):
        stack.push(macro)
    assert snapshot(wf) == before
    assert rec.take() == [("node_added", "extra"), ("node_removed", "extra")]
    assert len(stack) == 0 and not stack.can_undo


def test_delete_selection_restores_edges_at_original_indices(wf: Workflow, stack: UndoStack) -> None:
    # "load" has edges 0 and 1, "left" has 2 and 4: the gaps must be refilled exactly.
    extra = Edge("start", "join")
    stack.push(ConnectCommand(wf, extra, index=3))
    command = DeleteSelectionCommand(wf, ["left", "load"], [Edge("right", "join", target_port="in2"), extra])

    def check() -> None:
        assert [n.id for n in wf] == ["start", "check", "right", "join"]
        assert wf.edges == [Edge("check", "right", "false")]

    exercise(stack, wf, command, check)
    assert stack.undo_text == "Delete 2 nodes and 2 edges"


def test_delete_selection_with_edge_that_touches_a_deleted_node(wf: Workflow, stack: UndoStack) -> None:
    exercise(stack, wf, DeleteSelectionCommand(wf, ["join"], [Edge("left", "join")]),
             lambda: not wf.has_node("join"))


def test_delete_selection_of_edges_only(wf: Workflow, stack: UndoStack) -> None:
    edges = [Edge("check", "right", "false"), Edge("start", "load")]
    exercise(stack, wf, DeleteSelectionCommand(wf, edges=edges),
             lambda: len(wf.edges) == 4)
    assert stack.undo_text == "Delete 2 edges"


def test_delete_selection_with_stale_node_changes_nothing(wf: Workflow, stack: UndoStack) -> None:
    before = snapshot(wf)
    rec = Recorder(wf)
    with pytest.raises(ModelError, match="no node 'gone'"):
        stack.push(DeleteSelectionCommand(wf, ["left", "gone"]))
    with pytest.raises(ModelError, match="no edge start -> join"):
        stack.push(DeleteSelectionCommand(wf, ["left"], [Edge("start", "join")]))
    assert snapshot(wf) == before
    assert rec.take() == []
    assert len(stack) == 0


# --- copy and paste ----------------------------------------------------------------------
def test_copy_fragment_keeps_internal_edges_and_round_trips_through_json(wf: Workflow) -> None:
    fragment = copy_fragment(wf, ["right", "check", "left"])
    assert [n["id"] for n in fragment["nodes"]] == ["check", "left", "right"]  # workflow order
    assert fragment["edges"] == [{"from": "check", "from_port": "true", "to": "left"},
                                 {"from": "check", "from_port": "false", "to": "right"}]
    assert json.loads(json.dumps(fragment)) == fragment


def test_copy_fragment_of_unknown_node(wf: Workflow) -> None:
    with pytest.raises(ModelError, match="no node 'gone'"):
        copy_fragment(wf, ["left", "gone"])


def test_paste_with_clashing_ids_remaps_edges_and_offsets(wf: Workflow, stack: UndoStack) -> None:
    fragment = json.loads(json.dumps(copy_fragment(wf, ["check", "left", "right"])))
    command = PasteFragmentCommand(wf, fragment)

    def check() -> None:
        assert command.new_ids == ["check_2", "left_2", "right_2"]
        assert command.id_map == {"check": "check_2", "left": "left_2", "right": "right_2"}
        assert wf.node("left_2").position == (340.0, -10.0)
        assert wf.node("check_2").config == {"condition": "x > 1"}
        assert wf.node("check_2").timeout_s == 5.0 and wf.node("right_2").pinned
        assert wf.edges[-2:] == [Edge("check_2", "left_2", "true"), Edge("check_2", "right_2", "false")]

    exercise(stack, wf, command, check)
    assert stack.undo_text == "Paste 3 nodes"


def test_paste_into_another_workflow_keeps_free_ids(wf: Workflow, stack: UndoStack) -> None:
    other = Workflow("other", nodes=[Node("start", "start")])
    fragment = copy_fragment(wf, ["start", "load"])
    command = PasteFragmentCommand(other, fragment, offset=(0, 0))

    def check() -> None:
        assert [n.id for n in other] == ["start", "start_2", "load"]
        assert other.edges == [Edge("start_2", "load")]
        assert other.node("load").config == wf.node("load").config
        assert other.node("load").config is not wf.node("load").config

    exercise(stack, other, command, check)


def test_paste_drops_edges_leaving_the_fragment(wf: Workflow, stack: UndoStack) -> None:
    fragment = copy_fragment(wf, ["load"])
    fragment["edges"] = [{"from": "start", "to": "load"}]
    command = PasteFragmentCommand(wf, fragment)
    stack.push(command)
    assert command.new_ids == ["load_2"] and wf.inputs_of("load_2") == []


def test_paste_fresh_ids_do_not_clash_with_each_other(stack: UndoStack) -> None:
    # "a" becomes "a_2", so the fragment's own "a_2" must move on as well.
    target = Workflow("t", nodes=[Node("a", "x")])
    fragment = {"nodes": [{"id": "a", "type": "x"}, {"id": "a_2", "type": "x"}],
                "edges": [{"from": "a", "to": "a_2"}]}
    command = PasteFragmentCommand(target, fragment)
    stack.push(command)
    assert len(set(command.new_ids)) == 2 and "a" not in command.new_ids
    assert target.edges == [Edge(command.id_map["a"], command.id_map["a_2"])]


def test_paste_twice_gives_independent_nodes(wf: Workflow, stack: UndoStack) -> None:
    fragment = copy_fragment(wf, ["load"])
    first, second = PasteFragmentCommand(wf, fragment), PasteFragmentCommand(wf, fragment)
    stack.push(first)
    stack.push(second)
    assert (first.new_ids, second.new_ids) == (["load_2"], ["load_3"])
    wf.node("load_2").config["query"] = "changed"
    assert wf.node("load_3").config["query"] == "select 1"


def test_paste_events(stack: UndoStack) -> None:
    target = Workflow("t")
    rec = Recorder(target)
    stack.push(PasteFragmentCommand(target, {"nodes": [{"id": "a", "type": "x"}, {"id": "b", "type": "x"}],
                                             "edges": [{"from": "a", "to": "b"}]}))
    stack.undo()
    assert rec.take() == [("node_added", "a"), ("node_added", "b"), ("edge_added", "a -> b"),
                          ("edge_removed", "a -> b"), ("node_removed", "b"), ("node_removed", "a")]


@pytest.mark.parametrize("fragment, message", [
    ({"nodes": [{"type": "x"}]}, "node #1 has no 'id'"),
    ({"nodes": [{"id": "a", "type": "x"}, {"id": "a", "type": "y"}]}, "two nodes have the id 'a'"),
    ({"nodes": {"id": "a"}}, "'nodes' must be a list"),
    ({"nodes": [{"id": "a", "type": "x"}, {"id": "b", "type": "x"}],
      "edges": [{"from": "a", "to": "b"}, {"from": "a", "to": "b"}]}, "already exists"),
    ([1, 2], "a fragment is an object"),
])
def test_malformed_paste_changes_nothing(wf: Workflow, stack: UndoStack, fragment: Any, message: str) -> None:
    before = snapshot(wf)
    rec = Recorder(wf)
    with pytest.raises(ModelError, match=message):
        stack.push(PasteFragmentCommand(wf, fragment))
    assert snapshot(wf) == before and rec.take() == [] and len(stack) == 0


# --- invalid commands --------------------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda wf: AddNodeCommand(wf, Node("load", "sql")), "already has a node 'load'"),
    (lambda wf: AddNodeCommand(wf, Node("Bad Id", "sql")), "invalid node id"),
    (lambda wf: RemoveNodeCommand(wf, "gone"), "no node 'gone'"),
    (lambda wf: MoveNodesCommand(wf, {"left": (1, 1), "gone": (2, 2)}), "no node 'gone'"),
    (lambda wf: SetNodeFieldsCommand(wf, "gone", {"title": "x"}), "no node 'gone'"),
    (lambda wf: SetNodeFieldsCommand(wf, "load", {"title": "x", "type": "y"}), "type cannot be changed"),
    (lambda wf: ChangeConfigCommand(wf, "gone", {}), "no node 'gone'"),
    (lambda wf: ConnectCommand(wf, Edge("start", "load")), "already exists"),
    (lambda wf: ConnectCommand(wf, Edge("start", "gone")), "no node 'gone'"),
    (lambda wf: DisconnectCommand(wf, Edge("start", "join")), "no edge start -> join"),
])
def test_invalid_command_leaves_model_and_stack_unchanged(
        wf: Workflow, make: Callable[[Workflow], Command], message: str) -> None:
    stack = UndoStack()
    stack.push(RenameWorkflowCommand(wf, name="Before"))
    stack.undo()  # a redo tail that a failed push must not drop
    stack.set_clean()
    before = snapshot(wf)
    rec = Recorder(wf)
    with pytest.raises(ModelError, match=message):
        stack.push(make(wf))
    assert snapshot(wf) == before and rec.take() == []
    assert (len(stack), stack.index, stack.can_redo, stack.is_clean) == (1, 0, True, True)


# --- the stack ---------------------------------------------------------------------------
def test_empty_stack(stack: UndoStack) -> None:
    assert not stack.can_undo and not stack.can_redo
    assert (stack.undo_text, stack.redo_text) == ("", "")
    assert stack.is_clean
    stack.undo()
    stack.redo()
    assert stack.index == 0


def test_labels_follow_undo_and_redo(wf: Workflow, stack: UndoStack) -> None:
    stack.push(MoveNodesCommand(wf, {"left": (1, 1)}))
    stack.push(DisconnectCommand(wf, Edge("start", "load")))
    assert (stack.undo_text, stack.redo_text) == ("Disconnect start -> load", "")
    stack.undo()
    assert (stack.undo_text, stack.redo_text) == ("Move node 'left'", "Disconnect start -> load")
    stack.undo()
    assert (stack.can_undo, stack.can_redo) == (False, True)


def test_new_command_after_undo_drops_redo_tail(wf: Workflow, stack: UndoStack) -> None:
    stack.push(AddNodeCommand(wf, Node("a", "x")))
    stack.push(AddNodeCommand(wf, Node("b", "x")))
    stack.undo()
    stack.push(AddNodeCommand(wf, Node("c", "x")))
    assert not stack.can_redo and len(stack) == 2
    stack.undo()
    stack.undo()
    assert not any(wf.has_node(n) for n in "abc")
    stack.redo()
    stack.redo()
    assert wf.has_node("a") and wf.has_node("c") and not wf.has_node("b")


def test_execute_is_push(wf: Workflow, stack: UndoStack) -> None:
    stack.execute(AddNodeCommand(wf, Node("a", "x")))
    assert stack.undo_text == "Add node 'a'"


def test_clean_marker(wf: Workflow, stack: UndoStack) -> None:
    stack.push(AddNodeCommand(wf, Node("a", "x")))
    assert not stack.is_clean
    stack.set_clean()  # saved with "a"
    assert stack.is_clean
    stack.undo()
    assert not stack.is_clean
    stack.redo()
    assert stack.is_clean
    stack.undo()
    stack.push(AddNodeCommand(wf, Node("b", "x")))  # the saved state is gone for good
    stack.undo()
    assert not stack.is_clean


def test_clear_keeps_clean_state(wf: Workflow, stack: UndoStack) -> None:
    stack.push(AddNodeCommand(wf, Node("a", "x")))
    stack.set_clean()
    stack.clear()
    assert stack.is_clean and not stack.can_undo and len(stack) == 0
    stack.push(AddNodeCommand(wf, Node("b", "x")))
    stack.clear()
    assert not stack.is_clean


def test_limit_drops_oldest_steps(wf: Workflow) -> None:
    stack = UndoStack(limit=2)
    for node_id in "abc":
        stack.push(AddNodeCommand(wf, Node(node_id, "x")))
    assert len(stack) == 2
    stack.undo()
    stack.undo()
    assert not stack.can_undo
    assert [n.id for n in wf][-1] == "a"


def test_limit_can_drop_the_clean_state(wf: Workflow) -> None:
    stack = UndoStack(limit=1)
    stack.set_clean()
    stack.push(AddNodeCommand(wf, Node("a", "x")))
    stack.push(AddNodeCommand(wf, Node("b", "x")))
    stack.undo()
    assert not stack.is_clean


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        UndoStack(limit=0)


def test_subscribers_hear_every_change(wf: Workflow, stack: UndoStack) -> None:
    heard: list[tuple[bool, bool]] = []
    unsubscribe = stack.subscribe(lambda s: heard.append((s.can_undo, s.can_redo)))
    stack.push(AddNodeCommand(wf, Node("a", "x")))
    stack.undo()
    stack.redo()
    stack.set_clean()
    stack.clear()
    assert heard == [(True, False), (False, True), (True, False), (True, False), (False, False)]
    unsubscribe()
    stack.push(AddNodeCommand(wf, Node("b", "x")))
    assert len(heard) == 5


def test_nothing_to_undo_is_not_announced(stack: UndoStack) -> None:
    heard: list[UndoStack] = []
    stack.subscribe(heard.append)
    stack.undo()
    stack.redo()
    assert heard == []


# --- merging drags -----------------------------------------------------------------------
def drag(stack: UndoStack, wf: Workflow, node_ids: list[str], steps: list[tuple[float, float]]) -> None:
    for x, y in steps:
        stack.push(MoveNodesCommand(wf, {n: (x, y) for n in node_ids}))


def test_steps_of_one_drag_merge_into_one_undo_step(wf: Workflow, stack: UndoStack) -> None:
    before = snapshot(wf)
    drag(stack, wf, ["load"], [(110, 0), (120, 5), (130, 10)])
    assert len(stack) == 1 and wf.node("load").position == (130, 10)
    stack.undo()
    assert snapshot(wf) == before and not stack.can_undo
    stack.redo()
    assert wf.node("load").position == (130, 10)
    stack.undo()
    assert snapshot(wf) == before


def test_end_merge_separates_two_drags(wf: Workflow, stack: UndoStack) -> None:
    drag(stack, wf, ["load"], [(110, 0), (120, 0)])
    stack.end_merge()  # finger lifted
    drag(stack, wf, ["load"], [(130, 0), (140, 0)])
    assert len(stack) == 2
    stack.undo()
    assert wf.node("load").position == (120, 0)
    stack.undo()
    assert wf.node("load").position == (100, 0)


def test_moving_another_node_set_does_not_merge(wf: Workflow, stack: UndoStack) -> None:
    drag(stack, wf, ["load"], [(110, 0)])
    drag(stack, wf, ["check"], [(210, 0)])
    drag(stack, wf, ["check", "load"], [(220, 0)])
    assert len(stack) == 3


def test_other_commands_break_a_merge(wf: Workflow, stack: UndoStack) -> None:
    drag(stack, wf, ["load"], [(110, 0)])
    stack.push(ChangeConfigCommand(wf, "load", {}))
    drag(stack, wf, ["load"], [(120, 0)])
    assert len(stack) == 3


def test_undo_closes_the_merge_window(wf: Workflow, stack: UndoStack) -> None:
    drag(stack, wf, ["load"], [(110, 0)])
    drag(stack, wf, ["check"], [(210, 0)])
    stack.undo()
    drag(stack, wf, ["load"], [(120, 0)])
    assert len(stack) == 2
    stack.undo()
    assert wf.node("load").position == (110, 0)


def test_a_drag_never_merges_into_the_saved_state(wf: Workflow, stack: UndoStack) -> None:
    drag(stack, wf, ["load"], [(110, 0)])
    stack.set_clean()
    drag(stack, wf, ["load"], [(120, 0)])
    assert not stack.is_clean and len(stack) == 2
    stack.undo()
    assert stack.is_clean and wf.node("load").position == (110, 0)


def test_merged_drag_emits_one_event_per_step(wf: Workflow, stack: UndoStack) -> None:
    rec = Recorder(wf)
    drag(stack, wf, ["load"], [(110, 0), (120, 0)])
    stack.undo()
    assert rec.take() == [("node_moved", "load")] * 3
    assert wf.node("load").position == (100, 0)


def test_failed_push_keeps_the_merge_window(wf: Workflow, stack: UndoStack) -> None:
    drag(stack, wf, ["load"], [(110, 0)])
    with pytest.raises(ModelError):
        stack.push(ConnectCommand(wf, Edge("start", "load")))
    drag(stack, wf, ["load"], [(120, 0)])
    assert len(stack) == 1
