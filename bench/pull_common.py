"""What bench/pg_pull.py and bench/mysql_pull.py share: the engine's pull path and the floor's insert."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path


def engine_pull(connector_type: str, settings: dict, home: Path, expected: int) -> float:
    """Seconds for the Transformer's ``storage: local`` path: the connector's streaming read feeding
    :func:`engine.connectors.transfer.transfer` into the real workspace (WAL, write lease, batches)."""
    from engine import workspace
    from engine.connectors.local import WorkspaceConnector
    from engine.connectors.transfer import transfer
    from engine.plugins import load_registry

    registry = load_registry()
    source = registry.connectors[connector_type]("bench", "bench", settings)
    conn = workspace.connect(home / "workspace.sqlite")
    lease = workspace.WriteLease(home / "workspace.sqlite")
    try:
        started = time.perf_counter()
        count = transfer(source, "SELECT * FROM big", WorkspaceConnector(conn, lease), "pulled", "replace")
        elapsed = time.perf_counter() - started
    finally:
        source.close()
        conn.close()
        lease.close()
    assert count == expected, count
    return elapsed


def engine_fetch(connector_type: str, settings: dict, expected: int) -> float:
    """Seconds for the connector's streaming read alone (the rows built and dropped): the
    part of :func:`engine_pull` spent in the driver, shown to say where the time goes."""
    from engine.plugins import load_registry

    registry = load_registry()    # held: the plugins' modules are cleared when it is freed
    source = registry.connectors[connector_type]("bench", "bench", settings)
    try:
        started = time.perf_counter()
        count = sum(len(rows) for _names, rows in source.read_batches("SELECT * FROM big", (), 20_000))
        elapsed = time.perf_counter() - started
    finally:
        source.close()
    assert count == expected, count
    return elapsed


def floor_insert(home: Path, rows: list[tuple]) -> float:
    """Seconds for a stdlib ``sqlite3`` ``executemany`` of ``rows`` (8 columns) in one WAL transaction."""
    db = sqlite3.connect(home / "floor.sqlite")
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("CREATE TABLE big (id, amount, name, day, qty, flag, code, score)")
        started = time.perf_counter()
        with db:
            db.executemany("INSERT INTO big VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return time.perf_counter() - started
    finally:
        db.close()
