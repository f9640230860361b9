"""The REST connector's pagination and its HTTP client on a private event loop (split from
:mod:`.rest`): retries of single requests, Retry-After and same-host redirects live here."""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import math
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from .rest_spec import (
    DEFAULT_TIMEOUT_S,
    MAX_REDIRECTS,
    REDIRECT_STATUSES,
    RETRY_STATUSES,
    FetchSpec,
    Pagination,
    T,
    _Call,
    _Reply,
)

if TYPE_CHECKING:
    from .rest import RestConnector


# --- pagination ------------------------------------------------------------------------

class _Pager:
    """Turns one reply into the next call, per pagination type; refuses loops."""

    def __init__(self, pagination: Pagination, connector: RestConnector) -> None:
        self.p, self.connector = pagination, connector
        self.position = pagination.start if pagination.start is not None else int(pagination.type == "page")
        self.seen: set[str] = set()

    def first(self, call: _Call) -> _Call:
        return self._numbered(call) if self.p.type in ("page", "offset") else call

    def next(self, call: _Call, reply: _Reply, data: Any, received: int) -> _Call | None:
        """The call for the page after the one that gave ``reply`` (``received`` records)."""
        kind = self.p.type
        if kind in ("page", "offset"):
            self.position += 1 if kind == "page" else received
            return self._numbered(call)
        if kind == "cursor":
            return self._cursor(call, data)
        if kind == "link":
            return self._link(call, reply)
        return None

    def _numbered(self, call: _Call) -> _Call:
        p = self.p
        if p.type == "page":
            extra = {p.page_param: str(self.position), p.size_param: str(p.size)}
        else:
            extra = {p.offset_param: str(self.position), p.limit_param: str(p.size)}
        return call.with_params({k: v for k, v in extra.items() if k})

    def _cursor(self, call: _Call, data: Any) -> _Call | None:
        try:
            value = dig(data, self.p.cursor_path)
        except LookupError:
            return None
        if value is None or value == "" or value is False:
            return None
        if isinstance(value, (dict, list)):
            raise self.connector.call_error(call, f"returned a {type(value).__name__} at cursor_path "
                                                  f"'{self.p.cursor_path}', not a cursor value")
        cursor = str(value)
        self._once(call, f"cursor {_short(cursor)}", cursor)
        return call.with_params({self.p.cursor_param: cursor})

    def _link(self, call: _Call, reply: _Reply) -> _Call | None:
        url = reply.next_link
        if url is None:
            return None
        if not self.connector.trusted(url):
            raise self.connector.call_error(call, f"links its next page to {url.scheme}://{url.host}; this "
                                                  f"connection's credentials are only sent to its own host")
        self._once(call, f"next link {url.path}", str(url))
        return call.at(url)

    def _once(self, call: _Call, what: str, key: str) -> None:
        if key in self.seen:
            raise self.connector.call_error(call, f"returned the same {what} twice: an endless pagination "
                                                  f"loop, stopped")
        self.seen.add(key)


def dig(data: Any, path: str) -> Any:
    """The value at a dotted ``path`` ("" = ``data``); LookupError names the first
    missing step and what is there instead."""
    done: list[str] = []
    for step in (s for s in path.split(".") if s):
        if isinstance(data, dict) and step in data:
            data = data[step]
        elif isinstance(data, list) and step.isdigit() and int(step) < len(data):
            data = data[int(step)]
        else:
            where = f"'{'.'.join(done)}'" if done else "the reply"
            raise LookupError(f"no '{step}' in {where} ({_shape(data)})")
        done.append(step)
    return data


def _shape(data: Any) -> str:
    if isinstance(data, dict):
        keys = list(data)
        more = ", …" if len(keys) > 10 else ""
        return f"keys: {', '.join(map(str, keys[:10]))}{more}" if keys else "an empty object"
    if isinstance(data, list):
        return f"a list of {len(data)}"
    return "null" if data is None else f"a {type(data).__name__}"


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


# --- HTTP on a private event loop -----------------------------------------------------------

class _LoopThread:
    """A private asyncio loop in its own thread, so synchronous callers can await."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="dagflux-rest", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(_cancel_pending())
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
            self._loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()


async def _cancel_pending() -> None:
    """Tasks left by an interrupted caller: cancel them so none is destroyed pending."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _new_session(timeout_s: float) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))


