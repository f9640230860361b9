"""The data-dir lock and the workspace: one writer at a time, across real processes.

The lock and the write lease are kernel ``flock``s, so the cross-process tests run a
second Python process (``python -c``) against the same files; the kernel drops a lock
when its holder dies, which the kill tests rely on.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import workspace
from engine.errors import LockHeldError, WorkspaceError
from engine.lock import DataDirLock, read_holder
from engine.paths import DataPaths, default_paths

TIMEOUT = 10.0


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DataPaths:
    monkeypatch.setenv("DAGFLUX_HOME", str(tmp_path))
    found = default_paths()
    assert found.root == tmp_path.resolve()
    return found


def python(code: str) -> subprocess.Popen[str]:
    """Start ``python -c code`` with pipes; the caller reads and ends it."""
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    out, err = proc.communicate(timeout=TIMEOUT)
    return out, err


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=TIMEOUT)


def read_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line:
        stop(proc)
        raise AssertionError(f"helper process said nothing; stderr: {proc.stderr.read() if proc.stderr else ''}")
    return line


TRY_LOCK = """
import json
from engine.errors import LockHeldError
from engine.lock import DataDirLock
try:
    DataDirLock({path!r}).acquire()
except LockHeldError as exc:
    print(json.dumps({{"error": str(exc), "pid": exc.pid}}))
else:
    print(json.dumps({{"error": None}}))
