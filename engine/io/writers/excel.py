"""Excel (.xlsx) writer: one sheet, a header row, rows streamed through openpyxl's write-only mode.

Guarantees:

* Memory stays flat: openpyxl's write-only sheet spools rows to its own temp file and
  writes strings inline (no shared-string table). That spool file is deleted even when the
  export fails.
* Nothing Excel would refuse or silently alter is written: a table over Excel's
  1,048,576-row or 16,384-column limit is refused before anything is written; a text over
  32,767 characters or holding a control character Excel forbids stops the export with the
  row and column named. Text that openpyxl would turn into a formula (``=…``) or an error
  value (``#N/A``) is kept as plain text.
* BLOB → base64 text; ±inf → empty cell (Excel has no infinity); NULL and "" → empty cell.
  A line break is read back by Excel (and openpyxl) as LF: XML folds CR LF and CR into LF.

openpyxl is imported when an export runs, never when this module is imported.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path

from engine.errors import NodeError
from engine.io.writers._source import TableSource, blob_text

MAX_ROWS = 1_048_576          # header included
MAX_COLUMNS = 16_384
MAX_CELL_CHARS = 32_767
DEFAULT_SHEET = "Sheet1"
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")   # what openpyxl refuses
_RETYPED = ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A")


def write_excel(source: TableSource, path: Path, target: Path, options: Mapping) -> int:
    from openpyxl import Workbook

    sheet = _sheet_name(options)
    _check_size(source, target)
    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet)
    rows = 0
    try:
        worksheet.append(_cells(worksheet, source.names, 0, source.names))
        for batch in source.batches():
            for row in batch:
                rows += 1
                worksheet.append(_cells(worksheet, row, rows, source.names))
        workbook.save(path)
    except BaseException:
        _discard(worksheet)
        raise
    return rows


def _sheet_name(options: Mapping) -> str:
    sheet = options.get("sheet") or DEFAULT_SHEET
    if (not isinstance(sheet, str) or len(sheet) > 31 or _SHEET_FORBIDDEN.search(sheet)
            or sheet.startswith("'") or sheet.endswith("'")):
        raise NodeError(f"Excel sheet name {sheet!r} is not allowed: use at most 31 characters, "
                        f"none of [ ] : * ? / \\, and no leading or trailing apostrophe")
    return sheet


def _check_size(source: TableSource, target: Path) -> None:
    if len(source.names) > MAX_COLUMNS:
        raise NodeError(f"cannot write {target}: the table has {len(source.names):,} columns "
                        f"and an Excel sheet holds at most {MAX_COLUMNS:,}")
    rows = source.count()
    if rows + 1 > MAX_ROWS:
        raise NodeError(f"cannot write {target}: the table has {rows:,} rows and an Excel "
                        f"sheet holds at most {MAX_ROWS - 1:,} below its header; export to "
                        f"CSV or Parquet instead, or filter the table first")


def _cells(worksheet, row: tuple | list, row_number: int, names: list[str]) -> list:
    return [_cell(worksheet, value, row_number, name)
            for value, name in zip(row, names, strict=True)]


def _cell(worksheet, value: object, row_number: int, column: str) -> object:
    kind = type(value)
    if kind is bytes:
        value = blob_text(value)  # type: ignore[arg-type]
    elif kind is float and math.isinf(value):  # type: ignore[arg-type]
        return None
    elif kind is not str:
        return value
    return _text_cell(worksheet, value, row_number, column)  # type: ignore[arg-type]


def _text_cell(worksheet, text: str, row_number: int, column: str) -> object:
    where = "the header" if row_number == 0 else f"row {row_number}"
    if len(text) > MAX_CELL_CHARS:
        raise NodeError(f"cannot write Excel: {where}, column '{column}' holds {len(text):,} "
                        f"characters and an Excel cell holds at most {MAX_CELL_CHARS:,}")
    if _CONTROL.search(text):
        raise NodeError(f"cannot write Excel: {where}, column '{column}' holds a control "
                        f"character Excel does not allow")
    if (text.startswith("=") and len(text) > 1) or text in _RETYPED:
        return _plain_text_cell(worksheet, text)
    return text


def _plain_text_cell(worksheet, text: str) -> object:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(worksheet, value=text)
    cell.data_type = "s"
    return cell


def _discard(worksheet) -> None:
    """Close and delete openpyxl's spool file after a failed export (it would stay until exit)."""
    if not worksheet.closed:
        worksheet.close()
    writer = worksheet._writer  # openpyxl keeps the spool file's writer here
    if writer is not None and Path(writer.out).exists():
        writer.cleanup()
