"""The canvas's view: zoom and pan state turned into the scene's transform, the grid, and
Fit (a mixin of :class:`~app.widgets.canvas.graph_canvas.GraphCanvas`).

Fit shows the whole graph but never zooms out past :data:`FIT_MIN_PX`, where compact
titles are still readable (see :mod:`scene_tiles`); a bigger graph is shown from its
start and the rest is a scroll away (the minimap shows it all).
"""

from __future__ import annotations

import math
from typing import Any

from kivy.metrics import dp

from app.widgets.canvas.geometry import Point, View, fit_view, readable_fit_view
from app.widgets.canvas.meshes import MeshBuilder
from app.widgets.canvas.scene_tiles import DETAIL_PX

MIN_SCALE, MAX_SCALE = 0.04, 3.0
FIT_MARGIN_DP = 48
FIT_MIN_PX = DETAIL_PX  # Fit zooms out no further: titles are ~26 world units, 11 px, ~12 letters
GRID_MIN_PX = 0.35  # no grid further out: it would only add noise (and cost a frame's worth of lines)


class ViewMixin:
    """Needs the widget's ``scale``, ``offset``, ``pos``/``size``, ``scene``, ``grid``,
    ``show_grid``, ``_grid_key``, ``_grid_area``, ``_changed``, ``_next_frame``."""

    # --- the view ------------------------------------------------------------------------------
    @property
    def view(self) -> View:
        return View(self.scale * dp(1), self.offset[0], self.offset[1])

    def set_view(self, view: View) -> None:
        s = max(MIN_SCALE * dp(1), min(MAX_SCALE * dp(1), view.s))
        if s != view.s:
            view = View(s, view.ox, view.oy)
        self.scale = view.s / dp(1)
        self.offset = [view.ox, view.oy]

    def to_world(self, pos: Point) -> Point:
        """A point in this widget's parent coordinates (like ``touch.pos``) in world units."""
        return self.view.to_world(pos[0] - self.x, pos[1] - self.y)

    widget_to_world = to_world

    def world_to_widget(self, world: Point) -> Point:
        """A world point in this widget's parent coordinates (like ``self.pos``)."""
        px, py = self.view.to_view(*world)
        return (px + self.x, py + self.y)

    def to_parent_center(self) -> Point:
        return self.center_x, self.center_y

    def view_center_world(self) -> Point:
        return self.to_world(self.to_parent_center())

    def pan_by(self, dx: float, dy: float) -> None:
        self.offset = [self.offset[0] + dx, self.offset[1] + dy]

    def zoom_at(self, pos: Point, factor: float) -> None:
        """Zoom by ``factor`` keeping the world point under ``pos`` (parent coords) in place."""
        local = (pos[0] - self.x, pos[1] - self.y)
        self.set_view(self.view.zoomed(self._clamp(self.view.s * factor), local))

    def show_world_point_at(self, world: Point, pos: Point, s: float) -> None:
        """Scale ``s`` (px per unit) with ``world`` under ``pos`` (parent coords)."""
        s = self._clamp(s)
        self.set_view(View(s, pos[0] - self.x - world[0] * s, pos[1] - self.y + world[1] * s))

    def _clamp(self, s: float) -> float:
        return max(MIN_SCALE * dp(1), min(MAX_SCALE * dp(1), s))

    def fit_to_view(self, whole: bool = False) -> None:
        """Show the whole graph, but never zoomed out past where titles are readable
        (:data:`FIT_MIN_PX`): a bigger graph is shown from its start and scrolls (the minimap
        shows the rest). ``whole``: all of it however small (the benchmark's overview).
        Nothing is fitted under :attr:`covered_corner` (the minimap)."""
        bounds = self.scene.nodes.bounds()
        if bounds is None:
            self.set_view(View(dp(1), self.width / 2, self.height / 2))
            return
        margin = dp(FIT_MARGIN_DP)
        best = None
        for ax, ay, aw, ah in self.fit_areas():
            if whole:
                view = fit_view(bounds, aw, ah, margin, MIN_SCALE * dp(1), dp(1))
            else:
                view = readable_fit_view(bounds, aw, ah, margin, FIT_MIN_PX, dp(1))
            if best is None or view.s > best.s:
                best = View(view.s, view.ox + ax, view.oy + ay)
        self.set_view(best)

    def fit_areas(self) -> list[tuple[float, float, float, float]]:
        """Where Fit may put the graph (x, y, w, h in widget px): the whole canvas, or when a
        corner is covered (:attr:`covered_corner`, the minimap's bottom-right ``(w, h)``) the
        part left of it and the part above it; Fit takes whichever shows the graph larger."""
        cw, ch = getattr(self, "covered_corner", (0, 0)) or (0, 0)
        if cw <= 0 or ch <= 0:
            return [(0.0, 0.0, self.width, self.height)]
        return [(0.0, 0.0, max(self.width - cw, 1.0), self.height),
                (0.0, ch, self.width, max(self.height - ch, 1.0))]

    def ensure_visible(self, node_id: str, margin_dp: float = 24) -> None:
        """Pan as little as needed for ``node_id`` to be inside the view (``margin_dp`` clear
        of the edges); zoom out only when it is larger than the view."""
        if node_id not in self.scene.nodes or self.width <= 1 or self.height <= 1:
            return
        view = self.view
        rect = self.scene.nodes.rect_of(node_id)
        margin = dp(margin_dp)
        fit_s = min((self.width - 2 * margin) / max(rect.w, 1.0), (self.height - 2 * margin) / max(rect.h, 1.0))
        if view.s > fit_s > 0:
            view = View(self._clamp(fit_s), view.ox, view.oy)
        x0, y1 = view.to_view(rect.x, rect.y)       # top-left of the node (widget y grows upwards)
        x1, y0 = view.to_view(rect.right, rect.bottom)
        dx = (margin - x0) if x0 < margin else (self.width - margin - x1) if x1 > self.width - margin else 0.0
        dy = (margin - y0) if y0 < margin else (self.height - margin - y1) if y1 > self.height - margin else 0.0
        self.set_view(View(view.s, view.ox + dx, view.oy + dy))

    def center_on(self, node_id: str) -> None:
        if node_id not in self.scene.nodes:
            return
        view = self.view
        if view.s < 0.8 * dp(1):
            view = View(0.8 * dp(1), view.ox, view.oy)
        self.set_view(view.centered(self.scene.nodes.rect_of(node_id).center, self.width, self.height))

    def hit_radius(self) -> float:
        """Half a 48 dp hit target, in world units at the current zoom."""
        return dp(24) / self.view.s

    def _view_changed(self, *_args: Any) -> None:
        self._redraw()

    def _update(self, _dt: float = 0) -> None:
        """Once per frame at most: the transform, clip, grid and tiles for the current view."""
        scene = self.scene
        scene.set_view(self.view, self.pos, self.size)
        wx, wy = self.to_window(self.x, self.y)
        self._scissor.x, self._scissor.y = int(wx), int(wy)
        self._scissor.width, self._scissor.height = int(math.ceil(self.width)), int(math.ceil(self.height))
        self._update_grid()
        if scene.update():
            self._next_frame()  # more tiles to build: a little more each frame
        if self._changed:
            self._changed = False
            self.revision += 1

    def _update_grid(self) -> None:
        """Grid lines for a region around the view, rebuilt only when the view leaves it or
        the spacing changes (spacing doubles as you zoom out, so lines stay ≥ 14 dp apart)."""
        scene = self.scene
        step = self.grid
        while step * scene.view.s < dp(14):
            step *= 2
        region = scene.visible_rect()
        key = (step, self.show_grid, scene.palette, scene.view.s < GRID_MIN_PX * dp(1))
        if key == self._grid_key and region.inside(self._grid_area):
            return
        self._grid_key = key
        self._grid_area = area = region.inflate(region.w, region.h)
        scene.grid_layer.clear()
        if not self.show_grid or step <= 0 or scene.view.s < GRID_MIN_PX * dp(1):
            return
        b = MeshBuilder(scene.atlas, "lines")
        colour = scene.palette.grid
        x = math.floor(area.x / step) * step
        while x <= area.right:
            b.polyline([(x, area.y), (x, area.bottom)], colour)
            x += step
        y = math.floor(area.y / step) * step
        while y <= area.bottom:
            b.polyline([(area.x, y), (area.right, y)], colour)
            y += step
        for mesh in b.meshes(scene.atlas.flush()):
            scene.grid_layer.add(mesh)
