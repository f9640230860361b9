"""Undo/redo commands for editing a :class:`~engine.model.workflow.Workflow`.

Every edit — by hand, by gesture, by the assistant — is a ``*Command`` pushed on an
:class:`UndoStack`. Commands change the model only through its primitive edits
(``insert_node``, ``pop_node``, ``set_position``, ``set_node_fields``, ``insert_edge``,
``pop_edge``, ``set_meta``), so every change, including an undo, reaches the model's
subscribers as events. Guarantees (exact undo, all or nothing, merging, the clean state):
:mod:`engine.model.undo`, which holds the stack and the :class:`Command` interface.

Fragments (copy/paste) are ``{"nodes": [...], "edges": [...]}`` with the node and edge
shapes of the workflow file (:func:`fileformat.node_to_dict` / ``edge_to_dict``), so the
clipboard holds plain JSON that also pastes into another workflow.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.errors import ModelError, WorkflowFileError
from engine.model import edge_rules, fileformat
from engine.model.undo import Command, UndoStack
from engine.model.workflow import EDITABLE_NODE_FIELDS, Edge, Node, Workflow

__all__ = [
    "PASTE_OFFSET", "AddNodeCommand", "ChangeConfigCommand", "Command", "ConnectCommand",
    "DeleteSelectionCommand", "DisconnectCommand", "MacroCommand", "MoveNodesCommand",
    "PasteFragmentCommand", "RemoveNodeCommand", "RenameWorkflowCommand", "SetNodeFieldsCommand",
    "UndoStack", "copy_fragment",
]

Position = tuple[float, float]
Fragment = dict[str, Any]

# Pasted nodes land down and to the right so they never hide the ones they copy.
PASTE_OFFSET: Position = (40.0, 40.0)

# The fields Workflow.set_node_fields accepts. Checked here before the edit because that
# method stops half-way (some fields set, no event) when it meets an unknown one.
_EDITABLE_NODE_FIELDS = frozenset(EDITABLE_NODE_FIELDS)


# --- helpers -----------------------------------------------------------------------------
def _label(workflow: Workflow, node_id: str) -> str:
    # Text is made when the command is built; an unknown id fails later, in redo().
    return workflow.node(node_id).label if workflow.has_node(node_id) else node_id


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _position(value: Sequence[float]) -> Position:
    x, y = value
    return (float(x), float(y))


def _pop_edges(workflow: Workflow, edges: Iterable[Edge]) -> list[tuple[int, Edge]]:
    """Remove ``edges``; returns (original index, edge) in ascending index order.

    Popping from the highest index down keeps every lower index valid, so each
    recorded index is the edge's place before any removal."""
    placed = sorted(((workflow.edge_index(e), e) for e in edges), key=lambda pair: pair[0])
    for _index, edge in reversed(placed):
        workflow.pop_edge(edge)
    return placed


def _restore_edges(workflow: Workflow, placed: list[tuple[int, Edge]]) -> None:
    # Ascending order: when an edge goes back, every edge before it is already there.
    for index, edge in placed:
        workflow.insert_edge(edge, index)


# --- nodes -------------------------------------------------------------------------------
class AddNodeCommand(Command):
    def __init__(self, workflow: Workflow, node: Node, index: int | None = None) -> None:
        self.workflow = workflow
        # The model gets its own copy: the caller's object changing later must not
        # change graph truth behind the model's back.
        self.node = node.clone()
        self.index = index
        self.text = f"Add node '{node.label}'"

    def redo(self) -> None:
        self.workflow.insert_node(self.node, self.index)

    def undo(self) -> None:
        self.workflow.pop_node(self.node.id)


class RemoveNodeCommand(Command):
    """Remove a node and its edges; undo puts all of them back at their indices."""

    def __init__(self, workflow: Workflow, node_id: str) -> None:
        self.workflow = workflow
        self.node_id = node_id
        self.text = f"Remove node '{_label(workflow, node_id)}'"
        self._removed: tuple[Node, int] | None = None
        self._edges: list[tuple[int, Edge]] = []

    def redo(self) -> None:
        self.workflow.node(self.node_id)  # an unknown id raises before any edit
        touching = [e for e in self.workflow.edges if self.node_id in (e.source, e.target)]
        self._edges = _pop_edges(self.workflow, touching)
        self._removed = self.workflow.pop_node(self.node_id)

    def undo(self) -> None:
        assert self._removed is not None, "undo() before redo()"
        node, index = self._removed
        self.workflow.insert_node(node, index)
        _restore_edges(self.workflow, self._edges)


