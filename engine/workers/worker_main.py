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
import select
import signal
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from engine import messages
from engine.errors import ProtocolError
from engine.messages import Message, RunNode, RunOp, Shutdown, WorkerReady
from engine.procutil import pid_alive

EXIT_ORPHANED = 70


def main(conn: Connection, settings: dict[str, Any]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    isolated = bool(settings.get("isolated"))
    if isolated:  # user code: every process it starts must end with the task
        from engine.skills.sandbox_fs import use_private_tmp
        from engine.workers.containment import contain

        contain()
        if settings.get("private_tmp"):
            use_private_tmp(str(settings["private_tmp"]))
    if settings.get("coordinator_pid"):
        exit_with(int(settings["coordinator_pid"]), isolated)
    from engine.plugins import load_registry
    from engine.workers.task import WorkerState

    registry = load_registry([Path(p) for p in settings.get("plugin_roots", [])])
    state = WorkerState.open(registry, Path(settings["workspace"]), Path(settings.get("connections", "")),
                             isolated=bool(settings.get("isolated")))
    errors = [f"{p.name}: {p.error}" for p in registry.errors]
    try:
        conn.send_bytes(messages.encode(WorkerReady(pid=os.getpid(), plugin_errors=errors)))
    except OSError:
        state.close()
        return  # the coordinator went away while this worker started
    try:
        _serve(conn, state)
    finally:
        state.close()


def exit_with(pid: int, isolated: bool = False) -> None:
    """End this process as soon as process ``pid`` (the coordinator) is gone.

    An idle worker notices on its pipe; a busy one (a long query) would not, so a
    daemon thread waits on a pidfd — zero CPU — or polls where pidfds do not exist.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(EXIT_ORPHANED)
    except (AttributeError, OSError):
        fd = None

    def wait_for_exit() -> None:
        if fd is not None:
            select.select([fd], [], [])
        else:
            while pid_alive(pid):
                time.sleep(0.5)
        if isolated:
            from engine.workers.containment import stop_descendants

            stop_descendants()
        os._exit(EXIT_ORPHANED)

    threading.Thread(target=wait_for_exit, name="dagflux-parent-watch", daemon=True).start()


def _serve(conn: Connection, state: Any) -> None:
    from engine.workers.task import execute_op, execute_task

    state.emit = lambda msg: conn.send_bytes(messages.encode(msg))  # events a task streams (AI calls)
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
        if isinstance(msg, RunNode):
            reply: Message = execute_task(msg, state)
        elif isinstance(msg, RunOp):
            reply = execute_op(msg, state)
        else:
            continue
        if state.isolated:  # the node has ended: so has every process its code started
            from engine.workers.containment import stop_descendants

            stop_descendants()
        try:
            conn.send_bytes(messages.encode(reply))
        except (OSError, ValueError):
            return
        if state.isolated:
            return
