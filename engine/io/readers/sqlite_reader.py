"""Copy one table (or view) of a SQLite file into the workspace.

The source is only ever opened read-only (``mode=ro``): it is never written, not even
a WAL recovery. The copy runs in SQLite itself: the file is ATTACHed read-only and rows
move with ``INSERT … SELECT`` in batches of :data:`BATCH_ROWS` (by rowid), each in its
own short write transaction, the WAL checkpointed alongside (:mod:`engine.wal_checkpoint`); the
file is DETACHed afterwards, also on error. Where the
SQLite library cannot open URI file names on the workspace connection, rows are copied
through Python instead (slower, same result).

Declared column types are kept, except types that are not a plain type name (they could
smuggle SQL into ``CREATE TABLE``), which become their affinity name. Column names are
sanitised like every import. Errors name the file and the table.

Options: ``table`` (required) — the table or view to copy.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path

from engine.errors import NodeError
from engine.io.readers._sink import Batch, ImportResult, TableSink
from engine.wal_checkpoint import WalCheckpointer
from engine.workspace import WriteLease, quote_ident, write_transaction

BATCH_ROWS = 50_000
_PLAIN_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_ ]*(?:\(\s*[-+]?\d+(?:\s*,\s*[-+]?\d+)?\s*\))?")


def import_sqlite(conn: sqlite3.Connection, lease: WriteLease, path: Path, table: str,
                  options: Mapping[str, object]) -> ImportResult:
    source, names, types, is_table = _describe(path, options.get("table"))
    label = f"{path.name} table '{source}'"
    sink = TableSink(conn, table, label)
    try:
        with write_transaction(conn, lease):
            sink.write(Batch(names, types, [], 0))
        if _attach_supported(conn):
            _copy_attached(conn, lease, path, source, sink, is_table)
        else:
            _copy_through_python(conn, lease, path, source, sink)
    except sqlite3.Error as exc:
        raise NodeError(f"{label}: copy failed: {exc}") from exc
    return ImportResult(sink.records, sink.columns, names)


def declared_type(text: str) -> str:
    """``text`` when it is a plain type name, else the name of its SQLite affinity."""
    text = text.strip()
    if not text or _PLAIN_TYPE.fullmatch(text):
        return text
    upper = text.upper()
    if "INT" in upper:
        return "INTEGER"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in upper:
        return "BLOB"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def _readonly_uri(path: Path) -> str:
    return f"{path.resolve().as_uri()}?mode=ro"


@contextlib.contextmanager
def _open_source(path: Path) -> Iterator[sqlite3.Connection]:
    try:
        src = sqlite3.connect(_readonly_uri(path), uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise NodeError(f"{path.name}: cannot open the SQLite file ({exc})") from None
    try:
        yield src
    finally:
        src.close()


def _describe(path: Path, wanted: object) -> tuple[str, list[str], list[str], bool]:
    """The source table's exact name, column names, declared types and whether it is a
    plain table (not a view)."""
    with _open_source(path) as src:
        try:
            kinds = dict(src.execute(
                "SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").fetchall())
        except sqlite3.DatabaseError as exc:
            raise NodeError(f"{path.name}: not a readable SQLite database ({exc})") from None
        tables = list(kinds)
        listed = ", ".join(f"'{t}'" for t in tables) or "none"
        if not isinstance(wanted, str) or not wanted:
            raise NodeError(f"{path.name}: option 'table' is required; tables in the file: {listed}")
        match = wanted if wanted in tables else next(
            (t for t in tables if t.lower() == wanted.lower()), None)
        if match is None:
            raise NodeError(f"{path.name}: no table '{wanted}'; tables in the file: {listed}")
        try:
            # table_xinfo also lists generated columns (hidden 2/3), whose values are data.
            info = [r for r in src.execute(f"PRAGMA table_xinfo({quote_ident(match)})")
                    if r[6] in (0, 2, 3)]
        except sqlite3.DatabaseError as exc:
            raise NodeError(f"{path.name} table '{match}': cannot read its columns ({exc})") from None
    if not info:
        raise NodeError(f"{path.name} table '{match}': no columns")
    return match, [r[1] for r in info], [declared_type(r[2] or "") for r in info], kinds[match] == "table"


def _attach_supported(conn: sqlite3.Connection) -> bool:
    """True when ATTACH understands ``file:`` URIs (else it would create such a file)."""
    options = {row[0] for row in conn.execute("PRAGMA compile_options")}
    return "USE_URI" in options or "USE_URI=1" in options


def _copy_attached(conn: sqlite3.Connection, lease: WriteLease, path: Path, source: str,
                   sink: TableSink, is_table: bool) -> None:
    alias = f"_dfsrc_{secrets.token_hex(4)}"
    conn.execute(f"ATTACH DATABASE ? AS {quote_ident(alias)}", (_readonly_uri(path),))
    try:
        src = f"{quote_ident(alias)}.{quote_ident(source)}"
        cols = ", ".join(quote_ident(n) for n in sink.namer.names)
        # Explicit columns: SELECT * would leave out generated ones' positions ambiguous.
        picked = ", ".join(quote_ident(n) for n in sink.source_columns)
        insert = f"INSERT INTO {quote_ident(sink.table)} ({cols}) SELECT {picked} FROM {src}"
        rowid = _rowid_name(conn, src, sink.source_columns) if is_table else None
        if rowid is None:
            with write_transaction(conn, lease):
                sink.records += conn.execute(insert).rowcount
            return
        with WalCheckpointer(conn) as wal:
            for low, high in _rowid_ranges(conn, src, rowid):
                with wal.transaction(lease):
                    sink.records += conn.execute(
                        f"{insert} WHERE {rowid} > ? AND {rowid} <= ? ORDER BY {rowid}", (low, high)).rowcount
    finally:
        conn.execute(f"DETACH DATABASE {quote_ident(alias)}")


def _rowid_name(conn: sqlite3.Connection, src: str, columns: list[str]) -> str | None:
    """An alias of the table's rowid that no column shadows; None without a rowid."""
    taken = {c.lower() for c in columns}
    alias = next((a for a in ("rowid", "_rowid_", "oid") if a not in taken), None)
    if alias is None:
        return None
    try:
        conn.execute(f"SELECT {alias} FROM {src} LIMIT 0").fetchall()
    except sqlite3.OperationalError:
        return None   # a WITHOUT ROWID table
    return alias


