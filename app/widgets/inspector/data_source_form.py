"""The Data Source node's form: a file (path, format, sheet or CSV options), a database
connection's table, a REST API path, or a workspace table — and a preview of the first
rows with their column types, asked from the engine (``nodes.preview``) after each change,
and below it what the reading found (columns that are numbers but for some values, with
one-tap choices) and a type picker per column (:mod:`.read_choices`).

Choices that need the engine (connections, their tables, a workbook's sheets) are loaded
through the bridge when they are needed; a preview answer that arrives after a newer
request was made is dropped, so the table always shows the current settings.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivymd.uix.boxlayout import MDBoxLayout
from kivymd.uix.button import MDIconButton
from kivymd.uix.label import MDLabel

from app.widgets.inspector.ai_section import hide_ai, mount_ai
from app.widgets.inspector.fields import (
    CheckRow,
    DropdownRow,
    PickButton,
    SamplePreview,
    SegmentRow,
    TextRow,
)
from app.widgets.inspector.form_base import NodeForm, get_dotted, relative_to
from app.widgets.inspector.read_choices import ReadChoices
from engine.errors import NodeError
from engine.io import readers

SOURCES = [("file", "File"), ("connection", "Database"), ("rest", "API"), ("storage", "Storage"),
           ("workspace", "Workspace")]
FORMATS = [("", "By extension")] + [(f, f.upper() if f != "excel" else "Excel") for f in readers.FORMATS]
PAGINATION = [("none", "None"), ("page", "Page numbers"), ("offset", "Offset"), ("cursor", "Cursor"),
              ("link", "Link header")]
FILE_EXTENSIONS = (".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".xlsx", ".xlsm", ".parquet", ".sqlite",
                   ".sqlite3", ".db")
FORMAT_EXTENSIONS = {"csv": (".csv", ".tsv"), "json": (".json",), "jsonl": (".jsonl", ".ndjson"),
                     "excel": (".xlsx", ".xlsm"), "parquet": (".parquet",), "sqlite": (".sqlite", ".sqlite3", ".db")}
FORMAT_NAMES = {"csv": "CSV", "json": "JSON", "jsonl": "JSON Lines", "excel": "Excel", "parquet": "Parquet",
                "sqlite": "SQLite"}
REQUIRED = {"file": ("path",), "connection": ("connection", "table"), "rest": ("connection", "path"),
            "storage": ("connection", "path"), "workspace": ("table",)}
PREVIEW_DELAY_S = 0.35


def effective_format(config: Mapping[str, Any]) -> str | None:
    if config.get("format"):
        return str(config["format"])
    try:
        return readers.detect_format(Path(str(config.get("path") or "")))
    except NodeError:       # an unknown extension: no format yet
        return None


class DataSourceForm(NodeForm):
    def build(self) -> None:
        self.source = SegmentRow(label="Read from", key="source", options=SOURCES)
        self.source.bind(on_choice=lambda _w, value: self._switch_source(value))
        self.details = MDBoxLayout(orientation="vertical", adaptive_height=True, spacing="8dp")
        header = MDBoxLayout(adaptive_height=True)
        header.add_widget(MDLabel(text="Preview", font_style="Title", role="small", adaptive_height=True,
                                  pos_hint={"center_y": .5}))
        self.refresh_button = MDIconButton(icon="refresh", on_release=lambda *_: self.request_preview(force=True))
        header.add_widget(self.refresh_button)
        self.preview = SamplePreview()
        self.choices = ReadChoices(on_change=lambda key, value: self.change(**{key: value}),
                                   options_now=self._options)
        for widget in (self.source, self.details, header, self.preview, self.choices):
            self.add_widget(widget)
        self._built: tuple | None = None
        self._connections: list[dict] | None = None
        self._relational: dict[str, bool] = {}
        self._object_store: set[str] = set()
        self._sheets_for: str | None = None
        self._objects_for: str | None = None
        self._previewed: dict | None = None
        self._request = 0
        self._preview_event = None

    # --- loading ------------------------------------------------------------------------------
    def load(self, config: Mapping[str, Any]) -> None:
        source = str(config.get("source", "file"))
        self.source.value = source
        shape = (source, effective_format(config) if source == "file" else None)
        if self._built != shape:
            self._build_details(*shape)
        self._load_values(config, source)
        if config != self._previewed:
            self._schedule_preview()
        mount_ai(self, source == "rest")

    def _build_details(self, source: str, fmt: str | None) -> None:
        self._built = (source, fmt)
        self.details.clear_widgets()
        self.fields: dict[str, Any] = {}
        if source == "file":
            self._path_row()
            self._dropdown("format", "Format", FORMATS, placeholder="By extension")
            if fmt == "excel":
                sheet = self._dropdown("options.sheet", "Sheet", [], placeholder="First sheet")
                sheet.bind(on_open=lambda *_: self._load_sheets(force=True))
            elif fmt == "csv":
                self._text("options.delimiter", "Delimiter (default , — tab: \\t)")
                self._check("options.header", "The first row holds the column names")
            elif fmt == "sqlite":
                self._text("options.table", "Table in the SQLite file")
            if fmt in ("csv", "json", "jsonl"):
                self._text("options.encoding", "Encoding (default utf-8; also latin-1, cp1252, utf-16 …)")
            if fmt in ("csv", "excel"):
                self._check("options.default_nulls", "Read NA, NULL, NaN, #N/A … as empty")
            if fmt not in ("sqlite", None):
                self._check("options.all_text", "Read every column as text", default=False)
                self._check("options.original_names", "Keep the column names as written", default=False)
        elif source in ("connection", "rest"):
            conn = self._dropdown("connection", "Connection", [], placeholder="Choose a connection")
            conn.bind(on_open=lambda *_: self._load_connections(force=True))
            if source == "connection":
                table = self._dropdown("table", "Table", [], placeholder="Choose a table")
                table.bind(on_open=lambda *_: self._load_objects(force=True))
            else:
                self._text("path", "API path, e.g. /v1/orders")
                self._text("records_path", "Records path in the reply, e.g. data.items")
                self._dropdown("pagination", "Pagination", PAGINATION, placeholder="None")
        elif source == "storage":
            conn = self._dropdown("connection", "Connection", [], placeholder="Choose an S3 or Azure Blob connection")
            conn.bind(on_open=lambda *_: self._load_connections(force=True))
            self._text("path", "Object key (or folder/ for all its objects)")
            objects = DropdownRow(label="Objects", key="objects", options=[],
                                  placeholder="Pick an object from the connection")
            objects.bind(on_choice=lambda _w, key: self.change(path=key or None),
                         on_open=lambda *_: self._load_object_keys(objects))
            self.details.add_widget(objects)
            self._dropdown("format", "Format", FORMATS, placeholder="By extension")
        elif source == "workspace":
            self._text("table", "Workspace table, e.g. other_flow__totals")

    def _load_values(self, config: Mapping[str, Any], source: str) -> None:
        for key, widget in self.fields.items():
            value = get_dotted(config, key)
            if isinstance(widget, TextRow):
                widget.load(value)
            elif isinstance(widget, CheckRow):
                widget.active = value is not False if widget.default else value is True
            else:
                widget.value = value if not isinstance(value, Mapping) else value.get("type")
        if source == "file" and "path" in self.fields:
            self.fields["path"].helper = self.explain_path(str(config.get("path") or ""))
        if source in ("connection", "rest", "storage"):
            self._load_connections()
            if source == "connection":
                self._load_objects()
        if self._built and self._built[1] == "excel":
            self._load_sheets()

    # --- field makers --------------------------------------------------------------------------
    def _text(self, key: str, hint: str) -> TextRow:
        row = TextRow(hint=hint, key=key)
        row.bind(on_commit=lambda _w, text: self.change(**{key: text.strip() or None}))
        self.fields[key] = row
        self.details.add_widget(row)
        return row

    def _dropdown(self, key: str, label: str, options: list, placeholder: str) -> DropdownRow:
        row = DropdownRow(label=label, key=key, options=options, placeholder=placeholder)
        row.bind(on_choice=lambda _w, value: self._chose(key, value))
        self.fields[key] = row
        self.details.add_widget(row)
        return row

    def _check(self, key: str, label: str, default: bool = True) -> CheckRow:
        """A check box for a true/false option; the config holds it only when it is not ``default``."""
        row = CheckRow(label=label, key=key, default=default)
        row.bind(on_choice=lambda _w, on: self.change(**{key: None if on == default else on}))
        self.fields[key] = row
        self.details.add_widget(row)
        return row

    def _path_row(self) -> None:
        row = MDBoxLayout(adaptive_height=True, spacing="4dp")
        path = TextRow(hint="File (relative to the workflow's folder)", key="path")
        path.bind(on_commit=lambda _w, text: self.change(path=text.strip()))
        self.fields["path"] = path
        row.add_widget(path)
        self.pick_button = PickButton(on_release=lambda *_: self._pick_file())
        row.add_widget(self.pick_button)
        self.details.add_widget(row)

    # --- edits ----------------------------------------------------------------------------------
    def _options(self) -> Mapping[str, Any]:
        options = self.config.get("options")
        return options if isinstance(options, Mapping) else {}

    def _chose(self, key: str, value: Any) -> None:
        changes: dict[str, Any] = {key: value or None}
        if key == "connection":
            changes["table"] = None if self.config.get("source") == "connection" else self.config.get("table")
        if key == "format":
            changes["options.sheet"] = None
        if key == "pagination" and isinstance(self.config.get("pagination"), Mapping):
            changes = {"pagination.type": value}     # keep the pagination's other settings
        self.change(**changes)

    def _switch_source(self, source: str) -> None:
        old = self.config
        config: dict[str, Any] = {"source": source}
        if old.get("description"):
            config["description"] = old["description"]
        for key in REQUIRED[source]:
            config[key] = ""
        self.push(config)

    def _pick_file(self) -> None:
        fmt = str(self.config.get("format") or "")
        extensions = FORMAT_EXTENSIONS.get(fmt, FILE_EXTENSIONS)
        formats = FORMAT_NAMES.get(fmt, "Data")
        self.picker = self.pick_path(str(self.config.get("path") or ""), "file", "Choose a data file",
                                     lambda path: self.change(path=relative_to(path, self.base_dir()),
                                                              **{"options.sheet": None}),
                                     extensions=extensions, formats=formats)

    # --- choices from the engine ------------------------------------------------------------------
    def _call(self, method: str, on_result: Any, row: DropdownRow | None, **params: Any) -> None:
        bridge = self.panel.bridge
        if bridge is None:
            if row is not None:
                row.error = "Not connected to the engine"
            return
        if row is not None:
            row.loading = True

        def done(value: Any) -> None:
            if row is not None:
                row.loading = False
            on_result(value)

        def failed(message: str) -> None:
            if row is not None:
                row.loading, row.error = False, message

        bridge.call(method, on_result=done, on_error=failed, **params)

    def _load_connections(self, force: bool = False) -> None:
        row = self.fields.get("connection")
        if row is None:
            return
        if self._connections is not None and not force:
            self._fill_connections()
            return
        self._call("connections.types", self._got_types, None)
        self._call("connections.list", self._got_connections, row)

    def _got_types(self, types: list) -> None:
        self._relational = {t["type"]: bool(t.get("relational", True)) for t in types}
        self._object_store = {t["type"] for t in types if t.get("object_store")}
        self._fill_connections()

    def _got_connections(self, connections: list) -> None:
        self._connections = connections
        self._fill_connections()

    def _fill_connections(self) -> None:
        row = self.fields.get("connection")
        if row is None or self._connections is None:
            return
        source = self._built[0] if self._built is not None else ""
        row.options = [(c["id"], f"{c.get('name') or c['id']} ({c.get('type')})") for c in self._connections
                       if self._kind(str(c.get("type"))) == source]
        if not row.options:
            wanted = {"storage": "object-storage (S3, Azure Blob: install them on the Plugins screen)",
                      "rest": "REST API"}.get(source, "database")
            row.helper = f"No {wanted} connections yet: add one on the Connections screen"

    def _kind(self, connection_type: str) -> str:
        """The source a connection of this type serves: connection, rest or storage."""
        if connection_type in self._object_store:
            return "storage"
        return "connection" if self._relational.get(connection_type, connection_type != "rest") else "rest"

    def _load_object_keys(self, row: DropdownRow) -> None:
        connection = self.config.get("connection")
        if not connection:
            row.error = "Choose the connection first"
            return
        self._call("connections.objects", lambda keys: setattr(row, "options", [(k, k) for k in keys]), row,
                   id=connection)

    def _load_objects(self, force: bool = False) -> None:
        row = self.fields.get("table")
        connection = self.config.get("connection")
        if not isinstance(row, DropdownRow) or not connection or (connection == self._objects_for and not force):
            return
        self._objects_for = connection
        self._call("connections.objects", lambda names: setattr(row, "options", [(n, n) for n in names]), row,
                   id=connection)

    def _load_sheets(self, force: bool = False) -> None:
        row = self.fields.get("options.sheet")
        path = str(self.config.get("path") or "")
        if row is None or not path or (path == self._sheets_for and not force):
            return
        self._sheets_for = path
        self._call("nodes.sheets", lambda names: setattr(row, "options", [(n, n) for n in names]), row,
                   workflow_id=self.document.workflow.id, path=path)

    # --- preview --------------------------------------------------------------------------------
    def _schedule_preview(self) -> None:
        if self._preview_event is not None:
            self._preview_event.cancel()
        self._preview_event = Clock.schedule_once(lambda _dt: self.request_preview(), PREVIEW_DELAY_S)

    def request_preview(self, force: bool = False) -> None:
        config = self.config
        source = str(config.get("source", "file"))
        if not force and config == self._previewed:
            return
        self._previewed = copy.deepcopy(config)
        missing = [key for key in REQUIRED.get(source, ()) if not config.get(key)]
        if missing:
            self.preview.reset(f"Choose the {' and '.join(missing)} to see the first rows")
            self.choices.clear()
            return
        if self.panel.bridge is None:
            self.preview.fail("Not connected to the engine")
            return
        self._request += 1
        number = self._request
        node = self.node
        self.preview.start("Reading the first rows…")
        self.panel.bridge.call(
            "nodes.preview", on_result=lambda reply: self._previewed_reply(number, reply),
            on_error=lambda message: self._preview_failed(number, message),
            workflow_id=self.document.workflow.id,
            node={"id": node.id, "type": node.type, "title": node.title, "config": config}, limit=5)

    def _previewed_reply(self, number: int, reply: Mapping[str, Any]) -> None:
        if number == self._request:
            self.preview.show(reply)
            config = self.config
            if config.get("source", "file") == "file" and effective_format(config) != "sqlite":
                self.choices.show(reply, self._options())
            else:
                self.choices.clear()

    def _preview_failed(self, number: int, message: str) -> None:
        if number == self._request:
            self.preview.fail(message)
            self.choices.clear()

    def on_hide(self) -> None:
        hide_ai(self)
        if self._preview_event is not None:
            self._preview_event.cancel()
        self._request += 1
