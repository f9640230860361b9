"""``dagflux history`` — browse the execution log (split from :mod:`engine.cli`).

``dagflux history [--json] [--limit N] [--before RUN_ID]`` lists runs; ``dagflux history
RUN_ID [--json]`` shows one run: its parameter values, each node, and every attempt of a
node that was retried (a success after retries says so).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from engine.errors import DagfluxError

EXIT_OK = 0


def _history():
    from engine.history import History
    from engine.paths import default_paths

    path = default_paths().history
    if not path.exists():
        return None
    return History(path)


def cmd_history(args: argparse.Namespace) -> int:
    history = _history()
    if history is None:
        if args.run_id:
            raise DagfluxError(f"no run '{args.run_id}': the execution log is empty")
        print("[]" if args.json else "no runs yet")
        return EXIT_OK
    with history:
        if args.run_id:
            run = history.get_run(args.run_id)
            if args.json:
                print(json.dumps(run))
            else:
                _print_run(run)
            return EXIT_OK
        runs = history.list_runs(limit=args.limit, workflow_id=args.workflow, status=args.status,
                                 trigger=args.trigger, before=args.before)
    if args.json:
        print(json.dumps(runs))
        return EXIT_OK
    if not runs:
        print("no runs match")
        return EXIT_OK
    print(f"{'RUN':<23} {'WORKFLOW':<20} {'TRIGGER':<10} {'STATUS':<11} {'STARTED':<19} "
          f"{'DURATION':>10} {'RECORDS':>10}")
    for run in runs:
        print(f"{run['run_id']:<23} {run['workflow_id'][:20]:<20} {run['trigger']:<10} {run['status']:<11} "
              f"{_time(run['started_at']):<19} {_duration(run['duration_ms']):>10} "
              f"{_count(run['records']):>10}")
    return EXIT_OK


def _print_run(run: dict[str, Any]) -> None:
    print(f"run {run['run_id']}  workflow {run['workflow_id']} ({run['workflow_name']})")
    print(f"  trigger {run['trigger']}  status {run['status']}  started {_time(run['started_at'])}  "
          f"duration {_duration(run['duration_ms'])}")
    if run.get("params"):
        print("  parameters " + "  ".join(f"{k}={v!r}" for k, v in run["params"].items()))
    if run["error"]:
        print(f"  error: {run['error']}")
    print(f"  {'NODE':<24} {'TYPE':<12} {'STATUS':<10} {'IN':>10} {'OUT':>10} {'DURATION':>10}")
    for node in run["nodes"]:
        print(f"  {node['node_id']:<24} {node['node_type']:<12} {node['status']:<10} "
              f"{_count(node['records_in']):>10} {_count(node['records_out']):>10} "
              f"{_duration(node['duration_ms']):>10}")
        attempts = node.get("attempts") or []
        if len(attempts) > 1:
            outcome = "succeeded after" if node["status"] == "succeeded" else "gave up after" \
                if node["status"] == "failed" else "stopped after"
            print(f"      {outcome} {len(attempts)} attempts:")
            for attempt in attempts:
                first = (attempt.get("error") or "").splitlines()[:1]
                print(f"        #{attempt['attempt']} {attempt['status']:<10} "
                      f"{_duration(attempt.get('duration_ms')):>10}  {first[0] if first else ''}")
        if node["error"]:
            for line in node["error"].splitlines():
                print(f"      {line}")
        for warning in node.get("warnings") or ():
            print(f"      warning: {warning}")


def _time(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _duration(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def _count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"
