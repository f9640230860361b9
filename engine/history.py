"""The execution log, ``history.sqlite``: one row per run and one per node run.

Separate from the workspace and written only by the data-dir lock holder. A run
row is written when the run starts and completed when it ends; a node row is
written as each node ends. Rows are never rewritten except to finish a run or to
mark a run left *running* by a crash as *interrupted*. A file that is not a
SQLite database is reported by name and left untouched.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import HistoryError
from engine.private import create_private_file

SCHEMA_VERSION = 3
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    workflow_name TEXT NOT NULL DEFAULT '',
    trigger TEXT NOT NULL DEFAULT 'manual',
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    error TEXT,
    node_count INTEGER NOT NULL DEFAULT 0,
    records INTEGER,
    seen INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at DESC);
CREATE INDEX IF NOT EXISTS runs_workflow ON runs (workflow_id, started_at DESC);
CREATE TABLE IF NOT EXISTS node_runs (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    node_id TEXT NOT NULL,
    node_type TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    started_at REAL,
    duration_ms REAL,
    records_in INTEGER,
    records_out INTEGER,
    error TEXT,
    seq INTEGER NOT NULL DEFAULT 0,
    output_table TEXT,
    output_connection TEXT,
    warnings TEXT,
    PRIMARY KEY (run_id, node_id)
);
"""

RUN_FIELDS = ("run_id", "workflow_id", "workflow_name", "trigger", "status", "started_at", "ended_at",
              "error", "node_count", "records", "seen")
NODE_FIELDS = ("node_id", "node_type", "title", "status", "started_at", "duration_ms", "records_in",
               "records_out", "error", "output_table", "output_connection", "warnings")
LAST_RUN_FIELDS = ("run_id", "status", "trigger", "started_at", "ended_at", "error")
# Schema upgrades, by the version they lead to: a log written by an older DagFlux keeps its rows.
_MIGRATIONS = {2: ("ALTER TABLE node_runs ADD COLUMN output_table TEXT",
                   "ALTER TABLE node_runs ADD COLUMN output_connection TEXT"),
               3: ("ALTER TABLE node_runs ADD COLUMN warnings TEXT",)}


@dataclass
class NodeRow:
    node_id: str
    node_type: str
    title: str
    status: str
    started_at: float | None
    duration_ms: float | None
    records_in: int | None
    records_out: int | None
    error: str | None
    output_table: str | None = None        # where the node's result lives (for viewers)
    output_connection: str | None = None   # None: the workspace
    warnings: list[str] = field(default_factory=list)   # stored as a JSON list; NULL when none


