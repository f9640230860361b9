"""The Join node's form: its inputs (the incoming edges, in order), and either structured
joins — per join the left and right input, the join type and the column pairs — with the
columns to keep, or free SQL. The column pairs are picked from the inputs' columns (or typed),
found by the engine even before the first run (:mod:`.input_columns`). "Try on sample" runs the
join on copies of its inputs' first rows (inputs that never ran are computed on a sample).

Problems the join check reports as ``join N: …`` are shown on join card N.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from kivy.metrics import dp
from kivy.properties import NumericProperty
from kivymd.uix.boxlayout import MDBoxLayout
from kivymd.uix.button import MDButton, MDButtonIcon, MDButtonText, MDIconButton
from kivymd.uix.label import MDLabel

from app.kvload import load_kv
from app.widgets.inspector.ai_section import hide_ai, mount_ai
from app.widgets.inspector.fields import CodeRow, DropdownRow, FieldBase, SamplePreview, SegmentRow
from app.widgets.inspector.form_base import NodeForm
from app.widgets.inspector.input_columns import ColumnChips, ColumnPickRow, InputColumns
from app.widgets.inspector.transformer_form import references_help, try_on_sample

load_kv(__file__)

MODES = [("columns", "Columns"), ("sql", "SQL")]
TYPES = [("inner", "Inner"), ("left", "Left"), ("right", "Right"), ("full", "Full")]
SQL_TEMPLATE = "SELECT *\nFROM {{ input.1 }} AS a\nJOIN {{ input.2 }} AS b ON a.id = b.id"
_JOIN_N = re.compile(r"^join (\d+)\b")


def skeleton(inputs: list[str]) -> list[dict[str, Any]]:
    """One inner join per input after the first, each waiting for its column pair."""
    return [{"left": inputs[0], "right": right, "type": "inner", "on": [["", ""]]} for right in inputs[1:]]


def keep_list(text: str) -> list[str] | None:
    """The columns to keep from a text of one name per line (or comma separated)."""
    names = [part.strip() for line in text.splitlines() for part in line.split(",")]
    names = [n for n in names if n]
    return names or None


class JoinCard(FieldBase):
    """One entry of ``joins``; its ``key`` (``joins.N``) receives that join's problems."""

    number = NumericProperty(1)

    def __init__(self, form: JoinForm, index: int, **kwargs: Any) -> None:
        super().__init__(key=f"joins.{index + 1}", number=index + 1, **kwargs)
        self.form, self.index = form, index
        options = form.input_options()
        self.left_input = DropdownRow(label="Left input", options=options, placeholder="Choose")
        self.right_input = DropdownRow(label="Right input", options=options, placeholder="Choose")
        self.kind = SegmentRow(label="Type", options=TYPES)
        self.left_input.bind(on_choice=lambda _w, value: form.edit_join(index, left=value))
        self.right_input.bind(on_choice=lambda _w, value: form.edit_join(index, right=value))
        self.kind.bind(on_choice=lambda _w, value: form.edit_join(index, type=value))
        self.pairs = MDBoxLayout(orientation="vertical", adaptive_height=True, spacing="4dp")
        box = self.ids.body
        for widget in (self.left_input, self.right_input, self.kind, MDLabel(text="Matching columns (left = right)",
                                                                  adaptive_height=True, font_style="Label",
                                                                  role="large"), self.pairs):
            box.add_widget(widget)
        self._pair_count = -1

    def load(self, join: Mapping[str, Any]) -> None:
        self.left_input.value, self.right_input.value = join.get("left"), join.get("right")
        self.kind.value = join.get("type", "inner")
        pairs = join.get("on") if isinstance(join.get("on"), list) else []
        if len(pairs) != self._pair_count:
            self._build_pairs(len(pairs))
        for row, pair in zip(reversed(self.pairs.children), pairs):
            values = pair if isinstance(pair, list | tuple) and len(pair) == 2 else ["", ""]
            row.left_column.load(values[0])
            row.right_column.load(values[1])
        self.offer_columns()

    def offer_columns(self) -> None:
        """Each pair's pickers list the columns of the join's left and right input."""
        columns = self.form.columns.columns
        left, right = columns.get(self.left_input.value or "", []), columns.get(self.right_input.value or "", [])
        for row in self.pairs.children:
            row.left_column.options, row.right_column.options = list(left), list(right)

    def _build_pairs(self, count: int) -> None:
        self._pair_count = count
        self.pairs.clear_widgets()
        for n in range(count):
            self.pairs.add_widget(PairRow(self.form, self.index, n))


