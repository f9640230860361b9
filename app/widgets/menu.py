"""The app's dropdown menu: an MDDropdownMenu that takes no touch once dismissed (see
:mod:`app.widgets.closing`), so choosing one filter and tapping the next right away works."""

from __future__ import annotations

from kivymd.uix.menu import MDDropdownMenu

from app.widgets.closing import LetsGoWhenClosing


class AppMenu(LetsGoWhenClosing, MDDropdownMenu):
    """Use instead of MDDropdownMenu everywhere in the app."""

    closing = False  # dismissed (shrinking away)

    def open(self) -> None:
        self.closing = False
        super().open()

    def on_dismiss(self) -> None:
        self.closing = True
        super().on_dismiss()
