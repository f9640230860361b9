"""The engine's side of the node panels: what a preview, a "try on sample" or a table
page needs to know before it runs in a worker (:mod:`engine.workers.preview_ops`).

* Relative paths resolve against the workflow's folder, as in a run
  (:meth:`~engine.service.store.WorkflowStore.base_dir`); without a saved workflow, the
  workflows folder.
* A node's inputs are its upstream nodes (given by the editor, which holds the graph
  truth while editing, or read from the saved workflow). Each input's table is where its
  last successful run left it — from the execution log, so pass-through nodes (Branch,
  in-place Transformer, a Data Source reading in place) resolve to the table they passed
  on — or else the conventional ``<workflow>__<node>``. An input that never ran comes with
  a plan to compute it on a sample (:mod:`engine.service.sample_plan`), so "try on sample"
  and the inputs' columns work before the first run.
* An unknown connection fails here, before a worker is asked. Secrets are resolved only
  in the worker; replies are scrubbed there.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine import workspace
from engine.errors import DagfluxError
from engine.messages import OpResult, RunOp
from engine.model import fileformat, parameters
from engine.model.workflow import Workflow
from engine.service import sample_plan

_op_ids = itertools.count(2_000_000)
HISTORY_RUNS_SEARCHED = 20
PYTHON_TRY_TIMEOUT_S = 120.0
SAMPLE_ROWS = 1000


class NodePanelService:
    def __init__(self, store: Any, history: Any, executor: Any, connections: Any) -> None:
        self.store, self.history, self.executor, self.connections = store, history, executor, connections

    # --- calls ---------------------------------------------------------------------------
    def preview(self, workflow_id: str | None, node: Mapping[str, Any], limit: int = 5) -> dict[str, Any]:
        config = _config(node)
        if config.get("source") in ("connection", "rest", "storage"):
            self._check_connection(config.get("connection"))
        return self._run("nodes.preview", f"preview of '{_label(node)}'", base_dir=self._base_dir(workflow_id),
                         config=config, limit=limit)

    def sheets(self, workflow_id: str | None, path: str) -> list[str]:
        return self._run("nodes.sheets", "sheet list", base_dir=self._base_dir(workflow_id), path=path)

    def try_sample(self, workflow_id: str, node: Mapping[str, Any], limit: int = 5,
                   inputs: Sequence[str] | None = None, sample: int = 1000,
                   workflow: Mapping[str, Any] | None = None) -> dict[str, Any]:
        node_id = str(node.get("id") or "")
        wf = self._workflow(workflow_id, workflow)
        if inputs is None:
            inputs = [e.source for e in wf.inputs_of(node_id)] if wf is not None and wf.has_node(node_id) else []
        params = self._default_params(workflow_id, wf)
        config = _config(node)
        sampled = self.sampled_inputs(workflow_id, wf, list(inputs), params, sample)
        python = config.get("language") == "python" or any(
            s["config"].get("language") == "python" for i in sampled for s in i.get("plan", {}).get("steps", []))
        return self._run("nodes.try", f"try of '{_label(node)}'", isolated=python,
                         timeout=PYTHON_TRY_TIMEOUT_S if python else 60.0,
                         workflow_id=workflow_id, base_dir=self._base_dir(workflow_id), node=dict(node),
                         inputs=sampled, limit=limit, sample=sample, params=params)

    def input_columns(self, workflow_id: str, node_id: str, inputs: Sequence[str] | None = None,
                      workflow: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Each input's columns — from its last run's table, or computed on a sample."""
        wf = self._workflow(workflow_id, workflow)
        if inputs is None:
            inputs = [e.source for e in wf.inputs_of(node_id)] if wf is not None and wf.has_node(node_id) else []
        params = self._default_params(workflow_id, wf)
        sampled = self.sampled_inputs(workflow_id, wf, list(inputs), params, SAMPLE_ROWS)
        python = any(s["config"].get("language") == "python" for i in sampled
                     for s in i.get("plan", {}).get("steps", []))
        return self._run("nodes.input_columns", f"columns of the inputs of '{node_id}'", isolated=python,
                         timeout=PYTHON_TRY_TIMEOUT_S if python else 60.0, workflow_id=workflow_id,
                         base_dir=self._base_dir(workflow_id), inputs=sampled, params=params, label=node_id)

    def sampled_inputs(self, workflow_id: str, wf: Workflow | None, input_ids: list[str],
                       params: Mapping[str, Any] | None = None, sample: int = SAMPLE_ROWS) -> list[dict[str, Any]]:
        """:meth:`input_tables`, with a plan (:mod:`engine.service.sample_plan`) for each input
        that never ran, so a worker can compute it on a sample when its table is missing (the
        AI assistant's context and verification use this too)."""
        tables = self.input_tables(workflow_id, input_ids)
        ran = set(self._last_outputs(workflow_id, set(input_ids)))
        if wf is None:
            return tables
        params = self._default_params(workflow_id, wf) if params is None else params
        base_dir = self._base_dir(workflow_id)
        for item in tables:
            if item["node_id"] not in ran and wf.has_node(item["node_id"]):
                plan = sample_plan.plan_for(wf, item["node_id"], params, Path(base_dir),
                                            min(sample, sample_plan.SOURCE_SAMPLE_MAX))
                item["plan"] = {**plan, "workflow_id": workflow_id, "base_dir": base_dir, "params": dict(params)}
        return tables

    def _workflow(self, workflow_id: str, given: Mapping[str, Any] | None) -> Workflow | None:
        """The editor's copy of the workflow when it sent one (it may be ahead of the file)."""
        if given is not None:
            if not isinstance(given, Mapping):
                raise DagfluxError("'workflow' must be a workflow document (an object)")
            return fileformat.from_dict(dict(given), f"workflow '{workflow_id}' from the editor")
        try:
            return self.store.load(workflow_id)
        except DagfluxError:
            return None

    def _default_params(self, workflow_id: str, wf: Workflow | None = None) -> dict[str, Any]:
        """A try binds the workflow's parameter defaults (one without a default has no value)."""
        try:
            return parameters.resolve((wf or self.store.load(workflow_id)).parameters, None)
        except DagfluxError:
            return {}

    def page(self, table: str, connection: str | None = None, offset: int = 0, limit: int = 100,
             order_by: str | None = None, descending: bool = False, search: str | None = None) -> dict[str, Any]:
        if connection:
            self._check_connection(connection)
        return self._run("tables.page", f"page of '{table}'", table=table, connection=connection or None,
                         offset=offset, limit=limit, order_by=order_by or None, descending=bool(descending),
                         search=search or None)

    # --- resolution ----------------------------------------------------------------------
    def input_tables(self, workflow_id: str, input_ids: list[str]) -> list[dict[str, Any]]:
        """Where each input's last successful run left its table (see the module doc)."""
        found = self._last_outputs(workflow_id, set(input_ids))
        return [{"node_id": node_id, "table": found.get(node_id, (workspace.table_name(workflow_id, node_id),
                                                                  None))[0],
                 "connection": found.get(node_id, (None, None))[1]} for node_id in input_ids]

    def _last_outputs(self, workflow_id: str, wanted: set[str]) -> dict[str, tuple[str, str | None]]:
        found: dict[str, tuple[str, str | None]] = {}
        for run in self.history.list_runs(limit=HISTORY_RUNS_SEARCHED, workflow_id=workflow_id):
            if not wanted - set(found):
                break
            for row in self.history.get_run(run["run_id"]).get("nodes", []):
                node_id = row.get("node_id")
                if (node_id in wanted and node_id not in found and row.get("status") == "succeeded"
                        and row.get("output_table")):
                    found[node_id] = (row["output_table"], row.get("output_connection"))
        return found

    def _base_dir(self, workflow_id: str | None) -> str:
        if not workflow_id:
            return str(self.store.folder)
        return str(Path(self.store.base_dir(self.store.load(workflow_id))))

    def _check_connection(self, connection: Any) -> None:
        if not connection:
            raise DagfluxError("choose a connection first")
        self.connections.store.get(str(connection))    # "no connection 'x'" before any worker

    def _run(self, op: str, title: str, timeout: float = 60.0, isolated: bool = False, **params: Any) -> Any:
        future = self.executor.submit(RunOp(id=next(_op_ids), op=op, params=params, timeout_s=timeout,
                                            isolated=isolated, title=title,
                                            connections=str(self.connections.path)))
        reply: OpResult = future.result()
        if reply.status != "succeeded":
            raise DagfluxError(reply.error or f"{title} failed")
        return reply.value


def _config(node: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(node, Mapping):
        raise DagfluxError("'node' must be an object with 'id', 'type' and 'config'")
    config = node.get("config") or {}
    if not isinstance(config, Mapping):
        raise DagfluxError("a node's 'config' must be an object")
    return dict(config)


def _label(node: Mapping[str, Any]) -> str:
    return str(node.get("title") or node.get("id") or "node")
