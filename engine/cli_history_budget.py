"""``dagflux history budget|pin|unpin|prune`` (see :mod:`engine.history_budget`)."""

from __future__ import annotations

import argparse
import json

from engine import history_budget as hb
from engine.errors import DagfluxError

EXIT_OK = 0


def _paths():
    from engine.paths import default_paths, ensure_data_dir

    return ensure_data_dir(default_paths())


def _days(days: float | None) -> str:
    return "off" if days is None else f"{days:g} days"


def cmd_budget(args: argparse.Namespace) -> int:
    paths = _paths()
    budget = hb.load_budget(paths.root)
    if args.days is not None or args.size is not None:
        if args.days is not None:
            budget.days = hb.parse_days(args.days)
        if args.size is not None:
            budget.size = hb.parse_size(args.size)
        hb.save_budget(paths.root, budget)
    if args.json:
        print(json.dumps({"days": budget.days, "size": budget.size}))
    else:
        print(f"history budget: runs' data kept {_days(budget.days)}, kept tables up to "
              f"{hb.format_size(budget.size)}; pinned runs are never pruned")
    return EXIT_OK


def _pin(args: argparse.Namespace, pinned: bool) -> int:
    from engine.history import History

    if not args.target:
        raise DagfluxError(f"history {'pin' if pinned else 'unpin'}: give the RUN_ID")
    path = _paths().history
    if not path.exists():
        raise DagfluxError(f"no run '{args.target}': the execution log is empty")
    with History(path) as history:
        history.set_pinned(args.target, pinned)
        run_id = history.get_run(args.target)["run_id"]
    print(f"run {run_id} {'pinned: never pruned' if pinned else 'unpinned: pruned beyond the budget'}")
    return EXIT_OK


def cmd_pin(args: argparse.Namespace) -> int:
    return _pin(args, True)


def cmd_unpin(args: argparse.Namespace) -> int:
    return _pin(args, False)


def cmd_prune(args: argparse.Namespace) -> int:
    from engine.history import History

    paths = _paths()
    budget = hb.load_budget(paths.root)
    if not paths.history.exists() or not paths.workspace.exists():
        done = hb.Plan()
    else:
        with History(paths.history) as history:
            switched = False if args.dry_run else hb.make_incremental(paths.workspace)
            before = paths.workspace.stat().st_size
            done = hb.prune(history, paths.workspace, budget, dry_run=args.dry_run)
            after = paths.workspace.stat().st_size
        if switched and not args.json:
            print("the workspace now gives freed space back to the disk (auto_vacuum = incremental)")
    if args.json:
        print(json.dumps({**done.as_dict(), "dry_run": bool(args.dry_run)}))
        return EXIT_OK
    verb = "would drop" if args.dry_run else "dropped"
    if done.empty:
        print(f"nothing to prune: every run is within the budget ({_days(budget.days)}, "
              f"{hb.format_size(budget.size)})")
        return EXIT_OK
    for run_id, tables, size in done.tables:
        print(f"{verb} the kept tables of run {run_id}: {len(tables)} table(s), {hb.format_size(size)}")
    for run_id in done.details:
        print(f"{verb} the node rows of run {run_id} (its summary stays)")
    if not args.dry_run:
        print(f"workspace file: {hb.format_size(before)} → {hb.format_size(after)}")
    return EXIT_OK
