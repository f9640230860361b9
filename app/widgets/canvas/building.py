"""Building a graph quickly (a mixin of :class:`~app.widgets.canvas.graph_canvas.GraphCanvas`).

* :meth:`BuildingMixin.add_after` — a node added by a tap on the palette goes to the right
  of the selected node and is connected to it (one undo step). Whether the edge may be
  made is the model's question (:mod:`engine.model.edge_rules`, through
  :class:`~engine.model.commands.ConnectCommand`): when it refuses, the node is still
  added, unconnected, and the canvas says why.
* :meth:`BuildingMixin.drop_type` — a node type dropped at a point: on an edge it is
  inserted into that edge (source → new → target, one undo step), else added there.
* :meth:`BuildingMixin.offer_nodes_for_wire` — a wire dropped on empty canvas opens a menu
  of node types; the one chosen is added there and connected to the wire's port.
* Edges are selected by a tap (:attr:`BuildingMixin.selected_edge`, drawn highlighted) and
  deleted with Delete or from their menu.
"""

from __future__ import annotations

from typing import Any

from app.node_defaults import initial_config
from app.node_style import palette_types, style_of
from app.widgets.canvas.geometry import NODE_H, NODE_W, Point, Rect, snap
from engine.errors import ModelError
from engine.model.commands import AddNodeCommand, ConnectCommand, DisconnectCommand, MacroCommand
from engine.model.workflow import Edge, Node

GAP_X = 64.0  # between a node and the one added after it


class BuildingMixin:
    """Needs ``document``, ``selected``, ``select()``, ``scene``, ``snap_to_grid``, ``grid``,
    ``menu``, ``dispatch()``, ``add_node()``, ``_redraw``."""

    selected_edge: Edge | None = None

    # --- nodes ---------------------------------------------------------------------------
    def _new_node(self, type_name: str, x: float, y: float) -> Node:
        doc = self.document
        spec = doc.types.get(type_name)
        label = spec.label if spec is not None and spec.label else type_name
        node_id = doc.workflow.unique_node_id(type_name)
        if self.snap_to_grid:
            x, y = snap(x, self.grid), snap(y, self.grid)
        return Node(node_id, type_name, label, (x, y), initial_config(type_name, doc.workflow.id, node_id))

    def _free_below(self, x: float, y: float) -> tuple[float, float]:
        for _ in range(200):
            if not self.scene.nodes.query(Rect(x, y, NODE_W, NODE_H).inflate(8)):
                break
            y += NODE_H + 2 * self.grid
        return (x, y)

    def _push_connected(self, node: Node, edges: list[Edge], text: str, before: list[Any] = ()) -> str:
        """Add ``node`` with ``edges`` (and ``before`` commands first) as one step; when the
        model refuses an edge, add the node alone and say why. Returns the node's id."""
        doc = self.document
        add = AddNodeCommand(doc.workflow, node)
        connects = [ConnectCommand(doc.workflow, e, types=doc.types) for e in edges]
        try:
            doc.push(MacroCommand(text, [*before, add, *connects]))
        except ModelError as exc:
            doc.push(AddNodeCommand(doc.workflow, node))
            self.dispatch("on_message", f"Added '{node.label}' without connecting it: {exc}")
        self.select([node.id])
        return node.id

    def add_after(self, type_name: str) -> str:
        """Add a ``type_name`` node right of the one selected node, connected from its first
        output (alone, in the middle of the view, when not exactly one node is selected)."""
        doc = self.document
        if doc is None:
            raise RuntimeError("no document is attached to the canvas")
        ids = [n for n in self.selected if doc.workflow.has_node(n)]
        source = ids[0] if len(ids) == 1 else None
        outputs = self.scene.output_names(source) if source is not None else ()
        if source is None or not outputs:
            return self.add_node(type_name)
        sx, sy = doc.workflow.node(source).position
        x, y = self._free_below(sx + NODE_W + GAP_X, sy)
        node = self._new_node(type_name, x, y)
        return self._push_connected(node, [Edge(source, node.id, outputs[0], "in")],
                                    f"Add '{node.label}' after '{doc.workflow.node(source).label}'")

    def drop_type(self, type_name: str, world: Point) -> str:
        """A node type dropped at ``world``: inserted into the edge under it, else added there."""
        doc = self.document
        edge = self.scene.edge_at(world[0], world[1], 12.0 / max(self.scene.view.s, 1e-6))
        node = self._new_node(type_name, world[0] - NODE_W / 2, world[1] - NODE_H / 2)
        if edge is None:
            doc.push(AddNodeCommand(doc.workflow, node))
            self.select([node.id])
            return node.id
        outputs = self.scene_outputs(type_name)
        return self._push_connected(
            node, [Edge(edge.source, node.id, edge.source_port, "in"),
                   Edge(node.id, edge.target, outputs[0] if outputs else "out", edge.target_port)],
            f"Insert '{node.label}' into {edge}", before=[DisconnectCommand(doc.workflow, edge)])

    def scene_outputs(self, type_name: str) -> tuple[str, ...]:
        spec = self.document.types.get(type_name)
        return tuple(spec.output_ports) if spec is not None else ("out",)

    def offer_nodes_for_wire(self, source: str, port: str, world: Point, pos: Point) -> None:
        """The menu a wire dropped on empty canvas opens: add a node there, connected."""
        from app.widgets.canvas.context_menu import MenuAction

        doc = self.document
        actions = []
        for type_name in palette_types(list(doc.types)):
            spec = doc.types[type_name]
            if spec.max_inputs == 0:
                continue  # a Start takes no input
            actions.append(MenuAction(f"Add {spec.label or type_name} here", style_of(type_name).icon,
                                      lambda t=type_name: self._add_for_wire(t, source, port, world)))
        self.menu.open(actions, pos)

    def _add_for_wire(self, type_name: str, source: str, port: str, world: Point) -> str:
        node = self._new_node(type_name, world[0], world[1] - NODE_H / 2)
        return self._push_connected(node, [Edge(source, node.id, port, "in")],
                                    f"Add '{node.label}' after '{self.document.workflow.node(source).label}'")

    # --- edges ---------------------------------------------------------------------------
    def select_edge(self, edge: Edge | None) -> None:
        old, self.selected_edge = self.selected_edge, edge
        self.scene.selected_edge = edge
        for e in (old, edge):
            if e is not None and e.source in self.scene.nodes:
                self.scene.invalidate([e.source])
                self.scene.invalidate([e.target])
        self._redraw()

    def delete_selected_edge(self) -> bool:
        doc, edge = self.document, self.selected_edge
        if doc is None or edge is None or edge not in doc.workflow.edges:
            return False
        doc.push(DisconnectCommand(doc.workflow, edge))
        self.select_edge(None)
        return True
