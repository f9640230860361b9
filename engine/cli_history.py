"""``dagflux history`` — browse the execution log (split from :mod:`engine.cli`).

``dagflux history [--json] [--limit N] [--before RUN_ID]`` lists runs; ``dagflux history
RUN_ID [--json]`` shows one run: its parameter values, each node, and every attempt of a
node that was retried (a success after retries says so). ``dagflux history RUN_ID --node N
--show [--limit K]`` shows the output node N made in that run, kept in the workspace
(:mod:`engine.kept`).

The history budget (:mod:`engine.history_budget`): ``dagflux history budget [--days D]
[--size S]`` shows or sets it, ``dagflux history pin|unpin RUN_ID`` keeps a run out of
pruning (or not), ``dagflux history prune [--dry-run]`` prunes beyond the budget now (or
says what would go).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from engine.errors import DagfluxError

EXIT_OK = 0
ACTIONS = ("budget", "pin", "unpin", "prune")


def add_parser(sub: Any) -> None:
    h = sub.add_parser("history", help="browse the execution log; its budget, pins and pruning",
                       description="dagflux history [RUN_ID [--node N --show]] | budget [--days D] "
                                   "[--size S] | pin RUN_ID | unpin RUN_ID | prune [--dry-run]")
    h.add_argument("run_id", nargs="?", metavar="RUN_ID|budget|pin|unpin|prune")
    h.add_argument("target", nargs="?", metavar="RUN_ID", help="the run to pin or unpin")
    h.add_argument("--json", action="store_true")
    h.add_argument("--limit", type=int, default=20, help="runs listed, or rows shown with --show")
    h.add_argument("--before", metavar="RUN_ID", help="the runs listed after this one (the next page)")
    h.add_argument("--workflow")
    h.add_argument("--status")
    h.add_argument("--trigger")
    h.add_argument("--node", help="with RUN_ID: one node of the run")
    h.add_argument("--show", action="store_true", help="with --node: show its output as that run made it")
    h.add_argument("--days", help="budget: keep runs' data this many days ('off': no limit)")
    h.add_argument("--size", help="budget: keep this much kept-table data, e.g. 500MB, 2GB ('off')")
    h.add_argument("--dry-run", action="store_true", help="prune: say what would go, change nothing")
    h.set_defaults(func=cmd_history)


def _history():
    from engine.history import History
    from engine.paths import default_paths

    path = default_paths().history
    if not path.exists():
        return None
    return History(path)


def cmd_history(args: argparse.Namespace) -> int:
    if args.run_id in ACTIONS:
        from engine import cli_history_budget

        return getattr(cli_history_budget, f"cmd_{args.run_id}")(args)
    if args.target:
        raise DagfluxError(f"history: unexpected '{args.target}' after the run id")
    if args.show and not args.node:
        raise DagfluxError("history: --show needs --node NODE")
    history = _history()
    if history is None:
        if args.run_id:
            raise DagfluxError(f"no run '{args.run_id}': the execution log is empty")
        print("[]" if args.json else "no runs yet")
        return EXIT_OK
    with history:
        if args.run_id:
            run = history.get_run(args.run_id)
            if args.node:
                return _show_node(args, run)
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


def _show_node(args: argparse.Namespace, run: dict[str, Any]) -> int:
    node = next((n for n in run["nodes"] if n["node_id"] == args.node), None)
    if node is None:
        gone = " (its node rows were pruned)" if run.get("pruned", 0) >= 2 else ""
        raise DagfluxError(f"run {run['run_id']} has no node '{args.node}'{gone}")
    if not args.show:
        print(json.dumps(node) if args.json else
              f"{node['node_id']}: {node['status']}, {_count(node['records_out'])} rows out, "
              f"kept as {node.get('kept_table') or '-'}")
        return EXIT_OK
    table = kept_now(node)
    from engine.cli import cmd_ws_show

    return cmd_ws_show(argparse.Namespace(table=table, limit=args.limit, json=args.json))


def kept_now(node: dict[str, Any]) -> str:
    """The workspace table holding the node's output of its run now, or why there is none."""
    from engine import kept, workspace
    from engine.paths import default_paths

    if node.get("output_connection"):
        raise DagfluxError(f"node '{node['node_id']}' wrote its output to connection "
                           f"'{node['output_connection']}': runs keep workspace outputs only")
    if not node.get("kept_table"):
        raise DagfluxError(f"node '{node['node_id']}' kept no output in this run (status {node['status']})")
    path = default_paths().workspace
    conn = workspace.connect(path, readonly=True) if path.exists() else None
    table = None
    if conn is not None:
        try:
            table = kept.resolve(conn, node["kept_table"])
        finally:
            conn.close()
    if table is None:
        raise DagfluxError(f"the output of node '{node['node_id']}' in this run ({node['kept_table']}) "
                           f"is no longer kept: the history budget pruned it")
    return table


def _print_run(run: dict[str, Any]) -> None:
    print(f"run {run['run_id']}  workflow {run['workflow_id']} ({run['workflow_name']})")
    print(f"  trigger {run['trigger']}  status {run['status']}  started {_time(run['started_at'])}  "
          f"duration {_duration(run['duration_ms'])}{'  pinned' if run.get('pinned') else ''}")
    if run.get("pruned"):
        print("  pruned: " + ("its kept tables" if run["pruned"] == 1 else "its kept tables and node rows"))
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
