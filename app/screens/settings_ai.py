"""The Settings screen's AI card: the AI connection and model new AI sessions start with.

Both are app preferences (``ai_connection`` and ``ai_model`` in ``app-settings.json``,
:mod:`app.settings_store`), never a secret: the connection is named by its id, and its key
stays in the keychain. The node panel's Ask AI section starts with them when a workflow
names no AI connection of its own; the list offers the AI connections the engine has
(``connections.types`` / ``connections.list``), read each time Settings is shown.
"""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivymd.uix.boxlayout import MDBoxLayout

from app.kvload import load_kv
from app.widgets.inspector import fields  # noqa: F401  (DropdownRow, TextRow in settings_ai.kv)

load_kv(__file__)


class AiDefaultsCard(MDBoxLayout):
    """Laid out in settings_ai.kv: ``ids.connection`` (a DropdownRow), ``ids.model`` (a TextRow)
    and ``ids.note``."""

    @property
    def connection(self) -> Any:
        return self.ids.connection

    @property
    def model(self) -> Any:
        return self.ids.model

    @property
    def note(self) -> Any:
        return self.ids.note

    @property
    def store(self) -> Any:
        return App.get_running_app().settings_store

    def load(self) -> None:
        """Read the preferences and the AI connections (Settings calls this when it is shown)."""
        self.model.load(self.store.get("ai_model") or "")
        self.connection.value = self.store.get("ai_connection")
        bridge = App.get_running_app().bridge
        if bridge is None:
            return
        bridge.call("connections.types", on_error=self._failed,
                    on_result=lambda types: bridge.call("connections.list", on_error=self._failed,
                                                        on_result=lambda conns: self._listed(types, conns)))

    def _listed(self, types: list, conns: list) -> None:
        kinds = {t["type"] for t in types if t.get("dialect") == "ai"}
        self.connection.options = [(c["id"], f"{c.get('name') or c['id']} ({c['type']})") for c in conns
                                   if c.get("type") in kinds]
        chosen = self.store.get("ai_connection")
        if chosen and chosen not in dict(self.connection.options):
            self.note.text = f"The default AI connection '{chosen}' no longer exists: choose another."
        elif not self.connection.options:
            self.note.text = ("No AI connection yet: add an OpenAI-compatible, Anthropic or Gemini one under "
                              "Connections.")
        else:
            self.note.text = "Used when a workflow names no AI connection of its own."

    def _failed(self, message: str) -> None:
        self.note.text = message

    def store_value(self, key: str, value: Any) -> None:
        if self.store.get(key) != value:
            self.store.set(key, value)
