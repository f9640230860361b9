"""Scripted loopback AI servers speaking the three wire protocols, for deterministic tests.

One aiohttp server (127.0.0.1, free port, its own thread and loop) answers all three:

* OpenAI Chat Completions — ``POST /v1/chat/completions``, ``GET /v1/models``
* Anthropic Messages — ``POST /v1/messages``, ``GET /v1/models``
* Gemini — ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse`` (and
  ``:generateContent``), ``GET /v1beta/models``

The **model name** picks the script, so one server serves every test:

==============  =========================================================================
``good``        streams "Hello", ", ", "world" with usage 7 in / 3 out
``echo``        streams back the last user message (so a test sees what was sent)
``sql:<text>``  streams ``<text>`` (a scripted proposal; ``~`` stands for a newline)
``flaky``       500 on the first request of each protocol, then ``good``
``busy``        429 once (Retry-After 0 / ``RetryInfo`` 0s), then ``good``
``busy-long``   429 asking to wait 120 s, always
``overloaded``  529 always (Anthropic's overloaded_error shape everywhere)
``down``        503 always
``drop``        one delta, then the connection is cut mid-stream
``stall``       one delta, then silence for 5 s
``bad-request`` 400 with the protocol's error shape
``error-event`` Anthropic: an ``error`` event (overloaded_error) mid-stream
==============  =========================================================================

Any request whose key is not :attr:`AiFakeServer.key` gets 401 — with the key it received
echoed in the error message, as a careless server might, so tests can prove the client
scrubs it. ``received`` records every request (path, headers, body) for leak checks.
"""

from __future__ import annotations

import asyncio
import collections
import json
from typing import Any

from aiohttp import web

from tests.loopback import LoopbackServer

TEXT = ["Hello", ", ", "world"]