class PairRow(MDBoxLayout):
    """One column pair, on two lines so each picker has room for a name: the left column
    (and the remove button), then "=" and the right column."""

    def __init__(self, form: JoinForm, join_index: int, pair_index: int, **kwargs: Any) -> None:
        super().__init__(orientation="vertical", adaptive_height=True, spacing="2dp", **kwargs)
        self.left_column = ColumnPickRow(hint="left column")
        self.right_column = ColumnPickRow(hint="right column")
        self.left_column.bind(on_commit=lambda _w, text: form.edit_pair(join_index, pair_index, 0, text))
        self.right_column.bind(on_commit=lambda _w, text: form.edit_pair(join_index, pair_index, 1, text))
        self.remove = MDIconButton(icon="close", pos_hint={"top": 1},
                                   on_release=lambda *_: form.remove_pair(join_index, pair_index))
        first = MDBoxLayout(adaptive_height=True, spacing="4dp")
        first.add_widget(self.left_column)
        first.add_widget(self.remove)
        second = MDBoxLayout(adaptive_height=True, spacing="4dp")
        second.add_widget(MDLabel(text="=", size_hint_x=None, width=dp(24), halign="center", size_hint_y=None,
                                  height=dp(56)))
        second.add_widget(self.right_column)
        second.add_widget(MDBoxLayout(size_hint_x=None, width=dp(48)))     # under the remove button
        self.add_widget(first)
        self.add_widget(second)


