"""The first rows of a file exactly as an import would make them, without the workspace.

Used by the node panel's Data Source preview (a worker operation). Guarantees:

* Only the reader's first batches are read — as many as it takes to have ``limit`` rows,
  usually one (the batch that decides the column types) — then the reader is closed, so a
  huge file costs about as much as a small one. Nothing is written anywhere but a private
  in-memory SQLite database that is closed before returning.
* Column names and declared types are the ones :func:`engine.io.readers.import_file`
  would create (same readers, same :class:`~._sink.TableSink`, same null markers), so the
  preview never disagrees with the table a run builds; the user's column types apply too.
* ``findings`` names the columns of the sample that are numbers except for some values, as
  the run's warnings will (:mod:`._findings`), counted over the ``sampled`` rows.
* Errors are :class:`~engine.errors.NodeError` naming the file (and the sheet or table),
  as the import's own errors do.
"""

from __future__ import annotations

import sqlite3
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from engine.errors import NodeError
from engine.io.columns import ColumnNamer
from engine.io.readers import _reader, checked_source
from engine.io.readers._findings import mixed_columns
from engine.io.readers._options import type_choice, unmatched_error
from engine.io.readers._sink import TableSink
from engine.workspace import quote_ident

__all__ = ["FilePreview", "list_sheets", "preview_file"]


@dataclass
class FilePreview:
    columns: list[tuple[str, str]]      # (column name, declared type) as the import creates them
    rows: list[tuple[Any, ...]]         # at most ``limit`` rows
    detail: str                         # what was read: "orders.csv (csv)", "book.xlsx sheet 'Q1'"
    sampled: int = 0                    # rows read to decide the types (and scanned for findings)
    findings: list[dict[str, Any]] = field(default_factory=list)   # engine.io.readers._findings


def preview_file(path: Path, fmt: str | None = None, options: Mapping[str, Any] | None = None,
                 limit: int = 5) -> FilePreview:
    """The first ``limit`` rows of ``path`` with the column names and types an import gives."""
    path, fmt, options = checked_source(path, fmt, options)
    if fmt == "sqlite":
        return _preview_sqlite(path, options, limit)
    batches, null_values = _reader(fmt, path, options)
    choice = type_choice(path.name, options)
    scratch = sqlite3.connect(":memory:", isolation_level=None)
    try:
        sink = TableSink(scratch, "preview", path.name, null_values, choice)
        try:
            for batch in batches:
                scratch.execute("BEGIN")
                sink.write(batch)
                scratch.execute("COMMIT")
                if sink.records >= limit:
                    break
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()     # ends the reader early: its file is closed at once
        rows = scratch.execute(f"SELECT * FROM {quote_ident('preview')} LIMIT ?", (limit,)).fetchall()
        findings = mixed_columns(scratch, "preview", sink.columns, sink.chosen)
        unmatched = unmatched_error(path.name, choice, sink.source_columns)
        if unmatched is not None:
            # The sample may not show every column (JSON keys first seen later): a note, not an error.
            findings.append({"column": "", "message": str(unmatched)})
        return FilePreview(sink.columns, rows, _detail(path, fmt, options), sink.records, findings)
    finally:
        scratch.close()


def _detail(path: Path, fmt: str, options: Mapping[str, Any]) -> str:
    if fmt == "excel":
        sheet = options.get("sheet")
        return f"{path.name}, sheet '{sheet}'" if sheet not in (None, "") else f"{path.name}, first sheet"
    return f"{path.name} ({fmt})"


def _preview_sqlite(path: Path, options: Mapping[str, Any], limit: int) -> FilePreview:
    from engine.io.readers.sqlite_reader import _describe, _open_source

    table, names, types, _is_table = _describe(path, options.get("table"))
    namer = ColumnNamer()
    columns = list(zip(namer.add(names), types))
    picked = ", ".join(quote_ident(n) for n in names)
    with _open_source(path) as src:
        try:
            rows = src.execute(f"SELECT {picked} FROM {quote_ident(table)} LIMIT ?", (limit,)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise NodeError(f"{path.name} table '{table}': cannot read it ({exc})") from None
    return FilePreview(columns, rows, f"{path.name}, table '{table}'")


def list_sheets(path: Path) -> list[str]:
    """The worksheet names of an .xlsx workbook, in workbook order (read-only, streamed)."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    path = Path(path)
    if not path.is_file():
        raise NodeError(f"{path.name}: no such file ({path})")
    try:
        with open(path, "rb") as handle:
            book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
            try:
                return [sheet.title for sheet in book.worksheets]
            finally:
                book.close()
    except (InvalidFileException, zipfile.BadZipFile, ParseError, KeyError, OSError) as exc:
        raise NodeError(f"{path.name}: not a readable .xlsx workbook ({exc})") from None
