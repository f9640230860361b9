"""The Editor's palette of node types: tap an entry to add that node (right of the selected
node, connected to it), or drag it onto the canvas — onto empty canvas to add it there, onto
an edge to insert it into that edge. Escape (or a second finger) cancels a drag. Once the
entries do not fit the palette's height, a search field filters them as you type.

Each entry is one 48 dp+ target (the whole 88 × 76 dp box). The drag shows a small ghost
label following the finger in the window; dropping outside the canvas adds nothing.
"""

from __future__ import annotations

import math
from typing import Any

from kivy.core.window import Window
from kivy.metrics import dp
from kivy.properties import ListProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label

from app.node_style import palette_types, style_of

SLOP_DP = 10
ENTRY_DP = 76


class PaletteItem(BoxLayout):  # no background of its own: one layer less to paint
    type_name = StringProperty("")
    text = StringProperty("")
    icon = StringProperty("puzzle-outline")
    hint = StringProperty("")
    colour = ListProperty([0.5, 0.5, 0.5, 1])
    screen: Any = None

    def on_touch_down(self, touch: Any) -> bool:
        if not self.collide_point(*touch.pos) or touch.is_mouse_scrolling or self.disabled:
            return False
        touch.grab(self)
        self._origin = touch.pos
        self._ghost: Label | None = None
        return True

    def on_touch_move(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return False
        if self._ghost is None and math.dist(touch.pos, self._origin) >= dp(SLOP_DP) and self.screen is not None:
            self._start_drag()
        if self._ghost is not None:
            x, y = self.to_window(*touch.pos)
            self._ghost.center = (x, y + dp(24))  # above the finger, where it can be seen
        return True

    def on_touch_up(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return False
        touch.ungrab(self)
        ghost, self._ghost = self._ghost, None
        if ghost is not None:
            self._drop_ghost(ghost)
            if self.screen is not None and self.screen.palette_drag is self:
                self.screen.palette_drag = None
                self.screen.drop_node(self.type_name, self.to_window(*touch.pos))
        elif self.collide_point(*touch.pos) and self.screen is not None:
            self.screen.add_node(self.type_name)
        return True

    def _start_drag(self) -> None:
        from kivy.graphics import Color, RoundedRectangle

        ghost = Label(text=self.text, size_hint=(None, None), font_size=dp(13), padding=(dp(12), dp(8)),
                      color=(1, 1, 1, 1))
        ghost.texture_update()
        ghost.size = (ghost.texture_size[0], ghost.texture_size[1])
        with ghost.canvas.before:
            Color(*self.colour[:3], 0.92)
            bg = RoundedRectangle(radius=[dp(8)])
        ghost.bind(pos=lambda w, p: setattr(bg, "pos", p), size=lambda w, s: setattr(bg, "size", s))
        bg.pos, bg.size = ghost.pos, ghost.size
        Window.add_widget(ghost)
        self._ghost = ghost
        self.screen.palette_drag = self

    def cancel_drag(self) -> None:
        """Escape: the ghost goes, the finger's release will add nothing."""
        if self._ghost is not None:
            self._drop_ghost(self._ghost)
            self._ghost = Label()  # still "dragging" until the finger lifts, but it drops nothing
        if self.screen is not None:
            self.screen.palette_drag = None

    @staticmethod
    def _drop_ghost(ghost: Label) -> None:
        if ghost.parent is not None:
            ghost.parent.remove_widget(ghost)


def build_palette(screen: Any, box: Any, types: dict) -> list[PaletteItem]:
    """Fill ``box`` with one entry per node type (after the search field); returns them."""
    items = []
    for type_name in palette_types(list(types)):
        node_type = types[type_name]
        style = style_of(type_name)
        item = PaletteItem(type_name=type_name, text=node_type.label or type_name, icon=style.icon,
                           hint=style.hint, colour=list(style.colour))
        item.screen = screen
        box.add_widget(item)
        items.append(item)
    return items


def matches(item: PaletteItem, text: str) -> bool:
    words = text.lower().split()
    haystack = f"{item.text} {item.type_name} {item.hint}".lower()
    return all(w in haystack for w in words)


def entries_fit(count: int, height: float) -> bool:
    return count * dp(ENTRY_DP) <= height - dp(16)
