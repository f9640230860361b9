"""Import a local file into a new workspace table (the Data Source node's file reader).

:func:`import_file` creates ``table`` (a staging name that must not exist yet) and fills
it in batches. Each batch is written in its own short ``BEGIN IMMEDIATE`` transaction
under the workspace :class:`~engine.workspace.WriteLease`, so parallel nodes interleave
with a long import instead of waiting for it; a reader thread parses the next batch
while SQLite writes the current one, and a helper thread checkpoints the WAL
(:mod:`engine.wal_checkpoint`).

Guarantees:

* memory is bounded by the batch size, not by the file size (a single record larger
  than a limit is an error, not a MemoryError);
* column names are sanitised and de-duplicated (:mod:`engine.io.columns`), and every
  identifier in generated SQL is quoted;
* null markers and the user's column types (``null_values``, ``default_nulls``, ``columns``,
  ``all_text``: :mod:`._options`) apply to every format that has them, and the result names
  the columns that are numbers except for some values (:mod:`._findings`);
* every failure is a :class:`~engine.errors.NodeError` naming the file and, where it
  applies, the line (CSV, JSON, JSON Lines), the sheet (Excel) or the table (SQLite).
  On failure the table may exist half-filled: the caller drops its staging table.

A CSV file goes through the native loader when it is built (:mod:`.csv_native`: parsed and
bound in C, the Python reader still deciding the header, the types and every error) and
through the Python reader otherwise; both give the same table.

Formats (:data:`FORMATS`) and their options are described in the reader modules:
:mod:`.csv_reader`, :mod:`.json_reader`, :mod:`.excel_reader`, :mod:`.parquet_reader`
and :mod:`.sqlite_reader`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path

from engine.errors import NodeError
from engine.io.readers._findings import mixed_columns, watched_columns
from engine.io.readers._options import null_markers, type_choice, unmatched_error
from engine.io.readers._pipeline import Prefetcher
from engine.io.readers._sink import Batch, ImportResult, TableSink
from engine.wal_checkpoint import WalCheckpointer
from engine.workspace import WriteLease, write_transaction

__all__ = ["FORMATS", "ImportResult", "detect_format", "import_file"]

FORMATS = ("csv", "json", "jsonl", "excel", "parquet", "sqlite")

_EXTENSIONS = {
    ".csv": "csv", ".tsv": "csv",
    ".json": "json",
    ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".xlsx": "excel", ".xlsm": "excel",
    ".parquet": "parquet",
    ".sqlite": "sqlite", ".sqlite3": "sqlite", ".db": "sqlite",
}

BATCHES_PER_TRANSACTION = 4
"""Upper bound of batches written in one transaction (about 32k rows of 8 columns)."""


def detect_format(path: Path) -> str:
    """The format of ``path`` by its extension (``.tsv`` is CSV with a tab delimiter)."""
    fmt = _EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(_EXTENSIONS))
        raise NodeError(f"{Path(path).name}: cannot tell the format from the extension "
                        f"(known: {known}); choose the format explicitly")
    return fmt


def checked_source(path: Path, fmt: str | None, options: Mapping | None) -> tuple[Path, str, dict]:
    """The file, its format (given or detected) and options, or a clear error for an unknown
    format or a missing file — what every reader entry point checks first."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise NodeError(f"{path.name}: unknown format '{fmt}' (known: {', '.join(FORMATS)})")
    if not path.is_file():
        raise NodeError(f"{path.name}: no such file ({path})")
    return path, fmt, dict(options or {})


