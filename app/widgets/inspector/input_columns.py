"""The columns of a node's inputs, for the Transformer's SQL editor and Join's column fields.

:class:`InputColumns` asks the engine (``nodes.input_columns``) for each input's columns —
from its last run's table, or computed on a sample when the workflow never ran — sending
the editor's copy of the workflow, which may be ahead of the saved file. It asks again only
when an input, or a node above one, changed; a reply to an older question is dropped.

:class:`ColumnChips` shows them under a code editor: tap a chip to insert the name at the
cursor (a word already begun is completed, not repeated); while typing, the chips narrow to
the names that start with the word at the cursor and Tab completes it.

:class:`ColumnPickRow` is a text field with a menu of an input's columns (a typed name is
still accepted), for Join's column pairs; with ``append`` it is a list of one name per line
that the menu adds to (the names already listed are not offered again), for Join's columns
to keep.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from kivy.clock import Clock
from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, DictProperty, ListProperty, ObjectProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.label import Label
from kivymd.uix.boxlayout import MDBoxLayout

from app.kvload import load_kv
from app.widgets.inspector.fields import TextRow
from app.widgets.menu import AppMenu
from engine.model import fileformat

load_kv(__file__)

COLUMNS_TIMEOUT_S = 150
_WORD_BEFORE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def word_at(text: str, cursor_index: int) -> str:
    """The identifier being typed just before ``cursor_index`` ("" when none)."""
    match = _WORD_BEFORE.search(text[:cursor_index])
    return match.group(0) if match else ""


def sql_name(name: str) -> str:
    """``name`` as it can be written in SQL: double-quoted unless it is a plain identifier."""
    return name if _PLAIN.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def completion(name: str, typed: str) -> str:
    """What to insert after ``typed`` to have ``name`` (all of it when ``typed`` is no prefix)."""
    written = sql_name(name)
    if typed and written.lower().startswith(typed.lower()):
        return written[len(typed):]
    return written


class InputColumns(EventDispatcher):
    """Each input's columns as the engine reports them; ``state``: "", loading, ready, failed."""

    columns = DictProperty({})     # node id -> [column name, ...]
    notes = DictProperty({})       # node id -> how they were obtained, or why they could not be
    state = StringProperty("")

    def __init__(self, form: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.form = form
        self._key: str | None = None
        self._asked = 0

    def refresh(self, force: bool = False) -> None:
        """Ask the engine when the inputs or anything above them changed (or ``force``)."""
        form, bridge = self.form, self.form.panel.bridge
        node = form.node
        if node is None or bridge is None:
            return
        wf = form.document.workflow
        key = _upstream_key(wf, node.id)
        if key == self._key and not force:
            return
        self._key = key
        self._asked += 1
        asked = self._asked
        inputs = form.input_ids()
        if not inputs:
            self.columns, self.notes, self.state = {}, {}, "ready"
            return
        self.state = "loading"
        bridge.call("nodes.input_columns", on_result=lambda reply: self._got(asked, reply),
                    on_error=lambda message: self._failed(asked, message), timeout=COLUMNS_TIMEOUT_S,
                    workflow_id=wf.id, node_id=node.id, inputs=inputs, workflow=fileformat.to_dict(wf))

    def _got(self, asked: int, reply: list[Mapping[str, Any]]) -> None:
        if asked != self._asked:
            return      # an answer to an older question
        self.columns = {str(i["node_id"]): [str(c[0]) for c in i.get("columns") or []] for i in reply}
        self.notes = {str(i["node_id"]): str(i.get("error") or i.get("note") or "") for i in reply}
        self.state = "ready"

    def _failed(self, asked: int, message: str) -> None:
        if asked != self._asked:
            return
        self.columns, self.notes, self.state = {}, {"": message}, "failed"
        self._key = None        # ask again next time

    def all_names(self) -> list[str]:
        """Every input's column names, each once, in input order."""
        return list(dict.fromkeys(name for node_id in self.form.input_ids() for name in self.columns.get(node_id, [])))


def _upstream_key(wf: Any, node_id: str) -> str:
    """What the inputs' columns depend on: the inputs and every node above them, with configs."""
    seen, todo, parts = {node_id}, [node_id], []
    while todo:
        current = todo.pop()
        for edge in wf.inputs_of(current):
            parts.append([current, edge.source, edge.source_port])
            if edge.source not in seen:
                seen.add(edge.source)
                todo.append(edge.source)
                source = wf.node(edge.source)
                parts.append([source.id, source.type, source.config])
    return json.dumps(parts, sort_keys=True, default=str)


class ColumnChip(ButtonBehavior, Label):
    """One column name; 48 dp tall to tap, drawn as a smaller pill."""

    matched = BooleanProperty(False)


class ColumnChips(MDBoxLayout):
    """The inputs' columns under ``editor`` (a :class:`~app.widgets.inspector.fields.CodeRow`)."""

    caption = StringProperty("")
    names = ListProperty([])
    shown = ListProperty([])
    typed = StringProperty("")
    source = ObjectProperty(None, allownone=True)

    def __init__(self, columns: InputColumns, code_row: Any, on_insert: Callable[[], None] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source, self.code_row, self.on_insert = columns, code_row, on_insert
        columns.bind(columns=self._update, notes=self._update, state=self._update)
        editor = code_row.ids.field
        editor.completer = self.complete
        editor.bind(cursor=self._typing, text=self._typing)
        self._update()

    def detach(self) -> None:
        """Stop following the columns and the editor (the form replaced this widget)."""
        self.source.unbind(columns=self._update, notes=self._update, state=self._update)
        editor = self.code_row.ids.field
        editor.unbind(cursor=self._typing, text=self._typing)
        editor.completer = None

    def _update(self, *_args: Any) -> None:
        source = self.source
        self.names = source.all_names()
        notes = [n for n in source.notes.values() if n]
        if source.state == "loading":
            self.caption = "Finding the input's columns…"
        elif source.state == "failed" or (not self.names and notes):
            self.caption = "No column suggestions: " + "; ".join(notes)
        elif self.names:
            how = "; ".join(dict.fromkeys(notes))
            self.caption = "Columns of the input — tap to insert" + (f" ({how})" if how else "")
        else:
            self.caption = ""
        self._typing()

    def _typing(self, *_args: Any) -> None:
        editor = self.code_row.ids.field
        self.typed = word_at(editor.text, editor.cursor_index()) if editor.focus else ""
        matching = [n for n in self.names if self.typed and n.lower().startswith(self.typed.lower())]
        shown = matching or list(self.names)
        box = self.ids.chips
        if shown == self.shown and len(box.children) == len(shown) and all(
                c.matched == bool(matching) for c in box.children):
            return      # unchanged: keep the chips (one may be under a finger)
        self.shown = shown
        box.clear_widgets()
        for name in self.shown:
            chip = ColumnChip(text=name, matched=bool(matching))
            chip.bind(on_release=lambda c: self.insert(c.text))
            box.add_widget(chip)

    def complete(self, editor: Any) -> str:
        """For Tab: the rest of the first column name the typed word begins (or "")."""
        typed = word_at(editor.text, editor.cursor_index())
        if not typed:
            return ""
        name = next((n for n in self.names if n.lower().startswith(typed.lower()) and n.lower() != typed.lower()),
                    None)
        return completion(name, typed) if name else ""

    def insert(self, name: str) -> None:
        """Put ``name`` at the editor's cursor (completing a begun word) and commit the edit."""
        editor = self.code_row.ids.field
        typed = word_at(editor.text, editor.cursor_index())
        editor.insert_text(completion(name, typed))
        self.code_row.commit()
        Clock.schedule_once(lambda _dt: setattr(editor, "focus", True), 0)   # go on typing after it
        if self.on_insert is not None:
            self.on_insert()


class ColumnPickRow(MDBoxLayout):
    """A column name typed or picked from ``options`` (an input's columns). With ``append``, the
    field holds one name per line and a pick adds a line; ``field_options`` go to its TextRow."""

    options = ListProperty([])

    __events__ = ("on_commit",)

    def __init__(self, hint: str, append: bool = False, field_options: Mapping[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.append = append
        self.field = TextRow(hint=hint, **dict(field_options or {}))
        self.field.bind(on_commit=lambda _w, text: self.dispatch("on_commit", text))
        self.ids.holder.add_widget(self.field)
        if append:
            self.ids.pick.icon = "playlist-plus"
        self._menu: AppMenu | None = None

    def on_commit(self, text: str) -> None:
        pass

    def load(self, value: Any) -> None:
        self.field.load(value)

    @property
    def text(self) -> str:
        return self.field.text

    def listed(self) -> list[str]:
        """The names in the field, one per line (or comma separated)."""
        return [part.strip() for line in self.field.text.splitlines() for part in line.split(",") if part.strip()]

    def offered(self) -> list[str]:
        """What the menu offers: every option, or (appending) those not listed yet."""
        if not self.append:
            return list(self.options)
        taken = set(self.listed())
        return [name for name in self.options if name not in taken]

    def open_menu(self) -> None:
        offered = self.offered()
        if not offered:
            return
        items = [{"text": name, "on_release": (lambda n=name: self.pick(n))} for name in offered]
        self._menu = AppMenu(caller=self.ids.pick, items=items, position="bottom")
        self._menu.open()

    def pick(self, name: str) -> None:
        if self._menu is not None:
            self._menu.dismiss()
            self._menu = None
        if self.append:
            names = self.listed()
            self.field.text = "\n".join(names if name in names else [*names, name])
        else:
            self.field.text = name
        self.field.commit()
