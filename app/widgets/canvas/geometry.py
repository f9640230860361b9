"""Where things are on the canvas, in world units: node rectangles, ports, edge curves,
the view transform and a spatial grid index. Pure Python (no Kivy), so it is tested alone.

World coordinates are the workflow file's: ``Node.position`` is a node's top-left corner,
x grows to the right and y grows *down*. Every node has the same size (:data:`NODE_W` ×
:data:`NODE_H`). Inputs sit on the left edge, outputs on the right edge (Branch has two,
``true`` above ``false``). An edge is a cubic Bézier from an output port to the target's
input port whose control points leave and enter horizontally.

The view maps world to widget pixels: ``px = ox + x·s`` and ``py = oy − y·s`` (Kivy's y
grows up), where ``s`` is pixels per world unit and ``(ox, oy)`` is where the world origin
lands in the widget.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

NODE_W = 176.0
NODE_H = 72.0
HEADER_H = 28.0
PORT_RADIUS = 6.0
DEFAULT_GRID = 20.0

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Rect:
    """An axis-aligned rectangle in world units; (x, y) is the top-left corner."""

    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    @property
    def center(self) -> Point:
        return (self.x + self.w / 2, self.y + self.h / 2)

    def intersects(self, other: Rect) -> bool:
        return (self.x <= other.right and other.x <= self.right
                and self.y <= other.bottom and other.y <= self.bottom)

    def contains(self, x: float, y: float) -> bool:
        return self.x <= x <= self.right and self.y <= y <= self.bottom

    def inside(self, other: Rect) -> bool:
        return other.x <= self.x and other.y <= self.y and self.right <= other.right and self.bottom <= other.bottom

    def union(self, other: Rect) -> Rect:
        x0, y0 = min(self.x, other.x), min(self.y, other.y)
        return Rect(x0, y0, max(self.right, other.right) - x0, max(self.bottom, other.bottom) - y0)

    def inflate(self, dx: float, dy: float | None = None) -> Rect:
        dy = dx if dy is None else dy
        return Rect(self.x - dx, self.y - dy, self.w + 2 * dx, self.h + 2 * dy)

    @staticmethod
    def from_points(a: Point, b: Point) -> Rect:
        x0, x1 = sorted((a[0], b[0]))
        y0, y1 = sorted((a[1], b[1]))
        return Rect(x0, y0, x1 - x0, y1 - y0)

    @staticmethod
    def bounding(points: Iterable[Point]) -> Rect:
        xs, ys = zip(*points)
        return Rect(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


def union_all(rects: Iterable[Rect]) -> Rect | None:
    out: Rect | None = None
    for rect in rects:
        out = rect if out is None else out.union(rect)
    return out


# --- nodes and ports ------------------------------------------------------------------------
def node_rect(position: Sequence[float]) -> Rect:
    return Rect(float(position[0]), float(position[1]), NODE_W, NODE_H)


def input_port(rect: Rect) -> Point:
    return (rect.x, rect.y + rect.h / 2)


def output_ports(rect: Rect, names: Sequence[str]) -> dict[str, Point]:
    """Output port positions: one in the middle of the right edge, several spread down
    the body (below the header) in declaration order."""
    if len(names) == 1:
        return {names[0]: (rect.right, rect.y + rect.h / 2)}
    top = rect.y + HEADER_H * 0.75
    step = (rect.bottom - top) / len(names)
    return {name: (rect.right, top + step * (i + 0.5)) for i, name in enumerate(names)}


# --- edges -----------------------------------------------------------------------------------
def edge_controls(p0: Point, p1: Point) -> tuple[Point, Point, Point, Point]:
    """The cubic's four control points: out of p0 to the right, into p1 from the left."""
    dx = max(abs(p1[0] - p0[0]) * 0.5, 48.0)
    return p0, (p0[0] + dx, p0[1]), (p1[0] - dx, p1[1]), p1


