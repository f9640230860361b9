"""A whole workflow from a request: ``ai.propose_workflow(request)``.

The model is told the node types and their main settings and asked for one JSON object
``{"name", "nodes": [{"id", "type", "title", "config"}], "edges": [{"from", "to",
"from_port"?}], "explanation"}``. The reply is read into a workflow document (positions laid
out left to right), loaded by the file format and checked by the workflow model's own
validation (:func:`engine.model.validation.validate`, the one a run uses). A proposal with
problems is sent back once with every problem listed; if the repair still has problems the
result is ``status: invalid`` with them — never ``valid``. The call runs in a worker
(``ai.complete``); its prompt holds the request and the node catalog, no data and no secret.
Nothing is saved: the app applies a valid proposal as one undoable step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from engine.ai.proposal import _objects
from engine.errors import DagfluxError, WorkflowFileError
from engine.model import fileformat
from engine.model.validation import validate

REPAIRS = 1
CATALOG = """Node types and their config:
- start: exactly one, no inputs; {"trigger": {"kind": "manual"}} (or interval/daily/weekly/monthly/cron).
- data_source: {"source": "file", "path": "data/orders.csv"} (csv, json, jsonl, excel, parquet, sqlite) or
  {"source": "workspace", "table": "<name>"}; one input edge from start.
- transformer: {"language": "sql", "mode": "new_table", "sql": "SELECT … FROM {{ input }}"}; one input.
- join: {"sql": "SELECT … FROM {{ input.<node id> }} JOIN {{ input.<other id> }} ON …"}; two or more inputs.
- branch: {"condition": "count(*) > 0"}; one input; outgoing edges use "from_port": "true" or "false".
- output: {"path": "out/result.csv"} (csv, json, xlsx, parquet, sqlite); one input, no outgoing edge.
Node ids are lower-case snake_case. Edges: {"from": "<node id>", "to": "<node id>"}."""
SYSTEM = ("You design DagFlux workflows: a directed acyclic graph of nodes whose data flows as tables. "
          + CATALOG + '\nReply with only one JSON object: {"name": "…", "nodes": […], "edges": […], '
          '"explanation": "<one short paragraph>"}.')


def propose_workflow(assistant: Any, request: str, connection: str | None = None, model: str | None = None,
                     options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    if not str(request or "").strip():
        raise DagfluxError("say what the workflow should do (the request is empty)")
    connection = assistant.connection(None, connection)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": request.strip()}]
    attempts: list[dict[str, Any]] = []
    for _ in range(1 + REPAIRS):
        reply = assistant.op("ai.complete", "AI workflow proposal", timeout=300.0, connection=connection,
                             messages=messages, model=model, options={"max_tokens": 2048, "temperature": 0,
                                                                       **(options or {})})
        doc, explanation, problems = read_proposal(reply["text"], request, assistant.types())
        attempts.append({"reply": reply["text"], "problems": problems})
        if not problems:
            return {"status": "valid", "workflow": doc, "explanation": explanation, "attempts": attempts,
                    "model": reply.get("model"), "connection": connection}
        messages += [{"role": "assistant", "content": reply["text"]},
                     {"role": "user", "content": "That workflow is not valid:\n- " + "\n- ".join(problems)
                      + "\nReply with the corrected workflow, as the same single JSON object."}]
    return {"status": "invalid", "workflow": doc, "problems": problems, "attempts": attempts,
            "connection": connection}


def read_proposal(text: str, request: str, types: Mapping[str, Any]) -> tuple[dict | None, str, list[str]]:
    """(workflow document, explanation, problems) — problems empty only for a valid workflow."""
    raw = next((d for d in (_json(c) for c in _objects(text)) if isinstance(d, dict) and "nodes" in d), None)
    if raw is None:
        return None, "", ["the reply has no JSON object with \"nodes\" and \"edges\""]
    name = str(raw.get("name") or request.strip()[:60])
    doc = {"format": fileformat.FORMAT_NAME, "version": fileformat.CURRENT_VERSION, "id": _slug(name),
           "name": name, "description": request.strip(), "nodes": raw.get("nodes"), "edges": raw.get("edges") or []}
    try:
        wf = fileformat.from_dict(doc, "<proposed workflow>")
    except WorkflowFileError as exc:
        return doc, "", [str(exc)]
    _layout(wf)
    problems = [str(p) for p in validate(wf, types)]
    return fileformat.to_dict(wf), str(raw.get("explanation") or ""), problems


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    slug = re.sub(r"^[^a-z]+", "", slug)[:40].strip("_")
    return slug or "proposed_workflow"


def _layout(wf: Any) -> None:
    """Columns by longest path from the sources, rows in file order (the app can re-layout)."""
    depth: dict[str, int] = {}
    for _ in range(len(wf.nodes)):
        for node in wf.nodes:
            ups = [depth.get(e.source, 0) + 1 for e in wf.inputs_of(node.id)]
            depth[node.id] = max(ups, default=0)
    rows: dict[int, int] = {}
    for node in wf.nodes:
        col = depth.get(node.id, 0)
        node.position = (col * 220.0, rows.get(col, 0) * 120.0)
        rows[col] = rows.get(col, 0) + 1
