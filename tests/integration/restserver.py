"""A real aiohttp HTTP server for the REST connector tests.

:class:`RestServer` listens on 127.0.0.1 on a free port, in a background thread with
its own event loop; :meth:`RestServer.stop` (or leaving the ``with`` block) closes
the socket, the loop and the thread — nothing is left behind.

Endpoints (every record list is built from :func:`make_records`, 250 records with
nested objects and lists):

==================  ===================================================================
``/``               ``{"service": "restserver"}``
``/items``          ``?page=&per_page=`` → ``{"data": {"items": [...]}, "meta": {...}}``
``/offset``         ``?offset=&limit=`` → ``{"results": [...]}``
``/cursor``         ``?cursor=&limit=`` → ``{"items": [...], "meta": {"next_cursor": …}}``
``/linked``         ``?page=&per_page=`` → a bare list, the next page in a ``Link`` header
``/foreign``        a bare list whose ``Link`` next page is on another host
``/loop``           one record and the same ``meta.next_cursor`` forever
``/single``         a single JSON object
``/moved``          301 to ``/single``; ``/away`` 302 to another host
``/search``         POST ``{"ids": [...]}`` → ``{"hits": [records with those ids]}``
``/echo``           the request's headers and query as one record
``/flaky``          ``?key=&retry_after=1``: 429 twice (Retry-After: the given value, then
                    0), then one page
``/limited``        429 with ``Retry-After: 120``, always
``/broken``         ``?key=``: 500 twice, then one page
``/down``           ``?key=``: 500 always
``/slow``           answers after 3 s
``/notjson``        an HTML page
``/echo401``        401 whose body echoes the Authorization header and the query string
``/secure/bearer``  needs ``Authorization: Bearer <token>``; ``/secure/basic`` Basic auth
                    ``<username>:<token>``; ``/secure/header`` header ``X-API-Key``;
                    ``/secure/query`` query parameter ``api_key`` (all: the server's token)
==================  ===================================================================

``hits[(path, key)]`` counts the requests per endpoint and ``key`` query value, so a
test can count attempts without sharing state with other tests.
"""

from __future__ import annotations

import asyncio
import base64
import collections
from typing import Any

from aiohttp import web

from tests.loopback import LoopbackServer

TOTAL = 250


def make_records(total: int = TOTAL) -> list[dict[str, Any]]:
    return [{"id": i, "name": f"item {i}", "price": round(i * 1.25, 2), "active": i % 2 == 0,
             "owner": {"id": i % 7, "name": f"owner {i % 7}", "address": {"city": "Ghent"}},
             "tags": [f"t{i % 3}", f"t{i % 5}"]} for i in range(1, total + 1)]