def sample_cubic(ctrl: Sequence[Point], segments: int) -> list[Point]:
    """``segments + 1`` points along the cubic, both ends included."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = ctrl
    out = []
    for i in range(segments + 1):
        t = i / segments
        u = 1.0 - t
        a, b, c, d = u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t
        out.append((a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3))
    return out


def curve_bounds(ctrl: Sequence[Point]) -> Rect:
    """A box around the whole curve (a cubic stays inside its control polygon's hull)."""
    return Rect.bounding(ctrl)


def segments_for(ctrl: Sequence[Point], px_per_unit: float, px_per_segment: float,
                 lo: int = 1, hi: int = 32) -> int:
    """Enough segments that each spans about ``px_per_segment`` pixels on screen."""
    (x0, y0), _, _, (x3, y3) = ctrl
    length = (abs(x3 - x0) + abs(y3 - y0)) * px_per_unit
    return max(lo, min(hi, int(length / px_per_segment) + 1))


def distance_to_polyline(point: Point, pts: Sequence[Point]) -> float:
    px, py = point
    best = math.inf
    for (ax, ay), (bx, by) in zip(pts, pts[1:]):
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
        cx, cy = ax + t * dx - px, ay + t * dy - py
        best = min(best, cx * cx + cy * cy)
    return math.sqrt(best)


# --- grid ------------------------------------------------------------------------------------
def snap(value: float, grid: float) -> float:
    return round(value / grid) * grid if grid > 0 else value


def snap_point(point: Point, grid: float) -> Point:
    return (snap(point[0], grid), snap(point[1], grid))


# --- the view --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class View:
    """Pixels per world unit ``s`` and the widget position ``(ox, oy)`` of the world origin."""

    s: float
    ox: float
    oy: float

    def to_view(self, x: float, y: float) -> Point:
        return (self.ox + x * self.s, self.oy - y * self.s)

    def to_world(self, px: float, py: float) -> Point:
        return ((px - self.ox) / self.s, (self.oy - py) / self.s)

    def world_rect(self, width: float, height: float) -> Rect:
        """The part of the world a ``width`` × ``height`` widget shows."""
        x0, y0 = self.to_world(0.0, height)
        return Rect(x0, y0, width / self.s, height / self.s)

    def zoomed(self, s: float, anchor: Point) -> View:
        """The view at scale ``s`` that keeps the world point under ``anchor`` (widget px) still."""
        wx, wy = self.to_world(*anchor)
        return View(s, anchor[0] - wx * s, anchor[1] + wy * s)

    def centered(self, world: Point, width: float, height: float) -> View:
        return View(self.s, width / 2 - world[0] * self.s, height / 2 + world[1] * self.s)


def fit_view(bounds: Rect, width: float, height: float, margin: float, lo: float, hi: float) -> View:
    """The view showing all of ``bounds`` with ``margin`` pixels around, scale within [lo, hi]."""
    usable_w, usable_h = max(width - 2 * margin, 1.0), max(height - 2 * margin, 1.0)
    s = min(usable_w / max(bounds.w, 1.0), usable_h / max(bounds.h, 1.0))
    s = max(lo, min(hi, s))
    return View(s, 0.0, 0.0).centered(bounds.center, width, height)


def readable_fit_view(bounds: Rect, width: float, height: float, margin: float, lo: float, hi: float) -> View:
    """Like :func:`fit_view`, but never below scale ``lo`` (where titles are still readable):
    a graph that does not fit at ``lo`` is shown from its left edge (where a flow starts),
    centred vertically when it fits that way, else from its top; the rest is a scroll away."""
    fitted = fit_view(bounds, width, height, margin, 0.0, hi)
    if fitted.s >= lo:
        return fitted
    s = lo
    ox = margin - bounds.x * s
    if bounds.h * s <= height - 2 * margin:
        oy = height / 2 + bounds.center[1] * s
    else:
        oy = height - margin + bounds.y * s
    return View(s, ox, oy)


# --- spatial index ---------------------------------------------------------------------------
class SpatialIndex:
    """Rectangles filed by the grid cells they overlap: what is near a point or inside a
    region, in time proportional to the answer rather than to the whole graph."""

    def __init__(self, cell: float = 256.0) -> None:
        self.cell = cell
        self._rects: dict[Hashable, Rect] = {}
        self._cells: dict[tuple[int, int], set[Hashable]] = {}

    def __len__(self) -> int:
        return len(self._rects)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._rects

    def rect_of(self, key: Hashable) -> Rect:
        return self._rects[key]

    def items(self) -> Iterable[tuple[Hashable, Rect]]:
        return self._rects.items()

    def _range(self, rect: Rect) -> tuple[int, int, int, int]:
        c = self.cell
        return (math.floor(rect.x / c), math.floor(rect.right / c),
                math.floor(rect.y / c), math.floor(rect.bottom / c))

    def _span(self, rect: Rect) -> Iterable[tuple[int, int]]:
        i0, i1, j0, j1 = self._range(rect)
        return ((i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1))

    def insert(self, key: Hashable, rect: Rect) -> None:
        if key in self._rects:
            self.remove(key)
        self._rects[key] = rect
        for cell in self._span(rect):
            self._cells.setdefault(cell, set()).add(key)

    def remove(self, key: Hashable) -> None:
        rect = self._rects.pop(key, None)
        if rect is None:
            return
        for cell in self._span(rect):
            members = self._cells.get(cell)
            if members is not None:
                members.discard(key)
                if not members:
                    del self._cells[cell]

    def clear(self) -> None:
        self._rects.clear()
        self._cells.clear()

    def query(self, region: Rect) -> set[Hashable]:
        """Keys whose rectangle intersects ``region``."""
        found: set[Hashable] = set()
        rects, filled = self._rects, self._cells
        i0, i1, j0, j1 = self._range(region)
        if (i1 - i0 + 1) * (j1 - j0 + 1) > len(filled):  # a big region: walk the filled cells instead
            cells: Iterable[tuple[int, int]] = [k for k in filled if i0 <= k[0] <= i1 and j0 <= k[1] <= j1]
        else:
            cells = self._span(region)
        for cell in cells:
            for key in filled.get(cell, ()):
                if key not in found and rects[key].intersects(region):
                    found.add(key)
        return found

    def at(self, x: float, y: float, slop: float = 0.0) -> set[Hashable]:
        """Keys whose rectangle, grown by ``slop``, contains the point."""
        return self.query(Rect(x - slop, y - slop, 2 * slop, 2 * slop))

    def bounds(self) -> Rect | None:
        return union_all(self._rects.values())
