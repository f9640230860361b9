"""Move a query's rows from one location to another, fetching and inserting at once.

Connectors yield at least one (possibly empty) batch, so column names are known
even for an empty result. A reader thread pulls batches from the source (a database cursor spends its time
waiting on the network, with the GIL released) while the calling thread writes the
previous batch to the destination; a small bounded queue keeps memory flat. Any
error on either side stops both and is raised in the caller.
"""

from __future__ import annotations

import decimal
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from engine import decimals
from engine.connectors.base import Columns, Connector, ConnectorError, Row, map_declared_type

QUEUE_BATCHES = 4
_END = object()


def transfer(source: Connector, query: str, dest: Connector, table: str, mode: str = "replace",
             params: Sequence[Any] = (), batch_size: int = 20_000, declared: Columns | None = None) -> int:
    """Run ``query`` on ``source`` and write its rows to ``table`` on ``dest``; returns the count.
    ``mode`` ``"temporary"``: ``table`` is a TEMP table of ``dest``'s session
    (:meth:`~engine.connectors.base.Connector.write_temporary`).

    ``declared``: the source columns' declared types (a whole table's
    :meth:`~engine.connectors.base.Connector.list_fields`), which the destination maps to
    its own types; without it (or for a column declared without a type) the type is
    guessed from the first batch's values.

    Decimals keep every digit (:mod:`engine.decimals`): a column of database decimals (a
    declared ``numeric``/``decimal``, or values a connector marks as decimals) lands in a
    SQLite destination (the workspace, a SQLite file) as ``DECIMAL BLOB`` — the declaration
    that stores each value as given, so a wide value's exact text is never turned into a
    rounded REAL — and such a column goes to a server as ``numeric``."""
    batches: queue.Queue[Any] = queue.Queue(QUEUE_BATCHES)
    stop = threading.Event()
    reader = threading.Thread(target=_read, args=(source, query, params, batch_size, batches, stop),
                              name="dagflux-transfer", daemon=True)
    reader.start()
    try:
        first = batches.get()
        if isinstance(first, BaseException):
            raise first
        if first is _END:
            raise ConnectorError(f"the query on {source.name} returned no result set")
        names, rows = first
        types = dict(declared or ())
        into_sqlite = dest.dialect == "sqlite"
        columns: Columns = [(name, _column_type(types.get(name, ""), rows, i, into_sqlite))
                            for i, name in enumerate(names)]
        if mode == "temporary":
            return dest.write_temporary(table, columns, _rest(rows, batches))
        return dest.write(table, columns, _rest(rows, batches), mode)
    finally:
        stop.set()
        _drain(batches)
        reader.join(10)


def _read(source: Connector, query: str, params: Sequence[Any], batch_size: int,
          batches: queue.Queue[Any], stop: threading.Event) -> None:
    try:
        for names, rows in source.read_batches(query, params, batch_size):
            while not stop.is_set():
                try:
                    batches.put((names, rows), timeout=0.2)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        batches.put(_END)
    except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread and raised there
        batches.put(exc)


def _rest(first: list[Row], batches: queue.Queue[Any]) -> Iterator[list[Row]]:
    if first:
        yield first
    while True:
        item = batches.get()
        if item is _END:
            return
        if isinstance(item, BaseException):
            raise item
        yield item[1]


def _drain(batches: queue.Queue[Any]) -> None:
    while True:
        try:
            batches.get_nowait()
        except queue.Empty:
            return


_NUMERIC_NAMES = dict.fromkeys(("numeric", "decimal", "bool", "boolean"), "number")


def _column_type(declared: str, rows: list[Row], index: int, into_sqlite: bool) -> str:
    """The source's declared type, unless it says text (or nothing) while the values are
    numbers or bytes — SQLite's loose declarations (``NUM``, none) — then the values' type.
    Decimals: see :func:`transfer`."""
    if decimals.is_exact_decimal(declared) or decimals.is_decimal_declared(declared):
        return decimals.EXACT_DECIMAL if into_sqlite else "numeric"
    guess = _declared(rows, index)
    if guess == _DECIMAL:
        return decimals.EXACT_DECIMAL if into_sqlite else "numeric"
    if not declared:
        return guess
    family = map_declared_type(declared, _NUMERIC_NAMES, integer="number", real="number", blob="blob",
                               text="text")
    return guess if family == "text" and guess != "TEXT" else declared


_DECIMAL = "decimal"


def _declared(rows: list[Row], index: int) -> str:
    """A declared type from the first non-null value of the first batch — or ``decimal``
    when a value of the batch is a database decimal, or TEXT spelling an exact number among
    numbers (a decimal column of the workspace after ``CREATE TABLE … AS``, which keeps no
    declared type)."""
    found = "TEXT"
    first = True
    numbers = texts = False
    for row in rows:
        value = row[index]
        if value is None:
            continue
        if decimals.is_decimal_value(value):
            return _DECIMAL
        kind = _kind(value)
        if first:
            found, first = kind, False
        numbers = numbers or kind in ("INTEGER", "REAL")
        if kind == "TEXT":
            if not _is_number_text(value):
                return found
            texts = True
    return _DECIMAL if numbers and texts else found


def _kind(value: Any) -> str:
    if isinstance(value, bool) or isinstance(value, int):
        return "INTEGER"
    if isinstance(value, float):
        return "REAL"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "BLOB"
    return "TEXT"


def _is_number_text(value: Any) -> bool:
    try:
        return decimal.Decimal(str(value)).is_finite()
    except decimal.InvalidOperation:
        return False
