"""One worker process as the pool sees it: start it, wait for its WorkerReady, stop or kill it.

The process runs :func:`engine.workers.worker_main.main` and talks msgpack frames over a
duplex pipe. Killing an isolated worker kills every process its code started
(:mod:`engine.workers.containment`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import types
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from engine import messages
from engine.errors import DagfluxError, ProtocolError
from engine.messages import Shutdown, WorkerReady

READY_TIMEOUT_S = 60.0


class WorkerStartError(DagfluxError):
    """A worker process could not be started."""



_main_swap_lock = threading.Lock()


@contextlib.contextmanager
def _without_main_module() -> Iterator[None]:
    """Hide the host program's ``__main__`` while a worker starts.

    multiprocessing would otherwise re-import it in every worker (pytest, the app with
    Kivy, a user's script): slow, and a worker must never load the UI.
    """
    with _main_swap_lock:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main


class WorkerProcess:
    def __init__(self, ctx: Any, settings: dict[str, Any]) -> None:
        from engine.workers import worker_main

        parent, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=worker_main.main, args=(child, settings), daemon=True,
                                   name="dagflux-worker")
        with _without_main_module():
            self.process.start()
        child.close()
        self.conn: Connection = parent
        self.pid = self.process.pid
        self.isolated = bool(settings.get("isolated"))
        self.ready: WorkerReady | None = None

    def wait_ready(self) -> WorkerReady:
        if self.ready is None:
            if not self.conn.poll(READY_TIMEOUT_S):
                self.kill()
                raise WorkerStartError("a worker process did not start within "
                                       f"{READY_TIMEOUT_S:.0f} s")
            try:
                msg = messages.decode(self.conn.recv_bytes())
            except (EOFError, OSError, ProtocolError) as exc:
                self.kill()
                raise WorkerStartError(f"a worker process failed while starting: {exc}") from None
            if not isinstance(msg, WorkerReady):
                raise WorkerStartError(f"a worker sent {msg.TYPE} instead of WorkerReady")
            self.ready = msg
        return self.ready

    def alive(self) -> bool:
        return self.process.is_alive()

    def signal_kill(self) -> None:
        """SIGKILL the process (an isolated one with every process its code started);
        safe from any thread (the slot's thread sees EOF)."""
        if self.isolated:
            from engine.workers.containment import kill_tree

            kill_tree(self.pid)
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """Kill, reap and close the pipe — from the thread that owns this worker."""
        if self.process.is_alive():
            self.signal_kill()
        self.process.join(5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send_bytes(messages.encode(Shutdown()))
        except (OSError, ValueError):
            pass
        self.process.join(2)
        self.kill()

    def death_reason(self) -> str:
        self.process.join(2)
        code = self.process.exitcode
        if code is None:
            return "worker stopped answering"
        if code < 0:
            return f"worker exited with signal {-code}"
        return f"worker exited with status {code}"
