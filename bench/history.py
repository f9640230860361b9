"""Benchmark: reading the execution log at scale — paging the run list and opening a run.

Method: a ``history.sqlite`` in a temporary DAGFLUX_HOME gets ``--runs`` runs (default
1,000,000) × 8 node rows. ``History`` creates the file (so the schema is the real one); its
run indexes are then dropped and the rows bulk-inserted with plain SQL in one transaction
(runs in start order, ids shaped like ``new_run_id``'s, every 10th run sharing its start time
with the one before, 40 workflows, 8% failed); opening ``History`` again builds the indexes
back — the same work as the schema-4 upgrade of an existing log, timed and shown. Then,
through ``History``'s API on the warm file, each read is repeated ``--repeat`` times and the
median kept (pages are 50 runs; cursors are looked up beforehand, untimed):

  first page; the page in the middle and the last page reached by keyset cursor
  (``before``); the middle page by OFFSET (the old way, for comparison); a filtered page
  (status failed and one workflow, from the middle of what that filter matches, by cursor);
  ``get_run`` by full id and by a unique prefix (a different run each repeat, 8 node rows).

The table also shows what is not paged — counts, the engine-start recovery, the workflow
list of the History screen's filter and each workflow's last run — and, for comparison,
the prefix lookup ``get_run`` used before (``run_id = ? OR run_id LIKE ?``).
Target: every page and opening a run ≤ 5 ms at 1,000,000 runs. The last line is
machine-readable::

    runs=… first_page_ms=… middle_page_ms=… last_page_ms=… offset_middle_page_ms=…
    filtered_page_ms=… get_run_ms=… get_run_prefix_ms=…

    .venv/bin/python bench/history.py [--runs N] [--repeat K]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PAGE = 50
NODES = 8
WORKFLOWS = 40
T0 = 1_735_689_600.0          # 2025-01-01 UTC
STEP_S = 30.0                 # one run every 30 s: a million runs span about a year
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def run_rows(n: int) -> Iterator[tuple]:
    rng = random.Random(7)
    started, counter = T0, 0
    for i in range(n):
        if i % 10 == 9:                    # a tie on start time, told apart by the counter
            counter += 1
        else:
            started, counter = T0 + i * STEP_S, 0
        ms = int(round((started % 1) * 1000))
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(int(started)))
        run_id = f"{stamp}-{ms:03d}-{counter:03x}-{''.join(rng.choices(_B32, k=13))}"
        workflow = f"wf-{rng.randrange(WORKFLOWS):02d}"
        roll = rng.random()
        status = "failed" if roll < 0.08 else "skipped" if roll < 0.10 else "succeeded"
        trigger = rng.choice(("manual", "schedule", "schedule", "webhook", "file_watch"))
        nodes = 0 if status == "skipped" else NODES
        yield (run_id, workflow, f"Workflow {workflow[3:]}", trigger, status, started,
               started + 2.5, "node 'n4' failed" if status == "failed" else None, nodes,
               None if status == "failed" else 1000, 1)


def node_rows(run_id: str, started: float, status: str) -> Iterator[tuple]:
    for seq in range(1, NODES + 1):
        failed = status == "failed" and seq == 4
        yield (run_id, f"n{seq}", "transformer", f"Step {seq}", "failed" if failed else "succeeded",
               started + seq * 0.2, 150.0, 1000, None if failed else 1000,
               "SQL error: no such column: x" if failed else None, seq, f"flow__n{seq}", None, None)


def build(path: Path, runs: int) -> tuple[float, float]:
    """Seconds to insert the rows and to build the run indexes."""
    from engine.history import History

    History(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    started = time.perf_counter()
    conn.execute("PRAGMA journal_mode = DELETE")      # no WAL growing to gigabytes during the load
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")
    conn.execute("BEGIN")
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                "AND name LIKE 'runs\\_by\\_%' ESCAPE '\\'").fetchall():
        conn.execute(f"DROP INDEX {name}")
    batch: list[tuple] = []
    for row in run_rows(runs):
        batch.append(row)
        if len(batch) == 10_000:
            _insert(conn, batch)
            batch = []
    _insert(conn, batch)
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    History(path).close()                              # creates the run indexes again
    return loaded, time.perf_counter() - started


def _insert(conn: sqlite3.Connection, runs: list[tuple]) -> None:
    conn.executemany("INSERT INTO runs (run_id, workflow_id, workflow_name, trigger, status, started_at, "
                     "ended_at, error, node_count, records, seen) VALUES (?,?,?,?,?,?,?,?,?,?,?)", runs)
    conn.executemany("INSERT INTO node_runs (run_id, node_id, node_type, title, status, started_at, "
                     "duration_ms, records_in, records_out, error, seq, output_table, output_connection, "
                     "warnings) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     (node for r in runs if r[8] for node in node_rows(r[0], r[5], r[4])))


def median_ms(fn: Callable[[int], object], repeat: int) -> float:
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(path: Path, runs: int, repeat: int) -> dict[str, float]:
    from engine.history import History

    with History(path) as log:
        total = log.count_runs()
        if total != runs:
            raise SystemExit(f"the log holds {total} runs, not {runs}")
        middle, last = total // 2, max(total - PAGE, 1)
        middle_cursor = log.list_runs(limit=1, offset=middle - 1)[0]["run_id"]
        last_cursor = log.list_runs(limit=1, offset=last - 1)[0]["run_id"]
        flt = {"status": "failed", "workflow_id": "wf-07"}
        flt_total = log.count_runs(**flt)
        flt_cursor = log.list_runs(limit=1, offset=flt_total // 2 - 1, **flt)[0]["run_id"]
        if log.list_runs(limit=PAGE, before=middle_cursor) != log.list_runs(limit=PAGE, offset=middle):
            raise SystemExit("the keyset page differs from the offset page")
        if log.list_runs(limit=PAGE, before=log.list_runs(limit=1, offset=total - 1)[0]["run_id"]):
            raise SystemExit("the page after the last run is not empty")
        rng = random.Random(3)
        picks = [log.list_runs(limit=1, offset=rng.randrange(total))[0]["run_id"] for _ in range(repeat)]
        for run_id in picks[:3]:
            if log.get_run(run_id[:-8])["run_id"] != run_id or len(log.get_run(run_id)["nodes"]) not in (0, NODES):
                raise SystemExit("get_run found the wrong run")
        old_get = ("SELECT * FROM runs WHERE run_id = ? OR run_id LIKE ? ESCAPE '\\' "
                   "ORDER BY run_id = ? DESC LIMIT 2")
        return {
            "first_page_ms": median_ms(lambda _i: log.list_runs(limit=PAGE), repeat),
            "middle_page_ms": median_ms(lambda _i: log.list_runs(limit=PAGE, before=middle_cursor), repeat),
            "last_page_ms": median_ms(lambda _i: log.list_runs(limit=PAGE, before=last_cursor), repeat),
            "offset_middle_page_ms": median_ms(lambda _i: log.list_runs(limit=PAGE, offset=middle), repeat),
            "filtered_page_ms": median_ms(lambda _i: log.list_runs(limit=PAGE, before=flt_cursor, **flt), repeat),
            "filtered_first_page_ms": median_ms(lambda _i: log.list_runs(limit=PAGE, **flt), repeat),
            "get_run_ms": median_ms(lambda i: log.get_run(picks[i]), repeat),
            "get_run_prefix_ms": median_ms(lambda i: log.get_run(picks[i][:-8]), repeat),
            "old_get_run_query_ms": median_ms(lambda i: log._conn.execute(
                old_get, (picks[i][:-8], picks[i][:-8] + "%", picks[i][:-8])).fetchall(), min(repeat, 5)),
            "count_ms": median_ms(lambda _i: log.count_runs(), min(repeat, 5)),
            "count_filtered_ms": median_ms(lambda _i: log.count_runs(**flt), min(repeat, 5)),
            "mark_interrupted_ms": median_ms(lambda _i: log.mark_interrupted(), min(repeat, 3)),
            "workflows_ms": median_ms(lambda _i: log.workflows(), min(repeat, 3)),
            "last_runs_ms": median_ms(lambda _i: log.last_runs(), min(repeat, 3)),
            "filtered_runs": flt_total,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="dagflux-bench-history-"))
    os.environ["DAGFLUX_HOME"] = str(home)
    try:
        from engine.paths import DataPaths

        path = DataPaths(home).history
        path.parent.mkdir(parents=True, exist_ok=True)
        loaded_s, indexed_s = build(path, args.runs)
        size_mib = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20
        r = measure(path, args.runs, args.repeat)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"execution log: {args.runs:,} runs × {NODES} nodes, {size_mib:,.0f} MiB; "
          f"rows loaded in {loaded_s:.1f} s, run indexes built in {indexed_s:.1f} s")
    print(f"median of {args.repeat} (pages of {PAGE} runs)             ms")
    rows = [("first page", "first_page_ms"), ("middle page, by cursor", "middle_page_ms"),
            ("last page, by cursor", "last_page_ms"), ("middle page, by OFFSET (old way)", "offset_middle_page_ms"),
            (f"failed + wf-07 ({r['filtered_runs']:,} runs), middle, by cursor", "filtered_page_ms"),
            ("failed + wf-07, first page", "filtered_first_page_ms"),
            ("get_run, full id", "get_run_ms"), ("get_run, unique prefix", "get_run_prefix_ms"),
            ("old get_run query (OR LIKE), prefix", "old_get_run_query_ms"),
            ("count_runs, all (not paged)", "count_ms"), ("count_runs, failed + wf-07", "count_filtered_ms"),
            ("mark_interrupted at engine start", "mark_interrupted_ms"),
            ("workflows() (History screen's filter list)", "workflows_ms"),
            ("last_runs(), every workflow", "last_runs_ms")]
    for label, key in rows:
        print(f"  {label:<48} {r[key]:>9.3f}")
    keys = ("first_page_ms", "middle_page_ms", "last_page_ms", "offset_middle_page_ms", "filtered_page_ms",
            "get_run_ms", "get_run_prefix_ms")
    print(f"runs={args.runs} " + " ".join(f"{k}={r[k]:.3f}" for k in keys))


if __name__ == "__main__":
    main()
