"""Verifying an AI proposal on a 5-row sample with a warm worker, against a floor measured in
the same run.

Verify: :meth:`engine.ai.assist.AssistService.verify` — load the workflow, find the input's
table, parse and guard the SQL (sqlglot), validate the node with the proposal, and run it on
a copy of the sample in a warm worker (the "Try on sample" path: a scratch database, the
node's own execute, the first rows back over msgpack). Floor: the same ``CREATE TABLE … AS
SELECT`` on the same 5 rows in this process's own open SQLite connection. Also shown: the
guard alone. Medians of many rounds; no model is called (the reply is given).

Last line: ``verify_ms=… floor_ms=… guard_ms=… ratio=…`` (target: verify_ms ≤ 150).
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROUNDS = 60
SQL = "SELECT country, sum(total) AS revenue FROM {{ input }} GROUP BY country ORDER BY revenue DESC"
ROWS = [(1, "DE", 10.0), (2, "FR", 20.0), (3, "DE", 5.5), (4, "IT", 7.0), (5, "FR", 1.0)]


def setup(home: Path):
    from engine import workspace
    from engine.ai.assist import AssistService
    from engine.connectors.service import ConnectionService
    from engine.history import History
    from engine.model.workflow import Edge, Node, Workflow
    from engine.paths import DataPaths, ensure_data_dir
    from engine.plugins import load_registry
    from engine.service.previews import NodePanelService
    from engine.service.store import WorkflowStore
    from engine.workers.pool import WorkerPool

    paths = ensure_data_dir(DataPaths(home))
    conn = workspace.connect(paths.workspace)
    with workspace.write_transaction(conn, workspace.WriteLease(paths.workspace)):
        conn.execute('CREATE TABLE "bench__src" (id INTEGER, country TEXT, total REAL)')
        conn.executemany('INSERT INTO "bench__src" VALUES (?, ?, ?)', ROWS)
    conn.close()
    store = WorkflowStore(paths.workflows)
    store.save(Workflow("bench", "bench", nodes=[
        Node("start", "start", "", (0, 0), {"trigger": {"kind": "manual"}}),
        Node("src", "data_source", "", (1, 0), {"source": "workspace", "table": "bench__src"}),
        Node("shape", "transformer", "", (2, 0), {"language": "sql", "sql": "SELECT * FROM {{ input }}"})],
        edges=[Edge("start", "src"), Edge("src", "shape")]))
    pool = WorkerPool(paths.workspace, size=1, plugin_roots=[paths.plugins])
    history = History(paths.history)
    connections = ConnectionService(paths.connections, load_registry([paths.plugins]), pool)
    panels = NodePanelService(store, history, pool, connections)
    return AssistService(store, history, pool, connections, panels, home / "ai" / "proposals"), pool, history


def measure_verify(service) -> list[float]:
    from engine.ai.proposal import Proposal

    proposal = Proposal("sql", SQL, "")
    first = service.verify("bench", "shape", proposal)       # warms the worker and the imports
    if first["rows"][0] != ["FR", 21.0] or first["total"] != 3:
        raise SystemExit(f"wrong verification result: {first}")
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        service.verify("bench", "shape", proposal)
        times.append((time.perf_counter() - started) * 1000)
    return times


def measure_guard() -> list[float]:
    from engine.ai.sql_guard import InputRef, check_select

    refs = [InputRef("src", "bench__src")]
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        check_select(SQL, "sqlite", refs)
        times.append((time.perf_counter() - started) * 1000)
    return times


def measure_floor() -> list[float]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE src (id INTEGER, country TEXT, total REAL)")
    conn.executemany("INSERT INTO src VALUES (?, ?, ?)", ROWS)
    body = SQL.replace("{{ input }}", "src")
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute("DROP TABLE IF EXISTS out")
        conn.execute(f"CREATE TABLE out AS {body}")
        conn.execute("SELECT * FROM out LIMIT 5").fetchall()
        conn.execute("COMMIT")
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dagflux-bench-verify-") as tmp:
        os.environ["DAGFLUX_HOME"] = tmp
        service, pool, history = setup(Path(tmp))
        try:
            verify = statistics.median(measure_verify(service))
        finally:
            pool.close()
            history.close()
    guard = statistics.median(measure_guard())
    floor = statistics.median(measure_floor())
    print(f"{'step':<44} {'median ms':>10}")
    print(f"{'floor: CREATE TABLE AS SELECT, in process':<44} {floor:>10.3f}")
    print(f"{'guard: sqlglot parse + checks':<44} {guard:>10.3f}")
    print(f"{'verify: guard + validate + try in a worker':<44} {verify:>10.3f}")
    print(f"verify_ms={verify:.2f} floor_ms={floor:.3f} guard_ms={guard:.2f} ratio={verify / floor:.1f}")


if __name__ == "__main__":
    main()
