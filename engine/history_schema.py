"""The execution log's schema: its tables, indexes and the upgrades from older versions.

:func:`upgrade` brings a log of any earlier schema version to :data:`SCHEMA_VERSION` in one
transaction; :class:`engine.history.History` calls it when it opens the file.
"""

from __future__ import annotations

import re
import sqlite3
from itertools import combinations

SCHEMA_VERSION = 7
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
_SCHEMA_STATEMENTS = (*(s.strip() for s in _SCHEMA.split(";") if s.strip()), *_RUN_INDEXES, _REUSED_INDEX)

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
                   "ALTER TABLE runs ADD COLUMN pruned INTEGER NOT NULL DEFAULT 0")}


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
