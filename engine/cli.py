"""``dagflux`` — the engine-side command line. Never imports Kivy.

Contract (other tools rely on these names and exit codes):

* ``dagflux validate FILE`` — 0 valid; 2 invalid (every problem listed).
* ``dagflux run FILE [--json] [--param NAME=VALUE …] [--from NODE]`` — progress on stderr; 0 succeeded,
  1 failed or cancelled, 2 invalid (a bad parameter value too). ``--json`` prints one object
  on stdout.
* ``dagflux history [--json] [--limit N] [--before RUN_ID]``, ``dagflux history RUN_ID [--json]
  [--node N --show]``, ``dagflux history budget|pin|unpin|prune`` (:mod:`engine.cli_history`).
* ``dagflux workspace list | show TABLE [--limit N] | drop TABLE``.
* ``dagflux plugins`` — loaded plugins and the errors of those that failed;
  ``dagflux plugins search|install|update|remove|rollback`` (:mod:`engine.cli_plugins`).
* ``dagflux ai chat|sessions|usage`` — AI chat from the terminal (:mod:`engine.cli_ai`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine import __version__, cli_history
from engine.errors import DagfluxError, WorkflowFileError, WorkflowValidationError
from engine.model.parameters import ParameterError, parse_assignments

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
SYMBOL = {"succeeded": "✓", "reused": "♻", "failed": "✗", "skipped": "↷", "cancelled": "■", "not_run": "·",
          "running": "…", "queued": " ", "interrupted": "!"}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_INVALID
    try:
        return int(args.func(args))
    except WorkflowFileError as exc:
        _err(f"error: {exc}")
        return EXIT_INVALID
    except WorkflowValidationError as exc:
        _err(f"{getattr(args, 'file', 'workflow')}: {exc}")
        return EXIT_INVALID
    except ParameterError as exc:
        _err(f"{getattr(args, 'file', 'workflow')}: {exc}")
        return EXIT_INVALID
    except DagfluxError as exc:
        _err(f"error: {exc}")
        return EXIT_FAILED
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        _err("cancelled")
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dagflux", description="DagFlux engine command line")
    p.add_argument("--version", action="version", version=f"dagflux {__version__}")
    sub = p.add_subparsers(metavar="COMMAND")

    v = sub.add_parser("validate", help="check a workflow file's structure and settings and list every problem",
                       description="Checks the workflow file's structure and every node's configuration — "
                                   "not the files it reads or writes; add --check-paths for those.")
    v.add_argument("file", type=Path)
    v.add_argument("--check-paths", action="store_true",
                   help="also check that input files exist and output folders exist or will be created")
    v.set_defaults(func=cmd_validate)

    r = sub.add_parser("run", help="run a workflow file")
    r.add_argument("file", type=Path)
    r.add_argument("--json", action="store_true", help="print one JSON object with the result on stdout")
    r.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a value for a workflow parameter (repeat for several); converted by its declared type")
    r.add_argument("--from", dest="from_node", metavar="NODE", default=None,
                   help="run NODE and what is below it; unchanged results above it are reused (see docs)")
    r.add_argument("--workers", type=int, default=None, help="worker processes (default: CPU count, min 2)")
    r.set_defaults(func=cmd_run)

    cli_history.add_parser(sub)

    w = sub.add_parser("workspace", help="see and clean up workspace tables")
    wsub = w.add_subparsers(metavar="ACTION", required=True)
    wl = wsub.add_parser("list", help="list tables with row and column counts")
    wl.add_argument("--json", action="store_true")
    wl.add_argument("--all", action="store_true", help="also internal staging tables (a node's output being built)")
    wl.set_defaults(func=cmd_ws_list)
    ws = wsub.add_parser("show", help="show a table's columns and first rows")
    ws.add_argument("table")
    ws.add_argument("--limit", type=int, default=20)
    ws.add_argument("--json", action="store_true")
    ws.set_defaults(func=cmd_ws_show)
    wd = wsub.add_parser("drop", help="drop a table")
    wd.add_argument("table")
    wd.set_defaults(func=cmd_ws_drop)

    from engine import cli_ai, cli_connections, cli_engine, cli_plugins, cli_preview

    cli_plugins.add_parsers(sub)

    cli_engine.add_parsers(sub)
    cli_connections.add_parsers(sub)
    cli_preview.add_parsers(sub)
    from engine import cli_ai_assist

    cli_ai_assist.add_assist(cli_ai.add_parsers(sub))   # `dagflux ai chat|sessions|usage` + `assist|accept|propose`
    return p


# --- validate / run ----------------------------------------------------------------

def cmd_validate(args: argparse.Namespace) -> int:
    from engine.model import fileformat, triggers, validation
    from engine.paths import default_paths
    from engine.plugins import load_registry

    registry = load_registry([default_paths().plugins])
    wf = fileformat.load(args.file)
    problems = [str(p) for p in validation.validate(wf, registry.node_types)]
    notes: list[str] = []
    if args.check_paths:
        from engine.model.path_check import check_paths

        for finding in check_paths(wf, Path(args.file).resolve().parent, default_paths().workspace):
            (problems if finding.problem else notes).append(str(finding))
    for note in notes:
        print(f"  note: {note}")
    if problems:
        _err(f"{args.file}: {len(problems)} problem(s):")
        for problem in problems:
            _err(f"  - {problem}")
        return EXIT_INVALID
    start = next(n for n in wf if n.type == validation.START)
    when = triggers.describe(triggers.parse_trigger(start.config))
    checked = "structure, settings and paths" if args.check_paths else "structure and settings; paths not checked"
    print(f"{args.file}: valid ({checked}) — {len(wf)} nodes, {len(wf.edges)} edges; Start: {when}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """Through the running engine when there is one; otherwise this process holds the lock."""
    from engine.service.ipc import EngineUnavailable

    parse_assignments(args.param)    # a malformed --param fails before anything starts
    if args.from_node is not None and not _has_node(args.file, args.from_node):
        return EXIT_INVALID

    try:
        from engine.client import EngineClient

        client = EngineClient.connect(timeout=2.0)
    except EngineUnavailable:
        return _run_locally(args)
    with client:
        return _run_through_engine(args, client)


def _has_node(path: Path, node_id: str) -> bool:
    from engine.model import fileformat

    try:
        wf = fileformat.load(path)
    except DagfluxError as exc:
        _err(f"{path}: {exc}")
        return False
    if wf.has_node(node_id):
        return True
    _err(f"{path}: --from: workflow '{wf.id}' has no node '{node_id}' (its nodes: {', '.join(n.id for n in wf)})")
    return False


def _progress(msg: Any) -> None:
    from engine.messages import NodeFinished, NodeRetrying, RunStarted

    if isinstance(msg, RunStarted):
        given = "".join(f" {k}={v!r}" for k, v in msg.params.items())
        _err(f"run {msg.run_id} of '{msg.workflow_name}' ({len(msg.node_ids)} nodes)"
             + (f" with{given}" if given else ""))
    elif isinstance(msg, NodeRetrying):
        _err(f"  ↻ {msg.node_id:<24} attempt {msg.attempt} failed; retrying in {msg.delay_s:g} s: "
             f"{(msg.error or '').splitlines()[0] if msg.error else ''}")
    elif isinstance(msg, NodeFinished):
        records = "" if msg.records is None else f"{msg.records:>10,} records"
        took = "" if msg.duration_ms is None else f"{msg.duration_ms:>9.1f} ms"
        tries = f"  (attempt {msg.attempts})" if msg.attempts > 1 else ""
        _err(f"  {SYMBOL.get(msg.status, '?')} {msg.node_id:<24} {msg.node_type:<12} "
             f"{msg.status:<10}{records:>18}{took}{tries}")
        if msg.error and msg.status == "failed":
            for line in msg.error.splitlines():
                _err(f"      {line}")
        for warning in msg.warnings:
            _err(f"      warning: {warning}")


def _run_locally(args: argparse.Namespace) -> int:
    from engine.local_run import run_file

    def on_wait(holder: dict) -> None:
        _err(f"waiting: process {holder.get('pid', '?')} holds the data-dir lock …")

    result = run_file(args.file, pool_size=args.workers, on_event=_progress, on_wait=on_wait,
                      params=parse_assignments(args.param), from_node=args.from_node)
    took = (result.ended_at - result.started_at) * 1000
    _err(f"run {result.run_id} {result.status} in {took:.0f} ms"
         + (f": {result.error}" if result.error and result.status != "failed" else ""))
    if args.json:
        print(json.dumps(result.summary()))
    return EXIT_OK if result.status == "succeeded" else EXIT_FAILED


def _run_through_engine(args: argparse.Namespace, client: Any) -> int:
    from engine.client import EngineCallError

    client.subscribe()
    try:
        started = client.call("runs.start", path=str(args.file.resolve()), params=parse_assignments(args.param),
                              from_node=args.from_node)
    except EngineCallError as exc:
        _err(f"{args.file}: {exc}")
        return EXIT_INVALID if exc.kind in ("WorkflowValidationError", "WorkflowFileError",
                                            "UnsupportedVersionError", "ParameterError") else EXIT_FAILED
    run_id = started["run_id"]
    _err(f"(through the engine, pid {client.welcome.pid})")
    try:
        _follow(client, run_id)
    except KeyboardInterrupt:
        client.call("runs.cancel", run_id=run_id)
        _follow(client, run_id)
    summary = client.call("runs.wait", run_id=run_id, timeout=60)
    _err(f"run {run_id} {summary['status']}")
    if args.json:
        print(json.dumps({k: summary[k] for k in ("run_id", "workflow_id", "status", "nodes")}))
    return EXIT_OK if summary["status"] == "succeeded" else EXIT_FAILED


def _follow(client: Any, run_id: str) -> None:
    from engine.messages import RunFinished

    for msg in client.events():
        if getattr(msg, "run_id", None) != run_id:
            continue
        _progress(msg)
        if isinstance(msg, RunFinished):
            return


# --- workspace -------------------------------------------------------------------------

def _workspace():
    from engine import workspace
    from engine.paths import default_paths

    path = default_paths().workspace
    if not path.exists():
        raise DagfluxError(f"there is no workspace yet ({path}); run a workflow first")
    return workspace.connect(path)


def cmd_ws_list(args: argparse.Namespace) -> int:
    from engine import workspace

    conn = _workspace()
    try:
        tables = workspace.list_tables(conn, internal=args.all)
    finally:
        conn.close()
    if args.json:
        print(json.dumps(tables))
        return EXIT_OK
    if not tables:
        print("the workspace has no tables")
    for t in tables:
        internal = "  (internal: a node's table being built)" if t.get("internal") else ""
        print(f"{t['name']:<48} {t['rows']:>12,} rows {t['columns']:>4} columns{internal}")
    return EXIT_OK


def cmd_ws_show(args: argparse.Namespace) -> int:
    from engine import workspace

    conn = _workspace()
    try:
        cols = workspace.columns(conn, args.table)
        rows = conn.execute(f"SELECT * FROM {workspace.quote_ident(args.table)} LIMIT ?",
                            (max(0, args.limit),)).fetchall()
        total = workspace.count_rows(conn, args.table)
    finally:
        conn.close()
    if args.json:
        print(json.dumps({"table": args.table, "rows": total,
                          "columns": [{"name": c, "type": t} for c, t in cols],
                          "sample": [list(_plain(v) for v in r) for r in rows]}))
        return EXIT_OK
    print(f"{args.table}: {total:,} rows")
    print("columns: " + ", ".join(f"{c} {t}".strip() for c, t in cols))
    _print_grid([c for c, _ in cols], rows)
    return EXIT_OK


def _plain(v: Any) -> Any:
    return v.hex() if isinstance(v, bytes) else v


def _print_grid(header: list[str], rows: list[tuple]) -> None:
    cells = [[("NULL" if v is None else str(_plain(v)))[:40] for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))


def cmd_ws_drop(args: argparse.Namespace) -> int:
    from engine import workspace

    conn = _workspace()
    lease = workspace.WriteLease(workspace_path := _ws_path())
    try:
        if not workspace.table_exists(conn, args.table):
            raise DagfluxError(f"the workspace has no table '{args.table}'")
        with workspace.write_transaction(conn, lease):
            conn.execute(f"DROP TABLE {workspace.quote_ident(args.table)}")
    finally:
        conn.close()
        lease.close()
    print(f"dropped {args.table} from {workspace_path}")
    return EXIT_OK


def _ws_path() -> Path:
    from engine.paths import default_paths

    return default_paths().workspace


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