class AiFakeServer(LoopbackServer):
    thread_name = "aifake"

    def __init__(self, key: str = "fake-key-123456") -> None:
        super().__init__()
        self.key = key
        self.received: list[dict[str, Any]] = []
        self.hits: collections.Counter[tuple[str, str]] = collections.Counter()

    def _app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.post("/v1/chat/completions", self.openai), web.get("/v1/models", self.models),
                        web.post("/v1/messages", self.anthropic),
                        web.post("/v1beta/models/{call}", self.gemini), web.get("/v1beta/models", self.models)])
        return app

    def everything_received(self) -> str:
        return "\n".join(json.dumps(r) for r in self.received)

    # --- shared -------------------------------------------------------------------------
    async def _record(self, request: web.Request) -> dict[str, Any]:
        body = await request.text()
        self.received.append({"path": request.path_qs, "headers": dict(request.headers), "body": body})
        return json.loads(body) if body else {}

    def _given_key(self, request: web.Request, protocol: str) -> str:
        if protocol == "openai":
            return request.headers.get("Authorization", "").removeprefix("Bearer ")
        if protocol == "anthropic":   # the official SDK sends an API key as a Bearer token
            return request.headers.get("x-api-key", "") or request.headers.get(
                "Authorization", "").removeprefix("Bearer ")
        return request.headers.get("x-goog-api-key", "") or request.query.get("key", "")

    def _error(self, protocol: str, status: int, message: str, headers: dict | None = None,
               retry_s: int | None = None) -> web.Response:
        if protocol == "anthropic":
            kind = {401: "authentication_error", 429: "rate_limit_error", 529: "overloaded_error",
                    400: "invalid_request_error"}.get(status, "api_error")
            doc: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
        elif protocol == "gemini":
            status_name = {401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED", 400: "INVALID_ARGUMENT"}.get(
                status, "UNAVAILABLE")
            doc = {"error": {"code": status, "message": message, "status": status_name}}
            if retry_s is not None:
                doc["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                            "retryDelay": f"{retry_s}s"}]
        else:
            doc = {"error": {"message": message, "type": "api_error", "code": status}}
        return web.json_response(doc, status=status, headers=headers or {})

    def _scripted_failure(self, protocol: str, model: str, request: web.Request) -> web.Response | None:
        if self._given_key(request, protocol) != self.key:
            given = self._given_key(request, protocol)
            return self._error(protocol, 401, f"Incorrect API key provided: {given}")
        self.hits[(protocol, model)] += 1
        first = self.hits[(protocol, model)] == 1
        retry_header = {} if protocol == "gemini" else None
        if model == "flaky" and first:
            return self._error(protocol, 500, "internal error")
        if model == "busy" and first:
            return self._error(protocol, 429, "slow down", retry_header if protocol == "gemini"
                               else {"Retry-After": "0"}, retry_s=0)
        if model == "busy-long":
            return self._error(protocol, 429, "quota exhausted", retry_header if protocol == "gemini"
                               else {"Retry-After": "120"}, retry_s=120)
        if model == "overloaded":
            return self._error(protocol, 529, "Overloaded")
        if model == "down":
            return self._error(protocol, 503, "service unavailable")
        if model == "bad-request":
            return self._error(protocol, 400, "max_tokens is too large")
        return None

    def _text(self, model: str, body: dict[str, Any], protocol: str) -> list[str]:
        if model == "echo":
            return [_last_user(body, protocol)]
        if model.startswith("sql:"):
            return [model[4:].replace("~", "\n")]
        return list(TEXT)

    async def _sse(self, request: web.Request, chunks: list[tuple[str | None, Any]], model: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        for n, (name, data) in enumerate(chunks):
            payload = data if isinstance(data, str) else json.dumps(data)
            await resp.write(((f"event: {name}\n" if name else "") + f"data: {payload}\n\n").encode())
            if model in ("drop", "stall") and n == 1:
                if model == "stall":
                    await asyncio.sleep(5)
                assert request.transport is not None
                request.transport.close()
                return resp
        await resp.write_eof()
        return resp

    async def models(self, request: web.Request) -> web.Response:
        protocol = "gemini" if request.path.startswith("/v1beta") else (
            "anthropic" if "anthropic-version" in request.headers else "openai")
        await self._record(request)
        if self._given_key(request, protocol) != self.key:
            return self._error(protocol, 401, "bad key")
        if protocol == "gemini":
            return web.json_response({"models": [{"name": "models/good"}, {"name": "models/echo"}]})
        return web.json_response({"object": "list", "data": [{"id": "good", "object": "model", "created": 0,
                                                                "owned_by": "fake", "type": "model",
                                                                "display_name": "good",
                                                                "created_at": "2025-01-01T00:00:00Z"}]})

    # --- OpenAI ---------------------------------------------------------------------------
    async def openai(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        model = str(body.get("model", ""))
        failure = self._scripted_failure("openai", model, request)
        if failure is not None:
            return failure
        if not body.get("stream"):   # a whole reply, as JSON, when streaming was not asked for
            return web.json_response({"id": "chatcmpl-1", "object": "chat.completion", "created": 0,
                                      "model": model, "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                          "role": "assistant", "content": "".join(self._text(model, body, "openai"))}}],
                                      "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}})
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": model}
        chunks: list[tuple[str | None, Any]] = [(None, {**base, "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})]
        chunks += [(None, {**base, "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]})
                   for t in self._text(model, body, "openai")]
        chunks.append((None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        chunks.append((None, {**base, "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3,
                                                                 "total_tokens": 10}}))
        chunks.append((None, "[DONE]"))
        return await self._sse(request, chunks, model)

    # --- Anthropic ------------------------------------------------------------------------
    async def anthropic(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        model = str(body.get("model", ""))
        failure = self._scripted_failure("anthropic", model, request)
        if failure is not None:
            return failure
        if not body.get("stream"):   # a whole Message, as JSON, when streaming was not asked for
            return web.json_response({
                "id": "msg_1", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": "".join(self._text(model, body, "anthropic"))}],
                "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 7, "output_tokens": 3}})
        start = {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 7, "output_tokens": 1}}}
        chunks: list[tuple[str | None, Any]] = [
            ("message_start", start),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
            ("ping", {"type": "ping"})]
        for t in self._text(model, body, "anthropic"):
            chunks.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                   "delta": {"type": "text_delta", "text": t}}))
            if model == "error-event":
                chunks.append(("error", {"type": "error", "error": {"type": "overloaded_error",
                                                                    "message": "Overloaded"}}))
                break
        chunks += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
                   ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                                         "stop_sequence": None},
                                      "usage": {"output_tokens": 3}}),
                   ("message_stop", {"type": "message_stop"})]
        return await self._sse(request, chunks, model)

    # --- Gemini ---------------------------------------------------------------------------
    async def gemini(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        model, _, method = request.match_info["call"].partition(":")
        failure = self._scripted_failure("gemini", model, request)
        if failure is not None:
            return failure
        texts = self._text(model, body, "gemini")
        usage = {"promptTokenCount": 7, "candidatesTokenCount": 3, "totalTokenCount": 10}
        if method == "generateContent":
            return web.json_response({"candidates": [{"content": {"role": "model", "parts": [
                {"text": "".join(texts)}]}, "finishReason": "STOP", "index": 0}], "usageMetadata": usage})
        chunks: list[tuple[str | None, Any]] = []
        for n, t in enumerate(texts):
            cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": t}]}, "index": 0}
            last = n == len(texts) - 1
            if last:
                cand["finishReason"] = "STOP"
            chunks.append((None, {"candidates": [cand], **({"usageMetadata": usage} if last else {}),
                                  "modelVersion": model}))
        return await self._sse(request, chunks, model)


def _last_user(body: dict[str, Any], protocol: str) -> str:
    if protocol == "gemini":
        users = [c for c in body.get("contents", []) if c.get("role") == "user"]
        return "".join(p.get("text", "") for p in users[-1]["parts"]) if users else ""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    content = users[-1]["content"] if users else ""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)
