"""SQLite's integers are 64-bit: say which value does not fit instead of a bare OverflowError.

MariaDB's ``BIGINT UNSIGNED`` (and PostgreSQL's ``numeric`` read as an integer) can hold
values up to 2⁶⁴ − 1. sqlite3 refuses to bind a Python int beyond ±2⁶³ with "Python int
too large to convert to SQLite INTEGER"; storing it as a float or text instead would change
the number or how it compares, so the write stops and the error names the column, the value
and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.connectors.base import ConnectorError, Row

_LOW, _HIGH = -(2 ** 63), 2 ** 63 - 1


def out_of_range(where: str, names: Sequence[str], batch: list[Row]) -> ConnectorError | None:
    """The error for the first integer of ``batch`` that SQLite cannot store, if any."""
    for row in batch:
        for name, value in zip(names, row):
            if isinstance(value, int) and not _LOW <= value <= _HIGH:
                return ConnectorError(
                    f"{where}: column \"{name}\" holds {value}, beyond SQLite's 64-bit integers "
                    f"({_LOW} to {_HIGH}); cast it to text in the query (e.g. CAST({name} AS CHAR)) "
                    "or keep the table in its database")
    return None