class RestServer(LoopbackServer):
    thread_name = "restserver"

    def __init__(self, token: str = "server-token", username: str = "alice") -> None:
        super().__init__()
        self.token, self.username = token, username
        self.records = make_records()
        self.hits: collections.Counter[tuple[str, str]] = collections.Counter()

    # --- routes ------------------------------------------------------------------------
    def _app(self) -> web.Application:
        app = web.Application()
        app.middlewares.append(self._count)
        get = {"/": self.root, "/items": self.items, "/offset": self.offset, "/cursor": self.cursor,
               "/linked": self.linked, "/foreign": self.foreign, "/loop": self.loop, "/single": self.single,
               "/moved": self.moved, "/away": self.away,
               "/echo": self.echo, "/flaky": self.flaky, "/limited": self.limited, "/broken": self.broken,
               "/down": self.down, "/slow": self.slow, "/notjson": self.notjson, "/echo401": self.echo401,
               "/secure/{kind}": self.secure}
        app.add_routes([web.get(path, handler) for path, handler in get.items()])
        app.add_routes([web.post("/search", self.search)])
        return app

    @web.middleware
    async def _count(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.hits[(request.path, request.query.get("key", ""))] += 1
        return await handler(request)

    async def root(self, request: web.Request) -> web.Response:
        return web.json_response({"service": "restserver"})

    async def items(self, request: web.Request) -> web.Response:
        page, size = _int(request, "page", 1), _int(request, "per_page", 30)
        chunk = self.records[(page - 1) * size: page * size]
        return web.json_response({"data": {"items": chunk}, "meta": {"page": page, "total": TOTAL}})

    async def offset(self, request: web.Request) -> web.Response:
        start, limit = _int(request, "offset", 0), min(_int(request, "limit", 20), 80)  # caps the limit
        return web.json_response({"results": self.records[start:start + limit]})

    async def cursor(self, request: web.Request) -> web.Response:
        raw, limit = request.query.get("cursor"), _int(request, "limit", 40)
        start = int(base64.urlsafe_b64decode(raw).decode()) if raw else 0
        end = start + limit
        following = base64.urlsafe_b64encode(str(end).encode()).decode() if end < TOTAL else None
        return web.json_response({"items": self.records[start:end], "meta": {"next_cursor": following}})

    async def linked(self, request: web.Request) -> web.Response:
        page, size = _int(request, "page", 1), _int(request, "per_page", 60)
        headers = {}
        if page * size < TOTAL:
            following = request.url.update_query(page=page + 1, per_page=size)
            relative = page % 2 == 0          # both absolute and relative links occur
            target = following.path_qs if relative else str(following)
            headers["Link"] = f'<{target}>; rel="next", <{request.url.path}?page=1>; rel="first"'
        return web.json_response(self.records[(page - 1) * size: page * size], headers=headers)

    async def foreign(self, request: web.Request) -> web.Response:
        headers = {"Link": '<http://elsewhere.example/steal?page=2>; rel="next"'}
        return web.json_response(self.records[:3], headers=headers)

    async def loop(self, request: web.Request) -> web.Response:
        n = self.hits[(request.path, request.query.get("key", ""))]
        return web.json_response({"items": [{"n": n}], "meta": {"next_cursor": "again"}})

    async def single(self, request: web.Request) -> web.Response:
        return web.json_response({"id": 1, "profile": {"langs": ["nl", "en"]}})

    async def moved(self, request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/single")

    async def away(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("http://elsewhere.example/collect")

    async def search(self, request: web.Request) -> web.Response:
        ids = set((await request.json()).get("ids", []))
        return web.json_response({"hits": [r for r in self.records if r["id"] in ids]})

    async def echo(self, request: web.Request) -> web.Response:
        return web.json_response({"headers": dict(request.headers), "query": dict(request.query)})

    async def flaky(self, request: web.Request) -> web.Response:
        n = self.hits[(request.path, request.query.get("key", ""))]
        if n <= 2:
            wait = request.query.get("retry_after", "1") if n == 1 else "0"
            return web.json_response({"error": "slow down"}, status=429, headers={"Retry-After": wait})
        return web.json_response(self.records[:5])

    async def limited(self, request: web.Request) -> web.Response:
        return web.json_response({"error": "slow down"}, status=429, headers={"Retry-After": "120"})

    async def broken(self, request: web.Request) -> web.Response:
        if self.hits[(request.path, request.query.get("key", ""))] <= 2:
            return web.Response(status=500, text="internal error")
        return web.json_response(self.records[:5])

    async def down(self, request: web.Request) -> web.Response:
        return web.Response(status=500, text="internal error, " + "x" * 1000)

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.json_response([])

    async def notjson(self, request: web.Request) -> web.Response:
        return web.Response(text="<html><body><h1>Welcome</h1></body></html>", content_type="text/html")

    async def echo401(self, request: web.Request) -> web.Response:
        text = (f"unauthorized: Authorization={request.headers.get('Authorization', '')} "
                f"X-API-Key={request.headers.get('X-API-Key', '')} query={request.query_string}")
        return web.Response(status=401, text=text)

    async def secure(self, request: web.Request) -> web.Response:
        if not self._authorized(request.match_info["kind"], request):
            return web.json_response({"error": "bad credentials"}, status=401)
        return web.json_response({"data": self.records[:3]})

    def _authorized(self, kind: str, request: web.Request) -> bool:
        if kind == "bearer":
            return request.headers.get("Authorization") == f"Bearer {self.token}"
        if kind == "basic":
            pair = base64.b64encode(f"{self.username}:{self.token}".encode()).decode()
            return request.headers.get("Authorization") == f"Basic {pair}"
        if kind == "header":
            return request.headers.get("X-API-Key") == self.token
        return kind == "query" and request.query.get("api_key") == self.token


def _int(request: web.Request, name: str, default: int) -> int:
    return int(request.query.get(name, default))
