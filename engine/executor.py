"""The one interface between the run coordinator and whatever runs node tasks.

``Executor.submit`` takes a :class:`~engine.messages.RunNode` and returns a
``concurrent.futures.Future`` resolving to a :class:`~engine.messages.NodeResult`
(never raising for a node failure). ``cancel`` stops a queued or running task; its
result then has status ``cancelled``. Implementations: the local warm worker pool
(:class:`engine.workers.pool.WorkerPool`) and :class:`InlineExecutor` for tests;
a distributed executor can be added behind the same interface.
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Protocol

from engine import workspace
from engine.errors import WorkspaceError
from engine.messages import NodeResult, RunNode
from engine.plugins import PluginRegistry
from engine.workers.task import execute_task


class Executor(Protocol):
    capacity: int

    def submit(self, task: RunNode) -> Future[NodeResult]: ...

    def cancel(self, future: Future[NodeResult]) -> None: ...

    def close(self) -> None: ...


class InlineExecutor:
    """Runs each task synchronously in the calling process (fast unit tests)."""

    capacity = 1

    def __init__(self, registry: PluginRegistry, workspace_path: Path) -> None:
        self._registry = registry
        self._path = Path(workspace_path)
        self._lease = workspace.WriteLease(self._path)
        try:
            self._conn = workspace.connect(self._path)
            self._setup_error = None
        except WorkspaceError as exc:
            self._conn, self._setup_error = None, str(exc)

    def submit(self, task: RunNode) -> Future[NodeResult]:
        future: Future[NodeResult] = Future()
        future.set_running_or_notify_cancel()
        future.set_result(execute_task(task, self._registry, self._conn, self._lease, self._path,
                                       self._setup_error))
        return future

    def cancel(self, future: Future[NodeResult]) -> None:
        future.cancel()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._lease.close()
