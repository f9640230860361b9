"""The run coordinator: one scheduling loop for every executor.

A run validates the workflow, writes its history row, then repeats: submit every
ready node (all inputs finished) to the executor, wait for the first to finish,
record it. Independent branches therefore run in parallel up to the executor's
capacity. Rows never pass through here — only table names and counts.

Semantics (ARCHITECTURE §4):

* Start runs in the coordinator and does no data work — unless its trigger
  delivered rows (changed files, a webhook body): then a worker writes them to
  Start's table, ``<workflow_id>__start``, which downstream nodes read.
* Branch reports the port it took; an edge is *active* when its source succeeded
  and (for a Branch) leaves through the taken port. A node whose input edges are
  all inactive is *skipped*; so is a Join missing one of its inputs that way.
* Fail-fast: the first failure cancels running siblings (*cancelled*) and leaves
  every node not started *not_run*. Ctrl+C / :meth:`Run.cancel` does the same with
  run status *cancelled*.
* History: the run row at start (with the run's parameter values), a node row as
  each node ends (nodes never reached get their row at the end), the run row
  completed last.
* Retries (:mod:`engine.retry`): a node with a ``retry`` policy whose attempt fails
  transiently is submitted again after its delay; the node stays *running* meanwhile,
  the wait never blocks the loop (other nodes go on) and a cancel ends it at once.
  Every attempt is kept in the node's history row.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any

from engine import debris, reuse, workspace
from engine.errors import DagfluxError
from engine.executor import Executor
from engine.history import History, NodeRow
from engine.messages import (
    Message,
    NodeFinished,
    NodeResult,
    NodeRetrying,
    NodeStarted,
    RunFinished,
    RunNode,
    RunStarted,
)
from engine.model import parameters, validation
from engine.model.workflow import Edge, Workflow
from engine.plugins import PluginRegistry
from engine.retry import RetryPolicy
from engine.run_ids import new_run_id
from engine.run_state import NodeRun, RunResult, all_attempts

log = logging.getLogger("dagflux.runner")

NODE_STATUSES = ("queued", "running", "succeeded", "reused", "failed", "skipped", "cancelled", "not_run",
                 "interrupted")
DONE = ("succeeded", "reused")      # a node whose table stands for this run (reused: see engine.reuse)
RUN_STATUSES = ("running", "succeeded", "failed", "cancelled", "interrupted", "skipped")
_task_ids = itertools.count(1)


# Copies a database input into the workspace (see Run._start); the table is named by the runner.
STAGE_INPUT = {"language": "sql", "mode": "new_table", "storage": "local", "sql": "SELECT * FROM {{ input }}"}


class Run:
    """One execution of a workflow; :meth:`execute` blocks until it ends."""

    def __init__(self, wf: Workflow, base_dir: Path, registry: PluginRegistry, executor: Executor,
                 history: History | None = None, trigger: str = "manual",
                 on_event: Callable[[Message], None] | None = None, run_id: str | None = None,
                 payload: list[dict[str, Any]] | None = None,
                 params: dict[str, Any] | None = None, from_node: str | None = None) -> None:
        """``params`` are the values given for the workflow's parameters (text or typed); they are
        converted and completed with the defaults here, so a bad value fails before the run.
        ``from_node``: run that node and what is below it, reusing what it needs from above
        where nothing changed (:mod:`engine.reuse`)."""
        self.wf = wf
        self.base_dir = Path(base_dir).resolve()
        self.registry = registry
        self.executor = executor
        self.history = history
        self.trigger = trigger
        self.on_event = on_event or (lambda msg: None)
        self.run_id = run_id or new_run_id()
        self.payload = payload
        self.params = parameters.resolve(wf.parameters, params)
        self._cancel = threading.Event()
        self._retry_at: dict[str, float] = {}            # node id → monotonic time of its next attempt
        self.nodes = {n.id: NodeRun(n.id, n.type, n.title) for n in wf}
        self._running: dict[Future[NodeResult], str] = {}
        self._staging: set[Future[NodeResult]] = set()     # input copies for isolated code (below)
        self._inputs: dict[str, list[Edge]] = {n.id: [] for n in wf}
        self._successors: dict[str, list[str]] = {n.id: [] for n in wf}
        for edge in wf.edges:
            self._inputs[edge.target].append(edge)
            if edge.target not in self._successors[edge.source]:
                self._successors[edge.source].append(edge.target)
        self._backlog: list[tuple[NodeRow | None, int, Message]] = []
        self._to_check: set[str] = set()
        self._order = {n.id: i for i, n in enumerate(wf)}
        self._seq = 0
        self._fingerprints: dict[str, str] = {}
        self.from_node = from_node
        self._must_run, self._may_reuse = reuse.plan(wf, from_node) if from_node else (None, set())

    def cancel(self) -> None:
        self._cancel.set()

    # --- the loop ----------------------------------------------------------------
    def execute(self) -> RunResult:
        validation.ensure_valid(self.wf, self.registry.node_types)
        started = time.time()
        if self.history is not None:
            self.history.start_run(self.run_id, self.wf.id, self.wf.name, self.trigger, started,
                                   len(self.wf), params=self.params)
        self.on_event(RunStarted(run_id=self.run_id, workflow_id=self.wf.id, workflow_name=self.wf.name,
                                 trigger=self.trigger, node_ids=[n.id for n in self.wf],
                                 started_at=started, params=dict(self.params)))
        status, error = "succeeded", None
        try:
            status, error = self._loop()
        except KeyboardInterrupt:
            status, error = "cancelled", "cancelled by the user"
            self._stop_all("cancelled by the user")
        except Exception as exc:  # noqa: BLE001 - a run always ends its history row and event
            log.exception("run %s of '%s' stopped by an internal error", self.run_id, self.wf.id)
            status, error = "failed", f"internal error: {type(exc).__name__}: {exc}"
            with contextlib.suppress(Exception):
                self._stop_all("stopped by an internal error")
        return self._finish(started, status, error)

    def _loop(self) -> tuple[str, str | None]:
        running = self._running
        ready = [n.id for n in self.wf if not self._inputs[n.id]]
        failure: str | None = None
        while ready or running or self._retry_at:
            for node_id in ready:
                self._start(node_id, running)
            ready = []
            self._flush()  # log what finished while the next nodes already run
            done = self._wait(running)
            if self._cancel.is_set():
                for future in done:  # record what finished before the cancel
                    self._record(self._running.pop(future), future.result())
                self._stop_all("cancelled")
                return "cancelled", "the run was cancelled"
            for future in done:
                node_id, result = running.pop(future), future.result()
                if future in self._staging:
                    self._staging.discard(future)
                    if self._staged(node_id, result, running):
                        continue                # the node itself now runs
                if self._retry_later(node_id, result):
                    continue
                self._record(node_id, result)
                if self.nodes[node_id].status == "failed":
                    failure = failure or f"node '{self.nodes[node_id].title or node_id}' failed: " \
                                         f"{self.nodes[node_id].error}"
            if failure:
                self._stop_all("cancelled because another node failed")
                return "failed", failure
            ready = self._newly_ready()
        return "succeeded", None

    def _wait(self, running: dict[Future[NodeResult], str]) -> set[Future[NodeResult]]:
        """The first futures to finish; meanwhile nodes whose retry delay ended are resubmitted.
        Waits are short and on the cancel event, so a cancel is seen at once."""
        while running or self._retry_at:
            for node_id in [n for n, at in self._retry_at.items() if at <= time.monotonic()]:
                del self._retry_at[node_id]
                self._dispatch(node_id, running)
            timeout = 0.25
            if self._retry_at:
                timeout = min(timeout, max(0.0, min(self._retry_at.values()) - time.monotonic()))
            if running:
                done, _ = wait(list(running), timeout=timeout, return_when=FIRST_COMPLETED)
            else:
                done = set()
                self._cancel.wait(timeout)
            if done or self._cancel.is_set():
                return done
        return set()

    def _retry_later(self, node_id: str, result: NodeResult) -> bool:
        """Schedule another attempt when the node failed transiently and has retries left."""
        state = self.nodes[node_id]
        policy = RetryPolicy.of(self.wf.node(node_id).retry)
        if result.status != "failed" or not result.transient or len(state.attempts) >= policy.count \
                or self._cancel.is_set():
            return False
        state.attempts.append({"attempt": len(state.attempts) + 1, "status": "failed",
                               "started_at": state.attempt_started, "duration_ms": result.duration_ms,
                               "error": result.error})
        delay = policy.delay(len(state.attempts))
        self._retry_at[node_id] = time.monotonic() + delay
        log.info("run %s: node '%s' attempt %d failed transiently; retrying in %.1f s",
                 self.run_id, node_id, len(state.attempts), delay)
        self._backlog.append((None, 0, NodeRetrying(run_id=self.run_id, node_id=node_id,
                                                    attempt=len(state.attempts), delay_s=delay,
                                                    error=result.error)))
        return True

    def _newly_ready(self) -> list[str]:
        """Queued successors of nodes that settled since the last call whose inputs all ended."""
        ready = []
        while self._to_check:
            candidates = sorted(self._to_check, key=self._order.__getitem__)
            self._to_check.clear()
            for node_id in candidates:
                if self.nodes[node_id].status == "queued" and all(
                        self.nodes[e.source].status in (*DONE, "skipped")
                        for e in self._inputs[node_id]):
                    ready.append(node_id)
        return ready

    # --- one node ----------------------------------------------------------------
    def _start(self, node_id: str, running: dict[Future[NodeResult], str]) -> None:
        node, state = self.wf.node(node_id), self.nodes[node_id]
        if self._must_run is not None and node_id not in self._must_run and node_id not in self._may_reuse:
            return      # a run from a node: not needed below it (stays queued, ends as not_run)
        inputs = self._inputs[node_id]
        inactive = [e for e in inputs if not self._edge_active(e)]
        if inputs and inactive and (len(inactive) == len(inputs) or len(inputs) > 1):
            self._settle(state, "skipped", error=None)
            return
        fingerprint = self._fingerprints[node_id] = reuse.fingerprint(
            node.type, node.config, self.params,
            [(e.source, e.source_port or "", self._fingerprints.get(e.source, "")) for e in inputs], self.base_dir)
        state.status, state.started_at = "running", time.time()
        state.records_in = self._records_in(node_id)
        if node_id in self._may_reuse and self._reuse(node_id, fingerprint):
            return
        # A row while it runs: if the process dies now, the log still shows what was running.
        running_row = NodeRow(node_id, state.type, state.title, "running", state.started_at, None,
                              state.records_in, None, None)
        self._backlog.append((running_row, self._seq + 1, NodeStarted(run_id=self.run_id, node_id=node_id,
                                                                      started_at=state.started_at)))
        if node.type == validation.START and self.payload is None:
            self._settle(state, "succeeded", duration_ms=0.0)
            return
        self._dispatch(node_id, running)

    def _reuse(self, node_id: str, fingerprint: str) -> bool:
        """Stand the node's last result in for this run when nothing it depends on changed."""
        last = reuse.last_standing(self.history, self.wf, node_id, fingerprint, self.executor.workspace_path)
        if last is None:
            return False
        state = self.nodes[node_id]
        state.table, state.connection, state.kept = last["output_table"], None, last.get("kept_table")
        self._settle(state, "reused", records=last["records_out"], duration_ms=0.0)
        return True

    def _dispatch(self, node_id: str, running: dict[Future[NodeResult], str]) -> None:
        """Send one attempt of the node to the executor (first through a staging copy when
        isolated code reads a database input)."""
        node = self.wf.node(node_id)
        self.nodes[node_id].attempt_started = time.time()
        tables = self._input_tables(node_id)
        isolated = self.registry.node_type(node.type).runs_isolated(node.config)
        remote = [t for t in tables if t["connection"] is not None]
        if isolated and remote:
            # Code runs without the keychain, so it cannot open a connection: a normal worker
            # first copies the input from its database into a hidden workspace table.
            self._staging.add(self._submit(node_id, running, [remote[0]], isolated=False, staging=True))
            return
        self._submit(node_id, running, tables, isolated)

    def _submit(self, node_id: str, running: dict[Future[NodeResult], str], inputs: list[dict[str, Any]],
                isolated: bool, staging: bool = False) -> Future[NodeResult]:
        node = self.wf.node(node_id)
        final = workspace.table_name(self.wf.id, node_id)
        if staging:   # a hidden table the run's clean-up and the next start both know (debris)
            node_type, config, output = "transformer", dict(STAGE_INPUT), f"{workspace.STAGING_PREFIX}{final}_input"
        else:
            node_type, config, output = node.type, node.config, final
            if node.type == "output" and config.get("format") == "ai_analysis":   # engine.ai.analysis
                config = {**config, "_workflow_ai": dict(self.wf.settings.get("ai") or {})}
        task = RunNode(id=next(_task_ids), run_id=self.run_id, workflow_id=self.wf.id, node_id=node_id,
                       node_type=node_type, title=node.title, config=config,
                       base_dir=str(self.base_dir), inputs=inputs, output_table=output,
                       timeout_s=node.timeout_s or self.wf.settings.get("node_timeout_s"),
                       isolated=isolated, params=dict(self.params),
                       payload=self.payload if node.type == validation.START else None)
        try:
            future = self.executor.submit(task)
        except DagfluxError as exc:   # e.g. a config the worker protocol cannot carry
            future = Future()
            future.set_result(NodeResult(node_id=node_id, status="failed",
                                         error=f"the node could not be sent to a worker: {exc}"))
        running[future] = node_id
        return future

    def _staged(self, node_id: str, result: NodeResult, running: dict[Future[NodeResult], str]) -> bool:
        """The input copy for ``node_id`` is done: run the node on it (True), or report why not."""
        if result.status != "succeeded" or result.table is None:
            result.error = f"reading its input from the database failed: {result.error}"
            return False
        source = next(t for t in self._input_tables(node_id) if t["connection"] is not None)
        self._submit(node_id, running, [{**source, "table": result.table, "records": result.records,
                                         "connection": None}], isolated=True)
        return True

    def _edge_active(self, edge) -> bool:
        source = self.nodes[edge.source]
        return source.status in DONE and (source.branch is None or source.branch == edge.source_port)

    def _input_tables(self, node_id: str) -> list[dict[str, Any]]:
        tables = []
        for edge in self._inputs[node_id]:
            source = self.nodes[edge.source]
            if source.table is not None:
                tables.append({"node_id": edge.source, "table": source.table, "records": source.records,
                               "connection": source.connection})
        return tables

    def _records_in(self, node_id: str) -> int | None:
        counts = [self.nodes[e.source].records for e in self._inputs[node_id]]
        counts = [c for c in counts if c is not None]
        return sum(counts) if counts else None

    def _record(self, node_id: str, result: NodeResult) -> None:
        state = self.nodes[node_id]
        state.table, state.branch, state.peak_rss_kib = result.table, result.branch, result.peak_rss_kib
        state.connection, state.warnings = result.connection, list(result.warnings)
        self._settle(state, result.status, records=result.records, duration_ms=result.duration_ms,
                     error=result.error)

    def _settle(self, state: NodeRun, status: str, records: int | None = None,
                duration_ms: float | None = None, error: str | None = None) -> None:
        attempts = all_attempts(state, status, duration_ms, error, waiting=state.id in self._retry_at)
        if len(attempts) > 1 and state.started_at is not None:   # the node's time spans its attempts
            duration_ms = round((time.time() - state.started_at) * 1000, 3)
        state.status, state.records, state.duration_ms, state.error = status, records, duration_ms, error
        self._to_check.update(self._successors[state.id])
        self._seq += 1
        table = state.table if status in DONE else None
        connection = state.connection if table else None
        row = NodeRow(state.id, state.type, state.title, status, state.started_at, duration_ms,
                      state.records_in, records, error, table, connection, list(state.warnings), attempts,
                      self._fingerprints.get(state.id),
                      state.settle_kept(self.run_id, status, workspace.table_name(self.wf.id, state.id),
                                        self.nodes.values()) if table else None)
        self._backlog.append((row, self._seq, NodeFinished(
            run_id=self.run_id, node_id=state.id, node_type=state.type, status=status,
            records=records, duration_ms=duration_ms, error=error, table=table, connection=connection,
            warnings=list(state.warnings), attempts=max(1, len(attempts)))))

    def _flush(self) -> None:
        """Write the node rows and events of nodes that ended since the last flush."""
        backlog, self._backlog = self._backlog, []
        for row, seq, event in backlog:
            if self.history is not None and row is not None:
                self.history.record_node(self.run_id, row, seq)
            self.on_event(event)

    def _stop_all(self, reason: str) -> None:
        futures = dict(self._running)
        self._running.clear()
        for future in futures:
            self.executor.cancel(future)
        for future, node_id in futures.items():
            result = future.result()
            status = "succeeded" if result.status == "succeeded" else "cancelled"
            self._record(node_id, result if status == "succeeded" else
                         NodeResult(node_id=node_id, status="cancelled", error=reason,
                                    duration_ms=result.duration_ms))
        for state in self.nodes.values():
            if state.status == "running":
                self._settle(state, "cancelled", error=reason)
        self._retry_at.clear()

    def _finish(self, started: float, status: str, error: str | None) -> RunResult:
        for state in self.nodes.values():
            if state.status == "queued":
                self._settle(state, "not_run")
        self._flush()
        ended = time.time()
        sinks = [s for s in self.nodes.values() if not self._successors[s.id] and s.records is not None]
        records = sum(s.records or 0 for s in sinks) if sinks else None
        if status != "succeeded":  # a worker may have been killed mid-write: remove what it left
            debris.clean_after_run(self.executor.workspace_path,
                                   [workspace.table_name(self.wf.id, n) for n in self.nodes])
        if self.history is not None:
            self.history.finish_run(self.run_id, status, ended, error, records)
        self.on_event(RunFinished(run_id=self.run_id, workflow_id=self.wf.id, status=status, error=error,
                                  duration_ms=round((ended - started) * 1000, 1)))
        return RunResult(self.run_id, self.wf.id, status, list(self.nodes.values()), started, ended,
                         error, records, dict(self.params))
