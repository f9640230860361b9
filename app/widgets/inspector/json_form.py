"""The form for node types without a form of their own (plugin nodes): the config as JSON.

A commit that is not a JSON object is refused with the parser's message under the editor;
the node keeps its config until the text is valid.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kivy.metrics import dp

from app.widgets.inspector.fields import CodeRow
from app.widgets.inspector.form_base import NodeForm


class JsonConfigForm(NodeForm):
    def build(self) -> None:
        self.editor = CodeRow(label="Settings (JSON)", key="config", editor_height=dp(240),
                              helper="This node type has no form of its own; edit its settings as JSON")
        self.editor.bind(on_commit=lambda _w, text: self._commit(text))
        self.add_widget(self.editor)

    def load(self, config: Mapping[str, Any]) -> None:
        self.editor.load(json.dumps(dict(config), indent=2, sort_keys=True, ensure_ascii=False))

    def _commit(self, text: str) -> None:
        try:
            value = json.loads(text or "{}")
        except ValueError as exc:
            self.editor.error = f"not valid JSON: {exc}"
            return
        if not isinstance(value, dict):
            self.editor.error = "the settings must be a JSON object ({…})"
            return
        self.editor.error = ""
        self.push(value)
