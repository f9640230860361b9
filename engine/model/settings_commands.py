"""Undoable edits of a workflow's settings (``Workflow.settings``), such as whether its
trigger is switched on (``trigger_enabled``). One command per change, for the editor's
undo stack; the model has no event for settings, so listeners learn of it from the stack."""

from __future__ import annotations

from typing import Any

from engine.model.undo import Command
from engine.model.workflow import Workflow

_MISSING = object()


class SetWorkflowSettingCommand(Command):
    """Set ``settings[key] = value`` (``None`` removes the key); undo puts the old one back."""

    def __init__(self, workflow: Workflow, key: str, value: Any, text: str | None = None) -> None:
        self.workflow, self.key, self.value = workflow, key, value
        self.text = text or f"Change workflow setting '{key}'"
        self._old: Any = _MISSING

    def redo(self) -> None:
        settings = self.workflow.settings
        self._old = settings.get(self.key, _MISSING)
        if self.value is None:
            settings.pop(self.key, None)
        else:
            settings[self.key] = self.value

    def undo(self) -> None:
        if self._old is _MISSING:
            self.workflow.settings.pop(self.key, None)
        else:
            self.workflow.settings[self.key] = self._old
