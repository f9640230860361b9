"""The one SQLite workspace (``workspace.sqlite``) that holds every local table.

Guarantees:

* WAL journal, ``synchronous=NORMAL`` and a ``busy_timeout`` on every connection;
  connections are in autocommit mode, so no read transaction stays open between
  statements and WAL checkpoints can run.
* Writes are serialized by a **write lease**: an exclusive ``flock`` on
  ``workspace.sqlite.lease`` taken for the length of one short write transaction.
  The kernel releases it when its holder dies, so a killed worker can never leave
  the workspace locked, and parallel branches queue on the lease instead of
  failing with "database is locked".
* Node output tables have deterministic names, ``<workflow_id>__<node_id>``
  (ids are snake_case without ``__``, so the name is unambiguous), and are
  replaced atomically on each run: a node builds a staging table and
  :func:`publish_table` swaps it in with one short transaction. The result it
  replaces is kept under ``<workflow_id>__<node_id>@<run id>`` (:mod:`engine.kept`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from engine import decimals
from engine.errors import WorkspaceError
from engine.private import create_private_file

BUSY_TIMEOUT_MS = 60_000
STAGING_PREFIX = "_dfstage_"
KEPT_MARKER = "_dfkept_latest"   # which run each latest output table holds (engine.kept)


def table_name(workflow_id: str, node_id: str) -> str:
    """The workspace table that holds ``node_id``'s output in ``workflow_id``."""
    return f"{workflow_id}__{node_id}"


def quote_ident(name: str) -> str:
    """Quote an SQLite identifier; any character is safe inside the quotes."""
    if "\x00" in name:
        raise WorkspaceError(f"identifier contains a NUL byte: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def connect(path: str | os.PathLike[str], readonly: bool = False) -> sqlite3.Connection:
    """Open the workspace (created if missing) with the pragmas above.

    Raises :class:`WorkspaceError` naming the file when it is not a database.
    """
    path = Path(path)
    try:
        if readonly:
            from urllib.parse import quote

            conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False)
        else:
            create_private_file(path)  # 0600; SQLite gives its -wal/-shm files the same mode
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        decimals.register_exact_aggregates(conn)   # sum/avg of decimals exact (engine.decimals)
        if not readonly:
            if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
                # a new workspace gives pages freed by pruning back (engine.history_budget)
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise WorkspaceError(f"{path}: cannot switch the workspace to WAL (got {mode})")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise WorkspaceError(
            f"{path} is not a usable SQLite workspace ({exc}); it was left untouched — "
            f"move it aside to start a new workspace") from None
    return conn


class WriteLease:
    """An exclusive, process-crash-safe lease on the workspace's writes (see module doc)."""

    def __init__(self, workspace_path: str | os.PathLike[str]) -> None:
        self.path = Path(f"{os.fspath(workspace_path)}.lease")
        self._fd: int | None = None
        self._depth = 0

    def acquire(self) -> None:
        if self._depth:
            self._depth += 1
            return
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        _lock_fd(self._fd)
        self._depth = 1

    def release(self) -> None:
        if not self._depth:
            return
        self._depth -= 1
        if not self._depth and self._fd is not None:
            _unlock_fd(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._depth = 0

    def __enter__(self) -> WriteLease:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection, lease: WriteLease) -> Iterator[sqlite3.Connection]:
    """Hold the lease and one ``BEGIN IMMEDIATE`` transaction; commit or roll back."""
    with lease:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")


def staging_name(final: str) -> str:
    return f"{STAGING_PREFIX}{final}_{secrets.token_hex(4)}"


def publish_table(conn: sqlite3.Connection, lease: WriteLease, staging: str, final: str,
                  before: Callable[[sqlite3.Connection], None] | None = None) -> None:
    """Replace ``final`` by ``staging`` in one short transaction; ``before`` runs first in
    it (a node's output keeps the result it replaces: :func:`engine.kept.set_aside`)."""
    # legacy renames: a user's view on ``final`` neither blocks the swap (a modern rename checks
    # every view, and one naming the dropped table fails) nor is rewritten to follow a rename
    conn.execute("PRAGMA legacy_alter_table = ON")
    try:
        with write_transaction(conn, lease):
            if before is not None:
                before(conn)
            conn.execute(f"DROP TABLE IF EXISTS {quote_ident(final)}")
            conn.execute(f"ALTER TABLE {quote_ident(staging)} RENAME TO {quote_ident(final)}")
    finally:
        conn.execute("PRAGMA legacy_alter_table = OFF")


def drop_staging_tables(conn: sqlite3.Connection, lease: WriteLease, final: str | None = None) -> int:
    """Drop leftover staging tables (of one final table, or all); returns how many."""
    prefix = f"{STAGING_PREFIX}{final}_" if final else STAGING_PREFIX
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
             if r[0].startswith(prefix)]
    if names:
        with write_transaction(conn, lease):
            for name in names:
                conn.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")
    return len(names)


def database_file(conn: sqlite3.Connection) -> str | None:
    """The file of ``conn``'s main database, or None (an in-memory or temporary database)."""
    return next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "") or None


def table_exists(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type IN ('table','view') AND name = ?",
                       (name,)).fetchone()
    return row is not None


def count_rows(conn: sqlite3.Connection, name: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchone()[0])


def list_tables(conn: sqlite3.Connection, internal: bool = False) -> list[dict]:
    """User tables with their row and column counts; staging tables (a node's output being
    built, or left by killed work until the next start removes it) only with ``internal``,
    marked ``"internal": True``."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
        "ORDER BY name").fetchall()
    out = []
    for (name,) in rows:
        if name == KEPT_MARKER:
            continue   # bookkeeping, not data
        staging = name.startswith(STAGING_PREFIX)
        if staging and not internal:
            continue
        cols = conn.execute(f"PRAGMA table_info({quote_ident(name)})").fetchall()
        entry = {"name": name, "rows": count_rows(conn, name), "columns": len(cols)}
        out.append({**entry, "internal": True} if staging else entry)
    return out


def columns(conn: sqlite3.Connection, name: str) -> list[tuple[str, str]]:
    """``(column, declared type)`` pairs of a table, in order."""
    info = conn.execute(f"PRAGMA table_info({quote_ident(name)})").fetchall()
    if not info:
        raise WorkspaceError(f"workspace has no table '{name}'")
    return [(r[1], r[2] or "") for r in info]


if os.name == "posix":
    import fcntl

    def _lock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

else:  # pragma: no cover - Windows
    import msvcrt

    def _lock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]

    def _unlock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
