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
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.loopback import LoopbackServer


class CatalogServer(LoopbackServer):
    thread_name = "catalogserver"
    shutdown_timeout = 0.5

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.faults: dict[str, Any] = {}
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return super().url + "/"

    def _app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.get("/{path:.*}", self._serve)])
        return app

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
