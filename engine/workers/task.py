"""Run one node task and turn whatever happens into a :class:`NodeResult`.

Shared by the worker process and the inline executor, so both behave the same.
A handler's failure becomes a ``failed`` result whose error names the node and
the cause; nothing raised by a handler escapes (the worker must keep serving).
"""

from __future__ import annotations

import resource
import sqlite3
import time
from pathlib import Path

from engine.errors import DagfluxError
from engine.messages import NodeResult, RunNode
from engine.plugin_api import InputTable, NodeContext
from engine.plugins import PluginRegistry
from engine.workspace import WriteLease


def execute_task(task: RunNode, registry: PluginRegistry, conn: sqlite3.Connection | None,
                 lease: WriteLease, workspace_path: Path,
                 setup_error: str | None = None, isolated: bool = False) -> NodeResult:
    started = time.perf_counter()
    label = task.title or task.node_id
    try:
        if setup_error:
            raise DagfluxError(setup_error)
        assert conn is not None
        node_type = registry.node_type(task.node_type)
        ctx = NodeContext(
            workflow_id=task.workflow_id, run_id=task.run_id, node_id=task.node_id,
            node_type=task.node_type, title=task.title, config=task.config,
            base_dir=Path(task.base_dir), output_table=task.output_table,
            inputs=[InputTable(i["node_id"], i["table"], i.get("records")) for i in task.inputs],
            conn=conn, lease=lease, workspace_path=workspace_path, isolated=isolated,
            payload=task.payload)
        out = node_type.execute(ctx)
    except DagfluxError as exc:
        return _failed(task, str(exc), started)
    except sqlite3.Error as exc:
        return _failed(task, f"SQL error in node '{label}': {exc}", started)
    except MemoryError:
        return _failed(task, f"node '{label}' ran out of memory", started)
    except Exception as exc:  # noqa: BLE001 - a handler bug must fail the node, not the worker
        return _failed(task, f"node '{label}' failed unexpectedly: {type(exc).__name__}: {exc}", started)
    return NodeResult(id=task.id, node_id=task.node_id, status="succeeded", table=out.table,
                      records=out.records, branch=out.branch, info=dict(out.info),
                      duration_ms=_ms(started), peak_rss_kib=_peak_rss_kib())


def _failed(task: RunNode, error: str, started: float) -> NodeResult:
    return NodeResult(id=task.id, node_id=task.node_id, status="failed", error=error,
                      duration_ms=_ms(started), peak_rss_kib=_peak_rss_kib())


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _peak_rss_kib() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
