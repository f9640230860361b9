"""``dagflux history budget|pin|unpin|prune`` (see :mod:`engine.history_budget`).

Through the engine when one runs (``history.budget``, ``history.pin``, ``history.prune``),
else the same calls here under the data-dir lock: the execution log has one writer.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from engine import history_budget as hb
from engine.errors import DagfluxError
from engine.service.ipc import EngineUnavailable

EXIT_OK = 0


def _with_calls(work: Callable[[Callable[..., Any]], int]) -> int:
    """Run ``work(call)`` with ``call(method, **params)`` reaching the engine, or, when none
    runs, the engine's own history calls on this process's copy of the log under the lock."""
    try:
        from engine.client import EngineClient

        client = EngineClient.connect(timeout=2.0)
    except EngineUnavailable:
        return _offline(work)
    with client:
        return work(lambda method, **params: client.call(method, timeout=None, **params))


def _offline(work: Callable[[Callable[..., Any]], int]) -> int:
    from engine.history import History
    from engine.lock import DataDirLock
    from engine.paths import default_paths, ensure_data_dir
    from engine.service.history_calls import HistoryCalls

    paths = ensure_data_dir(default_paths())
    with DataDirLock(paths.lock, role="cli"), History(paths.history) as history:
        calls = HistoryCalls()
        calls.history, calls.paths = history, paths
        return work(lambda method, **params: getattr(calls, "_call_" + method.replace(".", "_"))(**params))


def _days(days: float | None) -> str:
    return "off" if days is None else f"{days:g} days"


def cmd_budget(args: argparse.Namespace) -> int:
    changes = {k: v for k, v in (("days", args.days), ("size", args.size)) if v is not None}
    for key, value in changes.items():   # checked here too, so a typo is refused before anything is sent
        (hb.parse_days if key == "days" else hb.parse_size)(value)

    def work(call: Callable[..., Any]) -> int:
        budget = call("history.budget", **changes)
        if args.json:
            print(json.dumps(budget))
        else:
            print(f"history budget: runs' data kept {_days(budget['days'])}, kept tables up to "
                  f"{hb.format_size(budget['size'])}; pinned runs are never pruned")
        return EXIT_OK

    return _with_calls(work)


def _pin(args: argparse.Namespace, pinned: bool) -> int:
    if not args.target:
        raise DagfluxError(f"history {'pin' if pinned else 'unpin'}: give the RUN_ID")

    def work(call: Callable[..., Any]) -> int:
        call("history.pin", run_id=args.target, pinned=pinned)
        run_id = call("history.get", run_id=args.target)["run_id"]
        print(f"run {run_id} {'pinned: never pruned' if pinned else 'unpinned: pruned beyond the budget'}")
        return EXIT_OK

    return _with_calls(work)


def cmd_pin(args: argparse.Namespace) -> int:
    return _pin(args, True)


def cmd_unpin(args: argparse.Namespace) -> int:
    return _pin(args, False)


def cmd_prune(args: argparse.Namespace) -> int:
    def work(call: Callable[..., Any]) -> int:
        done = call("history.prune", dry_run=bool(args.dry_run))
        budget = call("history.budget")
        if args.json:
            print(json.dumps(done))
            return EXIT_OK
        if done["switched"]:
            print("the workspace now gives freed space back to the disk (auto_vacuum = incremental)")
        verb = "would drop" if args.dry_run else "dropped"
        if not done["tables"] and not done["details"]:
            print(f"nothing to prune: every run is within the budget ({_days(budget['days'])}, "
                  f"{hb.format_size(budget['size'])})")
            return EXIT_OK
        for entry in done["tables"]:
            print(f"{verb} the kept tables of run {entry['run_id']}: {len(entry['tables'])} table(s), "
                  f"{hb.format_size(entry['bytes'])}")
        for run_id in done["details"]:
            print(f"{verb} the node rows of run {run_id} (its summary stays)")
        if not args.dry_run:
            print(f"workspace file: {hb.format_size(done['file_before'])} → {hb.format_size(done['file_after'])}")
        return EXIT_OK

    return _with_calls(work)
