"""Run one task and turn whatever happens into a reply message.

Shared by the worker process and the inline executor, so both behave the same.
A handler's failure becomes a ``failed`` result whose error names the node and the
cause; nothing raised by a handler escapes (the worker must keep serving). Every
reply passes the task's scrubber: a secret resolved during the task never leaves.
"""

from __future__ import annotations

import resource
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import workspace
from engine.connectors.runtime import ConnectionRuntime
from engine.errors import DagfluxError
from engine.messages import NodeResult, OpResult, RunNode, RunOp
from engine.model.secret_placement import misplaced_secrets
from engine.plugin_api import InputTable, NodeContext
from engine.plugins import PluginRegistry
from engine.retry import is_transient
from engine.workspace import WriteLease


@dataclass
class WorkerState:
    """What a worker keeps between tasks: plugins, one workspace connection, pooled connectors."""

    registry: PluginRegistry
    conn: sqlite3.Connection | None
    lease: WriteLease
    workspace_path: Path
    runtime: ConnectionRuntime
    setup_error: str | None = None
    isolated: bool = False
    emit: Callable[[Any], None] | None = None   # sends an event ahead of the reply (streamed AI text)

    @classmethod
    def open(cls, registry: PluginRegistry, workspace_path: Path, connections_path: Path,
             isolated: bool = False) -> WorkerState:
        conn, error = None, None
        try:
            conn = workspace.connect(workspace_path)
        except DagfluxError as exc:
            error = str(exc)
        return cls(registry, conn, WriteLease(workspace_path), Path(workspace_path),
                   ConnectionRuntime(registry, connections_path), error, isolated)

    def close(self) -> None:
        self.runtime.close_all()
        if self.conn is not None:
            self.conn.close()
        self.lease.close()


def execute_task(task: RunNode, state: WorkerState) -> NodeResult:
    started = time.perf_counter()
    state.runtime.begin_task()
    label = task.title or task.node_id
    try:
        if state.setup_error:
            raise DagfluxError(state.setup_error)
        assert state.conn is not None
        node_type = state.registry.node_type(task.node_type)
        misplaced = misplaced_secrets(task.config, node_type.credential_fields(task.config))
        if misplaced:  # validation refuses these; a file that skipped validation is refused here
            raise DagfluxError(misplaced[0].message(f"'{label}'"))
        ctx = NodeContext(
            workflow_id=task.workflow_id, run_id=task.run_id, node_id=task.node_id,
            node_type=task.node_type, title=task.title, config=task.config,
            base_dir=Path(task.base_dir), output_table=task.output_table,
            inputs=[InputTable(i["node_id"], i["table"], i.get("records"), i.get("connection"))
                    for i in task.inputs],
            conn=state.conn, lease=state.lease, workspace_path=state.workspace_path,
            isolated=state.isolated, payload=task.payload, connections=state.runtime, params=task.params)
        out = node_type.execute(ctx)
    except Exception as exc:  # noqa: BLE001 - every failure becomes the node's (scrubbed) error
        return _failed(task, state, _describe(exc, f"node '{label}'"), started, is_transient(exc))
    scrub = state.runtime.scrubber.value
    return NodeResult(id=task.id, node_id=task.node_id, status="succeeded", table=out.table,
                      connection=out.connection, records=out.records, branch=out.branch,
                      info=scrub(dict(out.info)), warnings=[str(w) for w in scrub(list(out.warnings))],
                      duration_ms=_ms(started), peak_rss_kib=_peak_rss_kib())


def execute_op(op: RunOp, state: WorkerState) -> OpResult:
    from engine.workers.ops import run_op

    started = time.perf_counter()
    state.runtime.begin_task()
    try:
        value: Any = run_op(op, state)
    except Exception as exc:  # noqa: BLE001 - every failure becomes the reply's (scrubbed) error
        return OpResult(id=op.id, status="failed", error=state.runtime.scrubber.text(_describe(exc, op.op)),
                        duration_ms=_ms(started))
    return OpResult(id=op.id, status="succeeded", value=state.runtime.scrubber.value(value),
                    duration_ms=_ms(started))


def _describe(exc: BaseException, what: str) -> str:
    if isinstance(exc, DagfluxError):
        return str(exc)
    if isinstance(exc, sqlite3.Error):
        return f"SQL error in {what}: {exc}"
    if isinstance(exc, MemoryError):
        return f"{what} ran out of memory"
    return f"{what} failed unexpectedly: {type(exc).__name__}: {exc}"


def _failed(task: RunNode, state: WorkerState, error: str, started: float, transient: bool = False) -> NodeResult:
    return NodeResult(id=task.id, node_id=task.node_id, status="failed", error=state.runtime.scrubber.text(error),
                      duration_ms=_ms(started), peak_rss_kib=_peak_rss_kib(), transient=transient)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _peak_rss_kib() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
