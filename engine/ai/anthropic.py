"""Anthropic Messages: ``POST {base_url}/v1/messages`` with ``x-api-key`` and
``anthropic-version``; the reply streams named SSE events ``message_start`` (input
tokens) … ``content_block_delta`` (``text_delta``) … ``message_delta`` (stop reason,
output tokens) … ``message_stop``; an ``error`` event (e.g. ``overloaded_error``) ends
it early. System messages go to the top-level ``system`` field. HTTP 529 means
overloaded (retried like 429). Models: ``GET {base_url}/v1/models``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from engine.ai.http import parse_json, sse_events
from engine.ai.provider import COMMON_FIELDS, AiError, AiProvider, ChatEvent
from engine.connectors.base import FieldSpec

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024


class AnthropicProvider(AiProvider):
    type_name: ClassVar[str] = "anthropic"
    label: ClassVar[str] = "Anthropic"
    protocol: ClassVar[str] = "anthropic"
    default_base_url: ClassVar[str] = "https://api.anthropic.com"
    fields = (FieldSpec("base_url", "Base URL", required=False, default="https://api.anthropic.com", kind="url"),
              FieldSpec("api_key", "API key", secret=True, required=False,
                        help="required by api.anthropic.com; a local server may need none"),
              *COMMON_FIELDS)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "anthropic-version": API_VERSION}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return headers

    async def _stream(self, messages: list[dict[str, str]], model: str, options: dict[str, Any]
                      ) -> AsyncIterator[ChatEvent]:
        policy = self.http()
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        body: dict[str, Any] = {"model": model, "stream": True,
                                "max_tokens": options.get("max_tokens", DEFAULT_MAX_TOKENS),
                                "messages": [m for m in messages if m["role"] != "system"]}
        if system:
            body["system"] = system
        if "temperature" in options:
            body["temperature"] = options["temperature"]
        if options.get("stop"):
            body["stop_sequences"] = list(options["stop"])
        async with policy.session() as session:
            resp = await policy.open(session, "POST", f"{self.base_url}/v1/messages", self._headers(), body)
            try:
                tokens_in, tokens_out, stop = None, None, None
                async for name, data in sse_events(resp, policy):
                    doc = parse_json(data, policy)
                    kind = name if name != "message" else str(doc.get("type", ""))
                    if kind == "message_start":
                        tokens_in = (doc.get("message", {}).get("usage") or {}).get("input_tokens")
                    elif kind == "content_block_delta":
                        delta = doc.get("delta") or {}
                        if delta.get("type") == "text_delta" and delta.get("text"):
                            yield ChatEvent("delta", text=str(delta["text"]))
                    elif kind == "message_delta":
                        stop = (doc.get("delta") or {}).get("stop_reason") or stop
                        tokens_out = (doc.get("usage") or {}).get("output_tokens", tokens_out)
                    elif kind == "error":
                        err = doc.get("error") or {}
                        status = 529 if err.get("type") == "overloaded_error" else 500
                        raise policy.error_for(status, data)
                    elif kind == "message_stop":
                        yield ChatEvent("usage", input_tokens=tokens_in, output_tokens=tokens_out)
                        yield ChatEvent("done", stop_reason=stop or "end_turn")
                        return
                raise policy.dropped("message_stop")
            finally:
                resp.release()

    async def _list_models(self) -> list[str]:
        doc = await self.http().get_json(f"{self.base_url}/v1/models", self._headers())
        items = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise AiError(f"{self.label} connection '{self.name}': /v1/models did not list models", "server")
        return sorted(str(m.get("id")) for m in items if isinstance(m, dict) and m.get("id"))
