"""Google Gemini: ``POST {base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse``
with ``x-goog-api-key`` (never a ``key=`` query parameter, so the key cannot end up in
a logged URL). Each SSE ``data:`` is a ``GenerateContentResponse``: text in
``candidates[0].content.parts[].text``, ``finishReason`` on the last candidate,
``usageMetadata`` (``promptTokenCount`` / ``candidatesTokenCount``). The stream has no
end marker: a stream that closes before a ``finishReason`` was dropped. Errors use the
Google RPC shape (``error.code/message/status/details``, ``RetryInfo.retryDelay``).
Roles map ``assistant`` → ``model``; system messages go to ``systemInstruction``.
Models: ``GET {base_url}/v1beta/models``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from engine.ai.http import parse_json, sse_events
from engine.ai.provider import COMMON_FIELDS, AiError, AiProvider, ChatEvent
from engine.connectors.base import FieldSpec


class GeminiProvider(AiProvider):
    type_name: ClassVar[str] = "gemini"
    label: ClassVar[str] = "Google Gemini"
    protocol: ClassVar[str] = "gemini"
    default_base_url: ClassVar[str] = "https://generativelanguage.googleapis.com"
    fields = (FieldSpec("base_url", "Base URL", required=False, default="https://generativelanguage.googleapis.com",
                        kind="url"),
              FieldSpec("api_key", "API key", secret=True, required=True),
              *COMMON_FIELDS)

    def _headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "x-goog-api-key": self.api_key}

    async def _stream(self, messages: list[dict[str, str]], model: str, options: dict[str, Any]
                      ) -> AsyncIterator[ChatEvent]:
        policy = self.http()
        body: dict[str, Any] = {"contents": [{"role": "model" if m["role"] == "assistant" else "user",
                                              "parts": [{"text": m["content"]}]}
                                             for m in messages if m["role"] != "system"]}
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        config = {k: v for k, v in (("maxOutputTokens", options.get("max_tokens")),
                                    ("temperature", options.get("temperature")),
                                    ("stopSequences", options.get("stop"))) if v is not None}
        if config:
            body["generationConfig"] = config
        model_path = model if model.startswith("models/") else f"models/{model}"
        url = f"{self.base_url}/v1beta/{model_path}:streamGenerateContent?alt=sse"
        async with policy.session() as session:
            resp = await policy.open(session, "POST", url, self._headers(), body)
            try:
                usage, finish = None, None
                async for _, data in sse_events(resp, policy):
                    doc = parse_json(data, policy)
                    if isinstance(doc, dict) and doc.get("error"):
                        raise policy.error_for(int(doc["error"].get("code") or 500), data)
                    for cand in (doc.get("candidates") or [])[:1]:
                        for part in (cand.get("content") or {}).get("parts") or []:
                            if isinstance(part.get("text"), str) and part["text"] and not part.get("thought"):
                                yield ChatEvent("delta", text=part["text"])
                        finish = cand.get("finishReason") or finish
                    usage = doc.get("usageMetadata") or usage
                if not finish:
                    raise policy.dropped("a finishReason")
                if usage:
                    yield ChatEvent("usage", input_tokens=usage.get("promptTokenCount"),
                                    output_tokens=usage.get("candidatesTokenCount"))
                yield ChatEvent("done", stop_reason=str(finish))
            finally:
                resp.release()

    async def _list_models(self) -> list[str]:
        doc = await self.http().get_json(f"{self.base_url}/v1beta/models", self._headers())
        items = doc.get("models") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise AiError(f"{self.label} connection '{self.name}': /v1beta/models did not list models", "server")
        return sorted(str(m.get("name", "")).removeprefix("models/") for m in items if isinstance(m, dict))
