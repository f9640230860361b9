"""Runs in the engine: one thread per run, never two runs of one workflow at once.

A run asked for while the same workflow runs is refused: a trigger's attempt is
logged in the history as a *skipped* run with its reason (and published as
``TriggerSkipped``); a manual attempt gets an error. A run that a trigger started
and that fails raises a desktop notification where one is available and is marked
unseen for the app.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import DagfluxError
from engine.executor import Executor
from engine.history import History
from engine.messages import Message, RunFinished, TriggerSkipped
from engine.model import validation
from engine.model.workflow import Workflow
from engine.plugins import PluginRegistry
from engine.run_ids import new_run_id
from engine.runner import Run, RunResult
from engine.service.events import EventBus

FINISHED_KEPT = 200


class AlreadyRunning(DagfluxError):
    """The workflow is running; runs of one workflow never overlap."""


class RunManager:
    def __init__(self, registry: PluginRegistry, executor: Executor, history: History, bus: EventBus,
                 notify: Callable[[str, str], Any] | None = None) -> None:
        self.registry = registry
        self.executor = executor
        self.history = history
        self.bus = bus
        self.notify = notify
        self.after_run: Callable[[], Any] | None = None     # called as each run ends (the pruner's poke)
        self._lock = threading.Lock()
        self._active: dict[str, tuple[Run, threading.Thread]] = {}      # workflow id → run
        self._finished: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._done = threading.Condition(self._lock)
        self._last_finished: dict[str, RunFinished] = {}
        self._closed = False

    def start(self, wf: Workflow, base_dir: Path, trigger: str = "manual",
              payload: list[dict[str, Any]] | None = None,
              params: dict[str, Any] | None = None, from_node: str | None = None) -> tuple[str, str]:
        """``("started", run_id)``, or ``("skipped", reason)`` for a trigger that overlaps.
        ``params``: values for the workflow's parameters (the defaults fill the rest); a bad
        one raises :class:`~engine.model.parameters.ParameterError` and nothing starts."""
        with self._lock:
            if self._closed:
                raise DagfluxError("the engine is stopping")
            if wf.id in self._active:
                busy = self._active[wf.id][0].run_id
                if trigger == "manual":
                    raise AlreadyRunning(f"workflow '{wf.id}' is already running (run {busy})")
                return "skipped", self._skip(wf, trigger, f"already running (run {busy})")
            validation.ensure_valid(wf, self.registry.node_types)
            run = Run(wf, base_dir, self.registry, self.executor, self.history, trigger,
                      self._held_back(), payload=payload, params=params, from_node=from_node)
            thread = threading.Thread(target=self._execute, args=(run,), daemon=True,
                                      name=f"dagflux-run-{wf.id}")
            self._active[wf.id] = (run, thread)
        thread.start()
        return "started", run.run_id

    def _held_back(self) -> Callable[[Message], None]:
        """Publish a run's events, but hold RunFinished until the run is released, so a
        client that starts the workflow again on seeing it is never told it still runs."""
        def publish(msg: Message) -> None:
            if isinstance(msg, RunFinished):
                self._last_finished[msg.run_id] = msg
            else:
                self.bus.publish(msg)

        return publish

    def _skip(self, wf: Workflow, trigger: str, reason: str) -> str:
        run_id = new_run_id()
        self.history.record_skipped(run_id, wf.id, wf.name, trigger, time.time(), reason)
        self.bus.publish(TriggerSkipped(workflow_id=wf.id, trigger=trigger, reason=reason, run_id=run_id))
        return reason

    def _execute(self, run: Run) -> None:
        result: RunResult | None = None
        try:
            result = run.execute()
        finally:
            summary = result.summary() if result else {"run_id": run.run_id, "status": "failed"}
            if result is not None:
                summary.update(error=result.error, trigger=run.trigger)
            with self._lock:
                self._active.pop(run.wf.id, None)
                self._finished[run.run_id] = summary
                while len(self._finished) > FINISHED_KEPT:
                    self._finished.popitem(last=False)
                self._done.notify_all()
            finished = self._last_finished.pop(run.run_id, None)
            if finished is not None:
                self.bus.publish(finished)
            if self.after_run is not None:
                self.after_run()
            if result is not None and result.status == "failed" and run.trigger != "manual":
                self.history.set_seen(run.run_id, False)
                if self.notify is not None:
                    self.notify(f"DagFlux: '{run.wf.name}' failed",
                                f"{run.trigger} run {run.run_id}: {result.error or 'failed'}")

    def cancel(self, run_id: str) -> bool:
        with self._lock:
            runs = [r for r, _ in self._active.values() if r.run_id == run_id]
        for run in runs:
            run.cancel()
        return bool(runs)

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"run_id": r.run_id, "workflow_id": wf_id, "trigger": r.trigger}
                    for wf_id, (r, _) in self._active.items()]

    def is_running(self, workflow_id: str) -> bool:
        with self._lock:
            return workflow_id in self._active

    def wait(self, run_id: str, timeout: float | None = None) -> dict[str, Any] | None:
        """The run's summary once it has ended, or None on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while run_id not in self._finished:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._done.wait(remaining)
            return dict(self._finished[run_id])

    def stop_all(self, timeout: float = 10.0) -> None:
        """Cancel every run and wait for their threads (runs are marked cancelled)."""
        with self._lock:
            self._closed = True
            active = list(self._active.values())
        for run, _ in active:
            run.cancel()
        for _, thread in active:
            thread.join(timeout)
