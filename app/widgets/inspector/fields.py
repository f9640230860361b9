"""Field widgets shared by the node forms.

Every field reports a *user* edit through one event and never because code set its value,
so a form can re-read the model into its fields (after an undo, say) without echoing the
values back as new edits:

* :class:`TextRow` and :class:`CodeRow` dispatch ``on_commit(text)`` when the text is
  committed — Enter (single-line) or focus loss — and only when it differs from the value
  last loaded with :meth:`TextRow.load`; one commit per edit, not per keystroke.
* :class:`SegmentRow` (one of several), :class:`ChipsRow` (any of several),
  :class:`CheckRow` (on/off) and :class:`DropdownRow` dispatch ``on_choice(value)`` from taps.
* Every field has a ``key`` (the config field its problems are reported under, e.g.
  ``trigger.time``) and an ``error`` text shown under it in the theme's error colour.

:class:`PreviewTable`, :class:`BusyLine` and :class:`SamplePreview` live in
:mod:`.sample_preview` (imported here; their kv rules are in ``fields.kv``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kivy.clock import Clock
from kivy.metrics import dp
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.label import Label
from kivy.uix.textinput import TextInput
from kivymd.uix.boxlayout import MDBoxLayout
from kivymd.uix.button import MDIconButton

from app.kvload import load_kv
from app.widgets.inspector.sample_preview import (  # noqa: F401  (their kv rules are in fields.kv)
    CELL_MAX_CHARS,
    BusyLine,
    PreviewCell,
    PreviewHeader,
    PreviewTable,
    SamplePreview,
    natural_width,
    shown,
)
from app.widgets.menu import AppMenu

load_kv(__file__)

class FieldBase(MDBoxLayout):
    """A labelled field with an error line; ``key`` names the config field it edits."""

    key = StringProperty("")
    label = StringProperty("")
    error = StringProperty("")
    helper = StringProperty("")


class TextRow(FieldBase):
    """One line of text (or a few, with ``multiline``) committed on Enter or focus loss.
    While the user types, ``on_typing(text)`` fires (forms preview with it) and an error
    shown under an empty required field goes as soon as there is text; Tab moves focus."""

    hint = StringProperty("")
    multiline = BooleanProperty(False)
    loaded = StringProperty("")

    __events__ = ("on_commit", "on_typing")

    def on_field_text(self, text: str) -> None:
        if text == self.loaded:
            return  # shown by load(), not typed
        if self.error and text.strip() and not self.loaded.strip():
            self.error = ""  # the field was empty (required): the error is answered
        self.dispatch("on_typing", text)

    def on_typing(self, text: str) -> None:
        pass

    def load(self, value: Any) -> None:
        text = "" if value is None else str(value)
        self.loaded = text
        self.ids.field.text = text

    @property
    def text(self) -> str:
        return self.ids.field.text

    @text.setter
    def text(self, value: str) -> None:
        self.ids.field.text = value

    def on_field_focus(self, focused: bool) -> None:
        if not focused:
            self.commit()

    def commit(self) -> None:
        if self.ids.field.text != self.loaded:
            self.loaded = self.ids.field.text
            self.dispatch("on_commit", self.ids.field.text)

    def on_commit(self, text: str) -> None:
        pass


class CodeEditor(TextInput):
    """A monospace multi-line editor (SQL, Python, JSON): Tab inserts spaces — unless a
    ``completer`` (set by a form) completes the word being typed: it returns the text to
    insert at the cursor, or "" when it has nothing to offer."""

    completer = ObjectProperty(None, allownone=True)

    def insert_text(self, substring: str, from_undo: bool = False) -> None:
        super().insert_text(substring.replace("\t", "    "), from_undo=from_undo)

    def keyboard_on_key_down(self, window: Any, keycode: Any, text: Any, modifiers: Any) -> bool:
        if keycode[1] == "tab" and not modifiers and self.completer is not None:
            rest = self.completer(self)
            if rest:
                self.insert_text(rest)
                return True
        return super().keyboard_on_key_down(window, keycode, text, modifiers)


class CodeRow(TextRow):
    """A code editor; commits on focus loss (Enter is a new line)."""

    editor_height = NumericProperty(dp(180))


class SegmentButton(ButtonBehavior, Label):
    selected = BooleanProperty(False)
    value = ObjectProperty(None, allownone=True)


class SegmentRow(FieldBase):
    """One of several values, as a row of buttons (wrapping when they do not fit)."""

    options = ListProperty([])      # [(value, label), …]
    value = ObjectProperty(None, allownone=True)

    __events__ = ("on_choice",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_options()

    def on_options(self, *_args: Any) -> None:
        box = self.ids.get("buttons")
        if box is None:
            return      # still being built: __init__ fills the buttons
        box.clear_widgets()
        for value, text in self.options:
            button = SegmentButton(text=text, value=value, selected=value == self.value)
            button.bind(on_release=self._tapped)
            box.add_widget(button)

    def on_value(self, *_args: Any) -> None:
        for button in self.buttons():
            button.selected = button.value == self.value

    def buttons(self) -> list[SegmentButton]:
        box = self.ids.get("buttons")
        return list(reversed(box.children)) if box is not None else []

    def _tapped(self, button: SegmentButton) -> None:
        if button.value != self.value:
            self.choose(button.value)

    def choose(self, value: Any) -> None:
        """What a tap on the button for ``value`` does."""
        self.value = value
        self.dispatch("on_choice", value)

    def button_for(self, value: Any) -> SegmentButton:
        return next(b for b in self.buttons() if b.value == value)

    def on_choice(self, value: Any) -> None:
        pass


class ChipsRow(SegmentRow):
    """Any of several values (``values`` in ``options`` order)."""

    values = ListProperty([])

    def on_options(self, *_args: Any) -> None:
        super().on_options()
        self.on_values()

    def on_values(self, *_args: Any) -> None:
        for button in self.buttons():
            button.selected = button.value in self.values

    def _tapped(self, button: SegmentButton) -> None:
        self.choose(button.value)

    def choose(self, value: Any) -> None:
        chosen = set(self.values) ^ {value}
        self.values = [v for v, _ in self.options if v in chosen]
        self.dispatch("on_choice", list(self.values))

    def on_value(self, *_args: Any) -> None:
        pass


class CheckRow(ButtonBehavior, FieldBase):
    """A whole-row check box (a 48 dp hit target); ``default`` is the option's value when the
    config does not hold it."""

    active = BooleanProperty(False)
    default = BooleanProperty(True)

    __events__ = ("on_choice",)

    def on_release(self) -> None:
        self.active = not self.active
        self.dispatch("on_choice", self.active)

    def on_choice(self, value: bool) -> None:
        pass


class DropdownRow(FieldBase):
    """A value picked from a menu; ``options`` are ``(value, label)`` pairs."""

    options = ListProperty([])
    value = ObjectProperty(None, allownone=True)
    placeholder = StringProperty("Choose…")
    shown_text = StringProperty("")
    loading = BooleanProperty(False)

    __events__ = ("on_choice", "on_open")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._menu: AppMenu | None = None
        Clock.schedule_once(lambda _dt: self._update_text(), 0)

    def on_value(self, *_args: Any) -> None:
        self._update_text()

    def on_options(self, *_args: Any) -> None:
        self._update_text()

    def _update_text(self) -> None:
        labels = dict((value, text) for value, text in self.options)
        if self.value in (None, ""):
            self.shown_text = self.placeholder
        else:
            self.shown_text = str(labels.get(self.value, self.value))

    def open_menu(self) -> None:
        self.dispatch("on_open")
        if not self.options:
            return
        items = [{"text": str(text), "on_release": (lambda v=value: self._picked(v))}
                 for value, text in self.options]
        self._menu = AppMenu(caller=self.ids.box, items=items, position="bottom")
        self._menu.open()

    def _picked(self, value: Any) -> None:
        if self._menu is not None:
            self._menu.dismiss()
            self._menu = None
        self.choose(value)

    def choose(self, value: Any) -> None:
        """What picking ``value`` from the menu does."""
        self.value = value
        self.dispatch("on_choice", value)

    def on_choice(self, value: Any) -> None:
        pass

    def on_open(self) -> None:
        pass


class PickButton(MDIconButton):
    """The folder button beside a path field."""


def option_pairs(values: Sequence[str], labels: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    labels = labels or {}
    return [(v, labels.get(v, v)) for v in values]
