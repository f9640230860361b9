"""Run from a node: which nodes must run, and which upstream results can be reused.

``dagflux run FILE --from NODE`` (and "Run from here" in the app) runs NODE and everything
downstream of it. Upstream of it, each node's last result is **reused** — not run again —
when nothing it depends on changed since that result was made. That is decided by a
**fingerprint**, a hash of:

* the node's type and config, and the run's parameter values;
* each input's fingerprint (so a change anywhere upstream reaches every node below it);
* for a node that reads a file (a ``path`` in its config): the file's size and
  modification time (``mtime_ns``).

A node is reused when the most recent time it succeeded (in any run) had the same
fingerprint, and its output table is still in the workspace with the row count that run
recorded. Otherwise it runs, and so does everything below it that the run needs. Never
reused: Start (it is free), Branch (it decides a route; it is cheap) and nodes whose
output lives in a database connection (its data there cannot be checked from here: it
runs again). A database Data Source's remote rows are not fingerprinted either: its
result is reused as of its last run, which is what "run from here" asks for.

Nodes neither upstream of NODE nor below it, and not needed by anything below it, do not
run (``not_run``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from engine import workspace
from engine.errors import DagfluxError, WorkspaceError
from engine.model import parameters
from engine.model.workflow import Workflow

NEVER_REUSED = frozenset({"start", "branch"})


def plan(wf: Workflow, from_node: str) -> tuple[set[str], set[str]]:
    """``(must_run, may_reuse)`` for a run from ``from_node``: the node and everything below
    it must run; what they need from above may be reused. Every other node does not run."""
    if not wf.has_node(from_node):
        raise DagfluxError(f"--from: workflow '{wf.id}' has no node '{from_node}'")
    below = _closure(from_node, lambda n: [e.target for e in wf.outputs_of(n)])
    needed: set[str] = set()
    for node_id in below:
        needed |= _closure(node_id, lambda n: [e.source for e in wf.inputs_of(n)])
    return below, needed - below


def _closure(start: str, step: Any) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in step(todo.pop()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def fingerprint(node_type: str, config: Mapping[str, Any], params: Mapping[str, Any],
                inputs: Iterable[tuple[str, str, str]], base_dir: Path) -> str:
    """The node's fingerprint; ``inputs`` are ``(source node, source port, its fingerprint)``."""
    parts: dict[str, Any] = {"type": node_type, "config": config, "params": dict(params),
                             "inputs": sorted(inputs)}
    path = config.get("path")
    if isinstance(path, str) and path and "connection" not in config:
        parts["file"] = _file_identity(parameters.fill_text(path, params), base_dir)
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _file_identity(path_text: str, base_dir: Path) -> list[Any]:
    path = Path(path_text).expanduser()
    path = path if path.is_absolute() else base_dir / path
    try:
        st = os.stat(path)
    except OSError as exc:
        return [str(path), type(exc).__name__]
    return [str(path), st.st_size, st.st_mtime_ns]


def last_standing(history: Any, wf: Workflow, node_id: str, fp: str, workspace_path: Path) -> dict[str, Any] | None:
    """The node's last success (from ``history``) when it can stand in for this run, else None."""
    if wf.node(node_id).type in NEVER_REUSED or history is None:
        return None
    last = history.last_success(wf.id, node_id)
    return last if reusable(last, fp, workspace_path) else None


def reusable(last: Mapping[str, Any] | None, fp: str, workspace_path: Path) -> bool:
    """Whether ``last`` (the node's most recent success, from the history) can stand for
    this run: same fingerprint, and its table still in the workspace with its row count."""
    if not last or last.get("fingerprint") != fp or last.get("output_connection"):
        return False
    table, records = last.get("output_table"), last.get("records_out")
    if not table or records is None:
        return False
    return _row_count(workspace_path, table) == records


def _row_count(workspace_path: Path, table: str) -> int | None:
    try:
        conn = workspace.connect(workspace_path, readonly=True)
    except WorkspaceError:
        return None
    with contextlib.closing(conn):
        try:
            return workspace.count_rows(conn, table)
        except sqlite3.Error:
            return None
