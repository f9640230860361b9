"""The app's dialog: an MDDialog that takes no touch once dismissed (see
:mod:`app.widgets.closing`), so a tap during its fade-out reaches the screen, and that is
freed once it has faded out (see :mod:`app.widgets.release`)."""

from __future__ import annotations

from kivymd.uix.dialog import MDDialog

from app.widgets.closing import LetsGoWhenClosing
from app.widgets.release import ReleasedWhenGone


class AppDialog(LetsGoWhenClosing, ReleasedWhenGone, MDDialog):
    """Use instead of MDDialog everywhere in the app; once dismissed and faded out it is
    released (:mod:`app.widgets.release`): open a new one to ask again."""

    @property
    def closing(self) -> bool:
        """Dismissed and fading out (or never opened)."""
        return not self._is_open
