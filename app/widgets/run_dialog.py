"""The Run dialog: values for a workflow's parameters before a manual run.

Shown by the editor's Run action when the workflow declares parameters; one field per
parameter, prefilled with its default and labelled with its type. The values are checked
here with the engine's own conversion (:func:`engine.model.parameters.convert`), so a bad
value is named in the dialog before anything starts; the engine checks again. The confirm
button hands ``{name: text}`` to ``action(dialog, values)`` and waits while that call is
pending; an error from the engine is shown in the dialog, which keeps what was typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kivy.properties import BooleanProperty, ObjectProperty, StringProperty
from kivymd.uix.textfield import MDTextField, MDTextFieldHintText

from app.kvload import load_kv
from app.widgets.dialog import AppDialog
from engine.model.parameters import ParameterError, convert, declared

_HELP = {"text": "text", "integer": "whole number", "number": "number", "boolean": "true or false",
         "date": "date, YYYY-MM-DD"}


class RunParametersDialog(AppDialog):
    headline = StringProperty("Run with parameters")
    error_text = StringProperty("")
    busy = BooleanProperty(False)
    action = ObjectProperty(None)

    def __init__(self, parameters: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parameters = declared(parameters)
        self.fields: dict[str, MDTextField] = {}
        for name, decl in self.parameters.items():
            kind = decl.get("type", "text")
            default = decl.get("default")
            # the type rides in the hint: a helper line below would overlap the next field
            field = MDTextField(MDTextFieldHintText(text=f"{name} ({_HELP[kind]})"),
                                text="" if default is None else _shown(default), multiline=False)
            field.bind(text=lambda *_: setattr(self, "error_text", ""))
            self.fields[name] = field
            self.ids.fields.add_widget(field)

    def values(self) -> dict[str, str]:
        return {name: field.text for name, field in self.fields.items()}

    def problems(self) -> list[str]:
        """Each value that does not fit its parameter's type (empty: all fit)."""
        found = []
        for name, text in self.values().items():
            try:
                convert(name, self.parameters[name].get("type", "text"), text)
            except ParameterError as exc:
                found.append(str(exc))
        return found

    def show_error(self, message: str) -> None:
        self.busy = False
        self.error_text = message

    def confirm(self) -> None:
        if self.busy:
            return
        problems = self.problems()
        if problems:
            self.error_text = problems[0]
            return
        self.busy = True
        self.action(self, self.values())


def _shown(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def has_parameters(parameters: Mapping[str, Any] | list | None) -> bool:
    return bool(declared(parameters or []))


load_kv(__file__)
