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
from typing import Any, Protocol

from engine.messages import NodeResult, RunNode, RunOp
from engine.plugins import PluginRegistry
from engine.workers.task import WorkerState, execute_op, execute_task


class Executor(Protocol):
    capacity: int
    workspace_path: Path

    def submit(self, task: RunNode) -> Future[NodeResult]: ...

    def cancel(self, future: Future[NodeResult]) -> None: ...

    def close(self) -> None: ...


class InlineExecutor:
    """Runs each task synchronously in the calling process (fast unit tests)."""

    capacity = 1

    def __init__(self, registry: PluginRegistry, workspace_path: Path,
                 connections_path: Path | None = None) -> None:
        path = self.workspace_path = Path(workspace_path)
        self._state = WorkerState.open(registry, path, connections_path or path.with_name("connections.json"))

    def submit(self, task: RunNode | RunOp, on_event: Any = None) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        self._state.emit = on_event
        reply = execute_op(task, self._state) if isinstance(task, RunOp) else execute_task(task, self._state)
        future.set_result(reply)
        return future

    def cancel(self, future: Future[NodeResult]) -> None:
        future.cancel()

    def close(self) -> None:
        self._state.close()
