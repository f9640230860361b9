"""A real aiohttp server on loopback that hosts a catalog folder, with injectable faults.

``CatalogServer(folder)`` serves the files under ``folder`` (the publisher tool's output)
at ``server.url``. ``server.faults[relative_path]`` changes one file's answer:

* ``"stall"`` — send nothing for 30 s (the client's read timeout must fire first);
* ``"500"`` — HTTP 500;
* ``"truncate"`` — only the first half of the file;
* ``"oversize"`` — the file followed by 1 MiB of zeros (no Content-Length: chunked);
* ``bytes`` — this body instead of the file.

The server runs in its own thread and event loop; ``stop`` (or leaving ``with``) closes it.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from aiohttp import web


class CatalogServer:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.faults: dict[str, Any] = {}
        self.requests: list[str] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> CatalogServer:
        loop = self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="catalogserver", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._thread is not None
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.add_routes([web.get("/{path:.*}", self._serve)])
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        rel = request.match_info["path"]
        self.requests.append(rel)
        fault = self.faults.get(rel)
        if fault == "stall":
            await asyncio.sleep(30)
        if fault == "500":
            return web.Response(status=500, text="boom")
        if isinstance(fault, bytes):
            return web.Response(body=fault)
        path = (self.folder / rel).resolve()
        if self.folder.resolve() not in path.parents or not path.is_file():
            return web.Response(status=404)
        data = path.read_bytes()
        if fault == "truncate":
            return web.Response(body=data[: len(data) // 2])
        if fault == "oversize":
            resp = web.StreamResponse()
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            await resp.write(data)
            for _ in range(16):
                await resp.write(b"\0" * 65536)
            await resp.write_eof()
            return resp
        return web.Response(body=data)
