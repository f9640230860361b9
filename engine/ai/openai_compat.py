"""OpenAI-compatible Chat Completions: OpenAI, Hugging Face's router and TGI, Ollama's
``/v1``, llama.cpp's server, vLLM, LM Studio — any base URL.

``base_url`` includes the version prefix, as the vendor SDKs take it
(``https://api.openai.com/v1``, ``http://127.0.0.1:8080/v1``). A call is
``POST {base_url}/chat/completions`` with ``Authorization: Bearer <key>`` (no header
when the connection has no key: local servers) and ``"stream": true``; the reply is SSE
``data:`` chunks ending with ``data: [DONE]``. Usage is asked for with
``stream_options.include_usage`` and read from whichever chunk carries it. Models:
``GET {base_url}/models``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from engine.ai.http import parse_json, sse_events
from engine.ai.provider import COMMON_FIELDS, AiError, AiProvider, ChatEvent
from engine.connectors.base import FieldSpec


class OpenAIProvider(AiProvider):
    type_name: ClassVar[str] = "openai"
    label: ClassVar[str] = "OpenAI-compatible"
    protocol: ClassVar[str] = "openai"
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    fields = (FieldSpec("base_url", "Base URL", required=False, default="https://api.openai.com/v1", kind="url",
                        help="…/v1 of any OpenAI-compatible server (Ollama, llama.cpp, vLLM, LM Studio, HF)"),
              FieldSpec("api_key", "API key", secret=True, required=False,
                        help="leave empty for a local server that needs none"),
              *COMMON_FIELDS)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    async def _stream(self, messages: list[dict[str, str]], model: str, options: dict[str, Any]
                      ) -> AsyncIterator[ChatEvent]:
        policy = self.http()
        body = {"model": model, "messages": messages, "stream": True, "stream_options": {"include_usage": True},
                **options}
        async with policy.session() as session:
            resp = await policy.open(session, "POST", f"{self.base_url}/chat/completions", self._headers(), body)
            try:
                finish: str | None = None
                async for _, data in sse_events(resp, policy):
                    if data.strip() == "[DONE]":
                        yield ChatEvent("done", stop_reason=finish or "stop")
                        return
                    chunk = parse_json(data, policy)
                    if isinstance(chunk, dict) and chunk.get("error"):
                        raise policy.error_for(500, data)
                    for event in _chunk_events(chunk):
                        if event.kind == "done":
                            finish = event.stop_reason
                        else:
                            yield event
                raise policy.dropped("data: [DONE]")
            finally:
                resp.release()

    async def _list_models(self) -> list[str]:
        doc = await self.http().get_json(f"{self.base_url}/models", self._headers())
        items = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise AiError(f"{self.label} connection '{self.name}': /models did not list models", "server")
        return sorted(str(m.get("id")) for m in items if isinstance(m, dict) and m.get("id"))


def _chunk_events(chunk: Any) -> list[ChatEvent]:
    out: list[ChatEvent] = []
    if not isinstance(chunk, dict):
        return out
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        if isinstance(delta.get("content"), str) and delta["content"]:
            out.append(ChatEvent("delta", text=delta["content"]))
        if choice.get("finish_reason"):
            out.append(ChatEvent("done", stop_reason=str(choice["finish_reason"])))
    usage = chunk.get("usage")
    if isinstance(usage, dict) and usage.get("completion_tokens") is not None:
        out.append(ChatEvent("usage", input_tokens=usage.get("prompt_tokens"),
                             output_tokens=usage.get("completion_tokens")))
    return out
