"""The app's dropdown menu: an MDDropdownMenu that lets go of the screen once dismissed.

KivyMD keeps a dismissed menu in the window while it shrinks away and takes every touch
while it is there (a touch outside it only dismisses it again). Choosing a filter and then
tapping the next filter button straight away did nothing: the tap went to the closing
menu. Here a closing menu takes no more touches, so what is under it gets them.
"""

from __future__ import annotations

from typing import Any

from kivymd.uix.menu import MDDropdownMenu


class AppMenu(MDDropdownMenu):
    """Use instead of MDDropdownMenu everywhere in the app."""

    closing = False  # dismissed (shrinking away): touches pass through

    def open(self) -> None:
        self.closing = False
        super().open()

    def on_dismiss(self) -> None:
        self.closing = True
        super().on_dismiss()

    def on_touch_down(self, touch: Any) -> bool:
        if self.closing:
            return False
        return super().on_touch_down(touch)

    def on_touch_move(self, touch: Any) -> bool:
        if self.closing:
            return False
        return super().on_touch_move(touch)

    def on_touch_up(self, touch: Any) -> bool:
        if self.closing:
            return False
        return super().on_touch_up(touch)