class _Http:
    """One ClientSession on one private loop for the length of a fetch; retries,
    Retry-After and same-host redirects live here."""

    def __init__(self, connector: RestConnector, opts: FetchSpec) -> None:
        self.connector, self.opts = connector, opts
        self.auth = connector.auth_parts()
        self.timeout_s = _timeout(connector)
        self._loop = _LoopThread()
        try:
            self._session = self._loop.run(_new_session(self.timeout_s))
        except BaseException:
            self._loop.close()
            raise

    def __enter__(self) -> _Http:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._loop.run(self._session.close())
        finally:
            self._loop.close()

    def send(self, call: _Call) -> _Reply:
        return self._loop.run(self._send(call))

    async def _send(self, call: _Call) -> _Reply:
        attempt = 1
        while True:
            reply = await self._follow(call)
            reply.attempts = attempt
            if reply.status not in RETRY_STATUSES or attempt > self.opts.max_retries:
                return reply
            await asyncio.sleep(self._wait(call, reply, attempt))
            attempt += 1

    def _wait(self, call: _Call, reply: _Reply, attempt: int) -> float:
        cap = self.opts.max_retry_wait_s
        asked = retry_after_seconds(reply.retry_after)
        if asked is None:
            return min(self.opts.retry_backoff_s * 2 ** (attempt - 1), cap)
        if asked > cap:
            raise self.connector.call_error(call, f"got HTTP {reply.status} {reply.reason} asking to wait "
                                                  f"{asked:g} s, more than max_retry_wait_s={cap:g}")
        return asked

    async def _follow(self, call: _Call) -> _Reply:
        for _ in range(MAX_REDIRECTS + 1):
            reply = await self._once(call)
            if reply.status not in REDIRECT_STATUSES or not reply.location:
                return reply
            target = reply.url.join(URL(reply.location))
            if not self.connector.trusted(target):
                raise self.connector.call_error(call, f"was redirected to {target.scheme}://{target.host}; this "
                                                      f"connection's credentials are only sent to its own host")
            method = "GET" if reply.status == 303 else call.method
            call = call.at(target, method)
        raise self.connector.call_error(call, f"was redirected more than {MAX_REDIRECTS} times")

    async def _once(self, call: _Call) -> _Reply:
        url, headers = self._prepare(call)
        try:
            async with self._session.request(call.method, url, headers=headers, json=call.body,
                                             allow_redirects=False) as resp:
                body = await resp.read()
                return _Reply(resp.status, resp.reason or "", resp.url, resp.content_type, body,
                              resp.headers.get("Retry-After"), resp.headers.get("Location"), _next_link(resp))
        except TimeoutError:
            problem = f"timed out after {self.timeout_s:g} s"
        except aiohttp.ClientConnectorError as exc:
            problem = f"could not connect to {exc.host}:{exc.port} ({exc.os_error.strerror or exc.os_error})"
        except aiohttp.ClientError as exc:
            problem = f"failed: {type(exc).__name__} {exc}"
        # Raised outside the handlers, so the client error (which may hold the full URL,
        # query and all) is not attached as the context of the ConnectorError.
        raise self.connector.call_error(call, problem, transient=True)   # refused, reset, timed out

    def _prepare(self, call: _Call) -> tuple[URL, CIMultiDict[str]]:
        """The URL with every parameter and the auth; the headers (the spec's win over the auth's)."""
        url = call.url.extend_query(call.params) if call.params else call.url
        if self.auth.query:
            url = url.update_query(self.auth.query)
        headers = CIMultiDict(self.auth.headers)
        headers.update(call.headers)
        return url, headers


def _next_link(resp: aiohttp.ClientResponse) -> URL | None:
    for rel, link in resp.links.items():
        if "next" in str(rel).lower().split():
            url = link.get("url")
            return url if isinstance(url, URL) else None
    return None


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP date) as seconds from now; None if absent
    or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        seconds = (when - datetime.datetime.now(datetime.UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _timeout(connector: RestConnector) -> float:
    raw = connector.settings.get("timeout_s")
    try:
        value = float(raw) if raw not in (None, "") else DEFAULT_TIMEOUT_S
    except (TypeError, ValueError):
        raise connector.error(f"timeout_s must be a number of seconds, not {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise connector.error(f"timeout_s must be more than 0, not {raw!r}")
    return value
