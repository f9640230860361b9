"""The app's dialog: an MDDialog that takes no touch once dismissed (see
:mod:`app.widgets.closing`), so a tap during its fade-out reaches the screen."""

from __future__ import annotations

from kivymd.uix.dialog import MDDialog

from app.widgets.closing import LetsGoWhenClosing


class AppDialog(LetsGoWhenClosing, MDDialog):
    """Use instead of MDDialog everywhere in the app."""

    @property
    def closing(self) -> bool:
        """Dismissed and fading out (or never opened)."""
        return not self._is_open
