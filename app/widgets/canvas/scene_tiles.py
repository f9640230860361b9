"""How the scene builds, culls and attaches its tiles (a mixin of
:class:`~app.widgets.canvas.scene.Scene`), and the zoom levels that decide what is drawn.

Levels by pixels per world unit ``s``: below :data:`FAR_PX` ``far``; then ``overview``
and ``detail`` with **compact titles** (the title alone, :data:`TITLE_MIN_PX` tall on
screen, built once per step of :data:`COMPACT_STEPS` so zooming within a step rebuilds
nothing); from :data:`TEXT_PX` (where a title at its own size is :data:`TITLE_MIN_PX`)
full ``text``. Record counts on edges follow the same minimum size.
"""

from __future__ import annotations

import math
import time
from typing import Any

from kivy.graphics import InstructionGroup

from app.widgets.canvas import painter
from app.widgets.canvas.geometry import Rect, sample_cubic, union_all
from app.widgets.canvas.meshes import MeshBuilder
from app.widgets.canvas.tiles import Tile, TileGrid
from engine.model.workflow import Edge

FAR_PX = 0.2  # pixels per world unit below which a node is one flat quad and an edge one line
DETAIL_PX = 0.42  # ... from which nodes get rounded shapes and ports
TITLE_MIN_PX = 11.0  # no title or record count is drawn smaller than this on screen
TEXT_PX = TITLE_MIN_PX / painter.TITLE_SIZE  # ... full text from here (titles at their own size)
# Between FAR_PX and TEXT_PX nodes show their title alone ("compact"), drawn TITLE_MIN_PX
# tall at the lowest zoom of one of these steps: a step's text is built once for the whole step.
COMPACT_STEPS = (FAR_PX, 0.26, 0.33, DETAIL_PX, 0.52, 0.62)
OVERVIEW_TILE = 2048.0
DETAIL_TILE = 512.0
VIEW_MARGIN = 0.05  # attach tiles a little beyond the view so a small pan attaches nothing
BUILD_BUDGET_S = 0.012  # tile building per frame; the rest waits for the next frames
NODE_MARGIN = 16.0  # outlines, markers and ports reach this far outside a node's rectangle
LABEL_MARGIN = 300.0  # a record-count label reaches this far around an edge's midpoint (at the
# smallest zoom it is drawn, where it is biggest in world units: TITLE_MIN_PX / FAR_PX tall)
WANTED = {"far": ("far",), "overview": ("overview", "overview_titles"), "detail": ("detail", "detail_titles"),
          "text": ("detail", "text")}
LAYERS_OF = {"far": ("edges", "shapes"), "overview": ("edges", "shapes"), "detail": ("edges", "shapes"),
             "text": ("text",), "overview_titles": ("text",), "detail_titles": ("text",)}
COMPACT = ("overview_titles", "detail_titles")
PAINTERS = {"far": (painter.far_edge, painter.far_node, "lines"),
            "overview": (painter.overview_edge, painter.overview_node, "lines"),
            "detail": (painter.detail_edge, painter.detail_node, "triangles")}



