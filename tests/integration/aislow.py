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


class SlowAiServer:
    def __init__(self, count: int = 2000, interval_s: float = 0.02) -> None:
        self.count, self.interval_s = count, interval_s
        self.sent = 0
        self.hung_up = threading.Event()
        self.first_chunk = threading.Event()
        self.received: list[str] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="aislow", daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> SlowAiServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.add_routes([web.post("/v1/chat/completions", self._chat)])
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

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
