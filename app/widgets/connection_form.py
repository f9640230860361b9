"""The connection form: a type chooser, then a form generated from the type's field specs.

The specs are what ``connections.types`` returns (:meth:`engine.connectors.base.FieldSpec.to_dict`):
text / url / int fields become text inputs, ``choice`` a drop-down, ``bool`` a switch, and
``secret`` fields a write-only :class:`ConnFormSecretWidget`.

Guarantees about secrets:

* a secret input is never pre-filled — the form has no secret value to fill it with: the
  engine only says which secrets are *set*;
* editing shows "set" / "not set" and a Replace action that reveals a fresh, empty password
  input; a secret left alone is not sent, so the stored one is kept;
* :meth:`ConnectionFormWidget.submit` takes the typed secrets out of the inputs (clearing
  their text and undo history) before it hands them on, and nothing here logs them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kivy.properties import BooleanProperty, ObjectProperty, OptionProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivymd.uix.boxlayout import MDBoxLayout

from app.kvload import load_kv
from app.widgets.connection_fields import (  # noqa: F401  (kv rules name ConnFormSecretState)
    ConnFormBoolWidget,
    ConnFormChoiceWidget,
    ConnFormFieldWidget,
    ConnFormSecretState,
    ConnFormSecretWidget,
    ConnFormTextWidget,
)

TYPE_ICONS = {"postgresql": "elephant", "mariadb": "dolphin", "sqlite": "feather", "rest": "api",
              "openai": "creation", "anthropic": "creation", "gemini": "creation"}


def type_icon(type_name: str) -> str:
    """The icon of a connector type (plugins' own types get a generic database icon)."""
    return TYPE_ICONS.get(type_name, "database-outline")


def slug(name: str) -> str:
    """A connection id (snake_case, starting with a letter) derived from a display name."""
    text = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    if text and not text[0].isalpha():
        text = "c_" + text
    return text[:48]


@dataclass
class FormRequest:
    """What the form asks the engine to save. ``secrets`` holds only the values typed just now."""

    mode: str                                  # add | edit
    type: str
    id: str
    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)


class ConnFormTypeButton(ButtonBehavior, MDBoxLayout):
    """One connector type to choose when adding."""

    type_name = StringProperty("")
    text = StringProperty("")
    detail = StringProperty("")
    icon = StringProperty("database-outline")


# --- the form ------------------------------------------------------------------------------

