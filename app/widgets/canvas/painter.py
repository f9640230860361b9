"""How a node and an edge look at each level of detail, written into mesh builders.

Four levels, chosen by zoom (see :mod:`app.widgets.canvas.scene`):

* ``far`` — one flat quad per node (type colour; selection, failure or a running node
  recolour it; a corner marker for problems) and one straight line per edge: the fewest
  primitives and pixels, since software GL pays for each.
* ``overview`` — a node is its type colour with a darker top band, a run-state band at
  the bottom and an outline when selected or failed; edges are one-pixel lines with a
  few segments. No text. Shapes are split so no pixel is painted twice (fill rate is
  what software GL is short of).
* ``detail`` — rounded header in the type colour, a body in the surface colour, ports,
  a run-state badge, problem marker; edges are smooth strokes.
* ``text`` — on top of ``detail``: type icon and title, a type/status line, the error
  or first problem, Branch port names and the record count of the last run on edges.

Painters only read a :class:`NodeLook` / :class:`EdgeLook`; they never touch the model.
The edges and shapes layers are drawn without blending, so everything painted there is
opaque; translucent things (record-count pills, text) belong to the text layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.widgets.canvas.geometry import HEADER_H, PORT_RADIUS, Point, Rect, sample_cubic, segments_for
from app.widgets.canvas.labels import icon_char
from app.widgets.canvas.meshes import MeshBuilder, rounded_rect
from app.widgets.canvas.palette import Palette, mix, with_alpha
from engine.model.workflow import Edge

CORNER = 8.0
TITLE_SIZE = 15.0
LINE_SIZE = 12.0
COUNT_SIZE = 12.0
ICON_SIZE = 20.0
STATUS_BAND = 12.0
PORT_LABEL_ROOM = 34.0  # room kept free for the names of several output ports
BADGE_SIZE = 10.0        # the database badge on the node's lower edge: where its table lives
BADGE_H = 16.0
BADGE_MAX_W = 120.0


@dataclass(slots=True)
class NodeLook:
    id: str
    type: str
    rect: Rect
    title: str
    type_label: str
    icon: str
    status: str | None
    records: int | None
    error: str | None
    problems: list[str]
    selected: bool
    pinned: bool
    has_input: bool
    outputs: dict[str, Point]
    location: str | None = None      # the connection its table lives in (its name); None: the workspace
    stale: bool = False              # edited (or something above it was) since its last run
    ai: str | None = None            # its operation came from AI: "generated", or "edited" since


@dataclass(slots=True)
class EdgeLook:
    edge: Edge
    ctrl: tuple[Point, Point, Point, Point]
    label: str | None
    active: bool


_NODE_PREFIX = re.compile(r"^(?:[\w ]+ )?node '[^']*'(?: \([^)]*\))*:? ?")


def short_problem(message: str) -> str:
    """A validation message without the "node 'x' (Title) (type):" it starts with: on the
    node itself that part is obvious."""
    return _NODE_PREFIX.sub("", message, count=1) or message


def status_text(look: NodeLook) -> str:
    """The node's second line: what its last run did, else its first problem."""
    if look.status == "failed":
        return look.error or "failed"
    if look.stale and look.status in ("succeeded", "reused", "failed", "skipped"):
        done = f"{look.records} rows" if look.records is not None else look.status
        return f"{done} · out of date"
    if look.status == "succeeded":
        return f"{look.records} rows" if look.records is not None else "done"
    if look.status == "reused":
        return f"{look.records} rows (reused)" if look.records is not None else "reused"
    if look.status == "running":
        return "running…"
    if look.status in ("queued", "skipped", "cancelled"):
        return look.status
    if look.status == "not_run":
        return "not run"
    return short_problem(look.problems[0]) if look.problems else ""


def badge_colour(look: NodeLook, pal: Palette) -> tuple:
    """The run-state colour; grey ("not run") once an edit made the last run's state stale."""
    return pal.status_colour("not_run" if look.stale else look.status)


# --- far --------------------------------------------------------------------------------------
def far_node(b: MeshBuilder, look: NodeLook, pal: Palette) -> None:
    """One quad (selection, failure or a running node recolour it) and a corner marker when
    the node has problems."""
    r = look.rect
    if look.selected:
        colour = pal.selection
    elif look.status in ("failed", "running"):
        colour = pal.status_colour(look.status)
    else:
        colour = pal.type_colour(look.type)
    b.rect(r.x, r.y, r.right, r.bottom, colour)
    if look.problems:
        b.rect(r.right - 40, r.y - 12, r.right + 12, r.y + 40, pal.warning)


