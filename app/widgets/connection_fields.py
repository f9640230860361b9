"""The connection form's field widgets: one per field kind of a connector type's specs.

Text / url / int fields are text inputs, ``choice`` a drop-down, ``bool`` a switch, and ``secret``
a write-only input that is never pre-filled (see :mod:`app.widgets.connection_form` for the
guarantees about secrets). Their look is in ``connection_form.kv``.
"""

from __future__ import annotations

from typing import Any

from kivy.metrics import dp
from kivy.properties import BooleanProperty, ListProperty, ObjectProperty, OptionProperty, StringProperty
from kivymd.uix.boxlayout import MDBoxLayout
from kivymd.uix.textfield import MDTextField, MDTextFieldHelperText, MDTextFieldHintText

from app.widgets.menu import AppMenu


class ConnFormSecretState(MDBoxLayout):
    """Editing: "<Label>: set / not set" and the Replace (or Keep current) button."""

    secret = ObjectProperty(None, allownone=True)


# --- one widget per field ----------------------------------------------------------------

class ConnFormFieldWidget(MDBoxLayout):
    """Common ground of the field widgets: the spec, a label, and an error mark."""

    name = StringProperty("")
    label = StringProperty("")
    help = StringProperty("")
    required = BooleanProperty(False)
    error = BooleanProperty(False)

    def __init__(self, spec: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.name = spec["name"]
        self.label = spec["label"] + (" *" if spec.get("required") else "")
        self.help = spec.get("help") or ""
        self.required = bool(spec.get("required"))

    def value(self) -> Any:
        raise NotImplementedError


class ConnFormTextWidget(ConnFormFieldWidget):
    """A text, URL or whole-number field."""

    def __init__(self, spec: dict[str, Any], initial: Any = None, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.input = _text_input(self.label, self.help, password=False)
        if spec.get("kind") == "int":
            self.input.input_filter = "int"
        self.initial = "" if initial is None else str(initial)
        self.input.text = self.initial
        self.add_widget(self.input)
        self.bind(error=lambda _w, on: setattr(self.input, "error", on))

    def value(self) -> str:
        return self.input.text.strip()


class ConnFormChoiceWidget(ConnFormFieldWidget):
    """One of a fixed set of values, picked from a drop-down menu."""

    current = StringProperty("")
    choices = ListProperty([])

    def __init__(self, spec: dict[str, Any], initial: Any = None, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.choices = list(spec.get("choices") or [])
        self.initial = "" if initial is None else str(initial)
        self.current = self.initial
        self._menu: AppMenu | None = None

    def open_menu(self) -> None:
        items = [{"text": choice, "on_release": lambda c=choice: self.choose(c)} for choice in self.choices]
        self._menu = AppMenu(caller=self.ids.button, items=items, position="bottom")
        self._menu.open()

    def choose(self, choice: str) -> None:
        if choice not in self.choices:
            raise ValueError(f"{self.spec['label']}: '{choice}' is not one of {', '.join(self.choices)}")
        self.current = choice
        if self._menu is not None:
            self._menu.dismiss()
            self._menu = None

    def value(self) -> str:
        return self.current


class ConnFormBoolWidget(ConnFormFieldWidget):
    """A yes/no setting as a switch."""

    active = BooleanProperty(False)

    def __init__(self, spec: dict[str, Any], initial: Any = None, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.initial = bool(initial)
        self.active = self.initial

    def value(self) -> bool:
        return bool(self.active)


class ConnFormSecretWidget(ConnFormFieldWidget):
    """A write-only secret. Adding: an empty password input. Editing: "set" / "not set" and
    Replace, which reveals an empty password input (Keep current hides it again)."""

    mode = OptionProperty("add", options=("add", "edit"))
    is_set = BooleanProperty(False)
    replacing = BooleanProperty(False)
    input = ObjectProperty(None, allownone=True)    # the password input while one is shown

    def __init__(self, spec: dict[str, Any], mode: str, is_set: bool, **kwargs: Any) -> None:
        super().__init__(spec, mode=mode, is_set=is_set, **kwargs)
        if mode == "edit":
            self.add_widget(ConnFormSecretState(secret=self))
        else:
            self.reveal()

    def reveal(self) -> None:
        """Show a fresh, empty password input (editing: "Replace")."""
        if self.input is None:
            hint = self.label if self.mode == "add" else f"New {self.spec['label'].lower()}"
            self.input = _text_input(hint, self.help, password=True)
            self.input.error = self.error
            self.add_widget(self.input)
        self.replacing = True

    def keep(self) -> None:
        """Editing: forget whatever was typed and keep the stored secret."""
        self._clear()
        if self.input is not None:
            self.remove_widget(self.input)
            self.input = None
        self.replacing = False

    def toggle(self) -> None:
        if self.replacing:
            self.keep()
        else:
            self.reveal()
            self.input.focus = True

    def on_error(self, _widget: Any, on: bool) -> None:
        if self.input is not None:
            self.input.error = on

    def take(self) -> str | None:
        """The typed value (None when nothing was typed); the input is emptied either way."""
        value = self.input.text if self.input is not None else ""
        self._clear()
        if self.mode == "edit":
            self.keep()
        return value or None

    def _clear(self) -> None:
        if self.input is not None:
            self.input.text = ""
            self.input.reset_undo()  # TextInput keeps earlier texts for undo: drop them too

    def value(self) -> None:  # a secret is never read back as a setting
        return None


def _text_input(hint: str, help_text: str, password: bool) -> MDTextField:
    widget = MDTextField(MDTextFieldHintText(text=hint), mode="outlined", password=password, multiline=False,
                         write_tab=False, size_hint_y=None, height=dp(56))
    if help_text:
        widget.add_widget(MDTextFieldHelperText(text=help_text, mode="persistent"))
    return widget
