"""A small overview of the whole graph with the visible part outlined; tap or drag on it
to move the view there.

The nodes are rendered once into an offscreen texture (``Fbo``) when the graph changes
(at most every :data:`REDRAW_DELAY_S`), so every frame costs one textured rectangle and a
rectangle outline, whatever the number of nodes. Panning and zooming the canvas only
move the outline.
"""

from __future__ import annotations

from typing import Any

from kivy.clock import Clock
from kivy.graphics import ClearBuffers, ClearColor, Color, Fbo, Line, Rectangle, RoundedRectangle
from kivy.metrics import dp
from kivy.properties import ObjectProperty
from kivy.uix.widget import Widget

from app.widgets.canvas.geometry import Rect
from app.widgets.canvas.meshes import MeshBuilder, install_shader
from app.widgets.canvas.palette import with_alpha

REDRAW_DELAY_S = 0.15
PAD_DP = 8


class Minimap(Widget):
    graph = ObjectProperty(None, allownone=True)
    """The :class:`~app.widgets.canvas.graph_canvas.GraphCanvas` this minimap shows."""

    def __init__(self, **kwargs: Any) -> None:
        self._bounds: Rect | None = None
        self._k = 1.0
        super().__init__(**kwargs)
        self._fbo = Fbo(size=(max(int(self.width), 1), max(int(self.height), 1)), with_stencilbuffer=False)
        install_shader(self._fbo)
        with self.canvas:
            self._bg_colour = Color(0, 0, 0, 0)
            self._bg = RoundedRectangle(radius=[dp(10)])
        self.canvas.add(self._fbo)  # drawn (into its texture) only when its content changed
        with self.canvas:
            Color(1, 1, 1, 1)
            self._image = Rectangle(texture=self._fbo.texture)
            self._view_colour = Color(0, 0, 0, 0)
            self._view_line = Line(rectangle=(0, 0, 1, 1), width=dp(1.2))
        self._redraw = Clock.create_trigger(self._render, REDRAW_DELAY_S)
        self.bind(pos=self._placed, size=self._resized, graph=self._graph_set)
        self._resized()
        self._graph_set(self, self.graph)

    def _graph_set(self, _widget: Any, graph: Any) -> None:
        if graph is None:
            return
        graph.bind(revision=lambda *_a: self._redraw(), scale=self._update_view, offset=self._update_view,
                   size=self._update_view)
        self._redraw()

    def _placed(self, *_args: Any) -> None:
        self._bg.pos = self._image.pos = self.pos
        self._update_view()

    def _resized(self, *_args: Any) -> None:
        self._bg.size = self._image.size = self.size
        self._fbo.size = (max(int(self.width), 1), max(int(self.height), 1))
        self._image.texture = self._fbo.texture
        self._placed()
        self._redraw()

    # --- world <-> minimap ---------------------------------------------------------------------
    def _fit(self) -> None:
        graph = self.graph
        bounds = graph.scene.nodes.bounds() if graph is not None else None
        if bounds is None:
            self._bounds = None
            return
        bounds = bounds.inflate(max(bounds.w, bounds.h) * 0.04 + 40)
        pad = dp(PAD_DP)
        self._k = min((self.width - 2 * pad) / bounds.w, (self.height - 2 * pad) / bounds.h)
        self._bounds = bounds

    def world_to_map(self, x: float, y: float) -> tuple[float, float]:
        """A world point in texture pixels (origin bottom-left of the minimap)."""
        b, k = self._bounds, self._k
        ox = (self.width - b.w * k) / 2
        oy = (self.height - b.h * k) / 2
        return (ox + (x - b.x) * k, self.height - oy - (y - b.y) * k)

    def map_to_world(self, px: float, py: float) -> tuple[float, float]:
        b, k = self._bounds, self._k
        ox = (self.width - b.w * k) / 2
        oy = (self.height - b.h * k) / 2
        return (b.x + (px - ox) / k, b.y + (self.height - oy - py) / k)

    # --- drawing ---------------------------------------------------------------------------------
    def _render(self, _dt: float = 0) -> None:
        graph = self.graph
        if graph is None:
            return
        pal = graph.scene.palette
        self._bg_colour.rgba = with_alpha(pal.pill, 0.94)
        self._view_colour.rgba = pal.selection
        self._fit()
        fbo = self._fbo
        fbo.clear()
        with fbo:
            ClearColor(0, 0, 0, 0)
            ClearBuffers()
        if self._bounds is not None and graph.document is not None:
            for mesh in self._nodes_mesh(graph).meshes(graph.scene.atlas.flush()):
                fbo.add(mesh)
        self._update_view()

    def _nodes_mesh(self, graph: Any) -> MeshBuilder:
        b = MeshBuilder(graph.scene.atlas)
        pal = graph.scene.palette
        selected = graph.selected
        for node in graph.document.workflow:
            if node.id not in graph.scene.nodes:
                continue
            r = graph.scene.nodes.rect_of(node.id)
            x0, y1 = self.world_to_map(r.x, r.y)
            x1, y0 = self.world_to_map(r.right, r.bottom)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            hw, hh = max((x1 - x0) / 2, 1.2), max((y1 - y0) / 2, 1.0)
            colour = pal.selection if node.id in selected else pal.type_colour(node.type)
            b.rect(cx - hw, cy - hh, cx + hw, cy + hh, colour)
        return b

    def _update_view(self, *_args: Any) -> None:
        graph = self.graph
        if graph is None or self._bounds is None or graph.width <= 1:
            self._view_line.rectangle = (self.x, self.y, 0, 0)
            return
        visible = graph.view.world_rect(graph.width, graph.height)
        x0, y1 = self.world_to_map(visible.x, visible.y)
        x1, y0 = self.world_to_map(visible.right, visible.bottom)
        x0, x1 = max(x0, 1.0), min(x1, self.width - 1)
        y0, y1 = max(y0, 1.0), min(y1, self.height - 1)
        self._view_line.rectangle = (self.x + x0, self.y + y0, max(x1 - x0, 0), max(y1 - y0, 0))

    # --- touches ---------------------------------------------------------------------------------
    def on_touch_down(self, touch: Any) -> bool:
        if not self.collide_point(*touch.pos) or self.graph is None or getattr(touch, "is_mouse_scrolling", False):
            return False
        touch.grab(self)
        self._go(touch)
        return True

    def on_touch_move(self, touch: Any) -> bool:
        if touch.grab_current is self:
            self._go(touch)
            return True
        return super().on_touch_move(touch)

    def on_touch_up(self, touch: Any) -> bool:
        if touch.grab_current is self:
            touch.ungrab(self)
            return True
        return super().on_touch_up(touch)

    def _go(self, touch: Any) -> None:
        """Centre the canvas on the world point under the finger."""
        if self._bounds is None:
            return
        graph = self.graph
        world = self.map_to_world(touch.x - self.x, touch.y - self.y)
        graph.set_view(graph.view.centered(world, graph.width, graph.height))
