"""Gestures on the canvas, one small object each: start, move, end, cancel.

The canvas hands each grabbed touch to the interaction that owns it (Kivy grab
discipline: the canvas grabs on touch down and only answers moves and ups whose
``grab_current`` is itself). A new touch starts a :class:`PressInteraction`, which
decides what the touch becomes once it moves past the slop distance or is held:

* from an output port → :class:`DrawEdgeInteraction` (valid targets highlight; a drop
  on an invalid one explains why, through the canvas's ``on_message``); from a connected
  input port → the same, re-routing that edge (dropping it on empty canvas removes it);
* from a node → :class:`DragNodesInteraction` (one undo step per drag: the stack merges
  the per-frame :class:`MoveNodesCommand` pushes and the merge closes on release);
* from empty canvas → :class:`PanInteraction`, or :class:`BoxSelectInteraction` with
  Shift held or after a long press;
* released without moving → a tap (select / open), or after a long press the context menu.

A second finger cancels the first finger's gesture and both become a
:class:`PinchInteraction`: zoom about the fingers' centre and pan with it. Every edit goes
through the document's command stack; interactions hold only gesture state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kivy.clock import Clock
from kivy.core.window import Window
from kivy.metrics import dp

from app.widgets.canvas.geometry import Point, Rect, edge_controls, input_port, sample_cubic, snap
from app.widgets.canvas.meshes import MeshBuilder, circle, rounded_rect
from app.widgets.canvas.palette import with_alpha
from engine.errors import ModelError
from engine.model.commands import ConnectCommand, DisconnectCommand, MacroCommand, MoveNodesCommand
from engine.model.edge_rules import EdgeRules
from engine.model.workflow import Edge

if TYPE_CHECKING:
    from app.widgets.canvas.graph_canvas import GraphCanvas

LONG_PRESS_S = 0.5
HIGHLIGHT_LIMIT = 600  # valid-target highlights are computed for at most this many visible nodes


def touch_slop(touch: Any) -> float:
    return dp(4) if "button" in getattr(touch, "profile", ()) else dp(10)


@dataclass(frozen=True)
class Hit:
    """What is under a point: ``kind`` is "port", "node", "edge" or "empty"."""

    kind: str
    node: str | None = None
    side: str | None = None
    port: str | None = None
    edge: Edge | None = None


def shift_held() -> bool:
    return "shift" in Window.modifiers


def toggle_held() -> bool:
    return bool({"ctrl", "meta", "shift"} & set(Window.modifiers))


class Interaction:
    def __init__(self, canvas: GraphCanvas) -> None:
        self.canvas = canvas

    def start(self, touch: Any) -> None: ...

    def move(self, touch: Any) -> None: ...

    def end(self, touch: Any) -> None: ...

    def cancel(self) -> None: ...


class PressInteraction(Interaction):
    """A touch that has not decided yet: tap, long press, or the start of a drag."""

    def __init__(self, canvas: GraphCanvas, hit: Hit) -> None:
        super().__init__(canvas)
        self.hit = hit
        self.long = False
        self._timer = None
        self.origin: Point = (0.0, 0.0)

    def start(self, touch: Any) -> None:
        self.origin = touch.pos
        self._timer = Clock.schedule_once(self._held_long_enough, LONG_PRESS_S)

    def _held_long_enough(self, _dt: float) -> None:
        # The clock runs before the frame's input: on a slow frame (a loaded machine) the
        # finger may already have moved or lifted in the events about to be dispatched. Decide
        # after them — a move or lift on the way cancels this like it cancels the timer.
        self._timer = Clock.schedule_once(self._long_pressed, 0)

    def _long_pressed(self, _dt: float) -> None:
        self._timer = None
        self.long = True
        b = MeshBuilder(self.canvas.scene.atlas)
        x, y = self.canvas.to_world(self.origin)
        r = dp(26) / self.canvas.scene.view.s
        colour = self.canvas.scene.palette.selection
        b.ring(circle(x, y, r, 24), circle(x, y, r * 0.84, 24), colour)
        b.disc(x, y, r * 0.84, with_alpha(colour, 0.15), 24)
        self.canvas.scene.set_overlay([b])

    def move(self, touch: Any) -> None:
        if math.dist(touch.pos, self.origin) < touch_slop(touch):
            return
        self._stop_timer()
        self.canvas.scene.set_overlay()
        nxt = self._promote()
        self.canvas.replace_interaction(touch, nxt, self.origin)

    def _promote(self) -> Interaction:
        canvas, hit = self.canvas, self.hit
        if self.long:
            return BoxSelectInteraction(canvas, additive=toggle_held())
        if hit.kind == "port" and hit.side == "out":
            return DrawEdgeInteraction(canvas, hit.node, hit.port)
        if hit.kind == "port" and hit.side == "in":
            inputs = canvas.document.workflow.inputs_of(hit.node)
            if inputs:
                last = inputs[-1]
                return DrawEdgeInteraction(canvas, last.source, last.source_port, rerouting=last)
        if hit.kind in ("port", "node"):
            return DragNodesInteraction(canvas, hit.node)
        if shift_held():
            return BoxSelectInteraction(canvas, additive=True)
        return PanInteraction(canvas)

    def end(self, touch: Any) -> None:
        self._stop_timer()
        self.canvas.scene.set_overlay()
        if self.long:
            self.canvas.open_context_menu(self.hit, self.origin)
        else:
            self.canvas.tapped(self.hit, touch)

    def cancel(self) -> None:
        self._stop_timer()
        self.canvas.scene.set_overlay()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class PanInteraction(Interaction):
    def start(self, touch: Any) -> None:
        self.last = touch.pos

    def move(self, touch: Any) -> None:
        dx, dy = touch.x - self.last[0], touch.y - self.last[1]
        self.last = touch.pos
        self.canvas.pan_by(dx, dy)


class PinchInteraction(Interaction):
    """Two fingers: the world point under their centre stays under it while the distance
    between them sets the zoom."""

    def __init__(self, canvas: GraphCanvas, a: Any, b: Any) -> None:
        super().__init__(canvas)
        self.points = {a.uid: a.pos, b.uid: b.pos}
        centre = self._centre()
        self.world = canvas.to_world(centre)
        self.s0 = canvas.scene.view.s
        self.d0 = max(self._distance(), dp(1))

    def _centre(self) -> Point:
        (ax, ay), (bx, by) = self.points.values()
        return ((ax + bx) / 2, (ay + by) / 2)

    def _distance(self) -> float:
        return math.dist(*self.points.values())

    def move(self, touch: Any) -> None:
        if touch.uid not in self.points or len(self.points) < 2:
            return  # a finger lifted: the other one does nothing until it lifts too
        self.points[touch.uid] = touch.pos
        s = self.s0 * self._distance() / self.d0
        self.canvas.show_world_point_at(self.world, self._centre(), s)

    def end(self, touch: Any) -> None:
        self.points.pop(touch.uid, None)


class DragNodesInteraction(Interaction):
    def __init__(self, canvas: GraphCanvas, node_id: str) -> None:
        super().__init__(canvas)
        self.node_id = node_id
        self.pushed_at: int | None = None
        self.last: dict[str, Point] | None = None

    def start(self, touch: Any) -> None:
        canvas = self.canvas
        if self.node_id not in canvas.selected:
            canvas.select((canvas.selected | {self.node_id}) if toggle_held() else {self.node_id})
        wf = canvas.document.workflow
        canvas.document.stack.end_merge()  # a new drag is a new undo step, even of the same nodes
        self.ids = [n for n in canvas.selected if wf.has_node(n)] or [self.node_id]
        self.start_positions = {n: wf.node(n).position for n in self.ids}
        self.origin = canvas.to_world(touch.pos)

    def move(self, touch: Any) -> None:
        canvas = self.canvas
        x, y = canvas.to_world(touch.pos)
        ax, ay = self.start_positions[self.node_id]
        nx, ny = ax + x - self.origin[0], ay + y - self.origin[1]
        if canvas.snap_to_grid:
            nx, ny = snap(nx, canvas.grid), snap(ny, canvas.grid)
        dx, dy = nx - ax, ny - ay
        positions = {n: (px + dx, py + dy) for n, (px, py) in self.start_positions.items()}
        if positions == self.last:
            return
        doc = canvas.document
        doc.push(MoveNodesCommand(doc.workflow, positions, old_positions=self.start_positions))
        self.last = positions
        if self.pushed_at is None:
            self.pushed_at = doc.stack.index

    def end(self, touch: Any) -> None:
        self.canvas.document.stack.end_merge()

    def cancel(self) -> None:
        doc = self.canvas.document
        doc.stack.end_merge()
        if self.pushed_at is not None and doc.stack.index == self.pushed_at:
            doc.undo()  # the drag's one merged step: as if it never happened


class BoxSelectInteraction(Interaction):
    def __init__(self, canvas: GraphCanvas, additive: bool = False) -> None:
        super().__init__(canvas)
        self.base = set(canvas.selected) if additive else set()

    def start(self, touch: Any) -> None:
        self.origin = self.canvas.to_world(touch.pos)

    def _rect(self, touch: Any) -> Rect:
        return Rect.from_points(self.origin, self.canvas.to_world(touch.pos))

    def move(self, touch: Any) -> None:
        r = self._rect(touch)
        scene = self.canvas.scene
        w = dp(1.5) / scene.view.s
        colour = scene.palette.selection
        b = MeshBuilder(scene.atlas)
        b.rect(r.x, r.y, r.right, r.bottom, with_alpha(colour, 0.10))
        b.ring(((r.x - w, r.y - w), (r.right + w, r.y - w), (r.right + w, r.bottom + w), (r.x - w, r.bottom + w)),
               ((r.x, r.y), (r.right, r.y), (r.right, r.bottom), (r.x, r.bottom)), colour)
        scene.set_overlay([b])

    def end(self, touch: Any) -> None:
        self.canvas.scene.set_overlay()
        hits = self.canvas.scene.nodes.query(self._rect(touch))
        self.canvas.select(self.base | hits)

    def cancel(self) -> None:
        self.canvas.scene.set_overlay()


class DrawEdgeInteraction(Interaction):
    """Drag a new edge out of ``source``'s ``port`` (or move ``rerouting`` to a new target)."""

    def __init__(self, canvas: GraphCanvas, source: str, port: str, rerouting: Edge | None = None) -> None:
        super().__init__(canvas)
        self.source, self.port, self.rerouting = source, port, rerouting
        doc = canvas.document
        self.rules = EdgeRules(doc.workflow, doc.types, source, port)
        self.valid: set[str] = set()

    def start(self, touch: Any) -> None:
        scene = self.canvas.scene
        visible = scene.nodes.query(scene.visible_rect())
        if len(visible) <= HIGHLIGHT_LIMIT:
            self.valid = {n for n in visible if scene.has_input(n) and self.rules.refusal(n) is None}
        self.move(touch)

    def target_at(self, touch: Any) -> str | None:
        canvas = self.canvas
        x, y = canvas.to_world(touch.pos)
        port = canvas.scene.port_at(x, y, canvas.hit_radius())
        if port is not None and port[1] == "in":
            return port[0]
        node = canvas.scene.node_at(x, y)
        return node if node != self.source else None

    def move(self, touch: Any) -> None:
        scene = self.canvas.scene
        s = scene.view.s
        pal = scene.palette
        target = self.target_at(touch)
        start = scene.port_position(self.source, self.port)
        end = input_port(scene.nodes.rect_of(target)) if target else self.canvas.to_world(touch.pos)
        b = MeshBuilder(scene.atlas)
        for node_id in self.valid:
            r = scene.nodes.rect_of(node_id).inflate(dp(3) / s)
            b.ring(rounded_rect(r.x, r.y, r.right, r.bottom, 10), rounded_rect(
                r.x + dp(2) / s, r.y + dp(2) / s, r.right - dp(2) / s, r.bottom - dp(2) / s, 8), pal.valid_target)
        ok = target is None or target in self.valid or self.rules.refusal(target) is None
        colour = pal.edge_active if ok else pal.invalid_target
        if target is not None:
            r = scene.nodes.rect_of(target).inflate(dp(5) / s)
            b.ring(rounded_rect(r.x, r.y, r.right, r.bottom, 12), rounded_rect(
                r.x + dp(4) / s, r.y + dp(4) / s, r.right - dp(4) / s, r.bottom - dp(4) / s, 9), colour)
        b.stroke(sample_cubic(edge_controls(start, end), 24), dp(3) / s, colour)
        b.disc(end[0], end[1], dp(6) / s, colour)
        scene.set_overlay([b])

    def end(self, touch: Any) -> None:
        self.canvas.scene.set_overlay()
        target = self.target_at(touch)
        doc, old = self.canvas.document, self.rerouting
        if target is None:
            if old is not None:
                doc.push(DisconnectCommand(doc.workflow, old))
            else:  # dropped on empty canvas: offer to add a node there, connected
                self.canvas.offer_nodes_for_wire(self.source, self.port, self.canvas.to_world(touch.pos), touch.pos)
            return
        if old is not None and old.target == target:
            return  # dropped back where it was
        reason = self.rules.refusal(target)
        if reason is not None:
            self.canvas.dispatch("on_message", reason)
            return
        new = Edge(self.source, target, self.port, "in")
        command = ConnectCommand(doc.workflow, new, types=doc.types)
        if old is not None:
            command = MacroCommand(f"Reconnect {old} to '{target}'", [DisconnectCommand(doc.workflow, old), command])
        try:
            doc.push(command)
        except ModelError as exc:
            self.canvas.dispatch("on_message", str(exc))

    def cancel(self) -> None:
        self.canvas.scene.set_overlay()
