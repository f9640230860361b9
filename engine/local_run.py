"""Run a workflow file in this process as the data-dir lock holder (``dagflux run``).

Order matters: the worker pool (and its forkserver launcher) starts before any
thread exists; the lock is held for the whole run so there is one writer of the
history; runs a crashed holder left *running* are marked *interrupted* first.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine import debris, workspace
from engine.history import History
from engine.lock import DataDirLock
from engine.messages import Message
from engine.model import fileformat, validation
from engine.paths import DataPaths, default_paths, ensure_data_dir
from engine.plugins import PluginRegistry, load_registry
from engine.runner import Run, RunResult


def load_checked(path: Path, registry: PluginRegistry):
    wf = fileformat.load(path)
    validation.ensure_valid(wf, registry.node_types)
    return wf


def check_workspace(paths: DataPaths) -> None:
    """Fail before starting anything when workspace.sqlite is not a database."""
    conn = workspace.connect(paths.workspace)
    conn.close()


@contextlib.contextmanager
def _ctrl_c_cancels(run: Run) -> Iterator[None]:
    """Ctrl+C asks the run to cancel (it stops its nodes and logs them) instead of raising
    KeyboardInterrupt at an arbitrary line, which could cut a history write in half."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda *_: run.cancel())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_file(path: str | Path, paths: DataPaths | None = None, pool_size: int | None = None,
             on_event: Callable[[Message], None] | None = None, trigger: str = "manual",
             on_wait: Callable[[dict], None] | None = None,
             on_run: Callable[[Run], None] | None = None,
             params: dict[str, Any] | None = None, from_node: str | None = None) -> RunResult:
    """Run the workflow file; ``params`` are values for its parameters (text is converted);
    ``from_node``: run from that node, reusing unchanged results above it (engine.reuse)."""
    from engine.workers.pool import WorkerPool

    path = Path(path).resolve()
    paths = ensure_data_dir(paths or default_paths())
    registry = load_registry([paths.plugins])
    wf = load_checked(path, registry)
    lock = DataDirLock(paths.lock, role="run")
    lock.acquire(wait=True, on_wait=on_wait)
    try:
        check_workspace(paths)
        debris.recover(paths.workspace)
        with History(paths.history) as history:
            history.mark_interrupted()
            pool = WorkerPool(paths.workspace, size=pool_size, plugin_roots=[paths.plugins])
            try:
                run = Run(wf, path.parent, registry, pool, history, trigger, on_event, params=params,
                          from_node=from_node)
                if on_run is not None:
                    on_run(run)
                with _ctrl_c_cancels(run):
                    return run.execute()
            finally:
                pool.close()
    finally:
        lock.release()