def import_file(conn: sqlite3.Connection, lease: WriteLease, path: Path, table: str,
                fmt: str | None = None, options: Mapping | None = None,
                max_rows: int | None = None) -> ImportResult:
    """Create ``table`` from the file at ``path`` and return what was imported; with
    ``max_rows`` (a sample, for "try on sample"), only the file's first ``max_rows`` rows —
    the reader stops after the batch that reaches them."""
    path, fmt, options = checked_source(path, fmt, options)
    if fmt == "sqlite":
        from engine.io.readers.sqlite_reader import import_sqlite

        result = import_sqlite(conn, lease, path, table, options)
        if max_rows is not None:
            result.records = _keep_first(conn, lease, table, max_rows, result.records)
        return result
    native = None
    if fmt == "csv" and max_rows is None:
        from engine.io.readers import csv_native

        native = csv_native.import_csv(conn, lease, path, table, options, watched_columns)
    if native is not None:
        sink, counts = native.sink, native.counts
    else:
        reader, null_values = _reader(fmt, path, options)
        sink = TableSink(conn, table, path.name, null_values, type_choice(path.name, options))
        counts = None
        if max_rows is None:
            _write_all(conn, lease, sink, reader)
        else:   # no read-ahead thread: it would parse batches that are never written
            for batch in _first_batches(reader, max_rows):
                _write_group(write_transaction(conn, lease), sink, [batch])
    unmatched = unmatched_error(path.name, sink.choice, sink.source_columns)
    if unmatched is not None:
        raise unmatched
    findings = mixed_columns(conn, table, sink.columns, sink.chosen, counts)
    return ImportResult(sink.records, sink.columns, list(sink.source_columns), findings, native is not None)


def _reader(fmt: str, path: Path, options: dict) -> tuple[Iterator[Batch], list[str]]:
    """The batch iterator for ``fmt`` and the null markers its values use (CSV values and
    Excel text cells; JSON and Parquet have a null of their own)."""
    if fmt == "csv":
        from engine.io.readers.csv_reader import CsvOptions, read_csv

        return read_csv(path, options), CsvOptions(path, options).null_values
    if fmt == "excel":
        from engine.io.readers.excel_reader import read_excel

        return read_excel(path, options), null_markers(path.name, options)
    loaders: dict[str, Callable[[Path, dict], Iterator[Batch]]]
    if fmt in ("json", "jsonl"):
        from engine.io.readers.json_reader import read_json, read_jsonl

        loaders = {"json": read_json, "jsonl": read_jsonl}
    else:
        from engine.io.readers.parquet_reader import read_parquet

        loaders = {"parquet": read_parquet}
    return loaders[fmt](path, options), []


def _first_batches(reader: Iterator[Batch], max_rows: int) -> Iterator[Batch]:
    """The reader's batches up to ``max_rows`` rows, the last one cut short; then it is
    closed. A cut batch keeps the types the reader gave the whole batch (the run's types)."""
    seen = 0
    try:
        for batch in reader:
            if seen + batch.rows > max_rows:
                keep = max_rows - seen
                batch = Batch(batch.columns, batch.types, batch.values[:keep * len(batch.columns)], keep)
            yield batch
            seen += batch.rows
            if seen >= max_rows:
                return
    finally:
        close = getattr(reader, "close", None)
        if close is not None:
            close()


def _keep_first(conn: sqlite3.Connection, lease: WriteLease, table: str, max_rows: int, records: int) -> int:
    """Drop the rows after the first ``max_rows`` of a freshly filled ``table`` (its rowids
    are the insertion order); the rows left."""
    if records <= max_rows:
        return records
    from engine.workspace import quote_ident

    with write_transaction(conn, lease):
        conn.execute(f"DELETE FROM {quote_ident(table)} WHERE rowid > ?", (max_rows,))
    return max_rows


def _write_all(conn: sqlite3.Connection, lease: WriteLease, sink: TableSink,
               reader: Iterator[Batch]) -> None:
    with Prefetcher(reader) as batches, WalCheckpointer(conn) as wal:
        while group := batches.ready(BATCHES_PER_TRANSACTION):
            _write_group(wal.transaction(lease), sink, group)
            batches.recycle(group)


def _write_group(transaction: AbstractContextManager[object], sink: TableSink,
                 group: list[Batch]) -> None:
    """One write transaction; a function of its own so no local outlives the group."""
    try:
        with transaction:
            for batch in group:
                sink.write(batch)
    except sqlite3.Error as exc:
        raise NodeError(f"{sink.label}: writing table '{sink.table}' to the "
                        f"workspace failed: {exc}") from exc
