"""Entry point of a worker process.

Started by the pool's launcher (multiprocessing ``forkserver`` with this module
preloaded), never forked from the threaded engine. It loads the plugin registry,
keeps one workspace connection open, then serves :class:`RunNode` frames one at a
time until it gets :class:`Shutdown` or its pipe closes (the coordinator died):
a worker never outlives its coordinator. SIGINT is ignored so that Ctrl+C in a
terminal reaches only the coordinator, which cancels cleanly.

An *isolated* worker (code skills) serves exactly one task; the handler applies
the sandbox (resource limits, no keychain/session variables) before user code runs.
"""

from __future__ import annotations

import os
import signal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from engine import messages
from engine.errors import DagfluxError, ProtocolError
from engine.messages import NodeResult, RunNode, Shutdown, WorkerReady


def main(conn: Connection, settings: dict[str, Any]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from engine import workspace
    from engine.plugins import load_registry

    registry = load_registry([Path(p) for p in settings.get("plugin_roots", [])])
    ws_path = Path(settings["workspace"])
    lease = workspace.WriteLease(ws_path)
    ws_conn, setup_error = None, None
    try:
        ws_conn = workspace.connect(ws_path)
    except DagfluxError as exc:
        setup_error = str(exc)
    errors = [f"{p.name}: {p.error}" for p in registry.errors]
    try:
        conn.send_bytes(messages.encode(WorkerReady(pid=os.getpid(), plugin_errors=errors)))
    except OSError:
        return  # the coordinator went away while this worker started
    try:
        _serve(conn, registry, ws_conn, lease, ws_path, setup_error, bool(settings.get("isolated")))
    finally:
        if ws_conn is not None:
            ws_conn.close()
        lease.close()


def _serve(conn: Connection, registry, ws_conn, lease, ws_path: Path, setup_error: str | None,
           one_shot: bool) -> None:
    from engine.workers.task import execute_task

    while True:
        try:
            frame = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the coordinator is gone: exit with it
        try:
            msg = messages.decode(frame)
        except ProtocolError:
            return
        if isinstance(msg, Shutdown):
            return
        if not isinstance(msg, RunNode):
            continue
        result: NodeResult = execute_task(msg, registry, ws_conn, lease, ws_path, setup_error,
                                          isolated=one_shot)
        try:
            conn.send_bytes(messages.encode(result))
        except (OSError, ValueError):
            return
        if one_shot:
            return
