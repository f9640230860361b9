"""The execution log, ``history.sqlite``: one row per run and one per node run.

Separate from the workspace and written only by the data-dir lock holder. A run
row is written when the run starts and completed when it ends; a node row is
written as each node ends. Rows are never rewritten except to finish a run or to
mark a run left *running* by a crash as *interrupted*. A file that is not a
SQLite database is reported by name and left untouched.

Reading stays fast however long the log grows: a page of runs is found by index for
every filter combination, from a keyset cursor (``before``: the last run listed) rather
than by skipping rows, and a run is opened by its primary key or a key range for a prefix.
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
from engine.history_schema import SCHEMA_VERSION, upgrade
from engine.private import create_private_file

RUN_FIELDS = ("run_id", "workflow_id", "workflow_name", "trigger", "status", "started_at", "ended_at",
              "error", "node_count", "records", "seen", "params", "pinned", "pruned")
NODE_FIELDS = ("node_id", "node_type", "title", "status", "started_at", "duration_ms", "records_in",
               "records_out", "error", "output_table", "output_connection", "warnings", "attempts",
               "kept_table")
LAST_RUN_FIELDS = ("run_id", "status", "trigger", "started_at", "ended_at", "error")

# Every workflow id in the log, read as a skip-scan of ``runs_by_workflow`` (one index probe
# per workflow, however long the log) rather than a scan of every run.
_WORKFLOW_IDS = ("walk(w) AS (SELECT min(workflow_id) FROM runs UNION ALL SELECT (SELECT min(workflow_id) "
                 "FROM runs WHERE workflow_id > walk.w) FROM walk WHERE walk.w IS NOT NULL), "
                 "ids(workflow_id) AS (SELECT w FROM walk WHERE w IS NOT NULL)")



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
    # every attempt of a retried node, [{attempt, status, started_at, duration_ms, error}];
    # stored as a JSON list, NULL when the node ran once
    attempts: list[dict[str, Any]] = field(default_factory=list)
    fingerprint: str | None = None          # engine.reuse.fingerprint of what the result was made from
    kept_table: str | None = None           # this run's result, kept (engine.kept): wf__node@run


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
            upgrade(self._conn, version)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise HistoryError(f"{self.path} is not a usable execution log ({exc}); it was left "
                               f"untouched — move it aside to start a new history") from None
        except HistoryError:
            self._conn.close()
            raise

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing ---------------------------------------------------------------
    def start_run(self, run_id: str, workflow_id: str, workflow_name: str, trigger: str,
                  started_at: float, node_count: int, status: str = "running",
                  params: dict[str, Any] | None = None) -> None:
        """``params``: the workflow parameter values the run uses (kept as a JSON object)."""
        with self._lock:
            self._conn.execute(
                "INSERT INTO runs (run_id, workflow_id, workflow_name, trigger, status, started_at, "
                "node_count, params) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, workflow_id, workflow_name, trigger, status, started_at, node_count,
                 json.dumps(params) if params else None))

    def record_node(self, run_id: str, row: NodeRow, seq: int) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO node_runs (run_id, node_id, node_type, title, status, started_at, "
                "duration_ms, records_in, records_out, error, seq, output_table, output_connection, warnings, "
                "attempts, fingerprint, kept_table) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, row.node_id, row.node_type, row.title, row.status, row.started_at,
                 row.duration_ms, row.records_in, row.records_out, row.error, seq, row.output_table,
                 row.output_connection, json.dumps(row.warnings) if row.warnings else None,
                 json.dumps(row.attempts) if row.attempts else None, row.fingerprint, row.kept_table))

    def last_success(self, workflow_id: str, node_id: str) -> dict[str, Any] | None:
        """The node's most recent result that stands (succeeded or reused, in any run):
        ``{run_id, fingerprint, output_table, output_connection, records_out, kept_table}``.
        Newest runs first through the workflow's run index, each probed by primary key."""
        row = self._conn.execute(
            "SELECT n.run_id, n.fingerprint, n.output_table, n.output_connection, n.records_out, n.kept_table "
            "FROM runs r JOIN node_runs n ON n.run_id = r.run_id AND n.node_id = ? "
            "WHERE r.workflow_id = ? AND n.status IN ('succeeded', 'reused') "
            "ORDER BY r.started_at DESC, r.rowid DESC LIMIT 1", (node_id, workflow_id)).fetchone()
        if row is None:
            return None
        return dict(zip(("run_id", "fingerprint", "output_table", "output_connection", "records_out",
                         "kept_table"), row))

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

    def set_pinned(self, run_id: str, pinned: bool) -> None:
        """Pin (never pruned) or unpin a run; ``run_id`` may be a unique prefix."""
        run_id = self.get_run(run_id)["run_id"]
        with self._lock:
            self._conn.execute("UPDATE runs SET pinned = ? WHERE run_id = ?", (int(pinned), run_id))

    def execute(self, sql: str, args: Iterable[Any] = ()) -> list[tuple]:
        """One statement of the log's own upkeep (:mod:`engine.history_budget`), in autocommit."""
        with self._lock:
            return self._conn.execute(sql, tuple(args)).fetchall()

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
                  status: str | None = None, trigger: str | None = None,
                  before: str | None = None) -> list[dict[str, Any]]:
        """Runs newest first (``started_at DESC``, ties: the later written first), filtered.

        ``before`` is the paging cursor: the ``run_id`` of a listed row (the last of a page);
        the answer then starts right after that row in the same order, so every page costs one
        index range however deep it is. ``offset`` skips rows (after the cursor, if given); it
        reads every row it skips and is kept for callers that page by position."""
        keyset: tuple[float, int] | None = None
        if before is not None:
            found = self._conn.execute("SELECT started_at, rowid FROM runs WHERE run_id = ?",
                                       (before,)).fetchone()
            if found is None:
                raise HistoryError(f"no run '{before}' in the execution log (the page cursor)")
            keyset = (found[0], found[1])
        clause, args = _filters(workflow_id, status, trigger)
        rows = self._conn.execute(list_sql(clause, keyset is not None),
                                  (*args, *(keyset or ()), limit, offset)).fetchall()
        return [self._run_dict(r) for r in rows]

    def last_runs(self, workflow_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Each workflow's most recent run (a skipped trigger counts, with status ``skipped``),
        in one query: ``{workflow_id: {run_id, status, trigger, started_at, ended_at, error}}``.
        ``workflow_ids`` limits the answer to those workflows (all of them when None). One index
        probe per workflow (``runs_by_workflow``), so the cost does not grow with the log."""
        if workflow_ids is None:
            ids, args = f"WITH RECURSIVE {_WORKFLOW_IDS}", ()
        else:
            ids, args = "WITH ids(workflow_id) AS (SELECT DISTINCT value FROM json_each(?))", \
                (json.dumps(list(workflow_ids)),)
        rows = self._conn.execute(
            f"{ids} "
            f"SELECT r.workflow_id, {', '.join('r.' + f for f in LAST_RUN_FIELDS)} FROM ids JOIN runs r "
            f"ON r.rowid = (SELECT rowid FROM runs WHERE workflow_id = ids.workflow_id "
            f"ORDER BY started_at DESC, rowid DESC LIMIT 1)", args).fetchall()
        return {row[0]: dict(zip(LAST_RUN_FIELDS, row[1:])) for row in rows}

    def count_runs(self, workflow_id: str | None = None, status: str | None = None,
                   trigger: str | None = None) -> int:
        """How many runs match the same filters as :meth:`list_runs`. With no filter but the
        workflow, read from the per-workflow counts the log's triggers keep (counting 1,000,000
        runs took 6.6 ms)."""
        if not status and not trigger:        # an empty filter is no filter, as in _filters
            if not workflow_id:
                return int(self._conn.execute("SELECT total(runs) FROM workflow_runs").fetchone()[0])
            row = self._conn.execute("SELECT runs FROM workflow_runs WHERE workflow_id = ?",
                                     (workflow_id,)).fetchone()
            return int(row[0]) if row else 0
        clause, args = _filters(workflow_id, status, trigger)
        return int(self._conn.execute(f"SELECT count(*) FROM runs r {clause}", args).fetchone()[0])

    def workflows(self) -> list[dict[str, Any]]:
        """Every workflow in the log (deleted ones too): its id, the name of its latest run and
        how many runs it has (kept per workflow by the log's triggers), ordered by name."""
        rows = self._conn.execute(
            "SELECT workflow_id, (SELECT workflow_name FROM runs r WHERE r.workflow_id = w.workflow_id "
            "ORDER BY started_at DESC, rowid DESC LIMIT 1) AS name, runs FROM workflow_runs w "
            "WHERE runs > 0 ORDER BY lower(name), workflow_id").fetchall()
        return [{"workflow_id": wf_id, "workflow_name": name, "runs": n} for wf_id, name, n in rows]

    def get_run(self, run_id: str) -> dict[str, Any]:
        """A run with its node rows; ``run_id`` may be a unique prefix.

        The exact id wins (primary key); otherwise the ids starting with ``run_id`` are a key
        range. Like the ``LIKE`` match this replaces, a prefix that finds nothing as typed is
        tried in lower case too, as the ids DagFlux makes are (``20261205-…-k3j6x2``)."""
        columns = ", ".join(RUN_FIELDS)
        row = self._conn.execute(f"SELECT {columns} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            rows = self._prefixed(columns, run_id)
            if not rows and run_id.lower() != run_id:
                rows = self._prefixed(columns, run_id.lower())
            if not rows:
                raise HistoryError(f"no run '{run_id}' in the execution log")
            if len(rows) > 1:
                raise HistoryError(f"'{run_id}' matches more than one run; give more characters")
            row = rows[0]
        run = self._run_dict(row)
        nodes = self._conn.execute(
            f"SELECT {', '.join(NODE_FIELDS)} FROM node_runs WHERE run_id = ? ORDER BY seq",
            (run["run_id"],)).fetchall()
        run["nodes"] = [dict(zip(NODE_FIELDS, n)) for n in nodes]
        for node in run["nodes"]:
            node["warnings"] = json.loads(node["warnings"]) if node["warnings"] else []
            node["attempts"] = json.loads(node["attempts"]) if node["attempts"] else []
        return run

    def _prefixed(self, columns: str, prefix: str) -> list[tuple]:
        """Up to two runs whose id starts with ``prefix``: a range on the primary key."""
        upper = prefix_upper_bound(prefix)
        bound, args = ("AND run_id < ?", (prefix, upper)) if upper is not None else ("", (prefix,))
        return self._conn.execute(f"SELECT {columns} FROM runs WHERE run_id >= ? {bound} "
                                  f"ORDER BY run_id LIMIT 2", args).fetchall()

    @staticmethod
    def _run_dict(row: tuple) -> dict[str, Any]:
        out = dict(zip(RUN_FIELDS, row))
        out["seen"], out["pinned"] = bool(out["seen"]), bool(out["pinned"])
        out["params"] = json.loads(out["params"]) if out["params"] else {}
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


def list_sql(clause: str, keyset: bool) -> str:
    """The page query: ``clause`` from :func:`_filters`; with ``keyset``, two more arguments
    (the cursor row's started_at and rowid) before LIMIT and OFFSET. A row-value comparison,
    so SQLite reads it as a range on the matching ``runs_by_*`` index."""
    if keyset:
        clause = f"{clause} AND (r.started_at, r.rowid) < (?, ?)" if clause else \
            "WHERE (r.started_at, r.rowid) < (?, ?)"
    return (f"SELECT {', '.join('r.' + f for f in RUN_FIELDS)} FROM runs r {clause} "
            f"ORDER BY r.started_at DESC, r.rowid DESC LIMIT ? OFFSET ?")


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (None: there is none),
    so ``prefix <= id < bound`` selects exactly the ids with that prefix. SQLite compares text
    byte by byte (UTF-8), which orders like code points; surrogates cannot occur in text."""
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000
        if code <= 0x10FFFF:
            return "".join(chars) + chr(code)
    return None
