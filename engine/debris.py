"""Leftovers of work that was killed: staging tables and temp files, found and removed.

A node builds its output as a hidden staging table (``_dfstage_<table>_<hex>``) and an
export as a temp file beside its target (:mod:`engine.atomic`); both vanish when the work
ends — unless the process doing it is killed (kill -9, a timeout, a cancel), which skips
every ``finally``. What is left is removed here:

* Temp files are listed in a journal as they are made: one small file per temp file in
  ``<data dir>/pending/`` (named ``<pid>-<random>``, holding the temp file's path), removed
  with the temp file. An entry whose process is gone names debris.
* :func:`recover` — run by the lock holder as it starts (the engine, or ``dagflux run``
  without one), before any worker writes — drops every staging table and removes every
  journalled temp file whose process is gone.
* :func:`clean_after_run` — run when a run ends — drops the staging tables of that run's
  own output tables (no other run writes them: a workflow never runs twice at once) and
  removes the temp files of processes that are gone (workers killed by a cancel or a
  timeout).

Nothing is removed that a live process may still be writing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from engine import workspace
from engine.errors import WorkspaceError
from engine.procutil import pid_alive

log = logging.getLogger("dagflux.debris")

JOURNAL = "pending"


def journal_dir() -> Path | None:
    """This process's temp-file journal, or None when there is no data dir to keep it in."""
    from engine.paths import data_dir

    root = data_dir()
    return root / JOURNAL if root.is_dir() else None


@contextlib.contextmanager
def journalled(temp: Path) -> Iterator[None]:
    """Keep ``temp`` in the journal while the block runs (the temp file's whole life)."""
    folder = journal_dir()
    entry = None
    if folder is not None:
        folder.mkdir(mode=0o700, exist_ok=True)
        entry = folder / f"{os.getpid()}-{secrets.token_hex(6)}"
        fd = os.open(entry, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(os.fspath(temp.resolve()))
    try:
        yield
    finally:
        if entry is not None:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


def remove_orphan_temp_files(folder: Path | None = None) -> list[Path]:
    """Remove journalled temp files whose process is gone; returns what was removed."""
    folder = folder if folder is not None else journal_dir()
    removed: list[Path] = []
    if folder is None or not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        pid_text = entry.name.split("-", 1)[0]
        if not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        try:
            temp = Path(entry.read_text(encoding="utf-8").strip())
        except (OSError, UnicodeDecodeError):
            temp = None
        if temp is not None and temp.name.endswith(".tmp"):  # only ever our own temp files
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
                removed.append(temp)
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
    return removed


def drop_staging(workspace_path: Path, finals: Iterable[str] | None = None) -> int:
    """Drop staging tables (of the given output tables, or all); returns how many."""
    if not Path(workspace_path).exists():
        return 0
    conn = workspace.connect(workspace_path)
    lease = workspace.WriteLease(workspace_path)
    try:
        if finals is None:
            return workspace.drop_staging_tables(conn, lease)
        return sum(workspace.drop_staging_tables(conn, lease, final) for final in finals)
    finally:
        lease.close()
        conn.close()


def recover(workspace_path: Path) -> tuple[int, int]:
    """At the lock holder's start: (staging tables dropped, temp files removed), logged."""
    files = remove_orphan_temp_files()
    try:
        tables = drop_staging(workspace_path)
    except (sqlite3.Error, WorkspaceError) as exc:
        log.warning("could not check %s for leftover staging tables: %s", workspace_path, exc)
        tables = 0
    if tables or files:
        log.warning("removed what killed work left behind: %d staging table(s), %d temp file(s)%s",
                    tables, len(files), "".join(f"\n  {f}" for f in files[:10]))
    return tables, len(files)


def clean_after_run(workspace_path: Path, finals: Iterable[str]) -> tuple[int, int]:
    """When a run ends: its own staging tables and dead processes' temp files."""
    files = remove_orphan_temp_files()
    try:
        tables = drop_staging(workspace_path, list(finals))
    except (sqlite3.Error, WorkspaceError) as exc:
        log.warning("could not drop the run's staging tables in %s: %s", workspace_path, exc)
        tables = 0
    return tables, len(files)