class MoveNodesCommand(Command):
    """Move one or many nodes; undo puts each back where it was.

    ``old_positions`` defaults to where the nodes are when the command first runs; pass
    it when the canvas has already shown the nodes elsewhere (a preview)."""

    def __init__(self, workflow: Workflow, positions: Mapping[str, Sequence[float]],
                 old_positions: Mapping[str, Sequence[float]] | None = None) -> None:
        self.workflow = workflow
        self._new = {node_id: _position(p) for node_id, p in positions.items()}
        self._old: dict[str, Position] | None = None
        if old_positions is not None:
            missing = set(self._new) - set(old_positions)
            if missing:
                raise ValueError(f"no old position for {sorted(missing)}")
            self._old = {node_id: _position(old_positions[node_id]) for node_id in self._new}
        if len(self._new) == 1:
            self.text = f"Move node '{_label(workflow, next(iter(self._new)))}'"
        else:
            self.text = f"Move {_count(len(self._new), 'node')}"

    @property
    def node_ids(self) -> frozenset[str]:
        return frozenset(self._new)

    def redo(self) -> None:
        for node_id in self._new:  # all checked before any node moves
            self.workflow.node(node_id)
        if self._old is None:
            self._old = {node_id: self.workflow.node(node_id).position for node_id in self._new}
        self._apply(self._new)

    def undo(self) -> None:
        assert self._old is not None, "undo() before redo()"
        self._apply(self._old)

    def _apply(self, positions: Mapping[str, Position]) -> None:
        for node_id, position in positions.items():
            self.workflow.set_position(node_id, position)

    def merge_with(self, other: Command) -> bool:
        # Only the same node set merges: dragging another selection is another step.
        if (not isinstance(other, MoveNodesCommand) or other.workflow is not self.workflow
                or other.node_ids != self.node_ids):
            return False
        self._new = dict(other._new)  # keep our old positions: the drag's start
        return True


class SetNodeFieldsCommand(Command):
    """Replace some of a node's editable fields (``title``, ``config``, ``timeout_s``,
    ``pinned``); undo restores their previous values."""

    def __init__(self, workflow: Workflow, node_id: str, fields: Mapping[str, Any],
                 text: str | None = None) -> None:
        self.workflow = workflow
        self.node_id = node_id
        # Our own copy: the caller may keep editing the dict it passed (a form's state).
        self.fields = copy.deepcopy(dict(fields))
        self.text = text or f"Edit node '{_label(workflow, node_id)}'"
        self._old: dict[str, Any] = {}

    def redo(self) -> None:
        node = self.workflow.node(self.node_id)
        unknown = sorted(set(self.fields) - _EDITABLE_NODE_FIELDS)
        if unknown:
            raise ModelError(f"node '{self.node_id}': field(s) {', '.join(unknown)} cannot be changed")
        self._old = {key: copy.deepcopy(getattr(node, key)) for key in self.fields}
        self.workflow.set_node_fields(self.node_id, **self.fields)

    def undo(self) -> None:
        self.workflow.set_node_fields(self.node_id, **self._old)


class ChangeConfigCommand(SetNodeFieldsCommand):
    """Replace a node's whole config (what a settings form's Apply does)."""

    def __init__(self, workflow: Workflow, node_id: str, config: Mapping[str, Any]) -> None:
        super().__init__(workflow, node_id, {"config": dict(config)},
                         text=f"Change settings of '{_label(workflow, node_id)}'")


