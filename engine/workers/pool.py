"""The local executor: a pool of warm worker processes.

Workers come from a ``forkserver`` launcher started before any thread of ours,
with the worker module preloaded, so starting one costs a fork of a small clean
process. Each pool slot has one dispatcher thread and one warm worker; a task is
sent as a msgpack :class:`RunNode` frame over a pipe and answered by a
:class:`NodeResult`.

A worker that dies, hangs past the node's timeout or is cancelled is killed
(SIGKILL) and replaced; the task's result says why, e.g. "worker exited with
signal 9 while running node 'clean orders'". Isolated tasks (user code) run in a
fresh one-task worker that leads its own process group; killing it kills every
process the code started (:mod:`engine.workers.containment`). Workers exit when
their pipe closes, so they never outlive the coordinator.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import os
import queue
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from engine import frametap, messages
from engine.errors import DagfluxError, ProtocolError
from engine.messages import NodeResult, OpResult, RunNode, RunOp
from engine.workers.process import WorkerProcess, WorkerStartError

Task = RunNode | RunOp
Reply = NodeResult | OpResult

PRELOAD = ["engine.workers.worker_main", "engine.workers.task", "engine.plugins", "engine.io.readers",
           "engine.io.writers", "engine.sql.join", "engine.sql.statements", "engine.model.triggers"]


def default_size() -> int:
    return max(2, os.cpu_count() or 2)


class _Job:
    """A submitted task on its way through a slot."""

    def __init__(self, task: Task, future: Future[Reply], on_event: Callable[[Any], None] | None = None) -> None:
        self.task = task
        self.on_event = on_event             # events the task streams before its reply (AI calls)
        self.frame = messages.encode(task)   # first: a task that cannot be sent never takes a slot
        self.future = future
        self.started = time.perf_counter()
        self.worker: WorkerProcess | None = None
        self.sent = False
        self.cancelled = False


class _Slot:
    """One warm worker and the thread that awaits its replies."""

    def __init__(self, worker: WorkerProcess, index: int) -> None:
        self.worker = worker
        self.index = index
        self.inbox: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None


class WorkerPool:
    """A fixed number of warm workers; implements :class:`engine.executor.Executor`.

    Dispatch keeps the hot path short: :meth:`submit` sends the task straight to an
    idle worker from the caller's thread, and the slot's thread only waits for the
    reply (while the worker works). Idle slots are reused last-in first-out, so a
    chain of nodes stays on one worker and its SQLite connection's schema cache.
    """

    def __init__(self, workspace_path: Path, size: int | None = None,
                 plugin_roots: list[Path] | None = None, connections_path: Path | None = None) -> None:
        self.capacity = size or default_size()
        self.workspace_path = Path(workspace_path)
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(PRELOAD)
        connections_path = connections_path or Path(workspace_path).with_name("connections.json")
        self._settings = {"workspace": str(workspace_path), "coordinator_pid": os.getpid(),
                          "connections": str(connections_path),
                          "plugin_roots": [str(p) for p in (plugin_roots or [])]}
        self._lock = threading.Lock()
        self._jobs: dict[int, _Job] = {}
        self._pending: collections.deque[_Job] = collections.deque()
        self._closed = False
        # Start the launcher and the warm workers before any thread of ours exists. Their
        # readiness is awaited by the slot threads, so the caller goes on starting up meanwhile.
        self._slots = [_Slot(self._spawn(), i) for i in range(self.capacity)]
        self._idle = list(reversed(self._slots))
        for slot in self._slots:
            slot.thread = threading.Thread(target=self._slot_loop, args=(slot,), daemon=True,
                                           name=f"dagflux-slot-{slot.index}")
            slot.thread.start()

    def _spawn(self, isolated: bool = False, private_tmp: str | None = None) -> WorkerProcess:
        return WorkerProcess(self._ctx, {**self._settings, "isolated": isolated, "private_tmp": private_tmp})

    # --- Executor interface ----------------------------------------------------
    def submit(self, task: Task, on_event: Callable[[Any], None] | None = None) -> Future[Reply]:
        """``on_event`` gets each message the task streams before its reply, on a pool thread."""
        if self._closed:
            raise DagfluxError("the worker pool is closed")
        future: Future[Reply] = Future()
        job = _Job(task, future, on_event)              # raises ProtocolError before anything is taken
        with self._lock:
            self._jobs[id(future)] = job
            if not self._idle:
                self._pending.append(job)
                return future
            slot = self._idle.pop()
        future.set_running_or_notify_cancel()
        self._send_direct(slot, job)
        slot.inbox.put(job)
        return future

    def cancel(self, future: Future[Reply]) -> None:
        with self._lock:
            job = self._jobs.get(id(future))
            if future.cancel():
                self._jobs.pop(id(future), None)
                if job is not None and job in self._pending:
                    self._pending.remove(job)
                return
            if job is None:
                return
            job.cancelled = True
            worker = job.worker if job.sent else None
        if worker is not None:
            worker.signal_kill()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._lock:
            pending, self._pending = list(self._pending), collections.deque()
        for job in pending:
            job.future.cancel()
        for slot in self._slots:
            slot.inbox.put(None)
        for slot in self._slots:
            if slot.thread is not None:
                slot.thread.join(10)

    def recycle_idle(self) -> int:
        """Replace every idle warm worker by a fresh one (their pooled connections close);
        busy workers notice a changed connection at their next task. Returns how many."""
        with self._lock:
            idle, self._idle = list(self._idle), []
        for slot in idle:
            slot.worker = self._respawn(slot.worker)
        with self._lock:
            self._idle.extend(idle)
            pending = bool(self._pending)
        if pending:  # work queued while we recycled: hand it to a slot
            with self._lock:
                slot = self._idle.pop() if self._idle else None
                job = self._next_pending() if slot else None
                if slot is not None and job is None:
                    self._idle.append(slot)
            if slot is not None and job is not None:
                slot.inbox.put(job)
        return len(idle)

    def worker_pids(self) -> list[int]:
        """Pids of the workers busy with a task right now."""
        with self._lock:
            return [j.worker.pid for j in self._jobs.values() if j.worker is not None and j.sent]

    # --- dispatch ------------------------------------------------------------------
    def _send_direct(self, slot: _Slot, job: _Job) -> None:
        """Send on the caller's thread when the slot's warm worker can take it now."""
        worker = slot.worker
        if job.task.isolated or worker.ready is None:
            return
        job.worker = worker
        try:
            worker.conn.send_bytes(job.frame)
            job.sent = True
        except (OSError, ValueError):
            job.worker = None  # the slot thread replaces the worker and sends again

    def _slot_loop(self, slot: _Slot) -> None:
        try:
            slot.worker.wait_ready()
        except WorkerStartError:
            pass  # the first task on this slot replaces the worker and reports if it fails again
        job = slot.inbox.get()
        while job is not None:
            try:
                result = self._execute(slot, job)
            except Exception as exc:  # noqa: BLE001 - a slot thread must resolve every future it took
                slot.worker.kill()
                result = _result(job.task, "cancelled" if job.cancelled else "failed", job.started,
                                 f"worker lost while running node '{job.task.title or job.task.node_id}': "
                                 f"{type(exc).__name__}: {exc}")
            # A lost worker is replaced when this slot next gets a task (see _execute), not
            # here: a run being cancelled or an engine stopping should not wait for a fork.
            with self._lock:
                self._jobs.pop(id(job.future), None)
                following = self._next_pending()
                if following is None:
                    self._idle.append(slot)
            job.future.set_result(result)
            job = following if following is not None else slot.inbox.get()
        slot.worker.stop()

    def _next_pending(self) -> _Job | None:
        while self._pending:
            job = self._pending.popleft()
            if job.future.set_running_or_notify_cancel():
                return job
        return None

    def _execute(self, slot: _Slot, job: _Job) -> Reply:
        """Run the job on the slot's warm worker (replaced first if it was lost), or on a
        fresh one-task worker for isolated code."""
        if job.cancelled and not job.sent:
            return _result(job.task, "cancelled", job.started, "cancelled")
        if job.task.isolated:
            private_tmp = tempfile.mkdtemp(prefix="dagflux-skill-")  # the code's temp folder, removed here
            fresh = self._spawn(isolated=True, private_tmp=private_tmp)
            try:
                return self._run_on(fresh, job)
            finally:
                fresh.stop()
                shutil.rmtree(private_tmp, ignore_errors=True)
        if not job.sent and not slot.worker.alive():
            slot.worker = self._respawn(slot.worker)
        return self._run_on(slot.worker, job)

    def _respawn(self, worker: WorkerProcess) -> WorkerProcess:
        worker.kill()
        fresh = self._spawn()
        try:
            fresh.wait_ready()
        except WorkerStartError:
            pass  # the next task on this slot reports it
        return fresh

    def _run_on(self, worker: WorkerProcess, job: _Job) -> Reply:
        try:
            if not job.sent:
                with self._lock:
                    job.worker = worker
                worker.wait_ready()
                worker.conn.send_bytes(job.frame)
                job.sent = True
                if job.cancelled:
                    worker.signal_kill()
            return self._await_result(worker, job)
        except (WorkerStartError, EOFError, OSError, ProtocolError) as exc:
            return self._lost(worker, job, exc)

    def _await_result(self, worker: WorkerProcess, job: _Job) -> Reply:
        task = job.task
        expected = OpResult if isinstance(task, RunOp) else NodeResult
        while True:
            timeout = task.timeout_s
            if timeout is not None:
                timeout = max(0.0, timeout - (time.perf_counter() - job.started))
            if not worker.conn.poll(timeout):
                worker.kill()
                return _result(task, "failed", job.started,
                               f"node '{task.title or task.node_id}' timed out after {task.timeout_s:g} s; "
                               "its worker was stopped")
            frame = worker.conn.recv_bytes()
            frametap.record(frame)
            msg = messages.decode(frame)
            if isinstance(msg, expected):
                return msg
            if job.on_event is None:
                raise ProtocolError(f"worker replied {msg.TYPE} to {task.TYPE}")
            try:
                job.on_event(msg)
            except Exception:  # noqa: BLE001 - a listener's bug must not lose the task's reply
                logging.getLogger("dagflux.pool").exception("an event listener of %s failed", task.TYPE)

    def _lost(self, worker: WorkerProcess, job: _Job, exc: BaseException) -> Reply:
        label = job.task.title or job.task.node_id
        if job.cancelled:
            worker.kill()
            return _result(job.task, "cancelled", job.started, "cancelled")
        if isinstance(exc, WorkerStartError):
            return _result(job.task, "failed", job.started, f"{exc} (node '{label}')")
        reason = worker.death_reason()
        worker.kill()
        if worker.process.exitcode == -signal.SIGXCPU:
            return _result(job.task, "failed", job.started,
                           f"node '{label}' exceeded its CPU time limit of {_cpu_limit(job.task)} s; it was stopped")
        return _result(job.task, "failed", job.started, f"{reason} while running node '{label}'")


def _cpu_limit(task: Task) -> str:
    from engine.skills.python_skill import DEFAULT_LIMITS

    config = task.config if isinstance(task, RunNode) else {}
    limits = config.get("limits") if isinstance(config.get("limits"), dict) else {}
    return f"{limits.get('cpu_seconds', DEFAULT_LIMITS['cpu_seconds']):g}"


def _result(task: Task, status: str, started: float, error: str) -> Reply:
    if isinstance(task, RunOp):
        return OpResult(id=task.id, status=status, error=error,
                        duration_ms=round((time.perf_counter() - started) * 1000, 3))
    return NodeResult(id=task.id, node_id=task.node_id, status=status, error=error,
                      duration_ms=round((time.perf_counter() - started) * 1000, 3))
