"""Multi-row inserts (engine.connectors.bulk_insert) store exactly what one-row inserts store."""

from __future__ import annotations

import sqlite3

import pytest

from engine.connectors.bulk_insert import insert_rows, rows_per_statement


def _table(ncols: int) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute(f"CREATE TABLE t ({', '.join(f'c{i}' for i in range(ncols))})")
    return conn


def _head(ncols: int) -> str:
    return f"INSERT INTO t ({', '.join(f'c{i}' for i in range(ncols))}) VALUES"


@pytest.mark.parametrize("count", [0, 1, 255, 256, 257, 1000])
def test_rows_arrive_whole_and_in_order(count: int) -> None:
    conn = _table(3)
    rows = [(i, f"text {i}", None if i % 7 == 0 else i / 4) for i in range(count)]
    insert_rows(conn, _head(3), 3, rows)
    assert conn.execute("SELECT c0, c1, c2 FROM t ORDER BY rowid").fetchall() == rows


def test_lists_and_tuples_mix() -> None:
    conn = _table(2)
    rows = [[i, str(i)] if i % 2 else (i, str(i)) for i in range(600)]
    insert_rows(conn, _head(2), 2, rows)
    assert conn.execute("SELECT c0, c1 FROM t ORDER BY rowid").fetchall() == [(i, str(i)) for i in range(600)]


def test_a_ragged_batch_is_refused_not_shifted() -> None:
    """A short row and a long row hold the right number of values in total: flattened, they
    would shift values between columns; instead sqlite3 refuses the batch."""
    conn = _table(3)
    rows = [(i, i, i) for i in range(600)]
    rows[10], rows[20] = (1, 2), (1, 2, 3, 4)
    with pytest.raises(sqlite3.ProgrammingError, match="bindings"):
        insert_rows(conn, _head(3), 3, rows)


def test_wide_tables_bind_fewer_rows_per_statement() -> None:
    conn = _table(2000)
    assert rows_per_statement(conn, 2000) == 2
    rows = [tuple(range(r, r + 2000)) for r in range(5)]
    insert_rows(conn, _head(2000), 2000, rows)
    assert conn.execute("SELECT count(*), sum(c0), sum(c1999) FROM t").fetchone() == (5, 10, 5 * 1999 + 10)
