"""A loopback OpenAI-compatible server that streams slowly and notices when the client
hangs up — to prove that cancelling an AI call stops its HTTP request.

``POST /v1/chat/completions`` streams ``tok0 tok1 …`` (one SSE chunk every
``interval_s``, ``count`` of them, then ``[DONE]``). ``sent`` counts the chunks written;
``hung_up`` is set when the client closed the connection before the end.
``received`` keeps every request body (for leak checks).
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from aiohttp import web

from tests.loopback import LoopbackServer


class SlowAiServer(LoopbackServer):
    thread_name = "aislow"

    def __init__(self, count: int = 2000, interval_s: float = 0.02) -> None:
        super().__init__()
        self.count, self.interval_s = count, interval_s
        self.sent = 0
        self.hung_up = threading.Event()
        self.first_chunk = threading.Event()
        self.received: list[str] = []

    def _app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.post("/v1/chat/completions", self._chat)])
        return app

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.received.append(await request.text())
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        try:
            for n in range(self.count):
                chunk: dict[str, Any] = {"choices": [{"index": 0, "delta": {"content": f"tok{n} "}}]}
                await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.sent += 1
                self.first_chunk.set()
                await asyncio.sleep(self.interval_s)
            done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": self.count}}
            await resp.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
            await resp.write_eof()
        except (asyncio.CancelledError, ConnectionResetError):
            self.hung_up.set()
            raise
        return resp
