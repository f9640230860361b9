"""The history budget: how much of past runs is kept, and pruning what goes beyond it.

Every run keeps each node's output (:mod:`engine.kept`). The budget — ``days`` and
``size``, either may be off — is kept in ``<data dir>/history-budget.json`` and set with
``dagflux history budget`` or in the app's Settings:

* beyond **size** (bytes of kept tables in the workspace, newest runs counted first), the
  oldest runs' kept tables are dropped;
* beyond **days** (runs started longer ago), the runs' kept tables are dropped, and then
  their node rows in the execution log.

Each run's one-row summary (``runs``) stays forever; a **pinned** run is never pruned (its
size still counts). A kept table that a later run *reused* (run from a node) belongs to the
newest run that reused it: it goes with that run, not with the older one that made it.
The tables of every run to prune go first, oldest first, then the node rows, oldest
first — each batch of a few tables or runs is one short transaction, so a run writing its
tables waits at most one batch. The engine prunes in the background
(:mod:`engine.service.pruner`); ``dagflux history prune [--dry-run]`` prunes (or lists) now.

The latest output tables (``wf__node``) are not history: never pruned. The workspace file
shrinks as it goes: a workspace made with ``auto_vacuum = INCREMENTAL`` (every new one) gives
freed pages back after each batch (``PRAGMA incremental_vacuum``); an older one is switched
once by ``dagflux history prune`` (a full ``VACUUM``), and until then SQLite reuses the freed
pages, so the file stops growing.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine import kept, workspace
from engine.atomic import atomic_write_text
from engine.errors import DagfluxError
from engine.history import History

BUDGET_FILE = "history-budget.json"
DEFAULT_DAYS = 30.0
DEFAULT_SIZE = 1 << 30      # 1 GiB of kept tables
BATCH = 8                   # tables dropped, or runs' node rows deleted, per transaction
VACUUM_PAGES = 2048         # pages given back to the file system per transaction
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30,
          "gb": 1 << 30, "t": 1 << 40, "tb": 1 << 40}


@dataclass
class Budget:
    days: float | None = DEFAULT_DAYS     # None: no age limit
    size: int | None = DEFAULT_SIZE       # bytes; None: no size limit


def load_budget(root: Path) -> Budget:
    path = Path(root) / BUDGET_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Budget()
    except (OSError, ValueError) as exc:
        raise DagfluxError(f"{path} is not a readable history budget ({exc}); fix or remove it") from None
    return Budget(days=_number(data.get("days"), float), size=_number(data.get("size"), int))


def save_budget(root: Path, budget: Budget) -> None:
    atomic_write_text(Path(root) / BUDGET_FILE, json.dumps(asdict(budget)) + "\n")


def _number(value: Any, kind: Callable[[Any], Any]) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise DagfluxError(f"the history budget holds {value!r} where a number ≥ 0 (or null) belongs")
    return kind(value)


def parse_size(text: str) -> int | None:
    """``500MB``, ``2G``, ``1048576`` → bytes; ``off`` / ``none`` → None (no limit)."""
    text = text.strip().lower()
    if text in ("off", "none", ""):
        return None
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]*)", text)
    if not found or found.group(2) not in _UNITS:
        raise DagfluxError(f"size '{text}': give bytes or a number with KB, MB, GB or TB (or 'off')")
    return int(float(found.group(1)) * _UNITS[found.group(2)])


def parse_days(text: str) -> float | None:
    text = text.strip().lower()
    if text in ("off", "none", ""):
        return None
    try:
        days = float(text)
    except ValueError:
        raise DagfluxError(f"days '{text}': give a number of days (or 'off')") from None
    if days < 0:
        raise DagfluxError("days: give a number ≥ 0 (or 'off')")
    return days


def format_size(n: int | None) -> str:
    if n is None:
        return "off"
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


@dataclass
class Plan:
    """What pruning removes, in order: ``tables`` (run id, its kept tables, their bytes) and
    then ``details`` (run ids whose node rows go), each oldest first."""
    tables: list[tuple[str, list[str], int]] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.tables and not self.details

    def as_dict(self) -> dict[str, Any]:
        return {"tables": [{"run_id": r, "tables": t, "bytes": b} for r, t, b in self.tables],
                "details": list(self.details), "bytes": sum(b for _, _, b in self.tables)}


_SIZES: dict[str, int] = {}   # kept tables' sizes: a kept table never changes (kept.table_sizes)


def plan(history: History, conn: sqlite3.Connection, budget: Budget, now: float | None = None) -> Plan:
    """What goes beyond ``budget`` (see the module doc); nothing is changed."""
    now = time.time() if now is None else now
    users = _newest_users(history)
    by_run: dict[str, list[str]] = {}
    for name in kept.kept_tables(conn):
        owner = users.get(name) or kept.split_kept(name)[1]
        by_run.setdefault(owner, []).append(name)   # type: ignore[arg-type]
    names = [name for tables in by_run.values() for name in tables]
    sizes = kept.table_sizes(conn, names, _SIZES) if budget.size is not None else {}
    cutoff = now - budget.days * 86400 if budget.days is not None else None
    out, used = Plan(), 0
    rows = history.execute("SELECT run_id, started_at, pinned FROM runs WHERE pruned < 2 "
                           "ORDER BY started_at DESC, rowid DESC")
    for run_id, started_at, pinned in rows:
        tables = sorted(by_run.get(run_id, ()))
        size = sum(sizes.get(t, 0) for t in tables)
        used += size
        old = cutoff is not None and started_at < cutoff
        if pinned or not (old or (budget.size is not None and used > budget.size)):
            continue
        if tables:
            out.tables.append((run_id, tables, size))
        if old:
            out.details.append(run_id)
    out.tables.reverse()
    out.details.reverse()
    return out


def _newest_users(history: History) -> dict[str, str]:
    """Kept table → the newest run that *reused* it (``node_runs.status = 'reused'``), when one
    did. Such a table stands for that later run too, so it is counted and pruned with the
    newest run using it (a pinned reuser keeps it), never with the older run that made it."""
    users: dict[str, str] = {}
    rows = history.execute(
        "SELECT n.kept_table, n.run_id FROM node_runs AS n JOIN runs AS r ON r.run_id = n.run_id "
        "WHERE n.status = 'reused' AND n.kept_table IS NOT NULL ORDER BY r.started_at, r.rowid")
    for table, run_id in rows:
        users[table] = run_id        # ascending: the newest user wins
    return users


def prune(history: History, workspace_path: Path, budget: Budget, dry_run: bool = False,
          pause: Callable[[], None] | None = None, stop: Callable[[], bool] | None = None) -> Plan:
    """Prune beyond ``budget`` (or, ``dry_run``, only say what would go): kept tables first,
    then node rows, in batches of :data:`BATCH`, each one short transaction. ``pause`` runs
    between batches (the engine's pruner yields there); ``stop`` ends early when true."""
    conn = workspace.connect(workspace_path)
    lease = workspace.WriteLease(workspace_path)
    try:
        todo = plan(history, conn, budget)
        if dry_run or todo.empty:
            return todo
        for start in range(0, len(todo.tables), BATCH):
            batch = todo.tables[start:start + BATCH]
            with workspace.write_transaction(conn, lease):
                for _run_id, tables, _size in batch:
                    for table in tables:
                        conn.execute(f"DROP TABLE IF EXISTS {workspace.quote_ident(table)}")
                        _SIZES.pop(table, None)
            _mark(history, [r for r, _, _ in batch], 1)
            give_back(conn, lease)
            if _between(pause, stop):
                return todo
        for start in range(0, len(todo.details), BATCH):
            runs = todo.details[start:start + BATCH]
            marks = ", ".join("?" * len(runs))
            history.execute(f"DELETE FROM node_runs WHERE run_id IN ({marks})", runs)
            _mark(history, runs, 2)
            if _between(pause, stop):
                break
        return todo
    finally:
        lease.close()
        conn.close()


def _mark(history: History, runs: list[str], level: int) -> None:
    marks = ", ".join("?" * len(runs))
    history.execute(f"UPDATE runs SET pruned = max(pruned, ?) WHERE run_id IN ({marks})", [level, *runs])


def _between(pause: Callable[[], None] | None, stop: Callable[[], bool] | None) -> bool:
    if pause is not None:
        pause()
    return stop is not None and stop()


def give_back(conn: sqlite3.Connection, lease: workspace.WriteLease) -> int:
    """Hand freed pages back to the file system, a few at a time (an incremental-vacuum
    workspace only); returns how many pages were freed before."""
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
        return 0
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    while conn.execute("PRAGMA freelist_count").fetchone()[0]:
        with workspace.write_transaction(conn, lease):
            conn.execute(f"PRAGMA incremental_vacuum({VACUUM_PAGES})").fetchall()
    # copy the WAL into the file, which then ends where its last page does; PASSIVE never waits
    # for a reader (a viewer or a node reading a big table) and takes no lease
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return int(free)


def make_incremental(workspace_path: Path) -> bool:
    """Switch an older workspace to ``auto_vacuum = INCREMENTAL`` (one full ``VACUUM``, under
    the write lease: writers wait for it). True when it was switched now."""
    conn = workspace.connect(workspace_path)
    lease = workspace.WriteLease(workspace_path)
    try:
        if conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:
            return False
        with lease:
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        return True
    finally:
        lease.close()
        conn.close()
