"""Overlays that let go of the screen the moment they are dismissed.

KivyMD keeps a dismissed dialog or menu in the window while it animates away, and a modal
overlay takes every touch while it is there: a tap made during the animation — on a row
button right after "Cancel", on the next filter right after choosing one — was swallowed
without effect. An overlay with :class:`LetsGoWhenClosing` takes no touch once ``closing``
is true, so what is under it gets the tap, as the screen's state already says.
"""

from __future__ import annotations

from typing import Any


class LetsGoWhenClosing:
    """Mixin (before the Kivy class): the subclass defines ``closing``."""

    closing: bool

    def on_touch_down(self, touch: Any) -> bool:
        return False if self.closing else super().on_touch_down(touch)  # type: ignore[misc]

    def on_touch_move(self, touch: Any) -> bool:
        return False if self.closing else super().on_touch_move(touch)  # type: ignore[misc]

    def on_touch_up(self, touch: Any) -> bool:
        return False if self.closing else super().on_touch_up(touch)  # type: ignore[misc]
