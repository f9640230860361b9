"""The Output node's form: a file (path, format, what to do when it exists, format
options) or a database connection's table (name and write mode: create, replace, append).

Whether the Output writes to a connection is the presence of the ``connection`` key; a
connection chosen as the destination but not picked yet is reported by the form (the
engine alone would read an empty connection as "write a file").
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kivymd.uix.boxlayout import MDBoxLayout
from kivymd.uix.label import MDLabel

from app.node_defaults import default_output_folder
from app.widgets.inspector.fields import CheckRow, DropdownRow, PickButton, SegmentRow, TextRow
from app.widgets.inspector.form_base import NodeForm, get_dotted, relative_to
from app.widgets.inspector.output_ai import FORMAT as AI_FORMAT
from app.widgets.inspector.output_ai import build_ai_fields
from engine.io import writers

DESTINATIONS = [("file", "File"), ("connection", "Database")]
FORMATS = [("", "By extension")] + [(f, f.upper() if f != "excel" else "Excel") for f in writers.WRITE_FORMATS] + [
    (AI_FORMAT, "AI analysis")]
POLICIES = [("overwrite", "Overwrite"), ("fail", "Stop the run")]
LINE_ENDS = [("crlf", "CRLF (RFC 4180)"), ("lf", "LF")]
MODES = [("replace", "Replace"), ("append", "Append"), ("fail", "Fail if it exists")]
FILE_KEYS = ("path", "format", "if_exists", "options")
CONNECTION_KEYS = ("connection", "table", "mode")


class OutputForm(NodeForm):
    def build(self) -> None:
        self.destination = SegmentRow(label="Write to", options=DESTINATIONS)
        self.destination.bind(on_choice=lambda _w, value: self._switch(value))
        self.details = MDBoxLayout(orientation="vertical", adaptive_height=True, spacing="8dp")
        self.summary = MDLabel(adaptive_height=True, font_style="Body", role="medium")
        for widget in (self.destination, self.details, self.summary):
            self.add_widget(widget)
        self._built: tuple | None = None
        self.fields: dict[str, Any] = {}
        self._connections_loaded = False

    def load(self, config: Mapping[str, Any]) -> None:
        destination = "connection" if "connection" in config else "file"
        self.destination.value = destination
        fmt = config.get("format") or writers.format_for_path(Path(str(config.get("path") or f"{self.node.id}.csv")))
        shape = (destination, fmt if destination == "file" else None)
        if shape != self._built:
            self._build_details(*shape)
        for key, widget in self.fields.items():
            value = get_dotted(config, key)
            if isinstance(widget, TextRow):
                widget.load(value)
            elif isinstance(widget, CheckRow):
                widget.active = bool(value)
            else:
                widget.value = value if value is not None else {"if_exists": "overwrite",
                                                               "mode": "replace"}.get(key)
        if destination == "connection":
            self._load_connections()
        else:
            self.fields["path"].helper = self.where_it_writes(config)
        self.summary.text = self._summary(config, destination, fmt)

    def where_it_writes(self, config: Mapping[str, Any]) -> str:
        """The folder and file the Output writes, named in full (a relative or empty path
        resolves in the workflow's folder, which for a saved workflow is the hidden data dir)."""
        raw = str(config.get("path") or "")
        if raw and Path(raw).expanduser().is_absolute():
            return f"Writes to {Path(raw).expanduser()}"
        if raw:
            return self.explain_path(raw)
        ext = "md" if config.get("format") == AI_FORMAT else "csv"
        return (f"Empty: writes {self.node_id}.{ext} into {self.base_dir()} (DagFlux's own folder). "
                f"Choose a file, e.g. in {default_output_folder(self.document.workflow.id)}")

    def _build_details(self, destination: str, fmt: str | None) -> None:
        self._built = (destination, fmt)
        self.details.clear_widgets()
        self.fields = {}
        if destination == "file":
            row = MDBoxLayout(adaptive_height=True, spacing="4dp")
            path = self._text("path", "File", add=False)
            row.add_widget(path)
            row.add_widget(PickButton(on_release=lambda *_: self._pick()))
            self.details.add_widget(row)
            self._segment_or_dropdown("format", DropdownRow(label="Format", key="format", options=FORMATS,
                                                            placeholder="By extension"))
            self._segment_or_dropdown("if_exists", SegmentRow(label="If the file exists", key="if_exists",
                                                              options=POLICIES))
            if fmt == "csv":
                self._text("options.delimiter", "Delimiter (default ,)")
                self._segment_or_dropdown("options.line_ending", SegmentRow(
                    label="Line ends", key="options.line_ending", options=LINE_ENDS))
                self._text("options.null", "Write NULL as (default: an empty field, like empty text)")
            elif fmt == "excel":
                self._text("options.sheet", "Sheet name (default Sheet1)")
            elif fmt == AI_FORMAT:
                build_ai_fields(self)
            self._check("options.create_dirs", "Create the folder when it is missing")
        else:
            self._segment_or_dropdown("connection", DropdownRow(label="Connection", key="connection",
                                                                placeholder="Choose a connection"))
            self.fields["connection"].bind(on_open=lambda *_: self._load_connections(force=True))
            self._text("table", f"Table (default: {self.node.id})")
            self._segment_or_dropdown("mode", SegmentRow(label="Write mode", key="mode", options=MODES,
                                                         helper="Fail: stop when the table already exists"))

    def _text(self, key: str, hint: str, add: bool = True) -> TextRow:
        row = TextRow(hint=hint, key=key)
        row.bind(on_commit=lambda _w, text: self.change(**{key: text.strip() or None}))
        self.fields[key] = row
        if add:
            self.details.add_widget(row)
        return row

    def _check(self, key: str, label: str) -> None:
        row = CheckRow(label=label, key=key)
        row.bind(on_choice=lambda _w, on: self.change(**{key: True if on else None}))
        self.fields[key] = row
        self.details.add_widget(row)

    def _segment_or_dropdown(self, key: str, row: Any) -> None:
        row.bind(on_choice=lambda _w, value: self.change(**{key: value or None}))
        self.fields[key] = row
        self.details.add_widget(row)

    def _switch(self, destination: str) -> None:
        config = self.config
        for key in FILE_KEYS if destination == "connection" else CONNECTION_KEYS:
            config.pop(key, None)
        if destination == "connection":
            config.update(connection="", mode="replace")
        else:
            config["if_exists"] = "overwrite"
        self.push(config)

    def _pick(self) -> None:
        current = str(self.config.get("path") or "")
        name = Path(current).name or f"{self.node_id}.csv"
        self.picker = self.pick_path(current, "any", "Write to a file (or pick its folder)",
                                     lambda path: self._picked(path, name))

    def _picked(self, path: str, name: str) -> None:
        chosen = Path(path)
        if chosen.is_dir():
            chosen = chosen / name
        self.change(path=relative_to(str(chosen), self.base_dir()))

    def _load_connections(self, force: bool = False) -> None:
        bridge, row = self.panel.bridge, self.fields.get("connection")
        if bridge is None or row is None or (self._connections_loaded and not force):
            return
        self._connections_loaded = True
        row.loading = True

        def done(connections: list) -> None:
            row.loading = False
            row.options = [(c["id"], f"{c.get('name') or c['id']} ({c.get('type')})") for c in connections
                           if c.get("type") != "rest"]
            if not row.options:
                row.helper = "No database connections yet: add one on the Connections screen"

        def failed(message: str) -> None:
            row.loading, row.error = False, message

        bridge.call("connections.list", on_result=done, on_error=failed)

    def _summary(self, config: Mapping[str, Any], destination: str, fmt: str | None) -> str:
        wf = self.document.workflow
        sources = [wf.node(e.source).label for e in wf.inputs_of(self.node.id) if wf.has_node(e.source)]
        what = f"the table from '{sources[0]}'" if sources else "its input table"
        if destination == "connection":
            table = config.get("table") or self.node.id
            connection, mode = config.get("connection") or "?", config.get("mode", "replace")
            return f"Writes {what} to table '{table}' in '{connection}' ({mode})."
        if fmt == AI_FORMAT:
            return (f"Asks {config.get('ai_connection') or 'an AI connection'} about {what} and writes the answer "
                    f"to {config.get('path') or self.node.id + '.md'} (Markdown): tap the node after a run.")
        path = config.get("path") or f"{self.node.id}.csv"
        policy = "replacing it" if config.get("if_exists", "overwrite") == "overwrite" else "stopping if it exists"
        return f"Writes {what} to {path} ({(fmt or '?').upper()}), {policy}."
