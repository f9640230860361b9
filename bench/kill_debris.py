"""Crash debris: kill -9 a run at a random moment, N times; count what the next start leaves.

Each trial runs ``dagflux run`` on a workflow that imports a 1,000,000-row CSV and exports
it again as CSV (so a kill can land while a staging table is built, while the export's
temp file is written, or between), in its own process group; after a random delay
between 0.1 s and 3 s the whole group (workers included) is killed with SIGKILL. Then
``dagflux run`` of a small workflow — the next lock holder's start — runs, and what is
left is counted: ``_dfstage_*`` tables in the workspace, ``.*.tmp`` files beside the
export, journal entries in ``pending/``, runs still marked *running*, and the workspace's
``PRAGMA integrity_check``. Baseline: the same counts just after the kill, before the
restart (what would stay without recovery). The last line is machine-readable::

    trials=… killed_mid_work=… debris_before=… debris_after=… integrity_ok=…

(target: debris_after=0, integrity_ok=trials).

    .venv/bin/python bench/kill_debris.py [--trials N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROWS = 1_000_000


def _workflow(folder: Path, wf_id: str, nodes: list[dict], edges: list[tuple[str, str]]) -> Path:
    doc = {"format": "dagflux-workflow", "version": 2, "id": wf_id, "name": wf_id, "nodes": nodes,
           "edges": [{"from": a, "to": b} for a, b in edges]}
    path = folder / f"{wf_id}.json"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def _debris(home: Path, out_dir: Path) -> dict[str, int]:
    counts = {"staging": 0, "temp": len(list(out_dir.glob(".*.tmp"))) if out_dir.exists() else 0,
              "journal": len(list((home / "pending").iterdir())) if (home / "pending").exists() else 0,
              "running_rows": 0, "integrity_ok": 1}
    ws = home / "workspace.sqlite"
    if ws.exists():
        conn = sqlite3.connect(f"file:{ws}?mode=ro", uri=True, timeout=30)
        try:
            counts["staging"] = conn.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE "
                                             "'\\_dfstage\\_%' ESCAPE '\\'").fetchone()[0]
            counts["integrity_ok"] = int(conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
        finally:
            conn.close()
    hist = home / "history.sqlite"
    if hist.exists():
        conn = sqlite3.connect(f"file:{hist}?mode=ro", uri=True, timeout=30)
        try:
            counts["running_rows"] = conn.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0]
        finally:
            conn.close()
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="dagflux-bench-debris-") as tmp_name:
        tmp = Path(tmp_name)
        home, out_dir = tmp / "home", tmp / "exports"
        env = dict(os.environ, DAGFLUX_HOME=str(home))
        big = tmp / "big.csv"
        with big.open("w", encoding="utf-8") as fh:
            fh.write("id,name,amount\n")
            fh.writelines(f"{i},customer {i % 977},{i * 0.25}\n" for i in range(ROWS))
        (tmp / "small.csv").write_text("x\n1\n")
        start = {"id": "start", "type": "start", "config": {"trigger": {"kind": "manual"}}}
        flow = _workflow(tmp, "big_export", [
            start, {"id": "src", "type": "data_source", "config": {"source": "file", "path": str(big)}},
            {"id": "out", "type": "output", "config": {"path": str(out_dir / "report.csv"),
                                                       "options": {"create_dirs": True}}}],
            [("start", "src"), ("src", "out")])
        quick = _workflow(tmp, "quick", [start, {"id": "small", "type": "data_source",
                                                 "config": {"source": "file", "path": str(tmp / "small.csv")}}],
                          [("start", "small")])
        cli = [sys.executable, "-m", "engine.cli"]
        before_total = after_total = killed_mid = integrity = 0
        print(f"{'trial':>5} {'delay_s':>8} {'killed':>7} {'before':>28} {'after':>28}")
        for trial in range(1, args.trials + 1):
            delay = rng.uniform(0.1, 3.0)
            proc = subprocess.Popen([*cli, "run", str(flow)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            time.sleep(delay)
            killed = proc.poll() is None
            if killed:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(60)
            before = _debris(home, out_dir)
            restart = subprocess.run([*cli, "run", str(quick)], cwd=REPO, env=env, capture_output=True,
                                     text=True, timeout=120)
            if restart.returncode != 0:
                raise SystemExit(f"trial {trial}: the next start failed:\n{restart.stdout}{restart.stderr}")
            after = _debris(home, out_dir)
            left = lambda c: c["staging"] + c["temp"] + c["journal"] + c["running_rows"]  # noqa: E731
            before_total += left(before)
            after_total += left(after)
            killed_mid += killed
            integrity += after["integrity_ok"]
            show = lambda c: f"{c['staging']}t {c['temp']}f {c['journal']}j {c['running_rows']}r"  # noqa: E731
            print(f"{trial:>5} {delay:>8.2f} {str(killed):>7} {show(before):>28} {show(after):>28}")
        print(f"trials={args.trials} killed_mid_work={killed_mid} debris_before={before_total} "
              f"debris_after={after_total} integrity_ok={integrity}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
