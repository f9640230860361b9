"""The Output form's **AI analysis** format (:mod:`engine.ai.analysis`): the prompt, the AI
connection and model, the answer's length, and what the model is shown of the table (the
context budget: schema and row count always; per-column aggregates and sample rows only
while the workflow is not *schema only*, up to about 4,000 tokens)."""

from __future__ import annotations

from typing import Any

from app.widgets.inspector.fields import DropdownRow, TextRow

FORMAT = "ai_analysis"
BUDGET_TEXT = ("Context budget: the table's columns and row count, then — unless the workflow is schema only — "
               "per-column counts, distinct values, min/max/mean and up to 20 sample rows, about 4,000 tokens "
               "in all (sensitive columns never). The answer is written as Markdown to the file above.")


def build_ai_fields(form: Any) -> None:
    """Add the AI analysis fields to ``form.details`` (an :class:`OutputForm`)."""
    prompt = TextRow(label="Question for the AI", key="prompt", multiline=True,
                     hint="e.g. Which countries grew most, and what stands out?")
    prompt.bind(on_commit=lambda _w, text: form.change(prompt=text.strip() or None))
    connection = DropdownRow(label="AI connection", key="ai_connection", placeholder="Choose an AI connection")
    connection.bind(on_choice=lambda _w, value: form.change(ai_connection=value or None),
                    on_open=lambda *_: load_ai_connections(form, connection))
    model = TextRow(hint="Model (default: the connection's)", key="model")
    model.bind(on_commit=lambda _w, text: form.change(model=text.strip() or None))
    tokens = TextRow(hint="Longest answer, in tokens (default 2048)", key="max_tokens", helper=BUDGET_TEXT)
    tokens.ids.field.input_filter = "int"
    tokens.bind(on_commit=lambda _w, text: form.change(max_tokens=int(text) if text.strip().isdigit() else None))
    for row in (prompt, connection, model, tokens):
        form.fields[row.key] = row
        form.details.add_widget(row)
    load_ai_connections(form, connection)


def load_ai_connections(form: Any, row: DropdownRow) -> None:
    bridge = form.panel.bridge
    if bridge is None:
        return

    def listed(types: list, conns: list) -> None:
        kinds = {t["type"] for t in types if t.get("dialect") == "ai"}
        row.options = [(c["id"], c.get("name") or c["id"]) for c in conns if c.get("type") in kinds]
        if not row.options:
            row.helper = "No AI connection yet: add one on the Connections screen"

    bridge.call("connections.types", on_error=lambda m: setattr(row, "error", m),
                on_result=lambda types: bridge.call("connections.list", on_result=lambda conns: listed(types, conns),
                                                    on_error=lambda m: setattr(row, "error", m)))

