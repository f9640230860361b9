"""Excel workbooks (.xlsx) as :class:`Batch` es, one sheet per import.

Guarantees: the workbook is streamed (openpyxl ``read_only``) and always closed; the
first row of the sheet (the first that is not empty) is the header; rows with no value at all are skipped; a row
longer than the header adds ``col_N`` columns; dates and times become ISO text,
booleans 1/0, formulas their cached values. Errors name the file and the sheet.

Options: ``sheet`` — a sheet name or a 1-based index (default: the first sheet);
``null_values``/``default_nulls`` — text cells read as NULL (see :mod:`._options`).
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from engine.errors import NodeError
from engine.io import columns as colmod
from engine.io.readers._options import null_markers
from engine.io.readers._sink import Batch

BATCH_VALUES = 1 << 16


def read_excel(path: Path, options: Mapping[str, object]) -> Iterator[Batch]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        # Our own handle: openpyxl leaves the file open when loading fails half-way.
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with block below
    except OSError as exc:
        raise NodeError(f"{path.name}: cannot read the file ({exc.strerror or exc})") from None
    with handle:
        try:
            book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, ParseError, KeyError, OSError) as exc:
            raise NodeError(f"{path.name}: not a readable .xlsx workbook ({exc})") from None
        try:
            sheet = _pick_sheet(path, book, options.get("sheet"))
            label = f"{path.name} sheet '{sheet.title}'"
            try:
                yield from _sheet_batches(label, sheet.iter_rows(values_only=True),
                                          null_markers(path.name, options))
            except (ValueError, TypeError, KeyError, zipfile.BadZipFile, ParseError) as exc:
                raise NodeError(f"{label}: cannot read the sheet ({exc})") from None
        finally:
            book.close()


def _pick_sheet(path: Path, book, choice: object):
    """The worksheet named ``choice``, or numbered (1-based), or the first one."""
    sheets = book.worksheets          # chart sheets have no cells: not offered
    names = [sheet.title for sheet in sheets]
    if not sheets:
        raise NodeError(f"{path.name}: the workbook has no worksheet")
    if choice is None or choice == "":
        return sheets[0]
    if isinstance(choice, str) and choice in names:
        return sheets[names.index(choice)]
    index = choice if isinstance(choice, int) and not isinstance(choice, bool) else None
    if isinstance(choice, str) and choice.strip().isdigit():
        index = int(choice)
    if index is not None and 1 <= index <= len(sheets):
        return sheets[index - 1]
    listed = ", ".join(f"'{n}'" for n in names)
    raise NodeError(f"{path.name}: no sheet {choice!r}; the workbook has {listed}")


def _cell(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is float or value is None:
        return value
    if kind is bool:
        return int(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return str(value)   # timedelta and anything else openpyxl may hand back


def _sheet_batches(label: str, rows: Iterator[tuple], markers: list[str]) -> Iterator[Batch]:
    header = next((row for row in rows if _width(row)), None)
    if header is None:
        raise NodeError(f"{label} is empty (no header row)")
    columns = [("" if v is None else str(v)) for v in header]
    types: list[str] = []
    values: list[object] = []
    count = 0
    for row in rows:
        width = _width(row)
        if not width:
            continue
        if width > len(columns):
            # A row wider than the header: close the batch, then add col_N columns.
            if count:
                yield _batch(columns, types, values, count, markers)
                values, count = [], 0
            columns += [f"col_{i}" for i in range(len(columns) + 1, width + 1)]
        values.extend(map(_cell, row[:len(columns)]))
        if len(row) < len(columns):
            values.extend([None] * (len(columns) - len(row)))
        count += 1
        if len(values) >= BATCH_VALUES:
            yield _batch(columns, types, values, count, markers)
            values, count = [], 0
    yield _batch(columns, types, values, count, markers)


def _width(row: tuple) -> int:
    """Length of ``row`` without its trailing empty cells."""
    width = len(row)
    while width and row[width - 1] is None:
        width -= 1
    return width


def _batch(columns: list[str], types: list[str], values: list[object], count: int,
           markers: list[str]) -> Batch:
    """Types for the columns new in this batch come from this batch's values (text cells that
    are null markers do not count; the sink stores them as NULL)."""
    ncols = len(columns)
    types.extend(colmod.infer_value_type(values[i::ncols], markers) for i in range(len(types), ncols))
    return Batch(list(columns), list(types), values, count)
