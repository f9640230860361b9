"""Worker operations behind the node panels: Data Source previews, Excel sheet lists,
a Transformer's "try on sample", and pages of an output table.

They run in a worker like the connection operations (:mod:`engine.workers.ops`): only
workers resolve connection secrets, user SQL and code never run in the engine, and every
reply passes the task's scrubber (:func:`engine.workers.task.execute_op`).

Guarantees:

* **Nothing real changes.** A file preview reads only the reader's first batches into a
  private in-memory database (:mod:`engine.io.readers.preview`). "Try on sample" copies at
  most ``sample`` rows of each input table into a scratch database — a temporary file
  deleted afterwards — and runs the node's own ``execute`` there, so ``new_table``,
  ``in_place`` and Python transforms behave exactly as in a run, on copies. SQL against a
  database connection is only ever a read (one SELECT); in-place SQL on a database table
  is refused with an explanation, because it cannot be tried without changing that table.
* **Plain replies.** ``{"columns": [...], "types": [[name, type], ...], "rows": [[...]],
  "note": str}`` (``"total"`` too where the row count is known); values are made storable
  (:func:`engine.connectors.local._to_storable`), so they cross msgpack as they are.
* **Clear errors** (:class:`~engine.errors.DagfluxError`) naming the file, sheet, table or
  connection, e.g. an input that has no table yet says to run the workflow once first.
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from engine import templates, workspace
from engine.connectors.local import _to_storable
from engine.errors import DagfluxError
from engine.plugin_api import PREVIEW_RUN, InputTable, NodeContext
from engine.sql.statements import split_statements
from engine.workers.sample_inputs import obtain_inputs, provenance_line
from engine.workers.table_page import PAGE_MAX, page  # noqa: F401  (tables.page lives there now)

PREVIEW_MAX = 100
SAMPLE_MAX = 100_000
TRIABLE_TYPES = ("transformer", "join")
REST_KEYS_NOT_IN_SPEC = ("source", "connection", "description")


# --- replies -----------------------------------------------------------------------------
def table_reply(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], note: str,
                total: int | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"columns": [name for name, _ in columns],
                             "types": [[name, kind or ""] for name, kind in columns],
                             "rows": [[_to_storable(v) for v in row] for row in rows], "note": note}
    if total is not None:
        reply["total"] = total
    return reply


def _bounded(value: Any, low: int, high: int, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DagfluxError(f"{what} must be a whole number, not {value!r}") from None
    return max(low, min(high, number))


def _value_type(values: Iterator[Any]) -> str:
    """A declared type for values read from a database (the first non-null decides)."""
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool | int):
            return "INTEGER"
        if isinstance(value, float):
            return "REAL"
        return "BLOB" if isinstance(value, bytes) else "TEXT"
    return ""


def _resolve(base_dir: str, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(base_dir) / path


# --- Data Source preview -----------------------------------------------------------------
def preview(state: Any, base_dir: str, config: Mapping[str, Any], limit: int = 5) -> dict[str, Any]:
    """The first ``limit`` rows a Data Source with ``config`` would give, with column types."""
    limit = _bounded(limit, 1, PREVIEW_MAX, "limit")
    source = config.get("source", "file")
    if source == "file":
        return _preview_file(base_dir, config, limit)
    if source == "workspace":
        return _preview_workspace(state, str(config.get("table") or ""), limit)
    if source == "connection":
        return _preview_connection(state, config, limit)
    if source == "rest":
        return _preview_rest(state, config, limit)
    if source == "storage":
        return _preview_storage(state, config, limit)
    raise DagfluxError(f"unknown source '{source}': use file, workspace, connection, rest or storage")


def _preview_storage(state: Any, config: Mapping[str, Any], limit: int) -> dict[str, Any]:
    """The first object under the node's path, as a run imports it (object-storage plugins)."""
    from engine.connectors.objects import preview_object

    connection, path = str(config.get("connection") or ""), str(config.get("path") or "")
    if not connection or not path:
        raise DagfluxError("choose a storage connection and an object first")
    store = state.runtime.connector(connection)
    if not getattr(store, "object_store", False):
        raise DagfluxError(f"connection '{store.name}' is not object storage")
    keys = store.object_keys(path)
    if not keys:
        raise DagfluxError(f"connection '{store.name}' has no object at '{path}'")
    options = config.get("options") or {}
    if not isinstance(options, Mapping):
        raise DagfluxError("'options' must be an object")
    result = preview_object(store, keys[0], config.get("format") or None, options, limit)
    more = f" (the first of {len(keys)} objects)" if len(keys) > 1 else ""
    reply = table_reply(result.columns, result.rows, f"First {len(result.rows)} rows of '{keys[0]}'{more} in "
                                                     f"connection '{store.name}'; names and types as a run "
                                                     f"imports them")
    reply["findings"] = result.findings
    reply["sampled"] = result.sampled
    return reply


