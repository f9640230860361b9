"""The workflow file format: versioned JSON that diffs cleanly in git.

Layout (current version, see ``docs/workflow-format.md`` and
``docs/workflow.schema.json``)::

    {
      "format": "dagflux-workflow",
      "version": 2,
      "id": "orders_report",
      "name": "…", "description": "…", "settings": {…}, "parameters": [{"name", "type", "default"}, …],
      "nodes": [ {"id", "type", "title", "position": [x, y], "config": {…}, …}, … ],
      "edges": [ {"from": "a", "to": "b"}, {"from": "check", "from_port": "true", "to": "c"} ]
    }

Guarantees: keys are written in a fixed order (config keys sorted), each node is one
block of lines, the file ends with a newline, saving is atomic. Reading an older
version migrates it step by step; a newer or unknown version is an
:class:`UnsupportedVersionError`. Malformed JSON is a :class:`WorkflowFileError`
with the file and ``line N, column M``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine import jsonlimits
from engine.atomic import atomic_write_text
from engine.errors import UnsupportedVersionError, WorkflowFileError
from engine.model.workflow import Edge, Node, Workflow

FORMAT_NAME = "dagflux-workflow"
CURRENT_VERSION = 2
Doc = dict[str, Any]


def _migrate_1_to_2(doc: Doc) -> Doc:
    """Version 1 (pre-release) had ``{"x", "y"}`` positions and edges as
    ``{"source", "target", "port"}``; version 2 uses ``[x, y]`` and
    ``{"from", "from_port", "to", "to_port"}``."""
    doc = dict(doc)
    nodes = []
    for node in _v1_list(doc, "nodes"):
        if isinstance(node, dict):
            node = dict(node)
            pos = node.get("position")
            if isinstance(pos, dict):
                node["position"] = [pos.get("x", 0), pos.get("y", 0)]
        nodes.append(node)
    edges = []
    for edge in _v1_list(doc, "edges"):
        if isinstance(edge, dict) and "source" in edge:
            new = {"from": edge.get("source"), "to": edge.get("target")}
            if edge.get("port"):
                new["from_port"] = edge["port"]
            edges.append(new)
        else:
            edges.append(edge)
    doc.update(nodes=nodes, edges=edges, version=2, format=FORMAT_NAME)
    return doc


def _v1_list(doc: Doc, key: str) -> list:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise WorkflowFileError(f"'{key}' must be a list")
    return value


MIGRATIONS: dict[int, Callable[[Doc], Doc]] = {1: _migrate_1_to_2}


def load(path: str | os.PathLike[str]) -> Workflow:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorkflowFileError(f"{path}: no such workflow file", str(path)) from None
    except UnicodeDecodeError as exc:
        raise WorkflowFileError(f"{path}: not UTF-8 text (byte {exc.start})", str(path)) from None
    except OSError as exc:
        raise WorkflowFileError(f"{path}: cannot read ({exc.strerror})", str(path)) from None
    return loads(text, source=str(path))


def loads(text: str, source: str = "<workflow>") -> Workflow:
    text = text.removeprefix("\ufeff")  # editors on Windows like to add a BOM
    if not text.strip():
        raise WorkflowFileError(f"{source}: the file is empty", source)
    try:
        doc = jsonlimits.loads(text)
    except jsonlimits.JsonTooDeep as exc:
        raise WorkflowFileError(f"{source}: the JSON is {exc}; a workflow never needs that", source) from None
    except json.JSONDecodeError as exc:
        raise WorkflowFileError(
            f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", source) from None
    return from_dict(doc, source)


def migrate(doc: Doc, source: str = "<workflow>") -> Doc:
    if not isinstance(doc, dict):
        raise WorkflowFileError(f"{source}: a workflow must be a JSON object, found {type(doc).__name__}",
                                source)
    fmt = doc.get("format", FORMAT_NAME)
    if fmt != FORMAT_NAME:
        raise WorkflowFileError(f"{source}: not a DagFlux workflow (format is {fmt!r})", source)
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UnsupportedVersionError(f"{source}: missing or non-integer 'version' (found {version!r})",
                                      source)
    if version > CURRENT_VERSION:
        raise UnsupportedVersionError(
            f"{source}: workflow format version {version} is newer than this DagFlux understands "
            f"(up to {CURRENT_VERSION}); upgrade DagFlux to open it", source)
    while version < CURRENT_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise UnsupportedVersionError(f"{source}: unknown workflow format version {version}", source)
        try:
            doc = step(doc)
        except WorkflowFileError as exc:
            raise WorkflowFileError(f"{source}: {exc} (while migrating from version {version})",
                                    source) from None
        version = doc["version"]
    return doc


def from_dict(doc: Doc, source: str = "<workflow>") -> Workflow:
    doc = migrate(doc, source)
    wf_id = doc.get("id")
    if not isinstance(wf_id, str) or not wf_id:
        raise WorkflowFileError(f"{source}: the workflow has no 'id'", source)
    nodes = [_node_from(n, i, source) for i, n in enumerate(_list(doc, "nodes", source))]
    seen: set[str] = set()
    for node in nodes:
        if node.id in seen:
            raise WorkflowFileError(f"{source}: two nodes have the id '{node.id}'", source)
        seen.add(node.id)
    edges = [_edge_from(e, i, source) for i, e in enumerate(_list(doc, "edges", source))]
    settings = doc.get("settings") or {}
    if not isinstance(settings, dict):
        raise WorkflowFileError(f"{source}: 'settings' must be an object", source)
    parameters = doc.get("parameters") or []
    if not isinstance(parameters, list):
        raise WorkflowFileError(f"{source}: 'parameters' must be a list of {{name, type, default}}", source)
    return Workflow(wf_id, str(doc.get("name") or wf_id), str(doc.get("description") or ""),
                    nodes, edges, settings, parameters)


def _list(doc: Doc, key: str, source: str) -> list:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise WorkflowFileError(f"{source}: '{key}' must be a list", source)
    return value


def _node_from(raw: Any, index: int, source: str) -> Node:
    where = f"{source}: node #{index + 1}"
    if not isinstance(raw, dict):
        raise WorkflowFileError(f"{where} must be an object", source)
    node_id, node_type = raw.get("id"), raw.get("type")
    if "id" in raw and not isinstance(node_id, str):
        raise WorkflowFileError(f"{where}: 'id' must be a text like \"clean_orders\", not {_json_kind(node_id)} "
                                f"{json.dumps(node_id)[:40]}", source)
    if not isinstance(node_id, str) or not node_id:
        raise WorkflowFileError(f"{where} has no 'id'", source)
    if not isinstance(node_type, str) or not node_type:
        raise WorkflowFileError(f"{where} ('{node_id}') has no 'type'", source)
    pos = raw.get("position", [0, 0])
    if (not isinstance(pos, list) or len(pos) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pos)):
        raise WorkflowFileError(f"{where} ('{node_id}'): 'position' must be [x, y] numbers", source)
    config = raw.get("config", {})
    if not isinstance(config, dict):
        raise WorkflowFileError(f"{where} ('{node_id}'): 'config' must be an object", source)
    timeout = raw.get("timeout_s")
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        raise WorkflowFileError(f"{where} ('{node_id}'): 'timeout_s' must be a positive number", source)
    retry = raw.get("retry")
    if retry is not None and not isinstance(retry, dict):
        raise WorkflowFileError(f"{where} ('{node_id}'): 'retry' must be an object like "
                                f'{{"count": 3, "delay_s": 2, "backoff": 2}}', source)
    ai = raw.get("ai")
    if ai is not None and not isinstance(ai, dict):
        raise WorkflowFileError(f"{where} ('{node_id}'): 'ai' must be an object (session, message_id, at, "
                                f"hash)", source)
    return Node(node_id, node_type, str(raw.get("title") or ""), (float(pos[0]), float(pos[1])),
                config, float(timeout) if timeout else None, bool(raw.get("pinned", False)), retry, ai)


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a true/false value"
    if isinstance(value, (int, float)):
        return "the number"
    return {dict: "an object", list: "a list", type(None): "null"}.get(type(value), type(value).__name__)


def _edge_from(raw: Any, index: int, source: str) -> Edge:
    where = f"{source}: edge #{index + 1}"
    if not isinstance(raw, dict) or not isinstance(raw.get("from"), str) or not isinstance(raw.get("to"), str):
        raise WorkflowFileError(f"{where} must be an object with 'from' and 'to' node ids", source)
    return Edge(raw["from"], raw["to"], str(raw.get("from_port") or "out"), str(raw.get("to_port") or "in"))


def to_dict(wf: Workflow) -> Doc:
    doc: Doc = {"format": FORMAT_NAME, "version": CURRENT_VERSION, "id": wf.id, "name": wf.name,
                "description": wf.description}
    if wf.settings:
        doc["settings"] = _sorted(wf.settings)
    if wf.parameters:
        doc["parameters"] = [_sorted(p) for p in wf.parameters]   # declaration order kept
    doc["nodes"] = [node_to_dict(n) for n in wf.nodes]
    doc["edges"] = [edge_to_dict(e) for e in wf.edges]
    return doc


def node_to_dict(node: Node) -> Doc:
    out: Doc = {"id": node.id, "type": node.type, "title": node.title,
                "position": [_num(node.position[0]), _num(node.position[1])]}
    if node.timeout_s:
        out["timeout_s"] = _num(node.timeout_s)
    if node.pinned:
        out["pinned"] = True
    if node.retry:
        out["retry"] = _sorted(node.retry)
    out["config"] = _sorted(node.config)
    if node.ai:
        out["ai"] = _sorted(node.ai)
    return out


def edge_to_dict(edge: Edge) -> Doc:
    out: Doc = {"from": edge.source}
    if edge.source_port != "out":
        out["from_port"] = edge.source_port
    out["to"] = edge.target
    if edge.target_port != "in":
        out["to_port"] = edge.target_port
    return out


def dumps(wf: Workflow) -> str:
    """Serialise with two-space indentation: every node is its own block of lines
    and the key order never depends on edit history."""
    return json.dumps(to_dict(wf), indent=2, ensure_ascii=False) + "\n"


def save(wf: Workflow, path: str | os.PathLike[str]) -> None:
    atomic_write_text(path, dumps(wf))


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else round(float(v), 3)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value
