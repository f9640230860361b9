"""The dialogs of the Workflows screen: a name (new / rename), delete confirmation, import.

Each dialog only collects input and shows what the engine answered: its confirm button
hands the input to ``action`` (the screen makes the engine call) and stays disabled
while that call is pending; an error is shown inside the dialog, which stays open with
the user's input, so nothing typed is lost.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.properties import BooleanProperty, ObjectProperty, StringProperty
from kivymd.uix.dialog import MDDialogIcon
from kivymd.uix.filemanager import MDFileManager

from app.kvload import load_kv
from app.widgets.dialog import AppDialog

# The engine's refusal to import over a saved workflow (engine/service/store.py import_file).
_DUPLICATE_RE = re.compile(r"a workflow '([a-z][a-z0-9_]*)' already exists")


class _WorkflowDialog(AppDialog):
    headline = StringProperty("")
    message = StringProperty("")
    error_text = StringProperty("")
    busy = BooleanProperty(False)      # an engine call is pending: the confirm button waits
    action = ObjectProperty(None)

    def show_error(self, message: str) -> None:
        self.busy = False
        self.error_text = message


class WorkflowNameDialog(_WorkflowDialog):
    """Asks for a workflow name; ``action(dialog, name)``. With ``id_preview(name) -> id``
    it shows the id the name will get."""

    confirm_text = StringProperty("OK")
    id_preview = ObjectProperty(None, allownone=True)
    hint_text = StringProperty("")

    def __init__(self, text: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        field = self.ids.field
        field.text = text
        field.bind(text=self._typed)
        self._typed(field, text)

    def on_open(self, *args: Any) -> None:
        Clock.schedule_once(lambda _dt: setattr(self.ids.field, "focus", True), 0.1)

    def _typed(self, _field: Any, text: str) -> None:
        self.error_text = ""
        if self.id_preview is not None:
            self.hint_text = f"Id: {self.id_preview(text)}" if text.strip() else "The id is made from the name."

    def confirm(self) -> None:
        if not self.busy:
            self.action(self, self.ids.field.text)


class ConfirmDeleteDialog(_WorkflowDialog):
    """Says what is deleted; ``action(dialog)``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # added here, not in kv: kv adds a child before its own rule sizes it, and the icon
        # slot keeps the 100 px default height it saw then
        self.add_widget(MDDialogIcon(icon="delete-outline"))

    def confirm(self) -> None:
        if not self.busy:
            self.action(self)


class ImportWorkflowDialog(_WorkflowDialog):
    """A path field (typed, or chosen with Browse). The first confirm asks
    ``review(dialog, path)`` for what the file will do (shown in the dialog: its code, SQL,
    writes, trigger — which starts off — and any problems); the next one imports it:
    ``action(dialog, path, as_copy)`` (a file with problems as a draft). When the engine
    says the file's workflow id is taken, "Import as a copy" appears."""

    duplicate_id = StringProperty("")
    review = ObjectProperty(None, allownone=True)
    review_text = StringProperty("")      # what the reviewed file runs and writes
    reviewed_path = StringProperty("")    # the path the review is about ("" = not reviewed yet)
    has_problems = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # ``ids`` hold weak proxies: keep the button itself, or it is collected once it is
        # out of the tree (and "Import as a copy" failed with a ReferenceError).
        self._copy_button = self.ids.copy_button.__ref__()
        self.ids.buttons.remove_widget(self._copy_button)
        self.ids.field.bind(text=lambda *_: self._reset())
        self._manager: MDFileManager | None = None

    def _reset(self) -> None:
        self.error_text = ""
        self.duplicate_id = ""
        self.review_text = self.reviewed_path = ""
        self.has_problems = False

    def show_review(self, path: str, reply: dict[str, Any]) -> None:
        """The engine's ``workflows.review`` answer for ``path``: shown; the next confirm imports."""
        problems = list(reply.get("problems") or [])
        # The app's font has no "⚠" (the CLI's warning mark): say it in words.
        lines = [f"“{reply.get('name')}” ({reply.get('id')}):",
                 *(line.replace("⚠", "Warning:") for line in reply.get("review", []))]
        if problems:
            lines += ["", f"{len(problems)} problem(s) — it can only be kept as a draft that does not run:",
                      *[f"• {p}" for p in problems]]
        self.busy = False
        self.review_text = "\n".join(lines)
        self.has_problems = bool(problems)
        self.reviewed_path = path

    def on_duplicate_id(self, _dialog: Any, value: str) -> None:
        buttons = self.ids.buttons
        if value and self._copy_button.parent is None:
            buttons.add_widget(self._copy_button, index=1)
        elif not value and self._copy_button.parent is not None:
            buttons.remove_widget(self._copy_button)

    def show_error(self, message: str) -> None:
        super().show_error(message)
        found = _DUPLICATE_RE.search(message)
        self.duplicate_id = found.group(1) if found else ""

    def confirm(self, as_copy: bool = False) -> None:
        if self.busy:
            return
        path = os.path.expanduser(self.ids.field.text)
        if path.strip() and path != self.reviewed_path and self.review is not None:
            self.review(self, path)   # first see what it does
            return
        self.action(self, path, as_copy)

    # --- choosing a file ---------------------------------------------------------------
    def browse(self) -> None:
        typed = Path(os.path.expanduser(self.ids.field.text.strip() or "~"))
        start = typed if typed.is_dir() else typed.parent
        if not start.is_dir():
            start = Path.home()
        self._manager = MDFileManager(exit_manager=self._close_manager, select_path=self._chosen,
                                      selector="file", ext=[".json"])
        self._manager.show(str(start))

    def _chosen(self, path: str | list) -> None:
        if isinstance(path, str):
            self.ids.field.text = path
        self._close_manager()

    def _close_manager(self, *_args: Any) -> None:
        manager: Callable[[], None] | None = getattr(self._manager, "close", None)
        self._manager = None
        if manager is not None:
            manager()


load_kv(__file__)