def _rowid_ranges(conn: sqlite3.Connection, src: str, rowid: str) -> Iterator[tuple[int, int]]:
    """(after, up to) rowid bounds of consecutive runs of BATCH_ROWS source rows."""
    low = conn.execute(f"SELECT min({rowid}) - 1 FROM {src}").fetchone()[0]
    while low is not None:
        high = conn.execute(f"SELECT {rowid} FROM {src} WHERE {rowid} > ? ORDER BY {rowid} "
                            f"LIMIT 1 OFFSET ?", (low, BATCH_ROWS - 1)).fetchone()
        if high is None:
            yield low, conn.execute(f"SELECT max({rowid}) FROM {src}").fetchone()[0]
            return
        yield low, high[0]
        low = high[0]


def _copy_through_python(conn: sqlite3.Connection, lease: WriteLease, path: Path, source: str,
                         sink: TableSink) -> None:
    names, types = list(sink.source_columns), list(sink.types)
    with _open_source(path) as src:
        picked = ", ".join(quote_ident(n) for n in names)
        cursor = src.execute(f"SELECT {picked} FROM {quote_ident(source)}")
        with WalCheckpointer(conn) as wal:
            while rows := cursor.fetchmany(BATCH_ROWS // 10):
                values = [v for row in rows for v in row]
                with wal.transaction(lease):
                    sink.write(Batch(names, types, values, len(rows)))
