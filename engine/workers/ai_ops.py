"""Worker operations of the per-node assistant and the ``ai_analysis`` output.

* ``ai.assist_round`` — read the node's inputs (schema, count, sample under the workflow's
  privacy settings: :mod:`engine.ai.context`), build the prompt (:mod:`engine.ai.prompts`),
  call the AI connection and return the whole reply.
* ``ai.complete`` — one call with messages the engine made from no data of its own (the
  workflow-from-a-request prompt), returning the whole reply.

Only here is the AI key resolved (the connection runtime registers it with the task's
scrubber, so no reply, error or log carries it). The reply streams from the provider and is
collected; a failed call raises with the provider's error kind in its message.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from engine.ai.context import Privacy, read_inputs
from engine.ai.prompts import assist_messages
from engine.ai.provider import AiError, AiProvider, collect
from engine.errors import DagfluxError
from engine.messages_ai import AiDelta
from engine.workers.sample_inputs import local_inputs


def provider_of(runtime: Any, connection: str) -> AiProvider:
    """The AI connection built in this worker by its connection runtime (the key resolved)."""
    provider = runtime.connector(connection)
    if not isinstance(provider, AiProvider):
        raise DagfluxError(f"connection '{connection}' is a {provider.label} connection, not an AI provider "
                           f"(add one with `dagflux connections add openai …`)")
    return provider


def call_model(provider: AiProvider, messages: Sequence[Mapping[str, str]], model: str | None,
               options: Mapping[str, Any] | None, emit: Callable[[Any], None] | None = None,
               stream: str | None = None, scrub: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The whole reply; with ``emit`` and ``stream`` each piece of text also goes out as it
    comes, as an :class:`AiDelta` whose ``call_id`` is ``stream`` (scrubbed like the reply)."""
    started = time.perf_counter()

    async def relayed() -> AsyncIterator[Any]:
        async for event in provider.stream_chat(messages, model or None, options):
            if event.kind == "delta" and emit is not None and stream:
                emit(AiDelta(call_id=stream, text=scrub(event.text) if scrub is not None else event.text))
            yield event

    try:
        text, usage = asyncio.run(collect(relayed()))
    except AiError as exc:
        raise DagfluxError(f"the AI call failed ({exc.kind}): {exc}") from None
    return {"text": text, "usage": usage, "provider": provider.type_name,
            "model": model or provider.default_model(), "duration_ms": round((time.perf_counter() - started) * 1000, 1)}


def assist_round(state: Any, connection: str, kind: str, dialect: str, node: Mapping[str, Any], request: str,
                 inputs: Sequence[Mapping[str, Any]], settings: Mapping[str, Any] | None = None,
                 current: Any = None, last_error: str | None = None,
                 history: Sequence[Mapping[str, str]] = (), model: str | None = None,
                 options: Mapping[str, Any] | None = None, stream: str | None = None) -> dict[str, Any]:
    privacy = Privacy.from_settings(settings)
    with contextlib.ExitStack() as stack:     # inputs that never ran: computed on a sample (sample_inputs)
        views = read_inputs(state, local_inputs(state, stack, inputs, str(node.get("title") or node.get("id"))),
                            privacy) if kind != "rest" else []
    rest_info = _rest_info(state, node) if kind == "rest" else None
    messages = assist_messages(kind, dialect, node, request, views, privacy.schema_only, current, last_error,
                               rest_info, history)
    emit = getattr(state, "emit", None) if stream else None
    reply = call_model(provider_of(state.runtime, connection), messages, model, options, emit, stream,
                       state.runtime.scrubber.text)
    reply["sample_rows_sent"] = sum(len(v.rows) for v in views)
    return reply


def complete(state: Any, connection: str, messages: Sequence[Mapping[str, str]], model: str | None = None,
             options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return call_model(provider_of(state.runtime, connection), messages, model, options)


def _rest_info(state: Any, node: Mapping[str, Any]) -> dict[str, Any]:
    """The REST connection as the model may see it: its name and base URL (when that is not a
    secret field), never a credential."""
    connection = str((node.get("config") or {}).get("connection") or "")
    if not connection:
        raise DagfluxError("choose the REST connection of this Data Source first")
    from engine.connectors.store import load_connections

    meta = load_connections(state.runtime.path).get(connection)
    if meta is None:
        raise DagfluxError(f"no connection '{connection}'")
    settings = meta.get("settings") or {}
    info = {"connection": connection, "type": meta.get("type")}
    if "base_url" in settings and "base_url" not in (meta.get("secret_fields") or []):
        info["base_url"] = settings["base_url"]
    return info


OPS = {"ai.assist_round": assist_round, "ai.complete": complete}