def far_edge(b: MeshBuilder, look: EdgeLook, pal: Palette) -> None:
    b.polyline((look.ctrl[0], look.ctrl[3]), pal.edge_active if look.active else pal.edge)


# --- overview ---------------------------------------------------------------------------------
def overview_node(b: MeshBuilder, look: NodeLook, pal: Palette) -> None:
    r = look.rect
    x0, y0, x1, y1 = r.x, r.y, r.right, r.bottom
    band = r.y + HEADER_H
    bottom = y1 - STATUS_BAND if look.status else y1
    b.rect(x0, y0, x1, band, pal.type_shade(look.type))
    b.rect(x0, band, x1, bottom, pal.type_colour(look.type))
    if look.status:
        b.rect(x0, bottom, x1, y1, badge_colour(look, pal))
    outline = pal.selection if look.selected else pal.error if look.status == "failed" else None
    if outline is not None:
        w = 10.0 if look.selected else 7.0
        outer = ((x0 - w, y0 - w), (x1 + w, y0 - w), (x1 + w, y1 + w), (x0 - w, y1 + w))
        b.ring(outer, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)), outline)
    if look.problems:
        b.rect(x1 - 22, y0 - 10, x1 + 10, y0 + 22, pal.warning)


def overview_edge(b: MeshBuilder, look: EdgeLook, pal: Palette) -> None:
    segments = segments_for(look.ctrl, 0.4, 30.0, lo=2, hi=5)
    b.polyline(sample_cubic(look.ctrl, segments), pal.edge_active if look.active else pal.edge)


# --- detail -----------------------------------------------------------------------------------
def detail_node(b: MeshBuilder, look: NodeLook, pal: Palette) -> None:
    r = look.rect
    x0, y0, x1, y1 = r.x, r.y, r.right, r.bottom
    band = y0 + HEADER_H
    outline = rounded_rect(x0, y0, x1, y1, CORNER)
    if look.selected or look.status == "failed":
        w = 5.0 if look.selected else 3.5
        colour = pal.selection if look.selected else pal.error
        b.ring(rounded_rect(x0 - w, y0 - w, x1 + w, y1 + w, CORNER + w), outline, colour)
    else:
        b.ring(rounded_rect(x0 - 1.2, y0 - 1.2, x1 + 1.2, y1 + 1.2, CORNER + 1.2), outline,
               pal.node_outline)
    b.polygon(rounded_rect(x0, y0, x1, band, CORNER, (True, True, False, False)), pal.type_colour(look.type))
    b.polygon(rounded_rect(x0, band, x1, y1, CORNER, (False, False, True, True)), pal.node_body)
    if look.status:
        room = PORT_LABEL_ROOM if len(look.outputs) > 1 else 0  # keep clear of "true" / "false"
        b.disc(x1 - 16 - room, band + 12, 6.5, badge_colour(look, pal), 8)
    if look.problems:
        b.disc(x1 - 2, y0 + 2, 10.0, pal.warning, 8)
    if look.location:
        bx0, by0, bx1, by1 = badge_rect(b.atlas, look)
        b.polygon(rounded_rect(bx0 - 1, by0 - 1, bx1 + 1, by1 + 1, BADGE_H / 2 + 1, steps=3), pal.node_outline)
        b.polygon(rounded_rect(bx0, by0, bx1, by1, BADGE_H / 2, steps=3), pal.pill)
    port_fill, port_ring = pal.node_body, pal.port
    if look.has_input:
        _port(b, (x0, y0 + r.h / 2), port_fill, port_ring)
    for pos in look.outputs.values():
        _port(b, pos, port_fill, port_ring)


def badge_rect(atlas: Any, look: NodeLook) -> tuple[float, float, float, float]:
    """The database badge: a pill straddling the node's lower edge, left-aligned."""
    r = look.rect
    name = atlas.fit(look.location or "", BADGE_SIZE, BADGE_MAX_W)
    x0, y_mid = r.x + 10, r.bottom
    return x0, y_mid - BADGE_H / 2, x0 + 6 + BADGE_SIZE + 3 + atlas.measure(name, BADGE_SIZE) + 7, y_mid + BADGE_H / 2


def _port(b: MeshBuilder, pos: Point, fill: tuple, ring: tuple) -> None:
    b.disc(pos[0], pos[1], PORT_RADIUS + 1.8, ring, 8)
    b.disc(pos[0], pos[1], PORT_RADIUS - 0.6, fill, 8)


