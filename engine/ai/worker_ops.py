"""The AI call as a worker operation (``ai.chat``): the only place an AI key is resolved.

The engine sends the connection id, the provider-neutral messages, the model and the
options — never a key. The worker reads the connection's metadata, resolves its key
from the keychain at this moment (a pooled provider is dropped first, so a key is
never kept between calls), refuses a prompt that carries a secret reference (secrets
are valid only in credential fields), and streams the reply: each piece of text goes
back at once as an :class:`~engine.messages_ai.AiDelta` (scrubbed), then the operation's
reply carries the whole text, the usage and the timing. A provider failure is part of
that reply (``error``, ``error_kind``, and the text that arrived before it), not an
exception: a dropped stream keeps what the user already saw.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from engine.ai.provider import AiProvider
from engine.errors import DagfluxError
from engine.messages_ai import AiDelta
from engine.model.secret_placement import RULE, secret_references


def chat(state: Any, call_id: str, connection: str, messages: list, model: str | None = None,
         options: dict | None = None) -> dict[str, Any]:
    for where, ref in secret_references(messages, "messages"):
        raise DagfluxError(f"AI call: {where}: {RULE} — a prompt cannot carry {ref.text}")
    state.runtime.forget(connection)
    provider = state.runtime.connector(connection)
    if not isinstance(provider, AiProvider):
        raise DagfluxError(f"connection '{connection}' is a {type(provider).type_name} connection, not an AI "
                           "provider (see `dagflux connections types`)")
    scrub = state.runtime.scrubber.text
    emit = state.emit
    try:
        return asyncio.run(_stream(provider, call_id, messages, model, options or {}, scrub, emit))
    finally:
        state.runtime.forget(connection)


async def _stream(provider: AiProvider, call_id: str, messages: list, model: str | None, options: dict,
                  scrub: Any, emit: Any) -> dict[str, Any]:
    started = time.perf_counter()
    out: dict[str, Any] = {"provider": provider.type_name, "model": model or provider.default_model(),
                           "ttft_ms": None}
    parts: list[str] = []
    async for event in provider.stream_chat(messages, model, options):
        if event.kind == "delta":
            text = scrub(event.text)
            if out["ttft_ms"] is None:
                out["ttft_ms"] = round((time.perf_counter() - started) * 1000, 3)
            parts.append(text)
            if emit is not None:
                emit(AiDelta(call_id=call_id, text=text))
        elif event.kind == "usage":
            out["input_tokens"], out["output_tokens"] = event.input_tokens, event.output_tokens
        elif event.kind == "done":
            out["stop_reason"] = event.stop_reason
        elif event.kind == "error":
            out["error"], out["error_kind"] = scrub(event.text), event.error_kind
    out["text"] = "".join(parts)
    out["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return out


def models(state: Any, connection: str) -> list[str]:
    state.runtime.forget(connection)
    provider = state.runtime.connector(connection)
    if not isinstance(provider, AiProvider):
        raise DagfluxError(f"connection '{connection}' is not an AI provider")
    return asyncio.run(provider.list_models())


OPS = {"ai.chat": chat, "ai.models": models}