def _preview_file(base_dir: str, config: Mapping[str, Any], limit: int) -> dict[str, Any]:
    from engine.io.readers.preview import preview_file

    if not str(config.get("path") or "").strip():
        raise DagfluxError("choose a file first")
    path = _resolve(base_dir, str(config["path"]))
    if not path.exists():
        raise DagfluxError(f"the file {path} does not exist")
    if path.is_dir():
        raise DagfluxError(f"{path} is a folder, not a file")
    options = config.get("options") or {}
    if not isinstance(options, Mapping):
        raise DagfluxError("'options' must be an object")
    result = preview_file(path, config.get("format") or None, options, limit)
    reply = table_reply(result.columns, result.rows,
                        f"First {len(result.rows)} rows of {result.detail}; names and types as a run imports them")
    # Columns that are numbers but for some values, counted over the rows sampled for the types.
    reply["findings"] = result.findings
    reply["sampled"] = result.sampled
    return reply


def _preview_workspace(state: Any, table: str, limit: int) -> dict[str, Any]:
    conn = _workspace(state)
    if not table:
        raise DagfluxError("choose a workspace table first")
    if not workspace.table_exists(conn, table):
        raise DagfluxError(f"the workspace has no table '{table}'")
    rows = conn.execute(f"SELECT * FROM {workspace.quote_ident(table)} LIMIT ?", (limit,)).fetchall()
    total = workspace.count_rows(conn, table)
    return table_reply(workspace.columns(conn, table), rows,
                       f"First {len(rows)} of {total:,} rows of workspace table '{table}'", total)


def _preview_connection(state: Any, config: Mapping[str, Any], limit: int) -> dict[str, Any]:
    connection, table = str(config.get("connection") or ""), str(config.get("table") or "")
    if not connection or not table:
        raise DagfluxError("choose a connection and a table first")
    connector = state.runtime.connector(connection)
    if not connector.relational:
        raise DagfluxError(f"connection '{connector.name}' is a REST API: use the source 'rest' (an API path)")
    if not connector.table_exists(table):
        raise DagfluxError(f"connection '{connector.name}' has no table '{table}'")
    names, rows = connector.sample(table, limit)
    declared = dict(connector.list_fields(table))
    return table_reply([(n, declared.get(n, "")) for n in names], rows,
                       f"First {len(rows)} rows of '{table}' in connection '{connector.name}' (read in place)")


def _preview_rest(state: Any, config: Mapping[str, Any], limit: int) -> dict[str, Any]:
    from engine.io.rows import write_rows

    connection = str(config.get("connection") or "")
    if not connection or not str(config.get("path") or ""):
        raise DagfluxError("choose a REST connection and an API path first")
    connector = state.runtime.connector(connection)
    spec = {k: v for k, v in config.items() if k not in REST_KEYS_NOT_IN_SPEC}
    spec["max_records"] = limit
    pages = connector.fetch(spec)
    try:
        records = [record for page in pages for record in page][:limit]
    finally:
        pages.close()
    with ScratchDb() as scratch:
        write_rows(scratch.conn, scratch.lease, "preview", records, f"preview of '{connection}'")
        return scratch.reply("preview", limit, f"First {len(records)} records from connection "
                                               f"'{connector.name}' (one request, as a run stores them)")


def sheets(state: Any, base_dir: str, path: str) -> list[str]:
    """The worksheet names of an Excel file (for the sheet chooser)."""
    from engine.io.readers.preview import list_sheets

    if not str(path or "").strip():
        raise DagfluxError("choose a file first")
    resolved = _resolve(base_dir, path)
    if not resolved.is_file():
        raise DagfluxError(f"the file {resolved} does not exist")
    return list_sheets(resolved)


