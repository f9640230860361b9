"""Below the Data Source preview: what the reading found and the choices it offers.

* **Findings** — each column the preview reports as numbers except for some values (the
  engine's ``findings``, the same text a run records as a warning), with two one-tap choices:
  *Read them as empty* (adds the odd values to ``options.null_values``) and *Keep as text*
  (sets the column's type to ``text`` in ``options.columns``).
* **Column types** — one picker per column (``Automatic`` or integer/real/text), writing
  ``options.columns``; the preview's header shows the type each column gets.

The widget only proposes edits: it calls ``on_change(key, value)`` with dotted config keys,
and the form turns that into one undoable command. Each edit starts from the node's options
*at the time of the tap* (``options_now``), never from the ones the list was drawn for, so two
quick taps before the next preview arrives both count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kivymd.uix.boxlayout import MDBoxLayout
from kivymd.uix.button import MDButton, MDButtonText
from kivymd.uix.label import MDLabel

from app.widgets.inspector.fields import DropdownRow

TYPE_OPTIONS = [("", "Automatic"), ("integer", "Integer"), ("real", "Real"), ("text", "Text")]
MAX_PICKERS = 40
"""Columns offered a type picker (a wider file: set the rest in the workflow file)."""


def with_nulls(options: Mapping[str, Any], texts: Sequence[str]) -> list[str]:
    """``options.null_values`` with ``texts`` added (once, in order)."""
    current = options.get("null_values") or []
    current = [current] if isinstance(current, str) else list(current)
    return list(dict.fromkeys([*current, *texts]))


def with_type(options: Mapping[str, Any], column: str, kind: str | None) -> dict[str, str] | None:
    """``options.columns`` with ``column`` set to ``kind`` (removed for None); None when empty."""
    columns = dict(options.get("columns") or {})
    if kind:
        columns[column] = kind
    else:
        columns.pop(column, None)
    return columns or None


class FindingRow(MDBoxLayout):
    """One finding: its message and, for a column, the two choices."""

    def __init__(self, finding: Mapping[str, Any], on_null: Callable[[], None] | None,
                 on_text: Callable[[], None] | None, **kwargs: Any) -> None:
        super().__init__(orientation="vertical", adaptive_height=True, spacing="2dp", **kwargs)
        self.message = str(finding.get("message") or "")
        self.add_widget(MDLabel(text=self.message, adaptive_height=True, font_style="Body", role="small",
                                theme_text_color="Custom", text_color=self.theme_cls.errorColor))
        self.null_button = self.text_button = None
        if on_null is None or on_text is None:
            return
        buttons = MDBoxLayout(adaptive_height=True, spacing="8dp")
        self.null_button = MDButton(MDButtonText(text="Read them as empty"), style="text",
                                    on_release=lambda *_: on_null())
        self.text_button = MDButton(MDButtonText(text="Keep as text"), style="text",
                                    on_release=lambda *_: on_text())
        buttons.add_widget(self.null_button)
        buttons.add_widget(self.text_button)
        self.add_widget(buttons)


class ReadChoices(MDBoxLayout):
    """Findings and column type pickers for a file preview; empty for other sources."""

    def __init__(self, on_change: Callable[[str, Any], None],
                 options_now: Callable[[], Mapping[str, Any]], **kwargs: Any) -> None:
        super().__init__(orientation="vertical", adaptive_height=True, spacing="6dp", **kwargs)
        self.on_change = on_change
        self.options_now = options_now
        self.findings = MDBoxLayout(orientation="vertical", adaptive_height=True, spacing="6dp")
        self.types = MDBoxLayout(orientation="vertical", adaptive_height=True, spacing="4dp")
        self.add_widget(self.findings)
        self.add_widget(self.types)
        self.finding_rows: list[FindingRow] = []
        self.pickers: dict[str, DropdownRow] = {}

    def clear(self) -> None:
        self.findings.clear_widgets()
        self.types.clear_widgets()
        self.finding_rows, self.pickers = [], {}

    def show(self, reply: Mapping[str, Any], options: Mapping[str, Any]) -> None:
        """Fill from a file preview ``reply`` given the node's current ``options``."""
        self.clear()
        for finding in reply.get("findings") or []:
            column = str(finding.get("column") or "")
            texts = [str(text) for text, _n in finding.get("examples") or []]
            row = FindingRow(finding,
                             (lambda t=texts: self.on_change("options.null_values",
                                                             with_nulls(self.options_now(), t)))
                             if column else None,
                             (lambda c=column: self.on_change("options.columns",
                                                              with_type(self.options_now(), c, "text")))
                             if column else None)
            self.finding_rows.append(row)
            self.findings.add_widget(row)
        types = [name for name, _kind in reply.get("types") or []]
        if not types:
            return
        self.types.add_widget(MDLabel(text="Column types", font_style="Title", role="small", adaptive_height=True))
        chosen = options.get("columns") or {}
        for name in types[:MAX_PICKERS]:
            picker = DropdownRow(label=name, key=f"options.columns.{name}", options=TYPE_OPTIONS,
                                 placeholder="Automatic")
            value = chosen.get(name) if isinstance(chosen, Mapping) else None
            picker.value = str(value).lower() if value else ""
            picker.bind(on_choice=lambda _w, kind, c=name: self.on_change(
                "options.columns", with_type(self.options_now(), c, kind or None)))
            self.pickers[name] = picker
            self.types.add_widget(picker)
        if len(types) > MAX_PICKERS:
            self.types.add_widget(MDLabel(text=f"{len(types) - MAX_PICKERS} more columns: set their types in "
                                               f"the workflow file (options.columns)", adaptive_height=True,
                                          font_style="Body", role="small"))
