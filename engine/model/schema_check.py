"""Settings and built-in node configurations checked against the workflow JSON Schema.

``engine/model/workflow.schema.json`` (``docs/workflow.schema.json`` links to it) is the one
description of the file format; :func:`schema_problems` validates a workflow against it
with ``jsonschema`` (draft 2020-12) and turns each violation into one sentence naming where
it is and what is wrong — ``node 'clean': config.path must be a string, got 123``,
``settings.node_timeout_s must be greater than 0, got -5`` — never a raw schema dump.

Missing required keys are left to the node types' own checks, which say what to fill in
(a half-finished node can be saved); node types that plugins provide are checked by their
plugin only (the schema describes the built-in ones).
"""

from __future__ import annotations

import collections
import functools
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).with_name("workflow.schema.json")
_SKIPPED = {"required", "if", "then", "else", "allOf"}


@dataclass(frozen=True)
class SchemaProblem:
    node_id: str | None   # the node the problem is in, None for workflow-level keys
    field: str            # path below the node (``config.path``) or the workflow (``settings.x``)
    message: str          # the sentence, without the node's name


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_schema())


@functools.lru_cache(maxsize=1)
def _node_validator() -> Any:
    """The schema of one node (``nodes`` items; no rule of the schema spans nodes)."""
    from jsonschema import Draft202012Validator

    schema = _schema()
    return Draft202012Validator({"$schema": schema["$schema"], "$defs": schema["$defs"],
                                 "$ref": "#/$defs/node"})


def schema_problems(doc: dict[str, Any]) -> list[SchemaProblem]:
    """Every schema violation in the workflow document ``doc`` (as ``fileformat.to_dict`` writes it).

    The workflow's own keys and each node are checked apart, each answered from a cache when
    seen before: an edit in the editor checks again only the node it changed (a 2,000-node
    workflow took about a second per edit, checked whole), and a triggered workflow is checked
    on every run. The problems come in the order one check of the whole document gives."""
    nodes = doc.get("nodes")
    if not isinstance(nodes, list):
        return list(_problems_of(json.dumps(doc, sort_keys=True, default=str)))
    found = list(_problems_of(json.dumps({**doc, "nodes": []}, sort_keys=True, default=str)))
    seen = {(p.node_id, p.field) for p in found}
    for i, node in enumerate(nodes):
        node_id = str(node.get("id")) if isinstance(node, dict) else None
        for field, sentence in _node_problems(json.dumps(node, sort_keys=True, default=str)):
            if node_id is None:                   # not an object: named by its place
                field, sentence = f"nodes[{i}]", sentence.replace("(the document)", f"nodes[{i}]", 1)
            if (node_id, field) not in seen:
                seen.add((node_id, field))
                found.append(SchemaProblem(node_id, field, sentence))
    return found


@functools.lru_cache(maxsize=128)
def _problems_of(text: str) -> tuple[SchemaProblem, ...]:
    """The problems of a whole document (its nodes, when it has any, are checked by the caller)."""
    doc = json.loads(text)
    found: dict[tuple[str | None, str], SchemaProblem] = {}
    for error in _leaves(_validator().iter_errors(doc)):
        path = list(error.absolute_path)
        if path and path[0] in ("edges", "id"):
            continue  # ids and edges are checked (and named) by the graph rules
        field = _dotted(path)
        key = (None, field)
        if key not in found:
            found[key] = SchemaProblem(None, field, _sentence(field, error))
    return tuple(found.values())


_NODE_CACHE_SIZE = 8192
_node_cache: collections.OrderedDict[bytes, tuple[tuple[str, str], ...]] = collections.OrderedDict()
_node_cache_lock = threading.Lock()


def _node_problems(text: str) -> tuple[tuple[str, str], ...]:
    """(field below the node, sentence) for each schema problem of one node (its JSON text).

    Cached by a digest of the text, not the text: a node can hold pages of SQL or code, and
    thousands of them are remembered."""
    key = hashlib.blake2b(text.encode("utf-8"), digest_size=20).digest()
    with _node_cache_lock:
        cached = _node_cache.get(key)
        if cached is not None:
            _node_cache.move_to_end(key)
            return cached
    found: dict[str, str] = {}
    for error in _leaves(_node_validator().iter_errors(json.loads(text))):
        path = list(error.absolute_path)
        if path == ["id"]:
            continue  # ids are checked (and named) by the graph rules
        field = _dotted(path)
        if field not in found:
            found[field] = _sentence(field, error)
    problems = tuple(found.items())
    with _node_cache_lock:
        _node_cache[key] = problems
        if len(_node_cache) > _NODE_CACHE_SIZE:
            _node_cache.popitem(last=False)
    return problems


def _leaves(errors: Iterator[Any]) -> Iterator[Any]:
    """The errors worth reporting: for a failed oneOf/anyOf the best-matching branch's."""
    from jsonschema.exceptions import best_match

    for error in errors:
        if error.validator in ("oneOf", "anyOf") and error.context:
            error = best_match(error.context)
        if error.validator in _SKIPPED:
            continue
        yield error


def _dotted(path: list[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(the document)"


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "…"


def _sentence(field: str, error: Any) -> str:
    kind, expected, value = error.validator, error.validator_value, error.instance
    if kind == "type":
        names = expected if isinstance(expected, list) else [expected]
        wanted = " or ".join({"integer": "a whole number", "number": "a number", "string": "a text",
                              "boolean": "true or false", "object": "an object", "array": "a list",
                              "null": "null"}.get(n, n) for n in names)
        return f"{field} must be {wanted}, got {_shown(value)}"
    if kind == "exclusiveMinimum":
        return f"{field} must be greater than {expected:g}, got {_shown(value)}"
    if kind in ("minimum", "maximum"):
        return f"{field} must be at {'least' if kind == 'minimum' else 'most'} {expected:g}, got {_shown(value)}"
    if kind == "enum":
        return f"{field} must be one of {', '.join(_shown(v) for v in expected)}, got {_shown(value)}"
    if kind == "const":
        return f"{field} must be {_shown(expected)}, got {_shown(value)}"
    if kind == "multipleOf":
        return f"{field} must be a multiple of {expected:g}, got {_shown(value)}"
    if kind == "minLength" and expected == 1:
        return f"{field} must not be empty"
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed)) if isinstance(value, dict) else []
        return (f"{field}: unknown key{'s' if len(extra) > 1 else ''} {', '.join(repr(k) for k in extra)}"
                + (f" (allowed: {', '.join(allowed)})" if allowed else ""))
    if kind == "pattern":
        hint = error.schema.get("description")
        return f"{field}: {_shown(value)} is not in the expected form" + (f" — {hint}" if hint else "")
    return f"{field}: {error.message}"
