"""Workflow graph: nodes with typed ports joined by edges.

The model keeps graph truth and tells subscribers what changed (``node_added``,
``edge_removed`` …) so a view can redraw without owning state. It checks only what
an edit can break locally (unique ids, edges between existing nodes); graph-wide
rules (one Start, arity, cycles, config) are :mod:`engine.model.validation`'s job,
so a half-built workflow can still be held and edited.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ModelError

ID_PATTERN = r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$"
_ID_RE = re.compile(ID_PATTERN)
MAX_ID_LENGTH = 48

Listener = Callable[[str, Any], None]
EDITABLE_NODE_FIELDS = ("title", "config", "timeout_s", "pinned", "retry")


def is_valid_id(value: object) -> bool:
    """Ids are lower-case snake_case (no ``__``, which separates table-name parts)."""
    return isinstance(value, str) and len(value) <= MAX_ID_LENGTH and bool(_ID_RE.fullmatch(value))


def slugify_id(text: str, fallback: str = "node") -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    slug = re.sub(r"_+", "_", slug)
    if not slug or not slug[0].isalpha():
        slug = f"{fallback}_{slug}" if slug else fallback
    return slug[:MAX_ID_LENGTH].rstrip("_")


@dataclass
class Node:
    id: str
    type: str
    title: str = ""
    position: tuple[float, float] = (0.0, 0.0)
    config: dict[str, Any] = field(default_factory=dict)
    timeout_s: float | None = None
    pinned: bool = False
    retry: dict[str, Any] | None = None    # {count, delay_s, backoff}: see engine.retry
    ai: dict[str, Any] | None = None       # provenance of AI-written config: see engine.ai.provenance

    def clone(self) -> Node:
        return Node(self.id, self.type, self.title, (self.position[0], self.position[1]),
                    copy.deepcopy(self.config),
                    self.timeout_s, self.pinned, copy.deepcopy(self.retry), copy.deepcopy(self.ai))

    @property
    def label(self) -> str:
        return self.title or self.id


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    source_port: str = "out"
    target_port: str = "in"

    def __str__(self) -> str:
        port = "" if self.source_port == "out" else f".{self.source_port}"
        return f"{self.source}{port} -> {self.target}"


class Workflow:
    """A directed graph of nodes; node and edge order are kept (they are the file order)."""

    def __init__(self, id: str, name: str = "", description: str = "",
                 nodes: Iterable[Node] = (), edges: Iterable[Edge] = (),
                 settings: dict[str, Any] | None = None,
                 parameters: list[dict[str, Any]] | None = None) -> None:
        self.id = id
        self.name = name or id
        self.description = description
        self.settings: dict[str, Any] = dict(settings or {})
        # [{name, type, default}] — see engine.model.parameters
        self.parameters: list[dict[str, Any]] = copy.deepcopy(list(parameters or []))
        self._nodes: dict[str, Node] = {}
        self._edges: list[Edge] = []
        self._adj: tuple[dict[str, list[Edge]], dict[str, list[Edge]]] | None = None
        self._listeners: list[Listener] = []
        for node in nodes:
            if node.id in self._nodes:
                raise ModelError(f"duplicate node id '{node.id}'")
            self._nodes[node.id] = node
        self._edges.extend(edges)

    # --- observation -------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _emit(self, event: str, payload: Any) -> None:
        for listener in list(self._listeners):
            listener(event, payload)

    # --- queries -----------------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        return list(self._nodes.values())

    @property
    def edges(self) -> list[Edge]:
        return list(self._edges)

    def node(self, node_id: str) -> Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise ModelError(f"workflow '{self.id}' has no node '{node_id}'") from None

    def has_node(self, node_id: str) -> bool:
        return node_id in self._nodes

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes.values())

    def __len__(self) -> int:
        return len(self._nodes)

    def inputs_of(self, node_id: str) -> list[Edge]:
        """Incoming edges in file order: that order is the input position (1, 2, …)."""
        return list(self._adjacency()[0].get(node_id, ()))

    def outputs_of(self, node_id: str) -> list[Edge]:
        return list(self._adjacency()[1].get(node_id, ()))

    def _adjacency(self) -> tuple[dict[str, list[Edge]], dict[str, list[Edge]]]:
        """Per-node incoming and outgoing edges, rebuilt lazily after an edge edit."""
        if self._adj is None:
            incoming: dict[str, list[Edge]] = {}
            outgoing: dict[str, list[Edge]] = {}
            for edge in self._edges:
                incoming.setdefault(edge.target, []).append(edge)
                outgoing.setdefault(edge.source, []).append(edge)
            self._adj = (incoming, outgoing)
        return self._adj

    def node_index(self, node_id: str) -> int:
        return list(self._nodes).index(node_id)

    def edge_index(self, edge: Edge) -> int:
        return self._edges.index(edge)

    def unique_node_id(self, base: str) -> str:
        base = slugify_id(base)
        if base not in self._nodes:
            return base
        n = 2
        while True:
            suffix = f"_{n}"
            candidate = base[:MAX_ID_LENGTH - len(suffix)].rstrip("_") + suffix
            if candidate not in self._nodes:
                return candidate
            n += 1

    # --- primitive edits (commands call these; they are their only users) --------
    def insert_node(self, node: Node, index: int | None = None) -> None:
        if not is_valid_id(node.id):
            raise ModelError(f"invalid node id '{node.id}': use lower-case letters, digits and "
                             "single underscores, starting with a letter")
        if node.id in self._nodes:
            raise ModelError(f"workflow '{self.id}' already has a node '{node.id}'")
        items = list(self._nodes.items())
        index = len(items) if index is None else index
        items.insert(index, (node.id, node))
        self._nodes = dict(items)
        self._emit("node_added", node)

    def pop_node(self, node_id: str) -> tuple[Node, int]:
        """Remove a node that has no edges left; returns it and its index."""
        node = self.node(node_id)
        if self.inputs_of(node_id) or self.outputs_of(node_id):
            raise ModelError(f"node '{node_id}' still has edges; remove them first")
        index = self.node_index(node_id)
        del self._nodes[node_id]
        self._emit("node_removed", node)
        return node, index

    def set_position(self, node_id: str, position: tuple[float, float]) -> None:
        node = self.node(node_id)
        node.position = (float(position[0]), float(position[1]))
        self._emit("node_moved", node)

    def set_node_fields(self, node_id: str, **fields: Any) -> None:
        node = self.node(node_id)
        bad = [key for key in fields if key not in EDITABLE_NODE_FIELDS]
        if bad:
            raise ModelError(f"node field(s) {', '.join(bad)} cannot be changed")
        for key, value in fields.items():
            setattr(node, key, copy.deepcopy(value))
        self._emit("node_changed", node)

    def insert_edge(self, edge: Edge, index: int | None = None) -> None:
        for end in (edge.source, edge.target):
            if end not in self._nodes:
                raise ModelError(f"cannot connect {edge}: no node '{end}'")
        if edge in self._edges:
            raise ModelError(f"edge {edge} already exists")
        if index is None:
            self._edges.append(edge)
        else:
            self._edges.insert(index, edge)
        self._adj = None
        self._emit("edge_added", edge)

    def pop_edge(self, edge: Edge) -> int:
        try:
            index = self._edges.index(edge)
        except ValueError:
            raise ModelError(f"no edge {edge}") from None
        del self._edges[index]
        self._adj = None
        self._emit("edge_removed", edge)
        return index

    def set_meta(self, name: str | None = None, description: str | None = None) -> None:
        if name is not None:
            self.name = name
        if description is not None:
            self.description = description
        self._emit("workflow_changed", self)

    def clone(self) -> Workflow:
        return Workflow(self.id, self.name, self.description, [n.clone() for n in self._nodes.values()],
                        list(self._edges), copy.deepcopy(self.settings), self.parameters)
