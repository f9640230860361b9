"""Short worker tasks that are not nodes: connection tests, catalogs, samples.

They run in a worker because they need the connection's secrets, which only
workers resolve; their replies are scrubbed like every other reply.
"""

from __future__ import annotations

from typing import Any

from engine.ai.worker_ops import OPS as AI_OPS
from engine.connectors.local import _to_storable
from engine.errors import DagfluxError
from engine.messages import RunOp
from engine.workers.ai_ops import OPS as AI_ASSIST_OPS
from engine.workers.preview_ops import OPS as PREVIEW_OPS
from engine.workers.sample_inputs import OPS as SAMPLE_INPUT_OPS


def run_op(op: RunOp, state: Any) -> Any:
    handler = _OPS.get(op.op)
    if handler is None:
        raise DagfluxError(f"unknown worker operation '{op.op}'")
    return handler(state, **op.params)


def _test(state: Any, connection: str) -> dict[str, Any]:
    # A test must prove the credentials work now: a pooled session opened earlier would
    # still answer after the server changed the password.
    state.runtime.forget(connection)
    connector = state.runtime.connector(connection)
    return {"ok": True, "detail": connector.test()}


def _objects(state: Any, connection: str) -> list[str]:
    return state.runtime.connector(connection).list_objects()


def _fields(state: Any, connection: str, object: str) -> list[list[str]]:
    return [[name, kind] for name, kind in state.runtime.connector(connection).list_fields(object)]


def _sample(state: Any, connection: str, object: str, limit: int = 5) -> dict[str, Any]:
    connector = state.runtime.connector(connection)
    names, rows = connector.sample(object, int(limit))
    return {"columns": names, "types": [[n, t] for n, t in connector.list_fields(object)] if connector.relational
            else [], "rows": [[_to_storable(v) for v in row] for row in rows]}


_OPS = {"connection.test": _test, "connection.objects": _objects, "connection.fields": _fields,
        "connection.sample": _sample, **PREVIEW_OPS, **SAMPLE_INPUT_OPS, **AI_OPS, **AI_ASSIST_OPS}