# --- table pages ---------------------------------------------------------------------------
def _workspace(state: Any) -> sqlite3.Connection:
    if state.conn is None:
        raise DagfluxError(state.setup_error or "this worker has no workspace connection")
    return state.conn


# --- try on sample --------------------------------------------------------------------------
def try_sample(state: Any, workflow_id: str, base_dir: str, node: Mapping[str, Any],
               inputs: Sequence[Mapping[str, Any]], limit: int = 5, sample: int = 1000,
               params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run a Transformer (or Join) on copies of the first ``sample`` rows of its inputs;
    ``params``: the workflow parameters' values (their defaults), bound as in a run."""
    limit = _bounded(limit, 1, PREVIEW_MAX, "limit")
    sample = _bounded(sample, 1, SAMPLE_MAX, "sample")
    node_type_name = str(node.get("type") or "")
    if node_type_name not in TRIABLE_TYPES:
        raise DagfluxError(f"'try on sample' works for Transformer and Join nodes, not '{node_type_name}'")
    spec = state.registry.node_type(node_type_name)
    config = dict(node.get("config") or {})
    label = str(node.get("title") or node.get("id") or "node")
    problems = spec.validate_config(config, [str(i["node_id"]) for i in inputs])
    if problems:
        raise DagfluxError(f"fix the settings of '{label}' first: "
                           + "; ".join(f"{p.field}: {p.message}" for p in problems))
    if not inputs:
        raise DagfluxError(f"'{label}' has no input yet: connect an upstream node first")
    if any(i.get("connection") for i in inputs):
        return _try_in_database(state, workflow_id, base_dir, node, config, inputs, limit, params)
    return _try_on_copies(state, workflow_id, base_dir, node, config, inputs, limit, sample, params)


def _try_on_copies(state: Any, workflow_id: str, base_dir: str, node: Mapping[str, Any], config: dict,
                   inputs: Sequence[Mapping[str, Any]], limit: int, sample: int,
                   params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    label = str(node.get("title") or node.get("id") or "node")
    with contextlib.ExitStack() as stack:
        found = obtain_inputs(state, stack, workflow_id, base_dir, inputs, params, label)
        scratch = stack.enter_context(ScratchDb())
        counts = [scratch.copy_sample(conn, table, sample) for conn, table, _ in found]
        source = state.conn
        for name in _referenced_tables(config):
            if source is not None and workspace.table_exists(source, name) \
                    and not workspace.table_exists(scratch.conn, name):
                scratch.copy_sample(source, name, sample)
        ctx = _context(state, workflow_id, base_dir, node, config, scratch.conn, scratch.lease, scratch.path,
                       [InputTable(str(i["node_id"]), table, copied) for i, (_, table, _), (copied, _) in
                        zip(inputs, found, counts)], params)
        out = state.registry.node_type(str(node["type"])).execute(ctx)
        if out.table is None:
            raise DagfluxError(f"'{ctx.label}' produced no table")
        sampled = ", ".join(f"{i['node_id']}: {copied:,} of {total:,} rows" for i, (copied, total) in
                            zip(inputs, counts))
        reply = scratch.reply(out.table, limit, f"Ran on a copy of the first {sample:,} rows of each input "
                                                f"({sampled}); nothing was written to the workspace")
        reply["inputs"] = [{"node_id": str(i["node_id"]), "how": how.how, "note": how.note}
                           for i, (_, _, how) in zip(inputs, found)]
        reply["provenance"] = provenance_line(reply["inputs"], len(inputs))
        return reply


def _try_in_database(state: Any, workflow_id: str, base_dir: str, node: Mapping[str, Any], config: dict,
                     inputs: Sequence[Mapping[str, Any]], limit: int,
                     params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An input in a database: its SELECT is run there, read-only; in-place SQL is refused."""
    connections = {i.get("connection") for i in inputs}
    label = str(node.get("title") or node.get("id"))
    if node.get("type") != "transformer" or len(connections) != 1 or config.get("language", "sql") != "sql":
        raise DagfluxError(f"'try on sample' of '{label}' needs its inputs in the workspace, or one SQL input "
                           f"in one database connection; run the workflow to see this node's result")
    if config.get("mode") == "in_place":
        raise DagfluxError(f"'{label}' changes its input table in the database in place; that cannot be tried "
                           f"without changing the table — run the workflow to apply it")
    connection = str(connections.pop())
    db = state.runtime.connector(connection)
    ctx = _context(state, workflow_id, base_dir, node, config, _workspace(state), state.lease,
                   state.workspace_path, [InputTable(str(i["node_id"]), str(i["table"]), None, connection)
                                          for i in inputs], params)
    statements = split_statements(ctx.render_for(str(config["sql"]), db))
    if len(statements) != 1:
        raise DagfluxError(f"'{label}': mode 'new_table' takes exactly one SELECT statement, found "
                           f"{len(statements)}")
    batches = db.read_batches(statements[0], (), limit)
    try:
        names, rows = next(batches)
    finally:
        batches.close()
    rows = rows[:limit]
    columns = [(name, _value_type(row[i] for row in rows)) for i, name in enumerate(names)]
    return table_reply(columns, rows, f"First {len(rows)} rows of the SELECT, run read-only in connection "
                                      f"'{db.name}'; nothing was written")


def _context(state: Any, workflow_id: str, base_dir: str, node: Mapping[str, Any], config: dict,
             conn: sqlite3.Connection, lease: workspace.WriteLease, path: Path,
             inputs: list[InputTable], params: Mapping[str, Any] | None = None) -> NodeContext:
    node_id = str(node.get("id") or "node")
    return NodeContext(workflow_id=workflow_id, run_id=PREVIEW_RUN, node_id=node_id, node_type=str(node["type"]),
                       title=str(node.get("title") or ""), config=config, base_dir=Path(base_dir),
                       inputs=inputs, output_table=workspace.table_name(workflow_id, node_id), conn=conn,
                       lease=lease, workspace_path=Path(path), isolated=bool(state.isolated),
                       connections=state.runtime, params=params)


def _referenced_tables(config: Mapping[str, Any]) -> list[str]:
    """Workspace tables named with ``{{ table.<name> }}`` in the node's SQL."""
    text = str(config.get("sql") or "")
    try:
        return [str(ref.arg) for ref in templates.parse(text) if ref.kind == "table" and ref.arg]
    except DagfluxError:
        return []   # the node's own run reports a malformed reference


class ScratchDb:
    """A throwaway SQLite database in a temporary folder, with its own write lease.

    A file rather than ``:memory:`` because a Python transform reads its input through a
    second, read-only connection to the same database file."""

    def __enter__(self) -> ScratchDb:
        self._dir = tempfile.TemporaryDirectory(prefix="dagflux-try-")
        self.path = Path(self._dir.name) / "scratch.sqlite"
        self.conn = workspace.connect(self.path)
        self.lease = workspace.WriteLease(self.path)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()
        self.lease.close()
        self._dir.cleanup()

    def copy_sample(self, source: sqlite3.Connection, table: str, sample: int) -> tuple[int, int]:
        """Copy the first ``sample`` rows of ``table`` under the same name; (copied, total)."""
        from engine.io.readers.sqlite_reader import declared_type

        total = workspace.count_rows(source, table)
        if workspace.table_exists(self.conn, table):     # two inputs passing on one table
            return min(sample, total), total
        columns = workspace.columns(source, table)
        quoted = workspace.quote_ident(table)
        defs = ", ".join(f"{workspace.quote_ident(n)} {declared_type(t)}".rstrip() for n, t in columns)
        rows = source.execute(f"SELECT * FROM {quoted} LIMIT ?", (sample,)).fetchall()
        with workspace.write_transaction(self.conn, self.lease):
            self.conn.execute(f"CREATE TABLE {quoted} ({defs})")
            if rows:
                self.conn.executemany(f"INSERT INTO {quoted} VALUES ({', '.join('?' * len(columns))})", rows)
        return len(rows), total

    def reply(self, table: str, limit: int, note: str) -> dict[str, Any]:
        rows = self.conn.execute(f"SELECT * FROM {workspace.quote_ident(table)} LIMIT ?", (limit,)).fetchall()
        return table_reply(workspace.columns(self.conn, table), rows, note, workspace.count_rows(self.conn, table))


OPS = {"nodes.preview": preview, "nodes.sheets": sheets, "nodes.try": try_sample, "tables.page": page}
