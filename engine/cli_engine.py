"""``dagflux engine …`` and ``dagflux workflows …``: the engine-service side of the CLI.

* ``dagflux engine [--detach]`` — run the engine (foreground, or in the background).
  A second engine for the same data dir exits at once with status 1, naming the holder.
* ``dagflux engine status [--json]`` — 0 when an engine is ready, 3 when none runs.
* ``dagflux engine stop`` — returns once the engine has exited (within 5 s).
* ``dagflux engine autostart on|off`` — start the engine at login (XDG autostart).
* ``dagflux workflows list | import FILE | enable ID | disable ID | remove ID | run ID``
  — saved workflows; through the engine when one runs, else under the data-dir lock.
* ``dagflux triggers`` — the registered triggers with their state (engine only).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from engine.errors import DagfluxError
from engine.procutil import pid_alive

EXIT_OK, EXIT_FAILED, EXIT_NO_ENGINE = 0, 1, 3
STOP_TIMEOUT_S = 5.0


def add_parsers(sub: Any) -> None:
    e = sub.add_parser("engine", help="run or control the background engine")
    e.add_argument("action", nargs="?", default="run", choices=["run", "status", "stop", "autostart"])
    e.add_argument("value", nargs="?", choices=["on", "off"], help="for autostart")
    e.add_argument("--detach", action="store_true", help="run in the background")
    e.add_argument("--json", action="store_true")
    e.add_argument("--workers", type=int, default=None)
    e.add_argument("--webhook-host", default=os.environ.get("DAGFLUX_WEBHOOK_HOST", "127.0.0.1"))
    e.add_argument("--webhook-port", type=int, default=None,
                   help="port of the webhook server (default 8737; 0 picks a free one)")
    e.add_argument("--poll-files", action="store_true", help="poll watched paths instead of inotify")
    e.set_defaults(func=cmd_engine)

    w = sub.add_parser("workflows", help="saved workflows (the ones triggers run)")
    w.add_argument("action", choices=["list", "import", "enable", "disable", "remove", "run"])
    w.add_argument("target", nargs="?", help="a file (import) or a workflow id")
    w.add_argument("--id", dest="new_id", help="import under another id")
    w.add_argument("--yes", "-y", action="store_true", help="import without asking (after reading what it does)")
    w.add_argument("--force", action="store_true", help="import an invalid workflow as a draft (it does not run)")
    w.add_argument("--json", action="store_true")
    w.set_defaults(func=cmd_workflows)

    t = sub.add_parser("triggers", help="registered triggers and their state (needs the engine)")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_triggers)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _client(timeout: float = 5.0):
    from engine.client import EngineClient

    return EngineClient.connect(timeout=timeout)


# --- engine ---------------------------------------------------------------------------

def cmd_engine(args: argparse.Namespace) -> int:
    if args.action == "status":
        return _status(args.json)
    if args.action == "stop":
        return _stop()
    if args.action == "autostart":
        return _autostart(args)
    if args.detach:
        return _detach(args)
    return _run_engine(args)


def _port(args: argparse.Namespace) -> int:
    from engine.service.engine import DEFAULT_WEBHOOK_PORT

    if args.webhook_port is not None:
        return args.webhook_port
    return int(os.environ.get("DAGFLUX_WEBHOOK_PORT", DEFAULT_WEBHOOK_PORT))


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def _warn_exposed_webhooks(host: str) -> None:
    if host not in LOOPBACK_HOSTS and not host.startswith("127."):
        _err(f"warning: webhooks listen on {host}, reachable from other machines: the endpoint is unauthenticated "
             "except for the secret token in each URL, and unencrypted (plain HTTP) — put it behind a TLS "
             "reverse proxy or keep the default 127.0.0.1")


def _run_engine(args: argparse.Namespace) -> int:
    from engine.paths import default_paths
    from engine.service.engine import Engine

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    _warn_exposed_webhooks(args.webhook_host)
    engine = Engine(default_paths(), pool_size=args.workers, webhook_host=args.webhook_host,
                    webhook_port=_port(args), poll_files=args.poll_files)
    engine.start(wait=False)    # answers `status` now; workers and triggers warm up meanwhile
    _err(f"engine listening (pid {os.getpid()}) on {engine.socket}")
    try:
        engine.serve_forever()
    finally:
        engine.stop()
    if engine.warm_error is not None:
        _err(f"the engine could not start: {engine.warm_error}")
        return EXIT_FAILED
    return EXIT_OK


def _detach(args: argparse.Namespace) -> int:
    from engine.paths import default_paths, ensure_data_dir
    from engine.private import open_private_append
    from engine.service.ipc import EngineUnavailable

    paths = ensure_data_dir(default_paths())
    log_path = paths.root / "engine.log"
    _warn_exposed_webhooks(args.webhook_host)
    command = [sys.executable, "-m", "engine.cli", "engine", "--webhook-host", args.webhook_host,
               "--webhook-port", str(_port(args))]
    if args.workers:
        command += ["--workers", str(args.workers)]
    if args.poll_files:
        command.append("--poll-files")
    with open_private_append(log_path) as log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(command, stdin=devnull, stdout=log, stderr=log, start_new_session=True,
                                close_fds=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _err(f"the engine exited with status {proc.returncode}; see {log_path}:")
            _err(_tail(log_path))
            return EXIT_FAILED
        try:
            with _client(timeout=1.0) as client:
                if client.welcome.pid == proc.pid:
                    print(f"engine started in the background (pid {proc.pid}); log: {log_path}")
                    return EXIT_OK
        except EngineUnavailable:
            time.sleep(0.05)
    _err(f"the engine did not become ready within 30 s; see {log_path}")
    return EXIT_FAILED


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _status(as_json: bool) -> int:
    from engine.service.ipc import EngineUnavailable

    try:
        with _client(timeout=2.0) as client:
            status = client.call("status")
    except EngineUnavailable as exc:
        if as_json:
            print(json.dumps(None))
        _err(str(exc))
        return EXIT_NO_ENGINE
    if as_json:
        print(json.dumps({"pid": status["pid"], "socket": status["socket"], "version": status["version"],
                          "code_sandbox": status.get("code_sandbox"), "warming": status.get("warming", []),
                          "csv_import": status.get("csv_import")}))
    else:
        runs = len(status["active_runs"])
        print(f"engine {status['version']} running (pid {status['pid']}), up {status['uptime_s']:.0f} s, "
              f"{runs} run(s) in progress\n  socket {status['socket']}\n  data   {status['data_dir']}")
        if status.get("warming"):
            print(f"  warming up: {', '.join(status['warming'])}")
        if status.get("webhook_error"):
            print(f"  webhooks off: {status['webhook_error']}")
        sandbox = status.get("code_sandbox")
        if sandbox == "unsandboxed":
            print("  code skills run unsandboxed: this kernel has no Landlock, so Python code in a workflow "
                  "can read what you can read (see README, 'What code in a workflow can reach')")
        elif sandbox:
            print(f"  code skills confined by {sandbox}")
        if status.get("csv_import"):
            print(f"  CSV import: {status['csv_import']}")
    return EXIT_OK


def _stop() -> int:
    from engine.service.ipc import EngineUnavailable

    try:
        with _client(timeout=2.0) as client:
            pid = client.welcome.pid
            client.call("shutdown")
    except EngineUnavailable as exc:
        _err(str(exc))
        return EXIT_NO_ENGINE
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            print(f"engine (pid {pid}) stopped")
            return EXIT_OK
        time.sleep(0.02)
    _err(f"the engine (pid {pid}) is still running after {STOP_TIMEOUT_S:g} s")
    return EXIT_FAILED


def _autostart(args: argparse.Namespace) -> int:
    from engine.service import autostart

    if args.value == "on":
        command = [sys.executable, "-m", "engine.cli", "engine"]
        path = autostart.enable(command)
        print(f"the engine will start at login ({path})")
    elif args.value == "off":
        removed = autostart.disable()
        print("autostart removed" if removed else "autostart was not on")
    else:
        print("on" if autostart.is_enabled() else "off")
    return EXIT_OK


# --- workflows / triggers -------------------------------------------------------------

def cmd_workflows(args: argparse.Namespace) -> int:
    from engine.service.ipc import EngineUnavailable

    if args.action != "list" and not args.target:
        what = "file" if args.action == "import" else "workflow id"
        raise DagfluxError(f"'dagflux workflows {args.action}' needs a {what}")
    if args.action == "import":
        _review_import(args)
    try:
        client = _client(timeout=2.0)
    except EngineUnavailable:
        if args.action == "run":
            raise DagfluxError("no engine is running: start one with 'dagflux engine --detach', "
                               "or run a file with 'dagflux run FILE'") from None
        return _workflows_offline(args)
    with client:
        result = _workflows_call(client, args)
    _print_workflows(args, result)
    return EXIT_OK


def _review_import(args: argparse.Namespace) -> None:
    """Show what the file will do (and its problems) before anything is saved; ask, unless --yes."""
    from engine.errors import WorkflowValidationError
    from engine.model import fileformat, validation
    from engine.model.review import review
    from engine.paths import default_paths
    from engine.plugins import load_registry

    wf = fileformat.load(args.target)
    problems = validation.validate(wf, load_registry([default_paths().plugins]).node_types)
    if problems and not args.force:
        raise WorkflowValidationError(problems, f"{args.target} was not imported; fix it, or import it as a "
                                                "draft with --force")
    print(f"{args.target}: workflow '{args.new_id or wf.id}' ({wf.name}), {len(wf)} nodes"
          + (f" — a draft with {len(problems)} problem(s), it will not run until fixed" if problems else ""))
    for line in review(wf).lines():
        print(f"  {line}")
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise DagfluxError("not imported: read what it does above, then import it with --yes "
                           "(there is no terminal to ask)")
    if input("Import it? [y/N] ").strip().lower() not in ("y", "yes"):
        raise DagfluxError("not imported")


def _workflows_call(client: Any, args: argparse.Namespace) -> Any:
    if args.action == "list":
        return client.call("workflows.list")
    if args.action == "import":
        return client.call("workflows.import", path=str(Path(args.target).resolve()), new_id=args.new_id,
                           force=args.force)
    if args.action in ("enable", "disable"):
        return client.call("workflows.set_enabled", id=args.target, enabled=args.action == "enable")
    if args.action == "remove":
        return client.call("workflows.delete", id=args.target)
    return client.call("runs.start", workflow_id=args.target)


def _workflows_offline(args: argparse.Namespace) -> int:
    from engine.lock import DataDirLock
    from engine.paths import default_paths, ensure_data_dir
    from engine.service.store import WorkflowStore, summary

    paths = ensure_data_dir(default_paths())
    store = WorkflowStore(paths.workflows)
    if args.action == "list":
        _print_workflows(args, store.list())
        return EXIT_OK
    with DataDirLock(paths.lock, role="cli"):
        if args.action == "import":
            from engine.plugins import load_registry

            types = load_registry([paths.plugins]).node_types
            result: Any = summary(store.import_file(Path(args.target), args.new_id, types, args.force))
        elif args.action in ("enable", "disable"):
            result = summary(store.set_enabled(args.target, args.action == "enable"))
        else:
            store.delete(args.target)
            result = True
    _print_workflows(args, result)
    return EXIT_OK


def _print_workflows(args: argparse.Namespace, result: Any) -> None:
    if args.json:
        print(json.dumps(result))
    elif args.action == "list":
        if not result:
            print("no saved workflows; add one with 'dagflux workflows import FILE'")
        for wf in result:
            if wf.get("error"):
                print(f"✗ {wf['id']:<28} cannot be read: {wf['error']}")
            else:
                state = "on " if wf["enabled"] else "off"
                draft = "  DRAFT — will not run until fixed" if wf.get("draft") else ""
                print(f"  {wf['id']:<28} {state} {wf['trigger_description']}  ({wf['name']}, {wf['nodes']} nodes)"
                      f"{draft}")
    elif args.action == "run":
        print(f"started run {result['run_id']} of {result['workflow_id']}")
    elif isinstance(result, dict):
        print(f"{result['id']}: {result['trigger_description']} — trigger {'on' if result['enabled'] else 'off'}")
    else:
        print(f"removed {args.target}")


def cmd_triggers(args: argparse.Namespace) -> int:
    with _client(timeout=2.0) as client:
        listing = client.call("triggers.list")
    if args.json:
        print(json.dumps(listing))
        return EXIT_OK
    if not listing:
        print("no triggers registered")
    for entry in listing:
        state = entry.get("state", "scheduled")
        where = entry.get("next_fire") or entry.get("url") or entry.get("path") or ""
        detail = entry.get("detail", "") if state == "error" else where
        print(f"  {entry['workflow_id']:<28} {entry['kind']:<10} {state:<10} {detail}")
    return EXIT_OK