# --- edges -------------------------------------------------------------------------------
class ConnectCommand(Command):
    """Add an edge. With ``types`` (the node types by name) the connect rules are checked
    first (:func:`engine.model.edge_rules.check`): a cycle, a missing port, a full input or
    a duplicate raises :class:`~engine.model.edge_rules.EdgeRefused` and nothing changes."""

    def __init__(self, workflow: Workflow, edge: Edge, index: int | None = None,
                 types: Mapping[str, Any] | None = None) -> None:
        self.workflow = workflow
        self.edge = edge
        self.index = index
        self.types = types
        self.text = f"Connect {edge}"

    def redo(self) -> None:
        if self.types is not None:   # undo/redo meet the same state: checking again is harmless
            edge_rules.check(self.workflow, self.types, self.edge)
        self.workflow.insert_edge(self.edge, self.index)

    def undo(self) -> None:
        self.workflow.pop_edge(self.edge)


class DisconnectCommand(Command):
    """Remove an edge; undo puts it back at its index (its input position)."""

    def __init__(self, workflow: Workflow, edge: Edge) -> None:
        self.workflow = workflow
        self.edge = edge
        self.text = f"Disconnect {edge}"
        self._index = 0

    def redo(self) -> None:
        self._index = self.workflow.pop_edge(self.edge)

    def undo(self) -> None:
        self.workflow.insert_edge(self.edge, self._index)


# --- workflow ----------------------------------------------------------------------------
class RenameWorkflowCommand(Command):
    """Change the workflow's name and/or description (``None`` leaves one as it is)."""

    def __init__(self, workflow: Workflow, name: str | None = None,
                 description: str | None = None) -> None:
        if name is None and description is None:
            raise ValueError("RenameWorkflowCommand needs a name or a description")
        self.workflow = workflow
        self.name = name
        self.description = description
        self.text = "Rename workflow" if name is not None else "Change workflow description"
        self._old = (workflow.name, workflow.description)

    def redo(self) -> None:
        # The file format reads an empty name back as the id, so an empty name would
        # not survive a save; refuse it rather than let the round trip change it.
        if self.name is not None and not self.name.strip():
            raise ModelError(f"workflow '{self.workflow.id}': the name cannot be empty")
        self._old = (self.workflow.name, self.workflow.description)
        self.workflow.set_meta(self.name, self.description)

    def undo(self) -> None:
        self.workflow.set_meta(*self._old)


# --- composites --------------------------------------------------------------------------
class MacroCommand(Command):
    """Several commands as one undo step, applied in order and undone in reverse."""

    def __init__(self, text: str, commands: Iterable[Command]) -> None:
        self.text = text
        self.commands = list(commands)

    def redo(self) -> None:
        done: list[Command] = []
        try:
            for command in self.commands:
                command.redo()
                done.append(command)
        except ModelError:
            # Roll back so a failing step leaves the model as it found it.
            for command in reversed(done):
                command.undo()
            raise

    def undo(self) -> None:
        for command in reversed(self.commands):
            command.undo()


class DeleteSelectionCommand(MacroCommand):
    """Delete nodes (with their edges) and edges in one step.

    Everything is checked before the first removal, so a stale selection fails
    without emitting events."""

    def __init__(self, workflow: Workflow, node_ids: Iterable[str] = (),
                 edges: Iterable[Edge] = ()) -> None:
        self.workflow = workflow
        self.node_ids = list(dict.fromkeys(node_ids))
        self.edges = list(dict.fromkeys(edges))
        # Explicit edges first: an edge that also touches a deleted node is then gone
        # before its node's RemoveNodeCommand looks for it.
        children: list[Command] = [DisconnectCommand(workflow, e) for e in self.edges]
        children += [RemoveNodeCommand(workflow, n) for n in self.node_ids]
        super().__init__(self._describe(), children)

    def _describe(self) -> str:
        parts = [_count(len(items), noun) for items, noun in ((self.node_ids, "node"), (self.edges, "edge"))
                 if items]
        return "Delete " + " and ".join(parts) if parts else "Delete nothing"

    def redo(self) -> None:
        for node_id in self.node_ids:
            self.workflow.node(node_id)
        present = set(self.workflow.edges)
        for edge in self.edges:
            if edge not in present:
                raise ModelError(f"no edge {edge}")
        super().redo()


