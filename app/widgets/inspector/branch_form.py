"""The Branch node's form: one SQL condition over the input table, and where each side goes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kivy.metrics import dp
from kivymd.uix.label import MDLabel

from app.widgets.inspector.ai_section import hide_ai, mount_ai
from app.widgets.inspector.fields import CodeRow
from app.widgets.inspector.form_base import NodeForm

HELP = ("An SQL expression over the input table that gives one value, e.g. count(*) > 0 or "
        "sum(total) > 1000. True unless it is NULL, 0 or empty; only the side taken runs.")


class BranchForm(NodeForm):
    def build(self) -> None:
        self.condition = CodeRow(label="Condition", key="condition", hint="sum(total) > 1000", helper=HELP)
        self.condition.editor_height = dp(96)
        self.condition.bind(on_commit=lambda _w, text: self.change(condition=text.strip() or None))
        self.routes = MDLabel(adaptive_height=True, font_style="Body", role="medium")
        self.add_widget(self.condition)
        self.add_widget(self.routes)

    def load(self, config: Mapping[str, Any]) -> None:
        self.condition.load(config.get("condition") or "")
        self.routes.text = self._routes()
        mount_ai(self)

    def on_hide(self) -> None:
        hide_ai(self)

    def _routes(self) -> str:
        wf = self.document.workflow
        inputs = [wf.node(e.source).label for e in wf.inputs_of(self.node.id) if wf.has_node(e.source)]
        sides = {"true": [], "false": []}
        for edge in wf.outputs_of(self.node.id):
            if edge.source_port in sides and wf.has_node(edge.target):
                sides[edge.source_port].append(wf.node(edge.target).label)
        return "\n".join([f"Input: {', '.join(inputs) or 'none yet'}",
                          f"When true, goes to: {', '.join(sides['true']) or 'not connected'}",
                          f"When false, goes to: {', '.join(sides['false']) or 'not connected'}"])
