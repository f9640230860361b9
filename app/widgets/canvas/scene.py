"""The canvas's drawing: batched meshes in tiles, one transform, levels of detail.

Guarantees (what keeps 2,000 nodes smooth on software GL):

* **Pan and zoom change one transform.** Geometry is in world units under a
  ``Translate`` + ``Scale`` pair; moving the view updates those two instructions and
  which tiles are attached — it never rebuilds geometry by itself.
* **Batched.** The world is cut into square tiles; a tile's nodes (and the edges leaving
  them) are a handful of ``Mesh`` instructions (edges, shapes, text), whatever their count.
* **Culled.** Only tiles whose content meets the view are attached to the canvas (a
  tile's nodes and the edges leaving them are culled apart).
* **Level of detail.** Zoomed out, tiles are big and draw one quad per node and one line
  per edge (``far``), then flat quads with bands and few-segment lines (``overview``);
  zoomed in, tiles are small and draw rounded shapes, ports and strokes (``detail``) and,
  closer still, text (``text``). See :mod:`painter`. Each level's geometry does not depend
  on the exact zoom, so zooming within a level rebuilds nothing.
* **Incremental.** A model event marks only the tiles it touches stale; stale tiles are
  rebuilt when they are next drawn, once per frame at most, and no more building per
  frame than :data:`BUILD_BUDGET_S` allows (the rest follows in the next frames; until a
  new level of detail is complete the previous one stays on screen).

The scene mirrors only geometry (a spatial index of node rectangles and edge curves);
graph truth stays in the workflow, read when a tile is built.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from kivy.graphics import Callback, InstructionGroup, PopMatrix, PushMatrix, RenderContext, Scale, Translate
from kivy.graphics import opengl as gl

from app.node_style import style_of
from app.widgets.canvas import painter
from app.widgets.canvas.geometry import (
    Point,
    Rect,
    SpatialIndex,
    View,
    curve_bounds,
    distance_to_polyline,
    edge_controls,
    input_port,
    node_rect,
    output_ports,
    sample_cubic,
)
from app.widgets.canvas.labels import GlyphAtlas, icon_char
from app.widgets.canvas.meshes import MeshBuilder, install_shader
from app.widgets.canvas.palette import Palette, fixed_palette
from app.widgets.canvas.scene_tiles import (
    COMPACT_STEPS,
    DETAIL_PX,
    DETAIL_TILE,
    FAR_PX,
    OVERVIEW_TILE,
    TEXT_PX,
    TITLE_MIN_PX,
    TileBuilding,
)
from app.widgets.canvas.tiles import TileGrid
from engine.ai import provenance
from engine.model.workflow import Edge, Node, Workflow
from engine.plugin_api import NodeType

__all__ = ["COMPACT_STEPS", "DETAIL_PX", "FAR_PX", "TEXT_PX", "TITLE_MIN_PX", "Scene"]


class Scene(TileBuilding):
    """Instructions for one workflow: ``root`` goes into the canvas widget's canvas."""

    def __init__(self, atlas: GlyphAtlas, palette: Palette | None = None) -> None:
        self.atlas = atlas
        self.palette = palette or fixed_palette(False)
        self.workflow: Workflow | None = None
        self.types: Mapping[str, NodeType] = {}
        self.node_states: Mapping[str, Any] = {}
        self.connection_names: Mapping[str, str] = {}   # connection id → name, for the database badges
        self.problems: Mapping[str, list[str]] = {}
        self.selection: frozenset[str] = frozenset()
        self.selected_edge: Edge | None = None
        self.stale: set[str] = set()   # nodes whose last-run state is out of date (the document's)
        self.nodes = SpatialIndex(256.0)
        self.edges = SpatialIndex(512.0)
        self._ctrl: dict[Edge, tuple[Point, Point, Point, Point]] = {}
        self._order: dict[str, int] | None = None  # node id -> workflow index (drawing order)
        self.grids = {"overview": TileGrid(OVERVIEW_TILE, ("far", "overview", "overview_titles")),
                      "detail": TileGrid(DETAIL_TILE, ("detail", "text", "detail_titles"))}
        self.compact_step = COMPACT_STEPS[0]  # the zoom compact titles are built for
        self.view = View(1.0, 0.0, 0.0)
        self.base: Point = (0.0, 0.0)
        self.size: Point = (100.0, 100.0)
        self.lod = "overview"
        self.builds = 0  # tile layers built so far (tests check rebuilds stay local)
        self.pending = False  # tiles the view needs are still to be built
        self._generation = atlas.generation
        self._build_root()

    def _build_root(self) -> None:
        """grid, edges, shapes (solid shader) | text (textured shader) | overlay, all under
        one Translate + Scale; the text context inherits the transform from the root.
        Everything in the edges and shapes layers must be opaque (see :mod:`painter`)."""
        self.root = RenderContext(use_parent_projection=True, use_parent_modelview=True,
                                  use_parent_frag_modelview=True)
        install_shader(self.root)
        self.root.add(PushMatrix())
        self._translate = Translate(0, 0)
        self._scale = Scale(1, -1, 1)
        self.root.add(self._translate)
        self.root.add(self._scale)
        self.grid_layer = InstructionGroup()
        self.layers = {name: InstructionGroup() for name in ("edges", "shapes", "text")}
        self.overlay = InstructionGroup()
        text_context = RenderContext(use_parent_projection=True, use_parent_modelview=True,
                                     use_parent_frag_modelview=True)
        install_shader(text_context, textured=True)
        text_context.add(self.layers["text"])
        # Edges and shapes are opaque: drawn without blending, each pixel is written instead
        # of read, mixed and written (~15 % of a frame on software GL). Kivy never switches
        # blending itself, so it is simply back on for everything after them.
        opaque_begin = Callback(lambda _instr: gl.glDisable(gl.GL_BLEND))
        opaque_end = Callback(lambda _instr: gl.glEnable(gl.GL_BLEND))
        for group in (self.grid_layer, opaque_begin, self.layers["edges"], self.layers["shapes"], opaque_end,
                      text_context, self.overlay):
            self.root.add(group)
        self.root.add(PopMatrix())

    # --- the model mirror ------------------------------------------------------------------
    def reset(self, workflow: Workflow | None, types: Mapping[str, NodeType]) -> None:
        for grid in self.grids.values():
            for tile in grid.tiles.values():
                self._detach_all(tile)
            grid.tiles.clear()
            grid.of.clear()
        self.nodes.clear()
        self.edges.clear()
        self._ctrl.clear()
        self._order = None
        self.workflow, self.types = workflow, types
        if workflow is None:
            return
        for node in workflow:
            self._index_node(node)
        for edge in workflow.edges:
            self._index_edge(edge)

    def _index_node(self, node: Node) -> None:
        rect = node_rect(node.position)
        self.nodes.insert(node.id, rect)
        for grid in self.grids.values():
            grid.place(node.id, (rect.x, rect.y))

    def _index_edge(self, edge: Edge) -> None:
        if edge.source not in self.nodes or edge.target not in self.nodes:
            return  # a dangling edge (validation reports it); nothing to draw
        ctrl = edge_controls(self.port_position(edge.source, edge.source_port),
                             input_port(self.nodes.rect_of(edge.target)))
        self._ctrl[edge] = ctrl
        self.edges.insert(edge, curve_bounds(ctrl))
        self._mark(edge.source)

    def _unindex_edge(self, edge: Edge) -> None:
        self.edges.remove(edge)
        self._ctrl.pop(edge, None)
        self._mark(edge.source)

    def _mark(self, node_id: str) -> None:
        for grid in self.grids.values():
            grid.mark(node_id)

    def output_names(self, node_id: str) -> tuple[str, ...]:
        spec = self.types.get(self.workflow.node(node_id).type) if self.workflow else None
        return tuple(spec.output_ports) if spec is not None else ("out",)

    def has_input(self, node_id: str) -> bool:
        spec = self.types.get(self.workflow.node(node_id).type) if self.workflow else None
        return spec is None or spec.max_inputs != 0

    def port_position(self, node_id: str, port: str) -> Point:
        rect = self.nodes.rect_of(node_id)
        ports = output_ports(rect, self.output_names(node_id) or ("out",))
        return ports.get(port) or next(iter(ports.values()))

    def order(self) -> dict[str, int]:
        """Node id -> index in the workflow: later nodes are drawn (and hit) on top."""
        if self._order is None:
            self._order = {node.id: i for i, node in enumerate(self.workflow or ())}
        return self._order

    def node_added(self, node: Node) -> None:
        self._order = None
        self._index_node(node)

    def node_removed(self, node: Node) -> None:
        self._order = None
        self.nodes.remove(node.id)
        for grid in self.grids.values():
            grid.drop(node.id)

    def node_moved(self, node: Node) -> None:
        for grid in self.grids.values():
            grid.mark(node.id)  # the tile it leaves
        self._index_node(node)
        touching = self.workflow.inputs_of(node.id) + self.workflow.outputs_of(node.id)
        for edge in touching:
            self._unindex_edge(edge)
            self._index_edge(edge)

    def node_changed(self, node: Node) -> None:
        self._mark(node.id)

    def edge_added(self, edge: Edge) -> None:
        self._index_edge(edge)

    def edge_removed(self, edge: Edge) -> None:
        self._unindex_edge(edge)

    def invalidate(self, node_ids: Iterable[str]) -> None:
        """The look of these nodes (and of the edges into them) changed."""
        wf = self.workflow
        for node_id in node_ids:
            if wf is not None and wf.has_node(node_id):
                self._mark(node_id)
                for edge in wf.inputs_of(node_id):
                    self._mark(edge.source)

    def invalidate_all(self) -> None:
        for grid in self.grids.values():
            for key in grid.tiles:
                grid.mark_key(key)

    def set_palette(self, palette: Palette) -> None:
        self.palette = palette
        self.invalidate_all()

    # --- looks ---------------------------------------------------------------------------------
    def node_look(self, node_id: str) -> painter.NodeLook:
        node = self.workflow.node(node_id)
        spec = self.types.get(node.type)
        state = self.node_states.get(node_id)
        rect = self.nodes.rect_of(node_id)
        return painter.NodeLook(
            node_id, node.type, rect, node.label, (spec.label if spec is not None and spec.label else node.type),
            icon_char(style_of(node.type).icon), state.status if state else None,
            state.records if state else None, state.error if state else None, self.problems.get(node_id, []),
            node_id in self.selection, node.pinned, self.has_input(node_id),
            output_ports(rect, self.output_names(node_id)) if self.output_names(node_id) else {},
            self.location_name(node_id), node_id in self.stale,
            provenance.state(node.type, node.config, node.ai) if node.ai else None)

    def location_name(self, node_id: str) -> str | None:
        """The name of the connection the node's table lives in (None: the workspace, or no table)."""
        state = self.node_states.get(node_id)
        connection = getattr(state, "connection", None) if state is not None and state.table else None
        return self.connection_names.get(connection, connection) if connection else None

    def edge_label(self, edge: Edge) -> str | None:
        target = self.node_states.get(edge.target)
        if target is not None and target.status == "skipped":
            return None  # the untaken side of a Branch: nothing flowed there
        state = self.node_states.get(edge.source)
        return str(state.records) if state is not None and state.records is not None else None

    def edge_look(self, edge: Edge) -> painter.EdgeLook:
        active = edge.source in self.selection or edge.target in self.selection or edge == self.selected_edge
        return painter.EdgeLook(edge, self._ctrl[edge], self.edge_label(edge), active)

    def edge_points(self, edge: Edge, segments: int = 16) -> list[Point]:
        return sample_cubic(self._ctrl[edge], segments)

    # --- hit testing (world units) -----------------------------------------------------------
    def node_at(self, x: float, y: float) -> str | None:
        """The top-most node at a point (later nodes are drawn above earlier ones)."""
        hits = self.nodes.at(x, y)
        if not hits:
            return None
        if len(hits) == 1:
            return next(iter(hits))
        order = self.order()
        return max(hits, key=lambda h: order.get(h, -1))

    def port_at(self, x: float, y: float, radius: float) -> tuple[str, str, str] | None:
        """(node id, "in"|"out", port name) of the nearest port within ``radius``."""
        best: tuple[float, tuple[str, str, str]] | None = None
        for node_id in self.nodes.at(x, y, radius):
            rect = self.nodes.rect_of(node_id)
            candidates = [("out", name, pos) for name, pos in output_ports(
                rect, self.output_names(node_id)).items()] if self.output_names(node_id) else []
            if self.has_input(node_id):
                candidates.append(("in", "in", input_port(rect)))
            for side, name, (px, py) in candidates:
                d = math.hypot(px - x, py - y)
                if d <= radius and (best is None or d < best[0]):
                    best = (d, (node_id, side, name))
        return best[1] if best else None

    def edge_at(self, x: float, y: float, radius: float) -> Edge | None:
        best: tuple[float, Edge] | None = None
        for edge in self.edges.at(x, y, radius):
            d = distance_to_polyline((x, y), self.edge_points(edge, 24))
            if d <= radius and (best is None or d < best[0]):
                best = (d, edge)
        return best[1] if best else None

    # --- the view ------------------------------------------------------------------------------
    def set_view(self, view: View, base: Point, size: Point) -> None:
        """Move the transform: ``base`` is the widget's position, ``size`` its size."""
        self.view, self.base, self.size = view, base, size
        self._translate.xy = (base[0] + view.ox, base[1] + view.oy)
        self._scale.xyz = (view.s, -view.s, 1.0)

    def visible_rect(self) -> Rect:
        return self.view.world_rect(*self.size)

    # --- overlay -------------------------------------------------------------------------------
    def set_overlay(self, builders: Iterable[MeshBuilder] = ()) -> None:
        """Replace what is drawn above the graph (gesture feedback)."""
        self.overlay.clear()
        texture = self.atlas.flush()
        for builder in builders:
            for mesh in builder.meshes(texture):
                self.overlay.add(mesh)

    def stats(self) -> dict[str, int]:
        """Attached tiles and meshes per layer (for the benchmark and tests)."""
        return {name: len(group.children) for name, group in self.layers.items()}
