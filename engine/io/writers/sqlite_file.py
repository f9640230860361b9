"""SQLite-file writer: a new database file holding the one exported table.

Guarantees:

* The file is built whole under a temporary name and renamed over the target, so a reader
  never sees a half-written table. With ``if_exists="overwrite"`` the target is *replaced*:
  other tables an existing file held are not carried over (the export is one table, one file).
* The table (named by the ``table`` option, default the source table's name) keeps the
  source's column names and declared types (a typeless column gets the type of the one
  storage class it holds, if it holds one); constraints and indexes are not copied.
* Rows are copied in batches, every value with its own SQLite storage class.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from engine.errors import NodeError
from engine.io.writers._source import BLOB, INTEGER, REAL, TEXT, TableSource
from engine.workspace import quote_ident

_NUMBER = r"\s*[+-]?\d+(\.\d*)?\s*"
_PLAIN_TYPE = re.compile(rf"[A-Za-z_][A-Za-z0-9_ ]*(\({_NUMBER}(,{_NUMBER})?\))?\Z")
_STORAGE_TYPES = {frozenset({kind}): kind.upper() for kind in (INTEGER, REAL, TEXT, BLOB)}


def write_sqlite(source: TableSource, path: Path, target: Path, options: Mapping) -> int:
    name = _table_name(options, source)
    dest = sqlite3.connect(path, isolation_level=None)
    try:
        # A throw-away file until the rename: no journal, no syncs (the rename step fsyncs).
        dest.execute("PRAGMA journal_mode = OFF")
        dest.execute("PRAGMA synchronous = OFF")
        dest.execute("BEGIN")
        dest.execute(_create_sql(name, source))
        insert = (f"INSERT INTO {quote_ident(name)} VALUES "
                  f"({', '.join('?' for _ in source.names)})")
        rows = 0
        for batch in source.batches():
            dest.executemany(insert, batch)
            rows += len(batch)
        dest.execute("COMMIT")
    finally:
        dest.close()
    return rows


def _table_name(options: Mapping, source: TableSource) -> str:
    name = options.get("table") or source.table
    if not isinstance(name, str) or name.lower().startswith("sqlite_") or "\x00" in name:
        raise NodeError(f"SQLite table name {name!r} is not allowed (names starting with "
                        f"'sqlite_' are reserved)")
    return name


def _create_sql(name: str, source: TableSource) -> str:
    cols = ", ".join(f"{quote_ident(col)} {_type_sql(decl)}".rstrip()
                     for col, decl in _column_types(source))
    return f"CREATE TABLE {quote_ident(name)} ({cols})"


def _column_types(source: TableSource) -> list[tuple[str, str]]:
    """Declared types; a typeless column (``CREATE TABLE … AS SELECT`` makes them) gets
    the type of the one storage class it holds, so the file's readers see a type."""
    if all(decl for _, decl in source.declared):
        return source.declared
    return [(col.name, col.declared or _STORAGE_TYPES.get(col.storage, ""))
            for col in source.columns()]


def _type_sql(declared: str) -> str:
    """A declared type as SQL; SQLite hands it back unquoted, so re-quote odd ones."""
    if not declared or _PLAIN_TYPE.match(declared):
        return declared
    return quote_ident(declared)   # SQLite derives affinity from the unquoted text