class JoinForm(NodeForm):
    def build(self) -> None:
        self.inputs = MDLabel(adaptive_height=True, font_style="Body", role="medium")
        self.mode = SegmentRow(label="Join by", options=MODES)
        self.mode.bind(on_choice=lambda _w, value: self._switch_mode(value))
        self.body = MDBoxLayout(orientation="vertical", adaptive_height=True, spacing="8dp")
        self.try_button = MDButton(MDButtonIcon(icon="flask-outline"), MDButtonText(text="Try on sample"),
                                   style="tonal", on_release=lambda *_: self.try_sample())
        self.preview = SamplePreview()
        self.columns = InputColumns(self)
        self.columns.bind(columns=lambda *_: self._offer_columns())
        self.column_note = MDLabel(adaptive_height=True, font_style="Body", role="small")
        self.columns.bind(notes=lambda *_: self._note_columns(), state=lambda *_: self._note_columns())
        for widget in (self.inputs, self.column_note, self.mode, self.body, self.try_button, self.preview):
            self.add_widget(widget)
        self._shape: tuple | None = None

    def _offer_columns(self) -> None:
        for card in getattr(self, "cards", []):
            card.offer_columns()
        keep = getattr(self, "keep", None)
        if keep is not None:    # every input's columns as <input>.<column>, inputs in order
            columns = self.columns.columns
            keep.options = [f"{node_id}.{name}" for node_id in self.input_ids() for name in columns.get(node_id, [])]

    def _note_columns(self) -> None:
        if self.columns.state == "loading":
            self.column_note.text = "Finding the inputs' columns…"
            return
        notes = [f"{node_id}: {note}" if node_id else note for node_id, note in self.columns.notes.items() if note]
        self.column_note.text = ("Columns — " + "; ".join(notes)) if notes else ""

    def input_options(self) -> list[tuple[str, str]]:
        wf = self.document.workflow
        return [(i, f"{i} — {wf.node(i).label}" if wf.has_node(i) else i) for i in self.input_ids()]

    # --- loading ------------------------------------------------------------------------------
    def load(self, config: Mapping[str, Any]) -> None:
        inputs = self.input_ids()
        self.inputs.text = "Inputs, in order:\n" + ("\n".join(f"  {label}" for _, label in self.input_options())
                                                     or "  none yet: connect two or more nodes")
        mount_ai(self)
        sql = "sql" in config
        joins = config.get("joins") if isinstance(config.get("joins"), list) else []
        self.mode.value = "sql" if sql else "columns"
        shape = ("sql",) if sql else ("columns", len(joins), tuple(inputs))
        if shape != self._shape:
            self._shape = shape
            self._build_body(sql, len(joins))
        self.columns.refresh()
        if sql:
            self.sql.load(config.get("sql") or "")
            self.refs.text = references_help(self)
            return
        for card, join in zip(self.cards, joins):
            card.load(join if isinstance(join, Mapping) else {})
        columns = config.get("columns")
        self.keep.load("\n".join(map(str, columns)) if isinstance(columns, list) else "")

    def _build_body(self, sql: bool, count: int) -> None:
        if getattr(self, "sql_chips", None) is not None:
            self.sql_chips.detach()
            self.sql_chips = None
        self.body.clear_widgets()
        if sql:
            self.sql = CodeRow(label="SQL", key="sql", editor_height=dp(200))
            self.sql.bind(on_commit=lambda _w, text: self.change(sql=text))
            self.refs = MDLabel(adaptive_height=True, font_style="Body", role="small")
            self.body.add_widget(self.sql)
            self.sql_chips = ColumnChips(self.columns, self.sql)
            self.body.add_widget(self.sql_chips)
            self.body.add_widget(self.refs)
            return
        self.joins_error = FieldBase(key="joins")
        self.cards = [JoinCard(self, i) for i in range(count)]
        for card in self.cards:
            self.body.add_widget(card)
        self.body.add_widget(MDButton(MDButtonIcon(icon="plus"), MDButtonText(text="Add join"), style="text",
                                      on_release=lambda *_: self.add_join()))
        self.keep = ColumnPickRow(hint="Columns to keep", append=True, field_options={
            "key": "columns", "multiline": True,
            "helper": "One per line as <input>.<column> (add them from the menu); empty keeps every column"})
        self.keep.bind(on_commit=lambda _w, text: self.change(columns=keep_list(text)))
        self.body.add_widget(self.keep)
        self._offer_columns()

    # --- problems ------------------------------------------------------------------------------
    def problem_key(self, field: str, message: str) -> str:
        match = _JOIN_N.match(message)
        if field == "joins" and match and not self.mode.value == "sql":
            return f"joins.{match.group(1)}"
        return super().problem_key(field, message)

    def show_problems(self, problems: Mapping[str, list[str]]) -> None:
        super().show_problems(problems)
        if self.mode.value == "columns" and "joins" in problems:
            general = [m for m in problems["joins"] if not _JOIN_N.match(m)]
            lines = [*self.general_error.split("\n"), *general]
            self.general_error = "\n".join(dict.fromkeys(filter(None, lines)))  # each once

    # --- edits ---------------------------------------------------------------------------------
    def _joins(self) -> list[dict[str, Any]]:
        joins = self.config.get("joins")
        return copy.deepcopy(joins) if isinstance(joins, list) else []

    def edit_join(self, index: int, **changes: Any) -> None:
        joins = self._joins()
        joins[index].update(changes)
        self.change(joins=joins)

    def edit_pair(self, index: int, pair: int, side: int, text: str) -> None:
        joins = self._joins()
        on = joins[index].setdefault("on", [])
        while len(on) <= pair:
            on.append(["", ""])
        on[pair] = list(on[pair]) if isinstance(on[pair], list | tuple) and len(on[pair]) == 2 else ["", ""]
        on[pair][side] = text.strip()
        self.change(joins=joins)

    def add_pair(self, index: int) -> None:
        joins = self._joins()
        joins[index].setdefault("on", []).append(["", ""])
        self.change(joins=joins)

    def remove_pair(self, index: int, pair: int) -> None:
        joins = self._joins()
        del joins[index]["on"][pair]
        self.change(joins=joins)

    def add_join(self) -> None:
        inputs = self.input_ids()
        joins = self._joins()
        joined = {inputs[0]} if inputs else set()
        joined |= {j.get("right") for j in joins} | {j.get("left") for j in joins}
        right = next((i for i in inputs if i not in joined), "")
        joins.append({"left": inputs[0] if inputs else "", "right": right, "type": "inner", "on": [["", ""]]})
        self.change(joins=joins)

    def remove_join(self, index: int) -> None:
        joins = self._joins()
        del joins[index]
        self.change(joins=joins or None)

    def _switch_mode(self, mode: str) -> None:
        config = self.config
        if mode == "sql":
            config.pop("joins", None)
            config.pop("columns", None)
            config["sql"] = SQL_TEMPLATE
        else:
            config.pop("sql", None)
            inputs = self.input_ids()
            if not config.get("joins") and len(inputs) >= 2:
                config["joins"] = skeleton(inputs)
        self.push(config)

    def try_sample(self) -> None:
        if getattr(self, "sql", None) is not None and self.mode.value == "sql":
            self.sql.commit()
        try_on_sample(self, self.preview)

    def on_hide(self) -> None:
        self.preview.reset()
        hide_ai(self)