class TileBuilding:
    """Needs ``view``, ``grids``, ``layers``, ``atlas``, ``palette``, ``nodes``, ``edges``,
    ``_ctrl``, ``workflow`` and the looks (``node_look``, ``edge_look``, ``edge_label``)."""

    # --- building ------------------------------------------------------------------------------
    def update(self) -> bool:
        """Attach the tiles the view needs at its level of detail, rebuilding stale ones.

        Building stops for this frame once :data:`BUILD_BUDGET_S` is spent: tiles still to
        build keep what they showed before (the previous level of detail stays up until the
        new one is complete), and True is returned — call again on the next frame."""
        for _ in range(3):  # again if the atlas grew while building (all coordinates changed)
            if self.atlas.generation != self._generation:
                self._generation = self.atlas.generation
                self.invalidate_all()
            # A document that shows nothing yet is built in one go: there is nothing to keep up.
            fresh = not any(group.children for group in self.layers.values())
            self.pending = self._update_tiles(math.inf if fresh else time.perf_counter() + BUILD_BUDGET_S)
            if self.atlas.generation == self._generation:
                break
        return self.pending

    def _update_tiles(self, deadline: float) -> bool:
        s = self.view.s
        self.lod = "far" if s < FAR_PX else "overview" if s < DETAIL_PX else "detail" if s < TEXT_PX else "text"
        step = max((x for x in COMPACT_STEPS if x <= s), default=COMPACT_STEPS[0])
        if step != self.compact_step:  # titles are sized for the step: rebuilt when it changes
            self.compact_step = step
            for grid in self.grids.values():
                for tile in grid.tiles.values():
                    tile.stale.update(COMPACT)
        wanted = WANTED[self.lod]
        region = self.visible_rect()
        region = region.inflate(region.w * VIEW_MARGIN, region.h * VIEW_MARGIN)
        pending = False
        idle = []
        for grid in self.grids.values():
            reps = [name for name in grid.layers if name in wanted]
            if not reps:
                idle.append(grid)
                continue
            for tile in self._live_tiles(grid):
                pending |= not self._sync_tile(tile, self._visible_groups(tile, reps, region), deadline)
        for grid in idle:  # the other level of detail goes once this one is complete
            for tile in self._live_tiles(grid):
                if not pending:
                    self._detach_all(tile)
        self.atlas.flush()
        return pending

    def _live_tiles(self, grid: TileGrid) -> list[Tile]:
        for key in [k for k, tile in grid.tiles.items() if not tile.nodes]:
            self._detach_all(grid.tiles.pop(key))
        return list(grid.tiles.values())

    def _visible_groups(self, tile: Tile, reps: list[str], region: Rect) -> set[tuple[str, str]]:
        """(representation, layer) pairs of ``tile`` that reach into ``region``: a tile's
        edges may cross the view while its nodes are far outside it, and the other way round."""
        nodes_box, edges_box, labels_box = self._boxes(tile)
        shown = {"shapes": nodes_box.intersects(region),
                 "edges": edges_box is not None and edges_box.intersects(region)}
        shown["text"] = shown["shapes"] or (labels_box is not None and labels_box.intersects(region))
        return {(rep, layer) for rep in reps for layer in LAYERS_OF[rep] if shown[layer]}

    def _sync_tile(self, tile: Tile, show: set[tuple[str, str]], deadline: float = math.inf) -> bool:
        """Make ``show`` what the tile has on the canvas; False (tile left as it was) when a
        representation it needs would have to be built after ``deadline``."""
        missing = {rep for rep, _layer in show if rep in tile.stale or rep not in tile.built}
        if missing and time.perf_counter() > deadline:
            return False
        for key in list(tile.attached):
            if key not in show or key[0] in tile.stale:
                self.layers[key[1]].remove(tile.built[key[0]][key[1]])
                tile.attached.discard(key)
        for rep in missing:
            tile.built[rep] = self._build(tile, rep)
            tile.stale.discard(rep)
        for key in show - tile.attached:
            self.layers[key[1]].add(tile.built[key[0]][key[1]])
            tile.attached.add(key)
        return True

    def _detach_all(self, tile: Tile) -> None:
        self._sync_tile(tile, set())

    def _boxes(self, tile: Tile) -> tuple[Rect, Rect | None, Rect | None]:
        """Boxes around a tile's nodes, around the edges leaving them and around those edges'
        record-count labels (None when there is nothing of the kind)."""
        if tile.boxes is None:
            nodes_box = union_all(self.nodes.rect_of(n).inflate(NODE_MARGIN) for n in tile.nodes)
            edges = self._tile_edges(tile)
            edges_box = union_all(self.edges.rect_of(e) for e in edges)
            labels_box = union_all(Rect(*sample_cubic(self._ctrl[e], 2)[1], 0, 0).inflate(LABEL_MARGIN)
                                   for e in edges if self.edge_label(e) is not None)
            tile.boxes = (nodes_box or Rect(0, 0, 0, 0), edges_box, labels_box)
        return tile.boxes

    def _tile_edges(self, tile: Tile) -> list[Edge]:
        wf = self.workflow
        return [e for node_id in tile.nodes for e in wf.outputs_of(node_id) if e in self._ctrl]

    def _build(self, tile: Tile, rep: str) -> dict[str, InstructionGroup]:
        self.builds += 1
        pal = self.palette
        order = self.order()
        node_ids = sorted(tile.nodes, key=lambda n: order.get(n, -1))
        if rep == "text":
            text = MeshBuilder(self.atlas)
            for edge in self._tile_edges(tile):
                painter.text_edge(text, self.edge_look(edge), pal)
            for node_id in node_ids:
                painter.text_node(text, self.node_look(node_id), pal)
            builders = {"text": text}
        elif rep in COMPACT:
            builders = {"text": self._compact_text(tile, node_ids, on_body=rep == "detail_titles")}
        else:
            draw_edge, draw_node, edge_mode = PAINTERS[rep]
            edges, shapes = MeshBuilder(self.atlas, edge_mode), MeshBuilder(self.atlas)
            for edge in self._tile_edges(tile):
                draw_edge(edges, self.edge_look(edge), pal)
            for node_id in node_ids:
                draw_node(shapes, self.node_look(node_id), pal)
            builders = {"edges": edges, "shapes": shapes}
        texture = self.atlas.flush()  # after building: new glyphs are in before the upload
        return {layer: self._group(b, texture) for layer, b in builders.items()}

    def compact_sizes(self) -> tuple[float, float]:
        """World sizes of compact titles and record counts at the current step: both at
        least :data:`TITLE_MIN_PX` on screen anywhere in the step."""
        size = TITLE_MIN_PX / self.compact_step
        return size, max(painter.COUNT_SIZE, size)

    def _compact_text(self, tile: Tile, node_ids: list[str], on_body: bool) -> MeshBuilder:
        pal = self.palette
        title, count = self.compact_sizes()
        text = MeshBuilder(self.atlas)
        for edge in self._tile_edges(tile):
            painter.text_edge(text, self.edge_look(edge), pal, count)
        for node_id in node_ids:
            painter.compact_node(text, self.node_look(node_id), pal, title, on_body)
        return text

    def _group(self, builder: MeshBuilder, texture: Any) -> InstructionGroup:
        group = InstructionGroup()
        for mesh in builder.meshes(texture):
            group.add(mesh)
        return group
