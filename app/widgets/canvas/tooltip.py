"""Hover help for the canvas: with a mouse resting on a failed node or one with problems,
a small label says why (the error, or every validation problem). Touch users get the same
text from the context menu ("Show error", "Show problems")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.clock import Clock
from kivy.core.window import Window
from kivy.graphics import Color, RoundedRectangle
from kivy.metrics import dp
from kivy.uix.label import Label

if TYPE_CHECKING:
    from app.widgets.canvas.graph_canvas import GraphCanvas

HOVER_DELAY_S = 0.45
MAX_WIDTH_DP = 340


class HoverTooltip:
    def __init__(self, canvas: GraphCanvas) -> None:
        self.canvas = canvas
        self.label: Label | None = None
        self._pending: Any = None
        self._node: str | None = None
        canvas.bind(parent=self._parent_changed)

    def _parent_changed(self, _canvas: Any, parent: Any) -> None:
        Window.unbind(mouse_pos=self._mouse_moved)
        if parent is not None:
            Window.bind(mouse_pos=self._mouse_moved)

    def text_for(self, node_id: str) -> str:
        canvas = self.canvas
        state = canvas.document.node_states.get(node_id) if canvas.document else None
        lines = []
        if state is not None and state.status == "failed":
            lines.append(f"Failed: {state.error or 'see the run log'}")
        lines += [f"• {p}" for p in canvas.problems.get(node_id, [])]
        return "\n".join(lines)

    def _mouse_moved(self, _window: Any, pos: Any) -> None:
        canvas = self.canvas
        if canvas.document is None or canvas.get_root_window() is None or canvas._touches:
            self.hide()
            return
        local = canvas.to_widget(*pos)
        node = canvas.node_at(local) if canvas.collide_point(*local) else None
        if node == self._node:
            return
        self.hide()
        self._node = node
        if node is not None and self.text_for(node):
            self._pending = Clock.schedule_once(lambda _dt: self.show(node, local), HOVER_DELAY_S)

    def show(self, node_id: str, pos: tuple[float, float]) -> None:
        text = self.text_for(node_id)
        if not text:
            return
        self.hide()
        pal = self.canvas.scene.palette
        label = Label(text=text, size_hint=(None, None), color=pal.text, font_size=dp(13),
                      halign="left", valign="top", padding=(dp(10), dp(6)))
        label.texture_update()
        if label.texture_size[0] > dp(MAX_WIDTH_DP):  # long text wraps at the maximum width
            label.text_size = (dp(MAX_WIDTH_DP), None)
            label.texture_update()
        label.size = label.texture_size
        with label.canvas.before:
            Color(*pal.pill)
            bg = RoundedRectangle(radius=[dp(8)])
        label.bind(pos=lambda w, p: setattr(bg, "pos", p), size=lambda w, s: setattr(bg, "size", s))
        canvas = self.canvas
        x = min(pos[0] + dp(12), canvas.right - label.width - dp(4))
        y = max(pos[1] - dp(12) - label.height, canvas.y + dp(4))
        label.pos = (max(canvas.x, x), y)
        bg.pos, bg.size = label.pos, label.size
        canvas.add_widget(label)
        self.label = label
        self._node = node_id

    def hide(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self.label is not None and self.label.parent is not None:
            self.label.parent.remove_widget(self.label)
        self.label = None
        self._node = None
