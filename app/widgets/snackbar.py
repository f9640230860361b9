"""The app's notification: a snackbar that never hides or blocks what a user works with.

A notification says what just happened; it has no action. KivyMD centres a snackbar at the
bottom of the window and takes every touch on it, so "Saved connection …" sat on top of the
connection form's Cancel button for four seconds and swallowed the tap meant for it. Ours
sits at the bottom left of the content (Material's placement on large screens; side panels
and their buttons are on the right) and lets touches through to whatever is under it.
"""

from __future__ import annotations

from typing import Any

from kivy.core.window import Window
from kivy.metrics import dp
from kivymd.uix.snackbar import MDSnackbar, MDSnackbarText

MAX_WIDTH_DP = 520
MARGIN_DP = 24


class AppSnackbar(MDSnackbar):
    """An MDSnackbar is 0 px tall while its ripple Fbo is made, which Mesa rejects
    ("FBO Initialization failed: Incomplete attachment"); its kv height takes over after."""

    def init_fbos(self) -> None:
        self.height = max(self.height, 1)
        super().init_fbos()

    # Informational only: what is under it gets the touch.
    def on_touch_down(self, touch: Any) -> bool:
        return False

    def on_touch_move(self, touch: Any) -> bool:
        return False

    def on_touch_up(self, touch: Any) -> bool:
        return False


def show_notification(text: str, seconds: float, left: float) -> AppSnackbar:
    """Open a snackbar with ``text`` for ``seconds``; ``left`` is where the content starts
    (right of the navigation rail), in window pixels."""
    x = left + dp(MARGIN_DP)
    width = max(dp(200), min(dp(MAX_WIDTH_DP), Window.width * 0.5, Window.width - x - dp(MARGIN_DP)))
    bar = AppSnackbar(MDSnackbarText(text=text), y=dp(MARGIN_DP), x=x, pos_hint={}, size_hint_x=None,
                      width=width, duration=seconds)
    bar.open()
    return bar
