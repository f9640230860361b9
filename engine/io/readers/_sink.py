"""Write batches of rows into a new workspace table, fast.

A :class:`Batch` is a row-major *flat* list of values (no per-row containers: fewer
allocations, less GC work) plus the columns known so far. :class:`TableSink` creates the
table on the first batch and adds columns (``ALTER TABLE … ADD COLUMN``) when a later
batch brings new ones.

Speed comes from three choices, each measured with ``bench/import_csv.py``:

* values are bound as they come (CSV: raw strings) and the column's declared type lets
  SQLite convert them in C; no value is converted in Python;
* one ``INSERT … VALUES (…), (…), …`` statement carries many rows, so the per-statement
  cost of ``executemany`` is paid once per few hundred rows and each SQLite step runs
  long enough (with the GIL released) for the reader thread to parse meanwhile;
* null markers cost nothing here when the reader has replaced them by ``None`` already (CSV
  does, in its own thread, with :func:`markers_to_none` for the markers a substring test on
  the raw text could not rule out; its batches say ``null_columns=()``). For other readers
  they are applied in SQL (a ``CASE`` on a numbered parameter, bound once; ``nullif`` for a
  single marker), and only to the columns of a batch that hold one (C-level scans decide).

The declared types are the inferred ones unless the user chose them (``columns``,
``all_text``: :class:`~._options.TypeChoice`). Every identifier is quoted with
:func:`engine.workspace.quote_ident`; marker literals are SQL string literals with quotes
doubled. The caller holds the write transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.errors import NodeError
from engine.io.columns import ColumnNamer
from engine.io.readers._options import TypeChoice
from engine.workspace import quote_ident

PARAMS_PER_STATEMENT = 4096
"""Bound values per multi-row INSERT (measured: 2k–8k are equally fast for 8 columns)."""


@dataclass
class ImportResult:
    records: int
    columns: list[tuple[str, str]]   # (sanitised name, declared SQLite type)
    source_columns: list[str]        # original header names
    findings: list[dict[str, Any]] = field(default_factory=list)   # see engine.io.readers._findings
    native: bool = field(default=False, compare=False)   # loaded by engine.io.readers.csv_native


@dataclass
class Batch:
    columns: Sequence[str]   # source names of every column known so far, in order
    types: Sequence[str]     # declared type of each of them
    values: list[Any]        # row-major, len == rows * len(columns)
    rows: int
    null_columns: tuple[int, ...] | None = None   # columns holding a null marker; None: unknown


def columns_with_markers(values: list[Any], ncols: int, markers: Sequence[str]) -> tuple[int, ...]:
    """Indexes of the columns of row-major ``values`` in which some value is a marker."""
    if not markers or not values:
        return ()
    wanted = frozenset(markers)
    # One slice per column and one hash lookup per value (in C): with the eight default
    # markers, about 7x faster than one list scan per marker.
    return tuple(i for i in range(ncols) if not wanted.isdisjoint(values[i::ncols]))


def markers_to_none(values: list[Any], markers: Iterable[str]) -> None:
    """Replace every value of ``values`` that equals one of ``markers`` by ``None``, in place.

    Exact text equality, as the SQL ``CASE`` of :meth:`TableSink._row` tests, in every
    column. Per marker, C-level ``index`` jumps from one occurrence to the next (one scan of
    the list in all); a marker more frequent than one value in eight switches to one ``map``
    of a dict's ``get`` over the list (``get(v, v)`` is ``None`` for the marker, ``v``
    otherwise). No hashing of every value and no Python-level call per value.
    """
    for marker in markers:
        index, at, budget = values.index, -1, len(values) // 8
        try:
            while budget:
                at = index(marker, at + 1)
                values[at] = None
                budget -= 1
        except ValueError:
            continue
        get = {marker: None}.get          # a frequent marker: the rest in one pass
        values[:] = map(get, values, values)


def _sql_literal(text: str) -> str:
    if "\x00" in text:
        raise NodeError(f"a null marker contains a NUL character: {text!r}")
    return "'" + text.replace("'", "''") + "'"


class TableSink:
    """Creates ``table`` on the first batch and appends every batch to it."""

    def __init__(self, conn: sqlite3.Connection, table: str, label: str,
                 null_values: Sequence[str] = (), choice: TypeChoice | None = None) -> None:
        self.conn = conn
        self.table = table
        self.label = label
        self.null_values = list(dict.fromkeys(null_values))
        self._null_literals = [_sql_literal(m) for m in self.null_values]
        self.namer = ColumnNamer(keep=bool(choice and choice.original_names))
        self.source_columns: list[str] = []
        self.types: list[str] = []
        self.choice = choice or TypeChoice()
        self.chosen: list[bool] = []     # per column: its type is the user's choice, not inferred
        self.records = 0
        self._statements: dict[tuple[int, tuple[int, ...]], tuple[str, str, int]] = {}
        self._max_params = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)

    @property
    def columns(self) -> list[tuple[str, str]]:
        return list(zip(self.namer.names, self.types))

    def write(self, batch: Batch) -> None:
        """Append ``batch`` (inside the caller's write transaction)."""
        if len(batch.columns) > len(self.source_columns) or not self.source_columns:
            self._add_columns(batch.columns[len(self.source_columns):],
                              batch.types[len(self.source_columns):])
        if batch.rows:
            ncols = len(batch.columns)
            nulls = batch.null_columns
            if nulls is None:
                nulls = columns_with_markers(batch.values, ncols, self.null_values)
            self._insert(batch.values, batch.rows, ncols, nulls)
            self.records += batch.rows

    def _add_columns(self, names: Sequence[str], types: Sequence[str]) -> None:
        if not names and self.source_columns:
            return
        if not names:
            raise NodeError(f"{self.label}: no columns found")
        sql_names = self.namer.add(list(names))
        types, chosen = self.choice.apply(names, sql_names, types)
        defs = [f"{quote_ident(n)} {t}" for n, t in zip(sql_names, types)]
        if not self.source_columns:
            self.conn.execute(f"CREATE TABLE {quote_ident(self.table)} ({', '.join(defs)})")
        else:
            for definition in defs:
                self.conn.execute(f"ALTER TABLE {quote_ident(self.table)} ADD COLUMN {definition}")
        self.source_columns.extend(names)
        self.types.extend(types)
        self.chosen.extend(chosen)

    def _insert(self, values: list[Any], rows: int, ncols: int, nulls: tuple[int, ...]) -> None:
        many_sql, one_sql, per = self._statement(ncols, nulls if self.null_values else ())
        step = per * ncols
        full = (rows // per) * step if per > 1 else 0
        # executemany over slices: one bind loop in C per statement of `per` rows.
        if full:
            self.conn.executemany(many_sql, (values[i:i + step] for i in range(0, full, step)))
        if full < rows * ncols:
            self.conn.executemany(one_sql, (values[i:i + ncols]
                                            for i in range(full, rows * ncols, ncols)))

    def insert_statements(self, ncols: int) -> tuple[str, str, int]:
        """(many-row INSERT, one-row INSERT, rows per many-row statement) binding every value
        as it is (``?1``, ``?2``, …): for a loader that binds null markers as NULL itself."""
        return self._statement(ncols, ())

    def _statement(self, ncols: int, nulls: tuple[int, ...]) -> tuple[str, str, int]:
        """(many-row INSERT, one-row INSERT, rows per many-row statement), cached."""
        key = (ncols, nulls)
        if key not in self._statements:
            per = max(1, min(PARAMS_PER_STATEMENT, self._max_params) // ncols)
            names = ", ".join(quote_ident(n) for n in self.namer.names[:ncols])
            head = f"INSERT INTO {quote_ident(self.table)} ({names}) VALUES "
            many = ", ".join(self._row(r * ncols, ncols, nulls) for r in range(per))
            self._statements[key] = (head + many, head + self._row(0, ncols, nulls), per)
        return self._statements[key]

    def _row(self, first: int, ncols: int, nulls: tuple[int, ...]) -> str:
        """``(?1, ?2, …)`` for one row whose first value is parameter ``first + 1``; a column
        holding markers tests its (numbered, so bound once) parameter against all of them."""
        literals = self._null_literals
        values = []
        for i in range(ncols):
            param = f"?{first + i + 1}"
            if i not in nulls:
                values.append(param)
            elif len(literals) == 1:
                values.append(f"nullif({param}, {literals[0]})")
            else:
                whens = " ".join(f"WHEN {literal} THEN NULL" for literal in literals)
                values.append(f"CASE {param} {whens} ELSE {param} END")
        return "(" + ", ".join(values) + ")"
