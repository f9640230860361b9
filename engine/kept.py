"""Each run's node outputs, kept: where they live in the workspace and how they are found.

A node's output table has a stable name, ``<workflow_id>__<node_id>`` (the **latest**
result: what user SQL and ``{{ table.… }}`` read). When a run replaces it, the table it
replaces is not dropped but **renamed** to its own run's name,
``<workflow_id>__<node_id>@<run id>`` — one schema change, no copy, so keeping costs no
extra write. The run whose result the latest table holds is noted in the workspace table
``_dfkept_latest`` (``name``, ``run_id``), in the same transaction as the replacement, so
the note never disagrees with the data.

So the output of node N in run R is found (:func:`resolve`):

* in ``wf__N@R`` once a later run replaced it;
* in ``wf__N`` while R's result is still the latest;
* nowhere when the history budget pruned it (:mod:`engine.history_budget`), or when it
  was made before DagFlux kept runs (such a latest table is dropped when replaced).

A node run twice in the same run (a retry) replaces its own result: nothing is kept.
"Try" previews that write the latest table clear its note: what they wrote is no run's.
"""

from __future__ import annotations

import sqlite3

from engine import workspace

MARKER = workspace.KEPT_MARKER
SEP = "@"


def kept_name(final: str, run_id: str) -> str:
    """The name of ``final``'s result from ``run_id`` once a later run replaced it."""
    return f"{final}{SEP}{run_id}"


def split_kept(name: str) -> tuple[str, str] | None:
    """``(latest name, run id)`` of a kept table's name, or None for any other name."""
    final, sep, run_id = name.rpartition(SEP)
    return (final, run_id) if sep and final and run_id else None


def is_internal(name: str) -> bool:
    return name == MARKER


def set_aside(conn: sqlite3.Connection, final: str, run_id: str | None) -> None:
    """Inside the write transaction that is about to replace ``final``: keep what it holds
    under its run's name (when known, and not this run's own), and note ``run_id`` as the
    run of the result that replaces it (None: not a run — the note is removed)."""
    conn.execute(f"CREATE TABLE IF NOT EXISTS {MARKER} (name TEXT PRIMARY KEY, run_id TEXT NOT NULL)")
    row = conn.execute(f"SELECT run_id FROM {MARKER} WHERE name = ?", (final,)).fetchone()
    if row is not None and row[0] != run_id and workspace.table_exists(conn, final):
        target = kept_name(final, row[0])
        if not workspace.table_exists(conn, target):
            # legacy mode: views and triggers that name the latest table keep naming it
            legacy = conn.execute("PRAGMA legacy_alter_table").fetchone()[0]
            conn.execute("PRAGMA legacy_alter_table = ON")
            try:
                conn.execute(f"ALTER TABLE {workspace.quote_ident(final)} RENAME TO "
                             f"{workspace.quote_ident(target)}")
            finally:
                conn.execute(f"PRAGMA legacy_alter_table = {int(legacy)}")
    if run_id is None:
        conn.execute(f"DELETE FROM {MARKER} WHERE name = ?", (final,))
    else:
        conn.execute(f"INSERT INTO {MARKER} (name, run_id) VALUES (?, ?) "
                     f"ON CONFLICT (name) DO UPDATE SET run_id = excluded.run_id", (final, run_id))


def latest_run(conn: sqlite3.Connection, final: str) -> str | None:
    """The run whose result the latest table ``final`` holds (None: unknown)."""
    if not workspace.table_exists(conn, MARKER):
        return None
    row = conn.execute(f"SELECT run_id FROM {MARKER} WHERE name = ?", (final,)).fetchone()
    return row[0] if row else None


def resolve(conn: sqlite3.Connection, name: str) -> str | None:
    """The workspace table that holds the kept result ``name`` (``wf__N@R``) now, or None."""
    if workspace.table_exists(conn, name):
        return name
    parts = split_kept(name)
    if parts is None:
        return None
    final, run_id = parts
    if latest_run(conn, final) == run_id and workspace.table_exists(conn, final):
        return final
    return None


def kept_tables(conn: sqlite3.Connection) -> list[str]:
    """Every kept table in the workspace (not the latest ones)."""
    return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if split_kept(r[0]) is not None and not r[0].startswith(workspace.STAGING_PREFIX)]


def table_sizes(conn: sqlite3.Connection, names: list[str], known: dict[str, int] | None = None) -> dict[str, int]:
    """Bytes of pages each of ``names`` uses (SQLite's ``dbstat``, one table's pages at a
    time). A kept table never changes, so ``known`` (a cache the caller keeps) is trusted
    and filled in."""
    known = {} if known is None else known
    for name in names:
        if name in known:
            continue
        try:
            row = conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name = ? AND aggregate = TRUE",
                               (name,)).fetchone()
            known[name] = int(row[0] or 0)
        except sqlite3.OperationalError:   # a SQLite built without dbstat: the page size per 16 rows
            page = conn.execute("PRAGMA page_size").fetchone()[0]
            known[name] = page * (workspace.count_rows(conn, name) // 16 + 1)
    return {name: known[name] for name in names}