class ConnectionFormWidget(MDBoxLayout):
    """Fires ``on_submit(request: FormRequest)`` and ``on_cancel()``; the owner talks to the engine
    and answers with :meth:`show_error` or closes the form."""

    stage = OptionProperty("choose", options=("choose", "fill"))
    mode = OptionProperty("add", options=("add", "edit"))
    title = StringProperty("")
    icon = StringProperty("database-outline")
    error_text = StringProperty("")
    busy = BooleanProperty(False)
    type_spec = ObjectProperty(None, allownone=True)

    __events__ = ("on_submit", "on_cancel")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry: dict[str, Any] | None = None
        self.field_widgets: dict[str, ConnFormFieldWidget] = {}
        self._id_auto = True
        self.models: list[str] = []   # an AI connection's models (from its last good test): a picker

    # --- stages ------------------------------------------------------------------------
    def choose_type(self, types: list[dict[str, Any]]) -> None:
        """Stage one of adding: a button per connector type."""
        self._reset("choose", "add")
        self.title = "Choose a connection type"
        self.icon = "plus"
        box = self.ids.types
        box.clear_widgets()
        for spec in types:
            names = ", ".join(f["label"] for f in spec["fields"])
            box.add_widget(ConnFormTypeButton(type_name=spec["type"], text=spec["label"], detail=names,
                                                      icon=type_icon(spec["type"]),
                                                      on_release=lambda _b, s=spec: self.fill_new(s)))

    def fill_new(self, spec: dict[str, Any]) -> None:
        """Stage two of adding: name, id and the type's fields (defaults filled in)."""
        self._reset("fill", "add")
        self.type_spec = spec
        self.title = f"New {spec['label']} connection"
        self.icon = type_icon(spec["type"])
        name = ConnFormTextWidget({"name": "_name", "label": "Name", "required": True})
        conn_id = ConnFormTextWidget({"name": "_id", "label": "ID", "required": True,
                                      "help": "a-z, 0-9 and _; how workflows refer to it"})
        name.input.bind(text=self._name_typed)
        conn_id.input.bind(text=self._id_typed)
        self._add_fields([name, conn_id], spec, settings={}, secrets_set=[])

    def edit(self, spec: dict[str, Any], entry: dict[str, Any], models: list[str] | None = None) -> None:
        """Edit a saved connection: its settings filled in, its secrets only as set / not set;
        ``models`` (an AI connection's, after a successful test) make its Model a picker."""
        self._reset("fill", "edit")
        self.models = list(models or [])
        self.type_spec = spec
        self.entry = entry
        self.title = f"Edit {entry['name']} ({entry['id']})"
        self.icon = type_icon(spec["type"])
        name = ConnFormTextWidget({"name": "_name", "label": "Name", "required": True}, initial=entry["name"])
        self._add_fields([name], spec, settings=entry.get("settings", {}), secrets_set=entry.get("secrets_set", []))

    def _reset(self, stage: str, mode: str) -> None:
        for widget in self.field_widgets.values():  # never leave a typed secret behind
            if isinstance(widget, ConnFormSecretWidget):
                widget.take()
        self.field_widgets = {}
        self.ids.fields.clear_widgets()
        self.entry, self.type_spec, self.error_text, self.busy = None, None, "", False
        self._id_auto = True
        self.stage, self.mode = stage, mode

    def _add_fields(self, head: list[ConnFormFieldWidget], spec: dict[str, Any], settings: dict[str, Any],
                    secrets_set: list[str]) -> None:
        widgets = list(head)
        for f in spec["fields"]:
            initial = settings.get(f["name"], f.get("default")) if self.mode == "edit" else f.get("default")
            if f.get("secret"):
                widgets.append(ConnFormSecretWidget(f, mode=self.mode, is_set=f["name"] in secrets_set))
            elif f.get("kind") == "choice":
                widgets.append(ConnFormChoiceWidget(f, initial=initial))
            elif f["name"] == "model" and spec.get("dialect") == "ai" and self.models:
                choices = self.models + ([str(initial)] if initial and str(initial) not in self.models else [])
                widgets.append(ConnFormChoiceWidget({**f, "kind": "choice", "choices": choices}, initial=initial))
            elif f.get("kind") == "bool":
                widgets.append(ConnFormBoolWidget(f, initial=initial))
            else:
                widgets.append(ConnFormTextWidget(f, initial=initial))
        for widget in widgets:
            self.field_widgets[widget.name] = widget
            self.ids.fields.add_widget(widget)
        self.ids.scroll.scroll_y = 1

    def field(self, name: str) -> ConnFormFieldWidget:
        """The widget of field ``name`` (``_name`` / ``_id`` for the name and id)."""
        return self.field_widgets[name]

    # --- name → id -----------------------------------------------------------------------
    def _name_typed(self, _input: Any, text: str) -> None:
        if self._id_auto and "_id" in self.field_widgets:
            self.field_widgets["_id"].input.text = slug(text)  # _id_typed keeps _id_auto on

    def _id_typed(self, _input: Any, text: str) -> None:
        self._id_auto = text == slug(self.field_widgets["_name"].input.text) if "_name" in self.field_widgets else False

    # --- submitting ----------------------------------------------------------------------
    def submit(self) -> FormRequest | None:
        """Collect the form, empty every secret input, and fire ``on_submit``."""
        if self.stage != "fill" or self.busy or self.type_spec is None:
            return None
        request = self._collect()
        self.busy = True
        self.error_text = ""
        for widget in self.field_widgets.values():
            widget.error = False
        self.dispatch("on_submit", request)
        return request

    def _collect(self) -> FormRequest:
        name = self.field_widgets["_name"].value()
        if self.mode == "add":
            conn_id = self.field_widgets["_id"].value()
        else:
            conn_id = self.entry["id"]
        settings, secrets = {}, {}
        for key, widget in self.field_widgets.items():
            if key.startswith("_"):
                continue
            if isinstance(widget, ConnFormSecretWidget):
                value = widget.take()
                if value is not None:
                    secrets[key] = value
            elif self.mode == "add":
                if widget.value() not in ("", None):
                    settings[key] = widget.value()
            elif widget.value() != widget.initial:
                settings[key] = widget.value()
        return FormRequest(self.mode, self.type_spec["type"], conn_id, name, settings, secrets)

    def show_error(self, message: str, secrets_cleared: bool = False) -> None:
        """The engine refused the request: say why, and mark the fields its message names."""
        self.busy = False
        named = _fields_named(message, self.field_widgets.values())
        for widget in self.field_widgets.values():
            widget.error = widget in named
        if self.mode == "add" and "_id" in self.field_widgets and "connection id" in message:
            self.field_widgets["_id"].error = True
        text = message.strip()
        if secrets_cleared:
            text += ("" if text.endswith((".", "!", "?")) else ".") + " Secret fields were cleared: enter them again."
        self.error_text = text

    def clear(self) -> None:
        """Empty the form (and every secret input in it)."""
        self._reset("choose", "add")

    def cancel(self) -> None:
        self.clear()
        self.dispatch("on_cancel")

    def on_submit(self, request: FormRequest) -> None:
        pass

    def on_cancel(self) -> None:
        pass


def _fields_named(message: str, widgets: Any) -> set[ConnFormFieldWidget]:
    """The field widgets whose label the engine's message names (longest labels first, so
    "User name" does not also mark "User")."""
    found, text = set(), message
    for widget in sorted(widgets, key=lambda w: -len(w.spec.get("label", ""))):
        label = widget.spec.get("label", "")
        pattern = rf"(?<![\w]){re.escape(label)}(?![\w])"
        if label and re.search(pattern, text):
            found.add(widget)
            text = re.sub(pattern, " ", text)
    return found


load_kv(__file__)
