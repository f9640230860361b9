"""What keeping each run's outputs costs: run time and workspace growth per run.

Runs a workflow ``--runs`` times with ``dagflux run`` (a subprocess each, no engine) in a
fresh temporary ``DAGFLUX_HOME`` and reports the median run duration from the execution
log, and the workspace file size after the runs and after ``dagflux history prune`` with a
zero size budget (every kept table dropped; a workspace with incremental vacuum shrinks).
Two workflows: the example (``examples/orders_report``, small tables) and a wide one whose
node writes ``--rows`` rows of ~220 bytes (the write cost of a real table).

Run it against another checkout (``--repo PATH``, e.g. an export of main without kept runs)
to compare; the prune step is skipped where the CLI has no ``history prune``. Last line::

    example_ms=… big_ms=… ws_after_runs_mib=… ws_after_prune_mib=…

    .venv/bin/python bench/kept_runs.py [--runs N] [--rows N] [--repo PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from contextlib import closing
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
BIG = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < (SELECT n FROM {{ input }})) "
       "SELECT x, printf('%0200d', x) AS pad FROM c")


def _cli(repo: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DAGFLUX_HOME=str(home), PYTHONPATH=str(repo))
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True,
                          cwd=repo, env=env, timeout=600)


def _big_workflow(folder: Path, rows: int) -> Path:
    (folder / "seed.csv").write_text(f"n\n{rows}\n", encoding="utf-8")
    node = lambda i, t, c: {"id": i, "type": t, "title": "", "position": [0, 0], "config": c}  # noqa: E731
    doc = {"format": "dagflux-workflow", "version": 2, "id": "big", "name": "big", "description": "",
           "nodes": [node("start", "start", {"trigger": {"kind": "manual"}}),
                     node("seed", "data_source", {"source": "file", "path": "seed.csv"}),
                     node("make", "transformer", {"language": "sql", "mode": "new_table", "sql": BIG})],
           "edges": [{"from": "start", "to": "seed"}, {"from": "seed", "to": "make"}]}
    path = folder / "big.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _median_run_ms(repo: Path, home: Path, workflow: Path, runs: int) -> float:
    for _ in range(runs):
        done = _cli(repo, home, "run", str(workflow))
        if done.returncode != 0:
            raise SystemExit(f"run failed: {done.stderr}")
    listed = json.loads(_cli(repo, home, "history", "--json", "--limit", str(runs),
                             "--workflow", json.loads(workflow.read_text())["id"]).stdout)
    return statistics.median(r["duration_ms"] for r in listed[:-1] or listed)   # the first run is a warm-up


def _size_mib(home: Path) -> float:
    path = home / "workspace.sqlite"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size / (1 << 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repo", type=Path, default=HERE)
    args = parser.parse_args()
    repo = args.repo.resolve()
    with tempfile.TemporaryDirectory(prefix="dagflux-bench-kept-") as tmp:
        tmp_path = Path(tmp)
        home = tmp_path / "home"
        home.mkdir()
        example = tmp_path / "example"
        shutil.copytree(repo / "examples" / "orders_report", example)
        example_ms = _median_run_ms(repo, home, example / "orders_report.json", args.runs)
        big_ms = _median_run_ms(repo, home, _big_workflow(tmp_path, args.rows), args.runs)
        after_runs = _size_mib(home)
        after_prune = after_runs
        if _cli(repo, home, "history", "budget", "--size", "0").returncode == 0:
            pruned = _cli(repo, home, "history", "prune")
            print(pruned.stdout.strip().splitlines()[-1] if pruned.stdout.strip() else pruned.stderr)
            after_prune = _size_mib(home)
    print(f"repo {repo}: {args.runs} runs each; median run: example {example_ms:.0f} ms, "
          f"{args.rows:,}-row node {big_ms:.0f} ms; workspace {after_runs:.1f} MiB → {after_prune:.1f} MiB pruned")
    print(f"example_ms={example_ms:.1f} big_ms={big_ms:.1f} ws_after_runs_mib={after_runs:.2f} "
          f"ws_after_prune_mib={after_prune:.2f}")


if __name__ == "__main__":
    main()
