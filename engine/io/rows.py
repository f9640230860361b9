"""Write rows given as Python dicts into a new workspace table, in batches.

Used for a Python skill's output and for the rows a trigger delivers. Rules:

* Columns are the first row's keys, then every new key in the order it first appears
  (``ALTER TABLE … ADD COLUMN``); keys match columns ignoring ASCII case, as SQLite
  does; a key a row lacks is NULL.
* A column's declared type comes from its first non-null value in the batch that
  introduced it: INTEGER (int, bool), REAL (float), TEXT (str; dict/list/tuple as
  JSON; date/time as ISO 8601), BLOB (bytes), ``DECIMAL BLOB`` (Decimal, stored without
  rounding as :func:`engine.decimals.storable` says); a column all NULL in that batch gets no
  declared type. bool is stored as 0/1. Any other value type is an error naming its
  row and column — never a silent ``str()``.
* Each batch is written in its own short :func:`engine.workspace.write_transaction`.
"""

from __future__ import annotations

import datetime
import decimal
import itertools
import json
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from engine import decimals, workspace
from engine.errors import NodeError
from engine.sql import fold_ident
from engine.workspace import quote_ident

_MAX_INT = 2**63 - 1
EMPTY_COLUMNS = [("value", "TEXT")]


def write_rows(conn: sqlite3.Connection, lease: workspace.WriteLease, table: str,
               rows: Iterable[Any], label: str, batch_size: int = 5000) -> int:
    """Create ``table`` from ``rows`` (dicts); returns the count. No rows gives an
    empty table with one TEXT column ``value`` (SQLite has no table without columns)."""
    writer = RowWriter(conn, lease, table, label)
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, batch_size)):
        writer.write(batch)
    if writer.count == 0:
        writer.create_like(EMPTY_COLUMNS)
    return writer.count


class RowWriter:
    """Creates the table from the first batch of dicts and adds columns as keys appear."""

    def __init__(self, conn: sqlite3.Connection, lease: workspace.WriteLease,
                 table: str, label: str) -> None:
        self.conn, self.lease, self.table, self.label = conn, lease, table, label
        self.columns: dict[str, str] = {}       # folded name → column name, in table order
        self.created = False
        self.count = 0

    def write(self, rows: list[Any]) -> None:
        cells = [self._cells(row, self.count + n) for n, row in enumerate(rows, 1)]
        new = _new_columns(cells, self.columns)
        order = [*self.columns, *new]
        values = [tuple(row[f][1] if f in row else None for f in order) for row in cells]
        names = ", ".join(quote_ident(self.columns.get(f) or new[f][0]) for f in order)
        marks = ", ".join("?" * len(order))
        with workspace.write_transaction(self.conn, self.lease):
            self._add_columns(list(new.values()))
            self.conn.executemany(f"INSERT INTO {quote_ident(self.table)} ({names}) "
                                  f"VALUES ({marks})", values)
        self.columns.update((f, name) for f, (name, _) in new.items())
        self.count += len(rows)

    def create_like(self, columns: list[tuple[str, str]]) -> None:
        """The zero-row case: a table with ``columns`` (name, declared type) and no rows."""
        with workspace.write_transaction(self.conn, self.lease):
            self._add_columns(columns)

    def _add_columns(self, columns: list[tuple[str, str]]) -> None:
        specs = [f"{quote_ident(name)} {kind}".rstrip() for name, kind in columns]
        if not self.created:
            self.conn.execute(f"CREATE TABLE {quote_ident(self.table)} ({', '.join(specs)})")
            self.created = True
            return
        for spec in specs:
            self.conn.execute(f"ALTER TABLE {quote_ident(self.table)} ADD COLUMN {spec}")

    def _cells(self, row: Any, number: int) -> dict[str, tuple[str, Any]]:
        """``{folded key: (key, storable value)}`` of one output row."""
        where = f"node '{self.label}': output row {number}"
        if not isinstance(row, Mapping):
            raise NodeError(f"{where} is a {type(row).__name__}, not a dict; "
                            f"transform must return or yield dicts")
        cells: dict[str, tuple[str, Any]] = {}
        for key, value in row.items():
            if not isinstance(key, str) or "\x00" in key:
                raise NodeError(f"{where}: key {key!r} cannot be a column name (use text)")
            folded = fold_ident(key)
            if folded in cells:
                raise NodeError(f"{where}: keys '{cells[folded][0]}' and '{key}' differ only "
                                f"in case, and SQLite column names ignore case")
            cells[folded] = (key, _storable(value, f"{where}, column '{key}'"))
        return cells


def _new_columns(cells: list[dict[str, tuple[str, Any]]],
                 known: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Columns first seen in this batch: ``{folded: (name, declared type)}``, in order."""
    new: dict[str, tuple[str, str]] = {}
    for row in cells:
        for folded, (name, value) in row.items():
            if folded in known:
                continue
            declared = new.get(folded, (name, ""))
            if not declared[1] and value is not None:
                declared = (declared[0], _declared_type(value))
            new[folded] = declared
    return new


def _declared_type(value: int | float | str | bytes) -> str:
    if decimals.is_decimal_value(value):
        return decimals.EXACT_DECIMAL
    return {int: "INTEGER", float: "REAL", str: "TEXT", bytes: "BLOB"}[type(value)]


def _storable(value: Any, where: str) -> int | float | str | bytes | None:
    """``value`` as one of the exact types sqlite3 stores (see module doc)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        if not -_MAX_INT - 1 <= value <= _MAX_INT:
            raise NodeError(f"{where}: integer {value} does not fit SQLite's 64 bits")
        return int(value)
    if isinstance(value, str):
        return str.__str__(value)   # a subclass (a str enum) as its plain text, not its str()
    if isinstance(value, float):
        return float(value)         # a subclass (numpy.float64) as a plain float
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):      # every digit kept (engine.decimals)
        return decimals.storable(value)
    if isinstance(value, (dict, list, tuple)):
        return _json_text(value, where)
    raise NodeError(f"{where}: a {type(value).__name__} cannot be stored; "
                    f"convert it to str, int, float, bool, bytes, Decimal, dict or list")


def _json_text(value: Any, where: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise NodeError(f"{where}: cannot be stored as JSON ({exc})") from None


def _json_default(value: Any) -> str:
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    raise TypeError(f"a {type(value).__name__} is not JSON serializable")
