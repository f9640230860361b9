"""What the assistant is shown of a node's data — built inside the worker, from data it reads
itself (never passed through the engine), and never holding a secret.

For each input table: its schema as ``CREATE TABLE`` (in the dialect it lives in), its row
count, and :data:`SAMPLE_ROWS` sample rows — unless the workflow is *schema only*
(``settings.ai.schema_only``), in which case no row and no value is read. Columns named in
``settings.ai.sensitive_columns`` (``column`` for any input, ``<node id>.<column>`` for one)
keep their name and type in the schema, marked, but their values are never read into a
prompt. Long cells are cut to :data:`CELL_MAX` characters, bytes are described by length.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine import workspace
from engine.errors import DagfluxError

SAMPLE_ROWS = 5
CELL_MAX = 80


@dataclass
class Privacy:
    schema_only: bool = False
    sensitive: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> Privacy:
        ai = (settings or {}).get("ai") or {}
        return cls(bool(ai.get("schema_only")), frozenset(str(c).lower() for c in ai.get("sensitive_columns") or []))

    def hides(self, node_id: str, column: str) -> bool:
        return column.lower() in self.sensitive or f"{node_id}.{column}".lower() in self.sensitive


@dataclass
class TableView:
    node_id: str
    table: str
    dialect: str
    columns: list[tuple[str, str]]
    total: int | None
    rows: list[list[Any]] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)

    def create_table(self) -> str:
        quote = (lambda n: "`" + n.replace("`", "``") + "`") if self.dialect == "mysql" else workspace.quote_ident
        cols = []
        for i, (name, kind) in enumerate(self.columns):
            comma = "," if i < len(self.columns) - 1 else ""
            mark = "  -- sensitive: values never shown" if name in self.hidden else ""
            cols.append(f"  {quote(name)} {kind or ''}".rstrip() + comma + mark)
        table = ".".join(quote(p) for p in self.table.split(".")) if self.dialect == "postgresql" \
            else quote(self.table)
        return f"CREATE TABLE {table} (\n" + "\n".join(cols) + "\n);"

    def describe(self, ref: str, schema_only: bool) -> str:
        count = "unknown" if self.total is None else f"{self.total:,}"
        lines = [f"Input {ref} — table {self.table} ({self.dialect}), {count} rows:", self.create_table()]
        if schema_only:
            lines.append("(schema only: no sample rows are shared for this workflow)")
        elif self.rows:
            shown = [n for n, _ in self.columns if n not in self.hidden]
            lines.append(f"{len(self.rows)} sample rows, columns {json.dumps(shown)}:")
            lines += [json.dumps(row, ensure_ascii=False, default=str) for row in self.rows]
        else:
            lines.append("(the table is empty)")
        return "\n".join(lines)


def read_inputs(state: Any, inputs: Sequence[Mapping[str, Any]], privacy: Privacy) -> list[TableView]:
    """Schema, count and (unless schema only) sample rows of each input, sensitive values left out."""
    return [_read_one(state, item, privacy) for item in inputs]


def _read_one(state: Any, item: Mapping[str, Any], privacy: Privacy) -> TableView:
    node_id, table, connection = str(item["node_id"]), str(item["table"]), item.get("connection")
    if connection:
        db = state.runtime.connector(str(connection))
        if not db.table_exists(table):
            raise DagfluxError(f"input '{node_id}' has no table '{table}' in connection '{db.name}' yet — run "
                               f"the workflow once first")
        columns = [(n, t) for n, t in db.list_fields(table)]
        view = TableView(node_id, table, db.dialect, columns, db.count(table))
        fetch = None if privacy.schema_only else (lambda names: db.read_batches(
            f"SELECT {', '.join(db.quote_ident(n) for n in names)} FROM {db.qualified(table)} LIMIT {SAMPLE_ROWS}",
            (), SAMPLE_ROWS))
    else:
        # "local"/"local_table": an input computed on a sample, in the sample cache
        # (engine.workers.sample_inputs); the model still sees the table's usual name.
        conn, actual = item.get("local") or state.conn, str(item.get("local_table") or table)
        if conn is None or not workspace.table_exists(conn, actual):
            raise DagfluxError(f"input '{node_id}' has no output table yet — run the workflow once first, then "
                               f"ask again")
        view = TableView(node_id, table, "sqlite", workspace.columns(conn, actual), workspace.count_rows(conn, actual))
        fetch = None if privacy.schema_only else (lambda names: [(names, conn.execute(
            f"SELECT {', '.join(workspace.quote_ident(n) for n in names)} FROM {workspace.quote_ident(actual)} "
            f"LIMIT ?", (SAMPLE_ROWS,)).fetchall())])
    view.hidden = [n for n, _ in view.columns if privacy.hides(node_id, n)]
    shown = [n for n, _ in view.columns if n not in view.hidden]
    if fetch is not None and shown:
        view.rows = [[cell(v) for v in row] for _, rows in _first(fetch(shown)) for row in rows][:SAMPLE_ROWS]
    return view


def _first(batches: Iterable[tuple[list[str], list[Any]]]) -> list[tuple[list[str], list[Any]]]:
    iterator = iter(batches)
    try:
        return [next(iterator)]
    except StopIteration:
        return []
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def cell(value: Any) -> Any:
    """A sample value as the model sees it: long text cut, bytes described."""
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, str) and len(value) > CELL_MAX:
        return value[:CELL_MAX] + f"… ({len(value)} chars)"
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
