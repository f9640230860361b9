"""The execution log's schema: its tables, indexes and the upgrades from older versions.

:func:`upgrade` brings a log of any earlier schema version to :data:`SCHEMA_VERSION` in one
transaction; :class:`engine.history.History` calls it when it opens the file.
"""

from __future__ import annotations

import re
import sqlite3
from itertools import combinations

SCHEMA_VERSION = 8
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
    seen INTEGER NOT NULL DEFAULT 1,
    params TEXT,
    pinned INTEGER NOT NULL DEFAULT 0,
    pruned INTEGER NOT NULL DEFAULT 0
);
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
    attempts TEXT,
    fingerprint TEXT,
    kept_table TEXT,
    PRIMARY KEY (run_id, node_id)
);
"""
# The runs are listed by ``started_at DESC, rowid DESC``. An index on ``(…, started_at)`` ends
# with the rowid (ascending), so reading it backwards gives exactly that order: no sort, and a
# keyset cursor is a range on it. One index per combination of the filters (workflow, status,
# trigger — each an equality) plus none, so every filtered page is found the same way.
FILTER_COLUMNS = ("workflow_id", "status", "trigger")
_RUN_INDEXES = tuple(
    f"CREATE INDEX IF NOT EXISTS runs_by_{'_'.join(c.split('_')[0] for c in cols) or 'start'} "
    f"ON runs ({', '.join((*cols, 'started_at'))})"
    for n in range(len(FILTER_COLUMNS) + 1) for cols in combinations(FILTER_COLUMNS, n))
# The history budget looks up the node rows that reused another run's kept table.
_REUSED_INDEX = "CREATE INDEX IF NOT EXISTS node_runs_reused ON node_runs (run_id) WHERE status = 'reused'"
# How many runs each workflow has, kept by triggers: the History screen's workflow list reads
# it instead of counting every run (38 ms at 1,000,000 runs). In the file, so a DagFlux of an
# older schema that writes to the log keeps it too.
_WORKFLOW_RUNS = ("CREATE TABLE IF NOT EXISTS workflow_runs (workflow_id TEXT PRIMARY KEY, "
                  "runs INTEGER NOT NULL) WITHOUT ROWID")
_WORKFLOW_RUNS_COUNTED = "INSERT OR REPLACE INTO workflow_runs SELECT workflow_id, count(*) FROM runs GROUP BY 1"
_ADD_RUN = ("INSERT INTO workflow_runs (workflow_id, runs) VALUES (new.workflow_id, 1) "
            "ON CONFLICT (workflow_id) DO UPDATE SET runs = runs + 1")
_REMOVE_RUN = ("UPDATE workflow_runs SET runs = runs - 1 WHERE workflow_id = old.workflow_id; "
               "DELETE FROM workflow_runs WHERE workflow_id = old.workflow_id AND runs <= 0")
_RUN_COUNT_TRIGGERS = (
    f"CREATE TRIGGER IF NOT EXISTS workflow_runs_add AFTER INSERT ON runs BEGIN {_ADD_RUN}; END",
    f"CREATE TRIGGER IF NOT EXISTS workflow_runs_remove AFTER DELETE ON runs BEGIN {_REMOVE_RUN}; END",
    f"CREATE TRIGGER IF NOT EXISTS workflow_runs_move AFTER UPDATE OF workflow_id ON runs "
    f"WHEN old.workflow_id IS NOT new.workflow_id BEGIN {_REMOVE_RUN}; {_ADD_RUN}; END")
_SCHEMA_STATEMENTS = (*(s.strip() for s in _SCHEMA.split(";") if s.strip()), *_RUN_INDEXES, _REUSED_INDEX,
                      _WORKFLOW_RUNS, *_RUN_COUNT_TRIGGERS)

# Schema upgrades, by the version they lead to: a log written by an older DagFlux keeps its rows.
_MIGRATIONS = {2: ("ALTER TABLE node_runs ADD COLUMN output_table TEXT",
                   "ALTER TABLE node_runs ADD COLUMN output_connection TEXT"),
               3: ("ALTER TABLE node_runs ADD COLUMN warnings TEXT",),
               # the schema's run indexes replace these (ordered DESC, they needed a sort for rowid ties)
               4: ("DROP INDEX IF EXISTS runs_started", "DROP INDEX IF EXISTS runs_workflow"),
               # a run's parameter values (JSON object); a retried node's attempts (JSON list)
               5: ("ALTER TABLE runs ADD COLUMN params TEXT",
                   "ALTER TABLE node_runs ADD COLUMN attempts TEXT"),
               # what a node's result was made from (engine.reuse), for "run from here"
               6: ("ALTER TABLE node_runs ADD COLUMN fingerprint TEXT",),
               # each run's output kept (engine.kept) within a budget (engine.history_budget):
               # pinned runs are never pruned; pruned: 0 kept, 1 tables dropped, 2 node rows too
               7: ("ALTER TABLE node_runs ADD COLUMN kept_table TEXT",
                   "ALTER TABLE runs ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0",
                   "ALTER TABLE runs ADD COLUMN pruned INTEGER NOT NULL DEFAULT 0"),
               # the runs per workflow, counted once here and kept by triggers from then on
               8: (_WORKFLOW_RUNS, _WORKFLOW_RUNS_COUNTED)}


_ADD_COLUMN = re.compile(r"ALTER TABLE (\w+) ADD COLUMN (\w+)")


def upgrade(conn: sqlite3.Connection, version: int) -> None:
    """Migrate, create what is missing and stamp the version, all or nothing: a log whose
    upgrade is interrupted (building indexes over a long log takes a while) stays as it was."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        _migrate(conn, version)
        for statement in _SCHEMA_STATEMENTS:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'node_runs'").fetchone()
    if not exists or version == 0:
        return  # a new log: the schema below creates the latest tables
    for target in range(version + 1, SCHEMA_VERSION + 1):
        for statement in _MIGRATIONS.get(target, ()):
            added = _ADD_COLUMN.match(statement)
            if added and added.group(2) in {row[1] for row in conn.execute(
                    f"PRAGMA table_info({added.group(1)})")}:
                continue  # already there (a log touched by a later version): adding it is done
            conn.execute(statement)
