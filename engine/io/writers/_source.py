"""The workspace table being exported, read in batches of rows.

Guarantees:

* Rows come from one ``SELECT * FROM "<table>"`` read with ``fetchmany``, so at most
  :data:`BATCH_ROWS` rows are held at a time, whatever the size of the table.
* A failure to read (a value that is not valid UTF-8, a dropped table) is raised as a
  :class:`NodeError` naming the table and the row, never as a bare ``sqlite3`` error;
  so a ``sqlite3.Error`` escaping a writer is always about the file being written.
* :meth:`TableSource.columns` tells, per column, the one *kind* of value every row can be
  written as (``integer``, ``real``, ``text`` or ``blob``), from the storage classes the
  column really holds (one ``typeof()`` scan, done in SQLite) and, for a column holding only
  NULLs, from its declared type. Writers with a fixed schema (Parquet, Avro) rely on it.
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from engine import decimals
from engine.errors import NodeError, WorkspaceError
from engine.workspace import columns as declared_columns
from engine.workspace import quote_ident

BATCH_ROWS = 5_000

INTEGER, REAL, TEXT, BLOB = "integer", "real", "text", "blob"


@dataclass(frozen=True)
class Column:
    """One column of the exported table."""

    name: str
    declared: str                 # the declared SQLite type, "" when none
    kind: str                     # INTEGER, REAL, TEXT or BLOB
    storage: frozenset[str]       # SQLite storage classes present, "null" excluded

    @property
    def needs_text_conversion(self) -> bool:
        """True when a TEXT column also holds numbers or blobs that must become text."""
        return self.kind == TEXT and not self.storage <= {TEXT}


class TableSource:
    """A workspace table opened for export; close it to release its read cursor."""

    def __init__(self, conn: sqlite3.Connection, table: str) -> None:
        self.conn = conn
        self.table = table
        try:
            self.declared = declared_columns(conn, table)
        except WorkspaceError:
            raise NodeError(f"the workspace has no table '{table}' to export") from None
        self.names = [name for name, _ in self.declared]
        self._cursor: sqlite3.Cursor | None = None
        self._columns: list[Column] | None = None

    def count(self) -> int:
        sql = f"SELECT count(*) FROM {quote_ident(self.table)}"
        return int(self._run(lambda: self.conn.execute(sql).fetchone()[0], "count"))

    def batches(self) -> Iterator[list[tuple]]:
        """Yield lists of at most :data:`BATCH_ROWS` row tuples, in the order SQLite scans them."""
        sql = f"SELECT * FROM {quote_ident(self.table)}"
        cursor = self._run(lambda: self.conn.execute(sql), "read")
        self._cursor = cursor
        done = 0
        try:
            while True:
                rows = self._run(lambda: cursor.fetchmany(BATCH_ROWS), f"read past row {done} of")
                if not rows:
                    return
                done += len(rows)
                yield rows
        finally:
            self.close()

    def columns(self) -> list[Column]:
        """The columns with the kind each is written as (see module doc); scanned once."""
        if self._columns is None:
            self._columns = self._scan_columns()
        return self._columns

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None

    def _scan_columns(self) -> list[Column]:
        parts = ", ".join(f"group_concat(DISTINCT typeof({quote_ident(name)}))"
                          for name in self.names)
        sql = f"SELECT {parts} FROM {quote_ident(self.table)}"
        found = self._run(lambda: self.conn.execute(sql).fetchone(), "scan")
        out = []
        for (name, declared), classes in zip(self.declared, found, strict=True):
            storage = frozenset((classes or "").split(",")) - {"null", ""}
            out.append(Column(name, declared, _kind(declared, storage), storage))
        return out

    def _run(self, action, what: str):
        try:
            return action()
        except sqlite3.Error as exc:
            raise NodeError(f"cannot {what} workspace table '{self.table}': {exc}") from exc


def _kind(declared: str, storage: frozenset[str]) -> str:
    if not storage:
        return declared_kind(declared)
    if storage == {INTEGER}:
        return INTEGER
    if storage <= {INTEGER, REAL}:
        return REAL
    if storage == {BLOB}:
        return BLOB
    return TEXT


def declared_kind(declared: str) -> str:
    """SQLite's affinity rules, reduced to our four kinds (NUMERIC and none → TEXT); a
    decimal column (``DECIMAL BLOB``, :mod:`engine.decimals`) is REAL."""
    if decimals.is_exact_decimal(declared):
        return REAL
    upper = declared.upper()
    if "INT" in upper:
        return INTEGER
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return TEXT
    if "BLOB" in upper:
        return BLOB
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return REAL
    return TEXT


def blob_text(value: bytes) -> str:
    """How a BLOB is written in a text format: standard base64."""
    return base64.b64encode(value).decode("ascii")


def as_text(value: object) -> str:
    """A number or blob found in a TEXT column, as the text it is written as."""
    if isinstance(value, bytes):
        return blob_text(value)
    return str(value)
