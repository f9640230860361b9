"""Checkpoint the workspace WAL from a helper thread while a long write goes on (a file
import, or a connector's rows landing in the workspace).

Why: SQLite's automatic checkpoint runs inside the writer's ``COMMIT`` every 1000 pages:
it copies the WAL into the database file and fsyncs both, so a bulk import spends about
a fifth of its time waiting for the disk, holding the write lease. WAL mode lets another
connection checkpoint while the writer goes on, so a helper thread does that I/O instead
(``bench/import_csv.py``, 1M rows: about 15 % faster over four interleaved comparisons;
``bench/pg_pull.py``: the 50 per-batch COMMITs of a 1M-row pull spent 0.8–1.0 s checkpointing).

Guarantees:

* the writer's ``wal_autocheckpoint`` is 0 only while the helper runs, then restored;
* the WAL stays bounded: once it holds more than :data:`WAL_BYTES_LIMIT` of pages, or
  the helper is :data:`MAX_LAG` commits behind (on a loaded machine it may not be
  scheduled for a while, and until it runs nobody measures the WAL), the writer waits
  (before its next transaction) for the checkpoint of everything committed so far, so
  that transaction restarts the WAL from its start, as auto-checkpoints do;
* when :meth:`WalCheckpointer.close` returns, everything committed has been through a
  ``PASSIVE`` checkpoint (the import's time includes its I/O) and the thread is gone;
* the helper never raises into the import: a checkpoint that fails (busy, I/O) is simply
  tried again at the next commit, and SQLite's own auto-checkpoint covers what is left.
  Without a usable database file (in-memory, not WAL) it does nothing.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from types import TracebackType

from engine.workspace import WriteLease, database_file, write_transaction

WAL_BYTES_LIMIT = 16 * 1024 * 1024
"""Size the WAL may reach before the writer lets the checkpoint catch up."""
MAX_LAG = 4
"""Commits the helper may be behind before the writer waits for it."""
START_AFTER_COMMITS = 2
"""Small imports (one or two transactions) keep SQLite's own auto-checkpoint."""


class WalCheckpointer:
    """Checkpoints ``conn``'s database after each :meth:`committed`, in a helper thread
    started at the :data:`START_AFTER_COMMITS`-th commit."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._cond = threading.Condition()
        self._commits = 0
        self._requested = 0      # commits announced to the helper
        self._covered = 0        # of those, commits that a finished checkpoint covered
        self._frames = 0         # frames in the WAL at the last checkpoint
        self._frame_limit = 0
        self._stopping = False
        self._gone = False       # the helper has exited (normally or not)
        self._saved_limit = 0
        self._thread: threading.Thread | None = None

    def committed(self) -> None:
        """The writer committed a transaction: checkpoint it."""
        self._commits += 1
        if self._thread is None:
            if self._commits != START_AFTER_COMMITS or not self._start():
                return
        with self._cond:
            self._requested += 1
            self._cond.notify_all()

    def _start(self) -> bool:
        helper = _open_helper(self._conn)
        if helper is None:
            return False
        thread = threading.Thread(target=self._run, args=(helper,), name="dagflux-checkpoint",
                                  daemon=True)
        page_size = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
        self._frame_limit = max(1, WAL_BYTES_LIMIT // page_size)
        self._saved_limit = int(self._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        self._conn.execute("PRAGMA wal_autocheckpoint = 0")
        try:
            thread.start()
        except BaseException:
            self._conn.execute(f"PRAGMA wal_autocheckpoint = {self._saved_limit}")
            helper.close()
            raise
        self._thread = thread
        return True

    @property
    def helping(self) -> bool:
        """Whether the helper thread checkpoints now (another connection writing for this
        import should then leave its automatic checkpoint off too)."""
        return self._thread is not None

    def before_transaction(self) -> None:
        """Called before each write transaction; waits only when the WAL has grown large."""
        if self._thread is None:
            return
        if self._frames <= self._frame_limit and self._requested - self._covered < MAX_LAG:
            return
        with self._cond:
            self._cond.wait_for(lambda: self._covered >= self._requested or self._gone)

    @contextlib.contextmanager
    def transaction(self, lease: WriteLease) -> Iterator[sqlite3.Connection]:
        """One write transaction of the long write: waits for the checkpoint first when
        the WAL has grown large, holds ``lease`` and ``BEGIN IMMEDIATE`` (see
        :func:`engine.workspace.write_transaction`), and hands the commit to the helper.
        A transaction that fails is rolled back and not counted."""
        self.before_transaction()
        with write_transaction(self._conn, lease) as conn:
            yield conn
        self.committed()

    def close(self) -> None:
        if self._thread is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()
        self._thread = None
        self._conn.execute(f"PRAGMA wal_autocheckpoint = {self._saved_limit}")

    def _run(self, helper: sqlite3.Connection) -> None:
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._requested > self._covered or self._stopping)
                    target, last = self._requested, self._stopping
                frames = _checkpoint(helper)
                with self._cond:
                    self._covered = target
                    if frames is not None:
                        self._frames = frames
                    self._cond.notify_all()
                    if last and self._covered >= self._requested:
                        return
        finally:
            helper.close()
            with self._cond:
                self._gone = True
                self._cond.notify_all()

    def __enter__(self) -> WalCheckpointer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _open_helper(conn: sqlite3.Connection) -> sqlite3.Connection | None:
    """A second connection to ``conn``'s database file, or None when there is none."""
    path = database_file(conn)
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if not path or str(mode).lower() != "wal":
        return None
    try:
        helper = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error:
        return None          # the writer's own auto-checkpoint will do
    return helper


def _checkpoint(helper: sqlite3.Connection) -> int | None:
    """One PASSIVE checkpoint; the frames in the WAL, or None when it failed."""
    try:
        busy, frames, _done = helper.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error:
        return None          # retried at the next commit; see the module doc
    return None if busy else int(frames)
