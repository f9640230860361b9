"""Where a tried node's inputs come from, and their columns for the node panels.

An input whose table is in the workspace (its last run's result) is used as it is. An input
that has no table yet but comes with a plan (:mod:`engine.service.sample_plan`) is computed
on a sample into the sample cache (:mod:`engine.workers.sample_cache`). Anything else is the
clear error it always was. Each input says how it was obtained (``how``: ``last run``,
``sample`` or ``cached``, and a sentence for the panel).

``nodes.input_columns`` answers the same question with only the columns — what the
Transformer's SQL editor suggests and Join's column pickers list.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine import workspace
from engine.errors import DagfluxError
from engine.workers import sample_cache


@dataclass
class How:
    how: str      # "last run" | "sample" | "cached"
    note: str


def obtain_inputs(state: Any, stack: contextlib.ExitStack, workflow_id: str, base_dir: str,
                  inputs: Sequence[Mapping[str, Any]], params: Mapping[str, Any] | None,
                  label: str) -> list[tuple[sqlite3.Connection, str, How]]:
    """``(connection holding it, table, how)`` per input, in order."""
    found: list[tuple[sqlite3.Connection, str, How]] = []
    cache: sample_cache.SampleCache | None = None
    for item in inputs:
        node_id, table = str(item["node_id"]), str(item["table"])
        if state.conn is not None and workspace.table_exists(state.conn, table):
            found.append((state.conn, table, How("last run", "its output table from the last run")))
            continue
        if not item.get("plan"):
            raise DagfluxError(f"input '{node_id}' has no output table yet — run the workflow once first, "
                               f"then try again")
        if cache is None:
            cache = stack.enter_context(sample_cache.SampleCache(sample_cache.cache_path(state)))
        computed = sample_cache.compute(state, cache, workflow_id, base_dir, item["plan"], params, label)
        note = computed.note + (" (re-used: nothing above it changed)" if computed.cached else "")
        found.append((cache.conn, computed.table, How("cached" if computed.cached else "sample", note)))
    return found


def local_inputs(state: Any, stack: contextlib.ExitStack, inputs: Sequence[Mapping[str, Any]],
                 label: str) -> list[dict[str, Any]]:
    """``inputs`` with each one that never ran computed on a sample: ``local_table`` names its
    cache table and ``local`` holds the cache connection (in this worker only). Inputs in a
    database connection, and those with a table in the workspace, stay as they are."""
    out = []
    for item in inputs:
        plan = item.get("plan")
        if item.get("connection") or not plan or (state.conn is not None
                                                  and workspace.table_exists(state.conn, str(item["table"]))):
            out.append(dict(item))
            continue
        (conn, table, how), = obtain_inputs(state, stack, str(plan.get("workflow_id") or ""),
                                            str(plan.get("base_dir") or "."), [item], plan.get("params"), label)
        out.append({**item, "local_table": table, "local": conn, "note": how.note})
    return out


def provenance_line(inputs: Sequence[Mapping[str, Any]], count: int) -> str:
    """One line for the panel: "Input: computed from a 1,000-row sample of Orders (CSV)"."""
    if count == 1:
        return f"Input: {inputs[0]['note']}"
    return "Inputs: " + "; ".join(f"{i['node_id']} {i['note']}" for i in inputs)


def input_columns(state: Any, workflow_id: str, base_dir: str, inputs: Sequence[Mapping[str, Any]],
                  params: Mapping[str, Any] | None = None, label: str = "node") -> list[dict[str, Any]]:
    """Per input: ``{node_id, columns: [[name, type], ...], how, note}``; an input that cannot be
    had carries ``error`` instead of columns (one failing input leaves the others listed)."""
    out: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        for item in inputs:
            node_id = str(item["node_id"])
            try:
                if item.get("connection"):
                    db = state.runtime.connector(str(item["connection"]))
                    out.append({"node_id": node_id, "columns": [[n, t or ""] for n, t in
                                                                db.list_fields(str(item["table"]))],
                                "how": "last run", "note": f"its table in connection '{db.name}'"})
                    continue
                (conn, table, how), = obtain_inputs(state, stack, workflow_id, base_dir, [item], params, label)
                columns = [[n, t or ""] for n, t in workspace.columns(conn, table)]
            except DagfluxError as exc:
                out.append({"node_id": node_id, "columns": [], "error": str(exc)})
                continue
            out.append({"node_id": node_id, "columns": columns, "how": how.how, "note": how.note})
    return out


OPS = {"nodes.input_columns": input_columns}
