"""Per-node dispatch overhead of the real engine against a floor measured in the same run.

Engine: a 100-node chain of one-row SQL transforms (plus Start and a Data Source on a
one-row workspace table) run through the warm worker pool with the history on.
Floor: one persistent worker process with an open SQLite connection executing the
same statements (DROP + CREATE TABLE … AS SELECT + count, in one transaction) sent
over a pipe as msgpack. Several rounds; the median is reported.

Last line: ``engine_ms_per_node=… floor_ms_per_node=… overhead_ms_per_node=…``
(target: overhead_ms_per_node ≤ 0.5).
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgpack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHAIN = 100
ROUNDS = 7


def build_workflow(wf_id: str = "dispatch_chain"):
    from engine.model.workflow import Edge, Node, Workflow

    nodes = [Node("start", "start", "Start", (0, 0), {"trigger": {"kind": "manual"}}),
             Node("seed", "data_source", "Seed", (200, 0), {"source": "workspace", "table": "seed"})]
    edges = [Edge("start", "seed")]
    prev = "seed"
    for i in range(1, CHAIN + 1):
        nid = f"t{i}"
        nodes.append(Node(nid, "transformer", "", (200 + i * 200, 0),
                          {"language": "sql", "mode": "new_table", "sql": "SELECT x + 1 AS x FROM {{ input }}"}))
        edges.append(Edge(prev, nid))
        prev = nid
    return Workflow(wf_id, "Dispatch chain", nodes=nodes, edges=edges)


def engine_round(run_factory) -> float:
    run = run_factory()
    started = time.perf_counter()
    result = run.execute()
    elapsed = time.perf_counter() - started
    if result.status != "succeeded":
        raise SystemExit(f"engine run failed: {result.error}")
    if result.node(f"t{CHAIN}").records != 1:
        raise SystemExit("engine run produced a wrong result")
    return elapsed * 1000 / CHAIN


def measure_engine(home: Path) -> list[float]:
    from engine import workspace
    from engine.history import History
    from engine.paths import DataPaths, ensure_data_dir
    from engine.plugins import load_registry
    from engine.runner import Run
    from engine.workers.pool import WorkerPool

    paths = ensure_data_dir(DataPaths(home))
    conn = workspace.connect(paths.workspace)
    conn.execute("CREATE TABLE seed AS SELECT 1 AS x")
    conn.close()
    registry = load_registry()
    wf = build_workflow()
    pool = WorkerPool(paths.workspace, size=2)
    try:
        with History(paths.history) as history:
            factory = lambda: Run(wf, home, registry, pool, history)  # noqa: E731
            engine_round(factory)  # warm-up
            return [engine_round(factory) for _ in range(ROUNDS)]
    finally:
        pool.close()


def _floor_worker(conn, db_path: str) -> None:
    import sqlite3

    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    while True:
        try:
            frame = conn.recv_bytes()
        except EOFError:
            return
        msg = msgpack.unpackb(frame)
        db.execute("BEGIN IMMEDIATE")
        db.execute(f'DROP TABLE IF EXISTS "{msg["target"]}"')
        db.execute(f'CREATE TABLE "{msg["target"]}" AS SELECT x + 1 AS x FROM "{msg["source"]}"')
        n = db.execute(f'SELECT count(*) FROM "{msg["target"]}"').fetchone()[0]
        db.execute("COMMIT")
        conn.send_bytes(msgpack.packb({"id": msg["id"], "records": n}))


def measure_floor(home: Path) -> list[float]:
    import sqlite3

    db_path = str(home / "floor.sqlite")
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE seed AS SELECT 1 AS x")
    db.commit()
    db.close()
    ctx = multiprocessing.get_context("forkserver")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_floor_worker, args=(child, db_path), daemon=True)
    proc.start()
    results = []
    try:
        for round_no in range(ROUNDS + 1):
            started = time.perf_counter()
            prev = "seed"
            for i in range(1, CHAIN + 1):
                target = f"floor__t{i}"
                parent.send_bytes(msgpack.packb({"id": i, "source": prev, "target": target}))
                msgpack.unpackb(parent.recv_bytes())
                prev = target
            if round_no:  # the first round warms up
                results.append((time.perf_counter() - started) * 1000 / CHAIN)
    finally:
        parent.close()
        proc.join(5)
    return results


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dagflux-bench-") as tmp:
        home = Path(tmp)
        os.environ["DAGFLUX_HOME"] = str(home)
        engine = measure_engine(home / "engine")
        floor = measure_floor(home)
    e, f = statistics.median(engine), statistics.median(floor)
    print(f"{CHAIN}-node chain, {ROUNDS} rounds (median ms per node)")
    print(f"  engine (pool + history): {e:.3f}   rounds: {', '.join(f'{x:.3f}' for x in engine)}")
    print(f"  floor (one worker, pipe): {f:.3f}   rounds: {', '.join(f'{x:.3f}' for x in floor)}")
    print(f"engine_ms_per_node={e:.3f} floor_ms_per_node={f:.3f} overhead_ms_per_node={e - f:.3f}")


if __name__ == "__main__":
    main()
