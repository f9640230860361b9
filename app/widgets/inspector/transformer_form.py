"""The Transformer node's form: SQL (new table or in place, stored locally or in the
database) or Python code with the input's columns as suggestions under it, and "Try on
sample" — the node's code run by the engine on a copy of the first rows of its input
(``nodes.try``; an input that never ran is computed on a sample), which never changes real
data. The panel says how the input was obtained."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kivy.metrics import dp
from kivymd.uix.button import MDButton, MDButtonIcon, MDButtonText
from kivymd.uix.label import MDLabel

from app.widgets.inspector.ai_section import hide_ai, mount_ai
from app.widgets.inspector.fields import CodeRow, SamplePreview, SegmentRow
from app.widgets.inspector.form_base import NodeForm
from app.widgets.inspector.input_columns import ColumnChips, InputColumns
from engine.model import fileformat

LANGUAGES = [("sql", "SQL"), ("python", "Python")]
MODES = [("new_table", "New table"), ("in_place", "In place")]
STORAGES = [("local", "Workspace"), ("database", "Database")]
SQL_TEMPLATE = "SELECT *\nFROM {{ input }}"
PYTHON_TEMPLATE = "def transform(rows):\n    for row in rows:\n        yield row\n"
PYTHON_KEYS = ("code", "limits")
SQL_KEYS = ("sql", "mode", "storage")
TRY_TIMEOUT_S = 150


def try_on_sample(form: NodeForm, preview: SamplePreview, limit: int = 5) -> None:
    """Ask the engine to run the form's node on a sample of its inputs; show the result."""
    node, bridge = form.node, form.panel.bridge
    if node is None:
        return
    if bridge is None:
        preview.fail("Not connected to the engine")
        return
    preview.start("Running on a sample of the input…")
    payload = {"id": node.id, "type": node.type, "title": node.title, "config": dict(node.config)}
    wf = form.document.workflow
    # The editor's workflow goes along: an input that never ran is computed from it on a sample.
    bridge.call("nodes.try", on_result=lambda reply: preview.show(reply, "{:,} rows from the sample"),
                on_error=preview.fail, timeout=TRY_TIMEOUT_S, workflow_id=wf.id, node=payload,
                inputs=form.input_ids(), limit=limit, workflow=fileformat.to_dict(wf))


def references_help(form: NodeForm) -> str:
    wf = form.document.workflow
    inputs = [e.source for e in wf.inputs_of(form.node.id)]
    if not inputs:
        return "No input yet: connect an upstream node."
    if len(inputs) == 1:
        return f"{{{{ input }}}} is {wf.node(inputs[0]).label if wf.has_node(inputs[0]) else inputs[0]}"
    return "Inputs: " + ", ".join(f"{{{{ input.{i} }}}} = {node_id}" for i, node_id in enumerate(inputs, 1))


class TransformerForm(NodeForm):
    def build(self) -> None:
        self.language = SegmentRow(label="Language", key="language", options=LANGUAGES)
        self.language.bind(on_choice=lambda _w, value: self._switch_language(value))
        self.mode = SegmentRow(label="Result", key="mode", options=MODES,
                               helper="In place changes the input table itself (UPDATE, DELETE, ALTER)")
        self.mode.bind(on_choice=lambda _w, value: self.change(mode=value))
        self.storage = SegmentRow(label="Store the result in", key="storage", options=STORAGES,
                                  helper="Database keeps it in the input's database (inputs from a connection)")
        self.storage.bind(on_choice=lambda _w, value: self.change(storage=value))
        self.code = CodeRow(label="SQL", key="sql", editor_height=dp(200))
        self.code.bind(on_commit=lambda _w, text: self.change(**{self.code.key: text if text.strip() else None}))
        self.columns = InputColumns(self)
        self.chips = ColumnChips(self.columns, self.code)
        self.refs = MDLabel(adaptive_height=True, font_style="Body", role="small", theme_text_color="Custom")
        self.try_button = MDButton(MDButtonIcon(icon="flask-outline"), MDButtonText(text="Try on sample"),
                                   style="tonal")
        self.try_button.bind(on_release=lambda *_: self.try_sample())
        self.preview = SamplePreview()
        self._shown: str | None = None

    def _arrange(self, python: bool) -> None:
        """The fields that apply to the language, in order (rebuilt only when it changes)."""
        if self._shown == ("python" if python else "sql"):
            return
        self._shown = "python" if python else "sql"
        self.clear_widgets()
        options = () if python else (self.mode, self.storage)
        for widget in (self.language, *options, self.code, self.chips, self.refs, self.try_button, self.preview):
            self.add_widget(widget)

    def load(self, config: Mapping[str, Any]) -> None:
        language = config.get("language", "sql")
        python = language == "python"
        self.language.value = language
        self._arrange(python)
        self.mode.value = config.get("mode", "new_table")
        self.storage.value = config.get("storage", "local")
        self.code.key, self.code.label = ("code", "Python: transform(rows)") if python else ("sql", "SQL")
        self.code.load(config.get(self.code.key) or "")
        self.refs.text = references_help(self)
        self.refs.text_color = self.theme_cls.onSurfaceVariantColor
        self.columns.refresh()
        mount_ai(self)

    def _switch_language(self, language: str) -> None:
        config = self.config
        drop = SQL_KEYS if language == "python" else PYTHON_KEYS
        for key in drop:
            config.pop(key, None)
        config["language"] = language
        if language == "python":
            config["code"] = PYTHON_TEMPLATE
        else:
            config.update(sql=SQL_TEMPLATE, mode="new_table")
        self.push(config)

    def try_sample(self) -> None:
        self.code.commit()          # a click on Try may come before the editor lost focus
        try_on_sample(self, self.preview)

    def on_hide(self) -> None:
        self.preview.reset()
        hide_ai(self)