def detail_edge(b: MeshBuilder, look: EdgeLook, pal: Palette) -> None:
    segments = segments_for(look.ctrl, 1.0, 20.0, lo=4, hi=16)
    colour = pal.edge_active if look.active else pal.edge
    b.stroke(sample_cubic(look.ctrl, segments), 3.2 if look.active else 2.2, colour)


AI_BADGE = {"generated": "AI", "edited": "AI, edited"}


# --- text -------------------------------------------------------------------------------------
def text_node(b: MeshBuilder, look: NodeLook, pal: Palette) -> None:
    atlas = b.atlas
    r = look.rect
    x0, y0, x1 = r.x, r.y, r.right
    b.icon(look.icon, x0 + 7, y0 + 4, ICON_SIZE, pal.header_text)
    title_x = x0 + 7 + ICON_SIZE + 5
    right = x1 - (26 if look.pinned else 8)
    title = atlas.fit(look.title, TITLE_SIZE, right - title_x)
    b.text(title, title_x, y0 + (HEADER_H - TITLE_SIZE * 1.19) / 2, TITLE_SIZE, pal.header_text)
    if look.pinned:
        b.icon(icon_char("pin"), x1 - 22, y0 + 6, 16, pal.header_text)
    port_room = PORT_LABEL_ROOM if len(look.outputs) > 1 else 0
    body_right = x1 - (30 if look.status else 10) - port_room
    first = look.type_label if look.status != "failed" else "Failed"
    if look.ai and look.status != "failed":
        first = f"{first} · {AI_BADGE[look.ai]}"
    b.text(atlas.fit(first, LINE_SIZE, body_right - x0 - 10), x0 + 10, y0 + HEADER_H + 5, LINE_SIZE,
           pal.error if look.status == "failed" else pal.text_muted)
    second = status_text(look)
    if second:
        colour = pal.text_muted if look.stale else pal.error if look.status == "failed" else pal.warning if (
            look.problems and not look.status) else pal.text
        b.text(atlas.fit(second, LINE_SIZE, body_right - x0 - 10), x0 + 10, y0 + HEADER_H + 22, LINE_SIZE, colour)
    if len(look.outputs) > 1:
        for name, (px, py) in look.outputs.items():
            w = atlas.measure(name, 10.0)
            b.text(name, px - 10 - w, py - 6, 10.0, pal.text_muted)
    if look.location:
        bx0, by0, _, _ = badge_rect(atlas, look)
        b.icon(icon_char("database"), bx0 + 5, by0 + 2.5, BADGE_SIZE + 1, pal.text)
        b.text(atlas.fit(look.location, BADGE_SIZE, BADGE_MAX_W), bx0 + 6 + BADGE_SIZE + 3, by0 + 2, BADGE_SIZE,
               pal.text)


def text_edge(b: MeshBuilder, look: EdgeLook, pal: Palette, size: float = COUNT_SIZE) -> None:
    """The record count in a pill on the edge's middle, ``size`` world units tall."""
    if not look.label:
        return
    mid = sample_cubic(look.ctrl, 2)[1]
    w = b.atlas.measure(look.label, size)
    pad = size / 2
    h = size * 1.25
    x0, y0 = mid[0] - w / 2 - pad, mid[1] - h / 2 - size / 12
    pill = mix(pal.pill, pal.edge_active, 0.12) if look.active else pal.pill
    b.polygon(rounded_rect(x0, y0, x0 + w + 2 * pad, y0 + h + size / 6, h / 2, steps=3), pill)
    b.text(look.label, x0 + pad, y0 + size / 12, size, with_alpha(pal.text, 0.9))


# --- compact (zoomed out, text at a minimum on-screen size) -----------------------------------
def compact_node(b: MeshBuilder, look: NodeLook, pal: Palette, size: float, on_body: bool) -> None:
    """The title alone, ``size`` world units tall (chosen by the scene so it is at least
    :data:`~app.widgets.canvas.scene.TITLE_MIN_PX` on screen), cut with an ellipsis to the
    node's width. ``on_body``: the node is drawn with a light body below its header (the
    ``detail`` shapes), so the title sits in the body in the text colour; else it is white
    across the type-coloured node (``overview``)."""
    r = look.rect
    atlas = b.atlas
    title = atlas.fit(look.title, size, r.w - 12)
    w = atlas.measure(title, size)
    line_h = size * 1.19
    if on_body:
        top, bottom, colour = r.y + HEADER_H, r.bottom, pal.text
    else:
        top, bottom, colour = r.y, r.bottom, pal.header_text
    b.text(title, r.x + (r.w - w) / 2, top + (bottom - top - line_h) / 2, size, colour)
