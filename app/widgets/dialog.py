"""The app's dialog: an MDDialog that lets go of the screen the moment it is dismissed.

KivyMD keeps a dismissed dialog (and its scrim) in the window while it fades out, and a
modal dialog takes every touch while it is there. A tap made during the fade — on a row
button right after "Cancel", say — was swallowed without effect: the user had to tap
again, and a test that tapped as soon as the screen said "no dialog" waited forever for
one. Here a closing dialog takes no more touches, so what is under it gets them, as the
screen's state (no dialog open) already says.
"""

from __future__ import annotations

from typing import Any

from kivymd.uix.dialog import MDDialog


class AppDialog(MDDialog):
    """Use instead of MDDialog everywhere in the app."""

    @property
    def closing(self) -> bool:
        """Dismissed and fading out (or never opened): touches pass through."""
        return not self._is_open

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
