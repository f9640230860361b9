"""WalCheckpointer.transaction: the one protocol every long workspace write uses."""

import threading

import pytest

from engine.wal_checkpoint import START_AFTER_COMMITS, WalCheckpointer


def _helpers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "dagflux-checkpoint"]


def test_only_committed_transactions_count_and_a_failed_one_is_rolled_back(ws):
    conn, lease = ws
    conn.execute("CREATE TABLE t (x)")
    conn.execute("PRAGMA wal_autocheckpoint = 321")
    assert START_AFTER_COMMITS == 2
    with WalCheckpointer(conn) as wal:
        with wal.transaction(lease) as tx:
            assert tx is conn and conn.in_transaction
            conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(ValueError), wal.transaction(lease):
            conn.execute("INSERT INTO t VALUES (2)")
            raise ValueError("boom")
        assert not conn.in_transaction
        assert not _helpers()          # one commit so far: SQLite's own checkpoint still runs
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 321
        with wal.transaction(lease):
            conn.execute("INSERT INTO t VALUES (3)")
        assert _helpers()              # the second commit started the helper
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert not _helpers()
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 321
    assert [r[0] for r in conn.execute("SELECT x FROM t ORDER BY x")] == [1, 3]
    busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert (busy, frames - done) == (0, 0)