class History:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        create_private_file(self.path)  # 0600; SQLite gives its -wal/-shm files the same mode
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            self._conn.execute("PRAGMA busy_timeout = 30000")
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise HistoryError(f"{self.path} was written by a newer DagFlux (schema {version}); "
                                   "it was left untouched")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._migrate(version)
            self._conn.executescript(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise HistoryError(f"{self.path} is not a usable execution log ({exc}); it was left "
                               f"untouched — move it aside to start a new history") from None
        except HistoryError:
            self._conn.close()
            raise

    def _migrate(self, version: int) -> None:
        exists = self._conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'node_runs'").fetchone()
        if not exists or version == 0:
            return  # a new log: the schema below creates the latest tables
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS.get(target, ()):
                self._conn.execute(statement)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing ---------------------------------------------------------------
    def start_run(self, run_id: str, workflow_id: str, workflow_name: str, trigger: str,
                  started_at: float, node_count: int, status: str = "running") -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO runs (run_id, workflow_id, workflow_name, trigger, status, started_at, "
                "node_count) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, workflow_id, workflow_name, trigger, status, started_at, node_count))

    def record_node(self, run_id: str, row: NodeRow, seq: int) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO node_runs (run_id, node_id, node_type, title, status, started_at, "
                "duration_ms, records_in, records_out, error, seq, output_table, output_connection, warnings) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, row.node_id, row.node_type, row.title, row.status, row.started_at,
                 row.duration_ms, row.records_in, row.records_out, row.error, seq, row.output_table,
                 row.output_connection, json.dumps(row.warnings) if row.warnings else None))

    def finish_run(self, run_id: str, status: str, ended_at: float, error: str | None = None,
                   records: int | None = None) -> None:
        """Complete a run; ``records`` is what its final (sink) nodes produced."""
        with self._lock:
            self._conn.execute("UPDATE runs SET status = ?, ended_at = ?, error = ?, records = ? "
                               "WHERE run_id = ?", (status, ended_at, error, records, run_id))

    def record_skipped(self, run_id: str, workflow_id: str, workflow_name: str, trigger: str,
                       at: float, reason: str) -> None:
        """A trigger that fired while its workflow was running: a run row with status skipped."""
        with self._lock:
            self._conn.execute(
                "INSERT INTO runs (run_id, workflow_id, workflow_name, trigger, status, started_at, ended_at, "
                "error, node_count, seen) VALUES (?, ?, ?, ?, 'skipped', ?, ?, ?, 0, 1)",
                (run_id, workflow_id, workflow_name, trigger, at, at, reason))

    def set_seen(self, run_id: str, seen: bool) -> None:
        with self._lock:
            self._conn.execute("UPDATE runs SET seen = ? WHERE run_id = ?", (int(seen), run_id))

    def mark_interrupted(self) -> int:
        """Runs left *running* by a process that died become *interrupted*; the nodes they were
        running become *interrupted* too. Such a run ends where its log ends: at the last node
        row written (or its start), not whenever this is noticed."""
        with self._lock:
            cur = self._conn.execute(
                "UPDATE runs SET status = 'interrupted', ended_at = coalesce(ended_at, (SELECT max(coalesce("
                "n.started_at + n.duration_ms / 1000.0, n.started_at)) FROM node_runs n "
                "WHERE n.run_id = runs.run_id), started_at), "
                "error = coalesce(error, 'the process running it stopped before it finished') "
                "WHERE status = 'running'")
            self._conn.execute("UPDATE node_runs SET status = 'interrupted' WHERE status = 'running' "
                               "AND run_id IN (SELECT run_id FROM runs WHERE status = 'interrupted')")
            return cur.rowcount

    # --- reading ---------------------------------------------------------------
    def list_runs(self, limit: int = 20, offset: int = 0, workflow_id: str | None = None,
                  status: str | None = None, trigger: str | None = None) -> list[dict[str, Any]]:
        clause, args = _filters(workflow_id, status, trigger)
        rows = self._conn.execute(
            f"SELECT {', '.join('r.' + f for f in RUN_FIELDS)} FROM runs r {clause} "
            f"ORDER BY r.started_at DESC, r.rowid DESC LIMIT ? OFFSET ?",
            (*args, limit, offset)).fetchall()
        return [self._run_dict(r) for r in rows]

    def last_runs(self, workflow_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Each workflow's most recent run (a skipped trigger counts, with status ``skipped``),
        in one query: ``{workflow_id: {run_id, status, trigger, started_at, ended_at, error}}``.
        ``workflow_ids`` limits the answer to those workflows (all of them when None). One index
        probe per workflow (``runs_workflow``), so the cost does not grow with the log."""
        if workflow_ids is None:
            ids, args = "SELECT DISTINCT workflow_id FROM runs", ()
        else:
            ids, args = "SELECT DISTINCT value FROM json_each(?)", (json.dumps(list(workflow_ids)),)
        rows = self._conn.execute(
            f"WITH ids(workflow_id) AS ({ids}) "
            f"SELECT r.workflow_id, {', '.join('r.' + f for f in LAST_RUN_FIELDS)} FROM ids JOIN runs r "
            f"ON r.rowid = (SELECT rowid FROM runs WHERE workflow_id = ids.workflow_id "
            f"ORDER BY started_at DESC, rowid DESC LIMIT 1)", args).fetchall()
        return {row[0]: dict(zip(LAST_RUN_FIELDS, row[1:])) for row in rows}

    def count_runs(self, workflow_id: str | None = None, status: str | None = None,
                   trigger: str | None = None) -> int:
        """How many runs match the same filters as :meth:`list_runs`."""
        clause, args = _filters(workflow_id, status, trigger)
        return int(self._conn.execute(f"SELECT count(*) FROM runs r {clause}", args).fetchone()[0])

    def workflows(self) -> list[dict[str, Any]]:
        """Every workflow in the log (deleted ones too): its id, the name of its latest run and
        how many runs it has, ordered by name."""
        rows = self._conn.execute(
            "SELECT workflow_id, workflow_name, max(started_at), count(*) FROM runs GROUP BY workflow_id "
            "ORDER BY lower(workflow_name), workflow_id").fetchall()
        return [{"workflow_id": wf_id, "workflow_name": name, "runs": n} for wf_id, name, _latest, n in rows]

    def get_run(self, run_id: str) -> dict[str, Any]:
        """A run with its node rows; ``run_id`` may be a unique prefix."""
        rows = self._conn.execute(
            f"SELECT {', '.join(RUN_FIELDS)} FROM runs WHERE run_id = ? OR run_id LIKE ? ESCAPE '\\' "
            f"ORDER BY run_id = ? DESC LIMIT 2", (run_id, _like_prefix(run_id), run_id)).fetchall()
        if not rows:
            raise HistoryError(f"no run '{run_id}' in the execution log")
        if len(rows) > 1 and rows[0][0] != run_id:
            raise HistoryError(f"'{run_id}' matches more than one run; give more characters")
        run = self._run_dict(rows[0])
        nodes = self._conn.execute(
            f"SELECT {', '.join(NODE_FIELDS)} FROM node_runs WHERE run_id = ? ORDER BY seq",
            (run["run_id"],)).fetchall()
        run["nodes"] = [dict(zip(NODE_FIELDS, n)) for n in nodes]
        for node in run["nodes"]:
            node["warnings"] = json.loads(node["warnings"]) if node["warnings"] else []
        return run

    @staticmethod
    def _run_dict(row: tuple) -> dict[str, Any]:
        out = dict(zip(RUN_FIELDS, row))
        out["seen"] = bool(out["seen"])
        started, ended = out["started_at"], out["ended_at"]
        out["duration_ms"] = round((ended - started) * 1000, 1) if ended else None
        return out


def _filters(workflow_id: str | None, status: str | None, trigger: str | None) -> tuple[str, list[str]]:
    """The WHERE clause (on alias ``r``) and its arguments shared by listing and counting."""
    where, args = [], []
    for column, value in (("workflow_id", workflow_id), ("status", status), ("trigger", trigger)):
        if value:
            where.append(f"r.{column} = ?")
            args.append(value)
    return (f"WHERE {' AND '.join(where)}" if where else ""), args


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
