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


def test_a_long_connector_write_is_checkpointed_by_the_helper_not_inside_each_commit(tmp_path, monkeypatch):
    """A pull of many batches into the workspace: SQLite's auto-checkpoint (copy + fsync inside
    every COMMIT past 1000 pages) is off while the helper thread checkpoints, and back after;
    everything committed is checkpointed when the write returns and the WAL stayed bounded."""
    import os
    import threading

    from engine import wal_checkpoint, workspace
    from engine.connectors.local import WorkspaceConnector

    monkeypatch.setattr(wal_checkpoint, "WAL_BYTES_LIMIT", 40 * 4096)
    path = tmp_path / "ws.sqlite"
    conn = workspace.connect(path)
    lease = workspace.WriteLease(path)
    conn.execute("PRAGMA wal_autocheckpoint = 777")
    seen: list[tuple[int, bool]] = []

    def batches():
        for b in range(30):
            seen.append((conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0],
                         any(t.name == "dagflux-checkpoint" for t in threading.enumerate())))
            yield [(b * 5000 + i, f"text {i}", i / 3) for i in range(5000)]

    try:
        count = WorkspaceConnector(conn, lease).write("pulled", [("a", "INTEGER"), ("b", "TEXT"), ("c", "REAL")],
                                                      batches(), "replace")
        assert count == 150_000
        assert seen[:2] == [(777, False)] * 2                # the first two commits: SQLite's own
        assert set(seen[2:]) == {(0, True)}                   # then the helper's
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 777
        assert not [t for t in threading.enumerate() if t.name == "dagflux-checkpoint"]
        busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert (busy, frames - done) == (0, 0)
        db_bytes = conn.execute("PRAGMA page_count").fetchone()[0] * 4096
        assert db_bytes > 3_000_000 and os.path.getsize(f"{path}-wal") < db_bytes / 3
        assert conn.execute("SELECT count(*), sum(a) FROM pulled").fetchone() == (150_000, sum(range(150_000)))
    finally:
        conn.close()
        lease.close()