"""

HOLD_LOCK = """
import sys, time
from engine.lock import DataDirLock
lock = DataDirLock({path!r}, role="engine")
lock.acquire()
print("locked", flush=True)
time.sleep(60)
"""


# --- the data-dir lock ---------------------------------------------------------------------
def test_a_second_process_is_refused_naming_the_holder(paths: DataPaths) -> None:
    with DataDirLock(paths.lock, role="engine") as lock:
        assert lock.held
        out, err = finish(python(TRY_LOCK.format(path=str(paths.lock))))
    result = json.loads(out)
    assert result["pid"] == os.getpid(), err
    assert result["error"] == (f"process {os.getpid()} (the DagFlux engine) holds the data-dir lock "
                               f"{paths.lock}")


def test_a_run_holding_the_lock_is_named_as_a_run(paths: DataPaths) -> None:
    with DataDirLock(paths.lock, role="run"):
        out, _ = finish(python(TRY_LOCK.format(path=str(paths.lock))))
    assert json.loads(out)["error"] == f"process {os.getpid()} (a `dagflux run`) holds the data-dir lock {paths.lock}"


def test_the_lock_file_records_the_holder(paths: DataPaths) -> None:
    with DataDirLock(paths.lock, role="engine"):
        holder = read_holder(paths.lock)
        assert (holder["pid"], holder["role"]) == (os.getpid(), "engine")
        assert abs(holder["since"] - time.time()) < 60
    assert read_holder(paths.lock) == {}


def test_a_second_lock_object_in_the_same_process_is_refused(paths: DataPaths) -> None:
    with DataDirLock(paths.lock):
        with pytest.raises(LockHeldError, match=rf"^process {os.getpid()} \(a `dagflux run`\) holds") as info:
            DataDirLock(paths.lock).acquire()
    assert info.value.pid == os.getpid()


def test_a_released_lock_can_be_taken_by_another_process(paths: DataPaths) -> None:
    lock = DataDirLock(paths.lock)
    lock.acquire()
    lock.release()
    assert not lock.held
    out, _ = finish(python(TRY_LOCK.format(path=str(paths.lock))))
    assert json.loads(out) == {"error": None}


def test_the_lock_is_released_when_its_holder_dies(paths: DataPaths) -> None:
    holder = python(HOLD_LOCK.format(path=str(paths.lock)))
    try:
        assert read_line(holder) == "locked"
        with pytest.raises(LockHeldError, match=rf"^process {holder.pid} \(the DagFlux engine\) holds") as info:
            DataDirLock(paths.lock).acquire()
        assert info.value.pid == holder.pid
        holder.kill()
        holder.wait(timeout=TIMEOUT)
        with DataDirLock(paths.lock) as lock:       # no stale lock: the kernel dropped it
            assert lock.held
            assert read_holder(paths.lock)["pid"] == os.getpid()
    finally:
        stop(holder)


def test_acquire_can_wait_for_the_holder(paths: DataPaths) -> None:
    holder = python(HOLD_LOCK.format(path=str(paths.lock)))
    try:
        assert read_line(holder) == "locked"
        seen: list[dict] = []
        lock = DataDirLock(paths.lock)
        waiter = threading.Thread(target=lock.acquire, kwargs={"wait": True, "on_wait": seen.append},
                                  daemon=True)
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive() and not lock.held, "took the lock while another process held it"
        assert [h["pid"] for h in seen] == [holder.pid]
        holder.kill()
        waiter.join(TIMEOUT)
        assert lock.held, "still waiting after the holder died"
        lock.release()
    finally:
        stop(holder)


# --- the write lease -----------------------------------------------------------------------
HOLD_LEASE = """
import sys
from engine.workspace import WriteLease
lease = WriteLease({path!r})
lease.acquire()
print("held", flush=True)
sys.stdin.readline()
lease.release()
lease.close()
"""


def acquire_in_thread(lease: workspace.WriteLease) -> threading.Event:
    acquired = threading.Event()

    def take() -> None:
        lease.acquire()
        acquired.set()

    threading.Thread(target=take, daemon=True).start()
    return acquired


def test_the_write_lease_is_exclusive_across_processes(paths: DataPaths) -> None:
    holder = python(HOLD_LEASE.format(path=str(paths.workspace)))
    lease = workspace.WriteLease(paths.workspace)
    try:
        assert read_line(holder) == "held"
        acquired = acquire_in_thread(lease)
        assert not acquired.wait(0.3), "took the lease while another process held it"
        assert holder.stdin is not None
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert acquired.wait(TIMEOUT), "never got the lease after the holder released it"
        finish(holder)
    finally:
        stop(holder)
        lease.release()
        lease.close()


def test_the_write_lease_is_released_when_its_holder_dies(paths: DataPaths) -> None:
    holder = python(HOLD_LEASE.format(path=str(paths.workspace)))
    lease = workspace.WriteLease(paths.workspace)
    try:
        assert read_line(holder) == "held"
        acquired = acquire_in_thread(lease)
        assert not acquired.wait(0.2)
        holder.kill()
        assert acquired.wait(TIMEOUT), "a killed holder left the workspace lease taken"
    finally:
        stop(holder)
        lease.release()
        lease.close()


def test_the_write_lease_is_reentrant_in_its_owner(tmp_path: Path) -> None:
    lease = workspace.WriteLease(tmp_path / "workspace.sqlite")
    try:
        with lease:
            with lease:
                pass
            out, _ = finish(python(
                "import fcntl, os, sys\n"
                f"fd = os.open({str(tmp_path / 'workspace.sqlite.lease')!r}, os.O_RDWR)\n"
                "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n"
                "except BlockingIOError:\n    print('taken')\n"))
            assert out.strip() == "taken"   # leaving the inner block kept the outer hold
    finally:
        lease.close()


# --- the workspace file --------------------------------------------------------------------
@pytest.fixture
def conn(paths: DataPaths) -> Iterator[sqlite3.Connection]:
    c = workspace.connect(paths.workspace)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def lease(paths: DataPaths) -> Iterator[workspace.WriteLease]:
    held = workspace.WriteLease(paths.workspace)
    try:
        yield held
    finally:
        held.close()


def test_a_new_workspace_uses_wal_and_a_busy_timeout(conn: sqlite3.Connection) -> None:
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (workspace.BUSY_TIMEOUT_MS,)
    assert not conn.in_transaction


@pytest.mark.parametrize("content", [
    b"name,total\nwidget,3\n" * 100,
    b"SQLite format 3\x00" + b"\x00\xff" * 300,
], ids=["csv-text", "bad-header"])
def test_a_file_that_is_not_a_database_is_named_and_left_unchanged(paths: DataPaths, content: bytes) -> None:
    paths.workspace.write_bytes(content)
    with pytest.raises(WorkspaceError, match=re.escape(f"{paths.workspace} is not a usable SQLite workspace (")
                       + ".*" + re.escape("it was left untouched")):
        workspace.connect(paths.workspace)
    assert paths.workspace.read_bytes() == content
    assert sorted(p.name for p in paths.root.iterdir()) == ["workspace.sqlite"]


def test_publish_table_swaps_the_staging_table_in(conn: sqlite3.Connection, lease: workspace.WriteLease) -> None:
    final = workspace.table_name("shop", "clean")
    conn.execute(f"CREATE TABLE {workspace.quote_ident(final)} AS SELECT 'old' AS v")
    staging = workspace.staging_name(final)
    assert staging.startswith(f"{workspace.STAGING_PREFIX}{final}_")
    with workspace.write_transaction(conn, lease):
        conn.execute(f"CREATE TABLE {workspace.quote_ident(staging)} (v)")
        conn.executemany(f"INSERT INTO {workspace.quote_ident(staging)} VALUES (?)", [("new",), ("newer",)])
    workspace.publish_table(conn, lease, staging, final)
    assert conn.execute(f"SELECT v FROM {workspace.quote_ident(final)} ORDER BY v").fetchall() == [
        ("new",), ("newer",)]
    assert not workspace.table_exists(conn, staging)
    assert not conn.in_transaction


def test_a_failed_publish_keeps_the_old_table(conn: sqlite3.Connection, lease: workspace.WriteLease) -> None:
    conn.execute('CREATE TABLE "shop__clean" AS SELECT 1 AS v')
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        workspace.publish_table(conn, lease, "_dfstage_missing", "shop__clean")
    assert conn.execute('SELECT v FROM "shop__clean"').fetchall() == [(1,)]   # the DROP was rolled back
    assert not conn.in_transaction


def test_a_reader_never_sees_the_table_missing_during_publish(paths: DataPaths, conn: sqlite3.Connection,
                                                              lease: workspace.WriteLease) -> None:
    conn.execute('CREATE TABLE "shop__t" AS SELECT 0 AS gen')
    reader = workspace.connect(paths.workspace, readonly=True)
    stop_reading = threading.Event()
    seen: list[object] = []

    def read() -> None:
        while not stop_reading.is_set():
            try:
                seen.append(reader.execute('SELECT gen FROM "shop__t"').fetchone()[0])
            except sqlite3.Error as exc:
                seen.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for gen in range(1, 30):
            staging = workspace.staging_name("shop__t")
            conn.execute(f'CREATE TABLE "{staging}" AS SELECT {gen} AS gen')
            workspace.publish_table(conn, lease, staging, "shop__t")
    finally:
        stop_reading.set()
        thread.join(TIMEOUT)
        reader.close()
    errors = [s for s in seen if isinstance(s, Exception)]
    assert errors == []
    assert len(seen) > 0


def test_leftover_staging_tables_are_dropped(conn: sqlite3.Connection, lease: workspace.WriteLease) -> None:
    for name in (workspace.staging_name("a__x"), workspace.staging_name("a__x"), workspace.staging_name("b__y"),
                 "a__x"):
        conn.execute(f"CREATE TABLE {workspace.quote_ident(name)} (v)")
    assert workspace.drop_staging_tables(conn, lease, "a__x") == 2
    assert workspace.drop_staging_tables(conn, lease) == 1
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["a__x"]


# --- names ---------------------------------------------------------------------------------
def test_table_names_are_workflow_and_node_joined_by_double_underscore() -> None:
    assert workspace.table_name("orders_report", "clean_orders") == "orders_report__clean_orders"


@pytest.mark.parametrize("name, quoted", [
    ("plain", '"plain"'),
    ('a"b', '"a""b"'),
    ('""', '""""""'),
    ('x"; DROP TABLE keep; --', '"x""; DROP TABLE keep; --"'),
    ("with space", '"with space"'),
    ("ünï ✓", '"ünï ✓"'),
])
def test_quote_ident_escapes_quotes(name: str, quoted: str) -> None:
    assert workspace.quote_ident(name) == quoted


@pytest.mark.parametrize("name", ['a"b', 'x"; DROP TABLE keep; --', "select", "ünï ✓", "_dfstage"])
def test_a_quoted_name_is_one_identifier_in_sqlite(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("CREATE TABLE keep (v)")
    conn.execute(f"CREATE TABLE {workspace.quote_ident(name)} (v)")
    conn.execute(f"INSERT INTO {workspace.quote_ident(name)} VALUES (1)")
    assert workspace.count_rows(conn, name) == 1
    assert workspace.table_exists(conn, "keep")
    assert [t["name"] for t in workspace.list_tables(conn)] == sorted(["keep", name])


def test_quote_ident_refuses_a_nul_byte() -> None:
    with pytest.raises(WorkspaceError, match=r"^identifier contains a NUL byte: 'a\\x00b'$"):
        workspace.quote_ident("a\x00b")


# --- listing -------------------------------------------------------------------------------
def test_list_tables_hides_staging_tables(conn: sqlite3.Connection) -> None:
    conn.execute('CREATE TABLE "shop__orders" (id INTEGER PRIMARY KEY AUTOINCREMENT, total REAL, note TEXT)')
    conn.execute('INSERT INTO "shop__orders" (total) VALUES (1), (2)')   # creates sqlite_sequence
    conn.execute(f"CREATE TABLE {workspace.quote_ident(workspace.staging_name('shop__orders'))} (v)")
    conn.execute('CREATE TABLE "a_first" (v)')
    assert workspace.list_tables(conn) == [
        {"name": "a_first", "rows": 0, "columns": 1},
        {"name": "shop__orders", "rows": 2, "columns": 3},
    ]


def test_columns_are_listed_with_their_types(conn: sqlite3.Connection) -> None:
    conn.execute('CREATE TABLE "t" (id INTEGER, name TEXT, anything)')
    assert workspace.columns(conn, "t") == [("id", "INTEGER"), ("name", "TEXT"), ("anything", "")]
    with pytest.raises(WorkspaceError, match=r"^workspace has no table 'missing'$"):
        workspace.columns(conn, "missing")
