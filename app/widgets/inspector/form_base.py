"""What every node form shares: reading the node, pushing edits, placing problems.

A form never changes the node itself. It builds a new config from the node's current one
(:meth:`NodeForm.edited`) and hands it to the panel, which pushes one
:class:`~engine.model.commands.ChangeConfigCommand`; the model's ``node_changed`` event
then makes the panel call :meth:`NodeForm.load` with the config as it now is. So undo and
redo, and edits made anywhere else, show up in the form the same way.

Problems arrive as ``{config field: [messages]}`` and are shown under the field whose
``key`` matches (``trigger.days[2]`` goes to ``trigger.days``, ``options.sheet`` to
``options.sheet`` or else ``options``); what no field claims is shown at the top of the form.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kivy.properties import StringProperty
from kivymd.uix.boxlayout import MDBoxLayout

from app.widgets.inspector.fields import FieldBase

_INDEX = re.compile(r"\[\d+\]")


class NodeForm(MDBoxLayout):
    """Base of the per-type forms; ``panel`` is the :class:`InspectorPanel` hosting it."""

    general_error = StringProperty("")

    def __init__(self, panel: Any, **kwargs: Any) -> None:
        super().__init__(orientation="vertical", adaptive_height=True, spacing="8dp", **kwargs)
        self.panel = panel
        self.node_id = panel.node_id     # a form edits one node, even after the panel moved on
        self.build()

    # --- what subclasses implement ---------------------------------------------------------
    def build(self) -> None:
        """Create the fields (once)."""

    def load(self, config: Mapping[str, Any]) -> None:
        """Show ``config`` in the fields (after any change of the node)."""

    def on_hide(self) -> None:
        """The panel shows another node or nothing: stop pending work."""

    def extra_problems(self, config: Mapping[str, Any]) -> dict[str, list[str]]:
        """Problems only the form can see (a choice begun but not finished), by field."""
        return {}

    # --- helpers ---------------------------------------------------------------------------
    @property
    def document(self) -> Any:
        return self.panel.document

    @property
    def node(self) -> Any:
        doc = self.document
        if doc is None or not doc.workflow.has_node(self.node_id):
            return None
        return doc.workflow.node(self.node_id)

    @property
    def config(self) -> dict[str, Any]:
        """A private copy of the node's config (safe to edit)."""
        return copy.deepcopy(dict(self.node.config)) if self.node is not None else {}

    def input_ids(self) -> list[str]:
        if self.node is None:
            return []
        return [e.source for e in self.document.workflow.inputs_of(self.node.id)]

    def edited(self, **changes: Any) -> dict[str, Any]:
        """The current config with dotted keys set (``None`` removes): ``edited(**{"a.b": 1})``."""
        config = self.config
        for dotted, value in changes.items():
            set_dotted(config, dotted, value)
        return config

    def push(self, config: Mapping[str, Any]) -> None:
        self.panel.push_config(dict(config), self.node_id)

    def change(self, **changes: Any) -> None:
        self.push(self.edited(**changes))

    def base_dir(self) -> Path:
        return self.panel.base_dir()

    # --- paths -----------------------------------------------------------------------------
    def data_dir(self) -> Path | None:
        bridge = self.panel.bridge
        return Path(bridge.paths.root) if bridge is not None else None

    def pick_path(self, current: str, mode: str, title: str, on_pick: Any,
                  extensions: tuple[str, ...] | list[str] = (), formats: str = "") -> Any:
        """Open the picker (see :mod:`.path_picker`) near ``current`` (relative to the
        workflow's folder); ``on_pick(absolute path)`` when the user picks."""
        from app.widgets.inspector.path_picker import PathPicker

        base = self.base_dir()
        start = (base / Path(current).expanduser()) if current else None
        if start is not None and mode == "file":
            start = start.parent
        picker = PathPicker(start, mode=mode, title=title, extensions=extensions, formats=formats,
                            data_dir=self.data_dir(), workflow_dir=base)
        picker.bind(on_pick=lambda _p, path: on_pick(path))
        picker.open()
        return picker

    def explain_path(self, raw: str | None) -> str:
        """Where a relative path leads, in words and as the absolute path ('' for an
        absolute or empty one)."""
        if not raw or Path(raw).expanduser().is_absolute():
            return ""
        base = self.base_dir()
        hidden = self.data_dir() is not None and _inside(base, self.data_dir())
        where = "DagFlux's data folder (hidden)" if hidden else "the workflow's folder"
        return f"Relative to {where}: {(base / raw).resolve()}"

    # --- problems --------------------------------------------------------------------------
    def fields_by_key(self) -> dict[str, FieldBase]:
        return {w.key: w for w in self.walk(restrict=True) if isinstance(w, FieldBase) and w.key}

    def problem_key(self, field: str, message: str) -> str:
        return _INDEX.sub("", field)

    def show_problems(self, problems: Mapping[str, list[str]]) -> None:
        fields = self.fields_by_key()
        placed: dict[str, list[str]] = {}
        leftover: list[str] = []
        for field, messages in problems.items():
            for message in messages:
                key = self._owner(self.problem_key(field, message), fields)
                if key is None:
                    leftover.append(message)  # plain language already (the panel's): no field name
                else:
                    placed.setdefault(key, []).append(message)
        for key, widget in fields.items():
            widget.error = "\n".join(placed.get(key, []))
        self.general_error = "\n".join(dict.fromkeys(leftover))  # each message once

    @staticmethod
    def _owner(key: str, fields: Mapping[str, FieldBase]) -> str | None:
        while key:
            if key in fields:
                return key
            key = key.rpartition(".")[0]
        return None


def get_dotted(config: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    value: Any = config
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def set_dotted(config: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c``; ``None`` removes the key (and an object it leaves empty)."""
    *parents, last = dotted.split(".")
    holders = [config]
    for part in parents:
        child = holders[-1].get(part)
        if not isinstance(child, dict):
            if value is None:
                return
            child = holders[-1][part] = {}
        holders.append(child)
    if value is None:
        holders[-1].pop(last, None)
        for holder, part in zip(reversed(holders[:-1]), reversed(parents)):
            if holder.get(part) == {}:
                holder.pop(part)
    else:
        holders[-1][last] = value


def relative_to(path: str, base: Path) -> str:
    """``path`` relative to ``base`` (POSIX separators) when inside it, else absolute."""
    chosen = Path(path).expanduser()
    try:
        return chosen.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(chosen)


def _inside(path: Path, folder: Path | None) -> bool:
    try:
        path.resolve().relative_to(Path(folder).resolve())
    except (ValueError, TypeError):
        return False
    return True
