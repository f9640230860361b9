"""Where a node's operation came from: the ``ai`` block beside its config.

Accepting an AI proposal writes ordinary config (SQL, code, a condition, a fetch spec) and
stamps the node with ``ai = {session, message_id, at, hash, connection, model}``. Runs never
read it and never call the AI. ``hash`` is the SHA-256 of the node's *operation fields*
(:data:`OPERATION_FIELDS`, canonical JSON) as accepted, so :func:`state` can tell
``generated`` (unchanged since) from ``edited`` (someone changed the operation after it was
generated); a node without the block is ``None`` (written by hand).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

OPERATION_FIELDS = {
    "transformer": ("language", "mode", "sql", "code"),
    "join": ("sql", "joins", "columns"),
    "branch": ("condition",),
    "data_source": ("path", "method", "params", "headers", "body", "records_path", "pagination", "max_pages",
                    "max_records"),
}


def operation_hash(node_type: str, config: Mapping[str, Any]) -> str:
    fields = OPERATION_FIELDS.get(node_type, tuple(sorted(config)))
    picked = {k: config[k] for k in fields if k in config and k != "description"}
    text = json.dumps(picked, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def stamp(node_type: str, config: Mapping[str, Any], session: str | None, message_id: str,
          connection: str | None = None, model: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"session": session, "message_id": message_id,
                           "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "hash": operation_hash(node_type, config)}
    if connection:
        out["connection"] = connection
    if model:
        out["model"] = model
    return out


def state(node_type: str, config: Mapping[str, Any], ai: Mapping[str, Any] | None) -> str | None:
    """``generated``, ``edited`` (since generation) or None (no AI provenance)."""
    if not ai:
        return None
    return "generated" if ai.get("hash") == operation_hash(node_type, config) else "edited"