# --- copy and paste ----------------------------------------------------------------------
def copy_fragment(workflow: Workflow, node_ids: Iterable[str]) -> Fragment:
    """The nodes ``node_ids`` and the edges between them, as plain JSON-ready data.

    Nodes and edges keep workflow order, so a paste reproduces the same input order."""
    wanted = list(dict.fromkeys(node_ids))
    for node_id in wanted:
        workflow.node(node_id)
    chosen = set(wanted)
    return {
        "nodes": [fileformat.node_to_dict(n) for n in workflow if n.id in chosen],
        "edges": [fileformat.edge_to_dict(e) for e in workflow.edges
                  if e.source in chosen and e.target in chosen],
    }


def _parse_fragment(fragment: Any) -> Workflow:
    """Read a fragment with the file format's own rules (wrapped as a one-off document)."""
    if not isinstance(fragment, Mapping):
        raise ModelError("cannot paste: a fragment is an object with 'nodes' and 'edges'")
    doc = {"format": fileformat.FORMAT_NAME, "version": fileformat.CURRENT_VERSION, "id": "fragment",
           "nodes": fragment.get("nodes", []), "edges": fragment.get("edges", [])}
    try:
        return fileformat.from_dict(doc, source="pasted fragment")
    except WorkflowFileError as exc:
        raise ModelError(str(exc)) from exc


class PasteFragmentCommand(Command):
    """Paste a fragment: clashing ids get fresh ones, edges follow their nodes, and
    only edges with both ends in the fragment are kept. After the first run,
    ``new_ids`` (fragment order) lets the canvas select what was pasted."""

    def __init__(self, workflow: Workflow, fragment: Mapping[str, Any],
                 offset: Sequence[float] = PASTE_OFFSET, types: Mapping[str, Any] | None = None) -> None:
        self.workflow = workflow
        self.types = types   # given: the fragment's edges must follow the connect rules
        # Our own copy: pasting the same clipboard twice must not share config dicts.
        self.fragment = copy.deepcopy(dict(fragment)) if isinstance(fragment, Mapping) else fragment
        self.offset = _position(offset)
        nodes = self.fragment.get("nodes") if isinstance(self.fragment, dict) else None
        self.text = f"Paste {_count(len(nodes) if isinstance(nodes, list) else 0, 'node')}"
        self.id_map: dict[str, str] = {}
        self._plan: tuple[list[Node], list[Edge]] | None = None

    @property
    def new_ids(self) -> list[str]:
        return list(self.id_map.values())

    def redo(self) -> None:
        # Planned once, against the state of the first run; a redo meets that same state.
        if self._plan is None:
            self._plan = self._make_plan()
        nodes, edges = self._plan
        for node in nodes:
            self.workflow.insert_node(node)
        for edge in edges:
            self.workflow.insert_edge(edge)

    def undo(self) -> None:
        assert self._plan is not None, "undo() before redo()"
        nodes, edges = self._plan
        for edge in reversed(edges):
            self.workflow.pop_edge(edge)
        for node in reversed(nodes):
            self.workflow.pop_node(node.id)

    def _make_plan(self) -> tuple[list[Node], list[Edge]]:
        """Rehearse the paste on a stand-in holding the target's ids: it picks fresh ids
        with the model's own rules and raises every ModelError before the real edit."""
        parsed = _parse_fragment(self.fragment)
        scratch = Workflow("scratch", nodes=[Node(n.id, n.type) for n in self.workflow])
        id_map: dict[str, str] = {}
        nodes = []
        for node in parsed:
            pasted = self._moved_copy(node, scratch.unique_node_id(node.id))
            scratch.insert_node(pasted)
            id_map[node.id] = pasted.id
            nodes.append(pasted)
        edges = []
        for edge in parsed.edges:
            if edge.source in id_map and edge.target in id_map:
                new = Edge(id_map[edge.source], id_map[edge.target], edge.source_port, edge.target_port)
                if self.types is not None:
                    edge_rules.check(scratch, self.types, new)   # a cycle or a full input in a pasted text
                scratch.insert_edge(new)  # refuses a duplicate edge in the fragment
                edges.append(new)
        self.id_map = id_map
        return nodes, edges

    def _moved_copy(self, node: Node, new_id: str) -> Node:
        x, y = node.position
        return Node(new_id, node.type, node.title, (x + self.offset[0], y + self.offset[1]),
                    node.config, node.timeout_s, node.pinned, node.retry)
