"""The REST API connector: JSON records from an HTTP API, page by page.

A REST connection is a base URL plus one way to authenticate. *What* to fetch is a
spec, given to :meth:`RestConnector.fetch`, which yields the records page by page
(lists of dicts; nested objects stay dicts — :func:`engine.io.rows.write_rows`
stores them as JSON text).

Spec (a mapping; every key is optional, unknown keys are an error)::

    path              appended to base_url: "/v1/orders" (relative; may carry "?a=b")
    method            "GET" (default) or "POST"
    body              the JSON body of a POST
    params            query parameters {name: value}; a list value repeats the name
    headers           extra headers {name: value}; they win over the connection's auth
    records_path      dotted path to the records in each JSON reply: "data.items"
                      (digits index lists); "" (default) = the reply itself. A list
                      gives its items, an object gives one record, null gives none;
                      an item that is not an object becomes {"value": item}
    pagination        {"type": "none"} (default) or one of the forms below
    max_pages         1000: a fetch that still gets records after this many pages
                      fails (use max_records to take only the first N on purpose)
    max_records       stop after this many records (the last page is cut short)
    max_retries       5: retries of one request after HTTP 408, 429, 500, 502, 503, 504
    max_retry_wait_s  60: the longest single wait; a Retry-After asking for more
                      fails at once instead of hammering the server
    retry_backoff_s   1: the first wait when there is no Retry-After (it doubles)

Pagination (``"pagination": "page"`` is short for ``{"type": "page"}``)::

    page     page_param="page" from start=1, size_param="per_page" size=100 ("" = not sent)
    offset   offset_param="offset" from start=0 (+ records received), limit_param="limit"
             size=100 ("" = not sent)
    cursor   cursor_param="cursor" set to the value at cursor_path="meta.next_cursor" of
             the previous reply; no value ends the fetch
    link     the RFC 5988 ``Link: <…>; rel="next"`` header of the previous reply, followed
             as given (it carries its own query; ``params`` go only into the first request)

Every type also ends at a page without records. Page size for cursor and link APIs
goes in ``params``.

Secrets. ``token`` is the bearer token, the Basic-auth password or the API key; it
is sent only as that header / Basic auth / query parameter, and only to base_url's
host (a redirect or next link to another host is an error, never followed). Header
and parameter values may hold ``{{ secret.<connection>.<field> }}`` placeholders,
resolved just before the first request through ``resolve_secret(connection, field)``
(a constructor argument or attribute; by default only this connection's own
``token`` resolves). Every error message and every record passes an
:class:`engine.scrub.Scrubber` holding the token (with the user name, so the
Basic-auth base64 is caught) and every resolved value; errors name the connection,
the method and the URL path — never the query (it may carry an API key) — and at
most 200 characters of a reply body.

Bounds. Every request times out after ``timeout_s``; a repeated cursor or next link
is an error (an endless loop); pages, retries and each wait are capped as above.

Resources. Callers stay synchronous: each fetch runs a private event loop in its own
thread with one aiohttp ``ClientSession``; both are closed when the iteration ends,
fails or is closed (or the iterator is garbage-collected).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import email.utils
import json
import math
import threading
from collections.abc import Callable, Coroutine, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, TypeVar

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from engine import templates
from engine.connectors.base import Columns, Connector, ConnectorError, FieldSpec, Row
from engine.errors import TemplateError
from engine.retry import http_status_transient
from engine.scrub import Scrubber

__all__ = ["RestConnector"]

AUTH_TYPES = ("none", "bearer", "basic", "api_key_header", "api_key_query")
PAGINATION_TYPES = ("none", "page", "offset", "cursor", "link")
DEFAULT_KEY_NAMES = {"api_key_header": "X-API-Key", "api_key_query": "api_key"}
DEFAULT_TIMEOUT_S = 30.0
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
EXCERPT_CHARS = 200
T = TypeVar("T")


def placeholder(connection: str, field_name: str) -> str:
    return f"{{{{ secret.{connection}.{field_name} }}}}"


# --- the spec ------------------------------------------------------------------------

@dataclass(frozen=True)
class Pagination:
    type: str = "none"
    page_param: str = "page"
    start: int | None = None              # page: 1, offset: 0
    size_param: str = "per_page"
    size: int = 100
    offset_param: str = "offset"
    limit_param: str = "limit"
    cursor_param: str = "cursor"
    cursor_path: str = "meta.next_cursor"


@dataclass(frozen=True)
class FetchSpec:
    path: str = ""
    method: str = "GET"
    body: Any = None
    params: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, Any] = field(default_factory=dict)
    records_path: str = ""
    pagination: Pagination = field(default_factory=Pagination)
    max_pages: int = 1000
    max_records: int | None = None
    max_retries: int = 5
    max_retry_wait_s: float = 60.0
    retry_backoff_s: float = 1.0


def parse_spec(spec: Mapping[str, Any]) -> FetchSpec:
    """A validated :class:`FetchSpec`; raises ValueError naming the key at fault."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"the spec must be a mapping, not a {type(spec).__name__}")
    unknown = sorted(set(spec) - {f.name for f in fields(FetchSpec)})
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}")
    method = str(spec.get("method", "GET")).upper()
    if method not in ("GET", "POST"):
        raise ValueError(f"method must be GET or POST, not {spec.get('method')!r}")
    if spec.get("body") is not None and method != "POST":
        raise ValueError("a body needs method POST")
    return FetchSpec(
        path=_text(spec.get("path", ""), "path"), method=method, body=spec.get("body"),
        params=_mapping(spec.get("params"), "params"), headers=_mapping(spec.get("headers"), "headers"),
        records_path=_text(spec.get("records_path", ""), "records_path"),
        pagination=_pagination(spec.get("pagination")),
        max_pages=_number(spec.get("max_pages", 1000), "max_pages", 1, int),
        max_records=None if spec.get("max_records") is None
        else _number(spec["max_records"], "max_records", 1, int),
        max_retries=_number(spec.get("max_retries", 5), "max_retries", 0, int),
        max_retry_wait_s=_number(spec.get("max_retry_wait_s", 60.0), "max_retry_wait_s", 0, float),
        retry_backoff_s=_number(spec.get("retry_backoff_s", 1.0), "retry_backoff_s", 0, float))


def _pagination(raw: Any) -> Pagination:
    if raw is None:
        return Pagination()
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, Mapping):
        raise ValueError("pagination must be a mapping or a type name")
    unknown = sorted(set(raw) - {f.name for f in fields(Pagination)})
    if unknown:
        raise ValueError(f"unknown pagination key(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        where = f"pagination.{name}"
        if name in ("start", "size"):
            values[name] = None if value is None else _number(value, where, int(name == "size"), int)
        else:
            values[name] = _text(value, where)
            if not value and name not in ("size_param", "limit_param"):
                raise ValueError(f"{where} cannot be empty")
    if values.get("type", "none") not in PAGINATION_TYPES:
        raise ValueError(f"pagination.type must be one of {', '.join(PAGINATION_TYPES)}, "
                         f"not {values['type']!r}")
    return Pagination(**values)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be text, not {type(value).__name__}")
    return value


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{where} must be a mapping with text keys")
    return dict(value)


def _number(value: Any, where: str, minimum: int, kind: type[T]) -> T:
    ok = isinstance(value, int) or (kind is float and isinstance(value, float))
    if isinstance(value, bool) or not ok or not math.isfinite(value) or value < minimum:
        raise ValueError(f"{where} must be {'an integer' if kind is int else 'a number'} "
                         f">= {minimum}, not {value!r}")
    return kind(value)  # type: ignore[call-arg]


# --- requests and replies --------------------------------------------------------------

@dataclass(frozen=True)
class _Call:
    """One request, before auth is applied: the auth never sits in a _Call."""

    method: str
    url: URL
    params: Mapping[str, Any]
    headers: Mapping[str, str]
    body: Any = None

    def with_params(self, extra: Mapping[str, Any]) -> _Call:
        return replace(self, params={**self.params, **extra})

    def at(self, url: URL, method: str | None = None) -> _Call:
        """The same call sent to ``url`` (which carries its own query)."""
        method = method or self.method
        return replace(self, url=url, params={}, method=method, body=self.body if method == "POST" else None)


@dataclass
class _Reply:
    status: int
    reason: str
    url: URL
    content_type: str
    body: bytes
    retry_after: str | None
    location: str | None
    next_link: URL | None
    attempts: int = 1


@dataclass(frozen=True)
class _Auth:
    headers: Mapping[str, str]
    query: Mapping[str, str]


# --- the connector ---------------------------------------------------------------------

class RestConnector(Connector):
    type_name: ClassVar[str] = "rest"
    label: ClassVar[str] = "REST API"
    dialect: ClassVar[str] = "rest"
    relational: ClassVar[bool] = False
    fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec("base_url", "Base URL", kind="url", help="e.g. https://api.example.com/v1"),
        FieldSpec("auth", "Authentication", required=False, default="none", kind="choice",
                  choices=AUTH_TYPES),
        FieldSpec("username", "User name", required=False, help="for Basic auth"),
        FieldSpec("token", "Token / password / API key", secret=True, required=False,
                  help="the bearer token, the Basic-auth password or the API key"),
        FieldSpec("api_key_name", "API key name", required=False,
                  help='the header ("X-API-Key" if empty) or query parameter ("api_key" if empty) '
                       "that carries the API key"),
        FieldSpec("timeout_s", "Timeout (seconds)", required=False, default=30, kind="int"),
    )

    def __init__(self, connection_id: str, name: str, settings: Mapping[str, Any],
                 resolve_secret: Callable[[str, str], str | None] | None = None) -> None:
        super().__init__(connection_id, name, settings)
        self.resolve_secret = resolve_secret or self._own_secret
        self.scrubber = Scrubber()
        token = self.settings.get("token")
        if token:
            self.scrubber.add(str(token), placeholder(connection_id, "token"),
                              companions=[str(self.settings.get("username") or "")])

    # --- operations ------------------------------------------------------------------
    def fetch(self, spec: Mapping[str, Any]) -> Generator[list[dict[str, Any]], None, None]:
        """Pages of records (see the module doc for ``spec``). The spec, the URL, the
        auth and the secret placeholders are checked before this returns; the first
        request is sent on the first ``next()``. ``close()`` it to stop early."""
        try:
            opts = parse_spec(spec)
        except ValueError as exc:
            raise self.error(f"REST spec: {exc}") from None
        first = self._first_call(opts)
        self.auth_parts()
        return self._pages(opts, first)

    def test(self) -> str:
        """GET base_url; any reply but 401, 403 or 5xx shows the server is reachable."""
        opts = FetchSpec(max_retries=2, max_retry_wait_s=5.0)
        call = self._first_call(opts)
        with _Http(self, opts) as http:
            reply = http.send(call)
        if reply.status in (401, 403) or reply.status >= 500:
            self._check_status(call, reply)
        port = "" if call.url.is_default_port() else f":{call.url.port}"
        return f"HTTP {reply.status} from {call.url.host}{port}"

    def sample(self, obj: str, limit: int = 5) -> tuple[list[str], list[Row]]:
        """The first ``limit`` records of ``obj`` — a path, or a JSON spec ``{"path": …}``
        — as (union of keys in order of appearance, rows); nested values as JSON text."""
        if limit < 1:
            return [], []
        records = [r for page in self.fetch({**self._object_spec(obj), "max_records": limit}) for r in page]
        columns = list(dict.fromkeys(key for record in records for key in record))
        rows = [tuple(_cell(record.get(c)) for c in columns) for record in records]
        return columns, rows

    def list_fields(self, obj: str) -> Columns:
        """Fields of ``obj``'s first 20 records, typed as they would be stored."""
        columns, rows = self.sample(obj, 20)
        return [(name, _first_type(row[i] for row in rows)) for i, name in enumerate(columns)]

    def list_objects(self) -> list[str]:
        return []  # an API has no catalog; objects are paths the user names

    def read_batches(self, sql: str, params: Sequence[Any] = (), batch_size: int = 10_000
                     ) -> Iterator[tuple[list[str], list[Row]]]:
        raise self.error("REST connections run no SQL; fetch records with a REST spec")

    def write(self, table: str, columns: Columns, batches: Any, mode: str = "create") -> int:
        raise self.error("REST connections are read-only")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        raise self.error("REST connections run no SQL")

    def execute_many(self, statements: Sequence[str]) -> None:
        raise self.error("REST connections run no SQL")

    def quote_ident(self, name: str) -> str:
        raise self.error("REST connections have no identifiers to quote")

    # --- pages -----------------------------------------------------------------------
    def _pages(self, opts: FetchSpec, first: _Call) -> Generator[list[dict[str, Any]], None, None]:
        pager, taken, pages = _Pager(opts.pagination, self), 0, 0
        with _Http(self, opts) as http:
            call: _Call | None = pager.first(first)
            while call is not None:
                reply = http.send(call)
                data = self._json(call, reply)
                records = self._records(call, data, opts.records_path)
                if not records:
                    return
                if pages == opts.max_pages:
                    raise self.call_error(call, f"still returned records after max_pages={opts.max_pages} "
                                                f"pages; raise max_pages or set max_records")
                pages += 1
                received = len(records)
                if opts.max_records is not None:
                    records = records[:opts.max_records - taken]
                taken += len(records)
                yield records
                if opts.max_records is not None and taken >= opts.max_records:
                    return
                call = pager.next(call, reply, data, received)

    def _json(self, call: _Call, reply: _Reply) -> Any:
        self._check_status(call, reply)
        if not reply.body.strip():
            return None
        try:
            return json.loads(reply.body)
        except ValueError:
            pass  # raised below, outside the handler: the decode error holds the whole body
        raise self.call_error(call, f"did not return JSON (content type {reply.content_type or 'none'}): "
                                    f"{self._excerpt(reply.body)}")

    def _records(self, call: _Call, data: Any, path: str) -> list[dict[str, Any]]:
        try:
            found = dig(data, path)
        except LookupError as exc:
            raise self.call_error(call, f"reply has no records at records_path '{path}': {exc}") from None
        if found is None:
            return []
        items = found if isinstance(found, list) else [found]
        records = [item if isinstance(item, dict) else {"value": item} for item in items]
        return self.scrubber.value(records)

    def _check_status(self, call: _Call, reply: _Reply) -> None:
        if reply.status < 400:
            return
        tries = f" after {reply.attempts} attempts" if reply.attempts > 1 else ""
        raise self.call_error(call, f"failed with HTTP {reply.status} {reply.reason}{tries}: "
                                    f"{self._excerpt(reply.body)}", transient=http_status_transient(reply.status))

    # --- requests --------------------------------------------------------------------
    def _base_url(self) -> URL:
        raw = str(self.settings.get("base_url") or "")
        url = URL(raw)
        if url.scheme not in ("http", "https") or not url.host:
            raise self.error(f"base_url {raw!r} is not an http:// or https:// URL")
        return url

    def _first_call(self, opts: FetchSpec) -> _Call:
        base, path = self._base_url(), opts.path
        if "://" in path:
            raise self.error(f"REST spec: path {path!r} must be relative to base_url")
        url = URL(str(base).rstrip("/") + "/" + path.lstrip("/")) if path else base
        headers = {"Accept": "application/json"}
        headers.update({k: self._render(_header_text(k, v, self.error), f"header '{k}'")
                        for k, v in opts.headers.items()})
        params = {k: self._query_value(k, v) for k, v in opts.params.items() if v is not None}
        return _Call(opts.method, url, params, headers, opts.body)

    def _query_value(self, name: str, value: Any) -> str | list[str]:
        if isinstance(value, (list, tuple)):
            return [self._query_value(name, v) for v in value]  # type: ignore[misc]
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        if isinstance(value, str):
            return self._render(value, f"parameter '{name}'")
        raise self.error(f"REST spec: parameter '{name}' is a {type(value).__name__}; use text or numbers")

    def auth_parts(self) -> _Auth:
        kind = str(self.settings.get("auth") or "none")
        token = str(self.settings.get("token") or "")
        if kind not in AUTH_TYPES:
            raise self.error(f"auth must be one of {', '.join(AUTH_TYPES)}, not {kind!r}")
        if kind != "none" and not token:
            raise self.error(f"auth '{kind}' needs a token, and none is set")
        key_name = str(self.settings.get("api_key_name") or DEFAULT_KEY_NAMES.get(kind, ""))
        if kind == "bearer":
            return _Auth({"Authorization": f"Bearer {token}"}, {})
        if kind == "api_key_header":
            return _Auth({key_name: token}, {})
        if kind == "api_key_query":
            return _Auth({}, {key_name: token})
        if kind == "basic":
            return _Auth({"Authorization": self._basic(token)}, {})
        return _Auth({}, {})

    def _basic(self, password: str) -> str:
        user = str(self.settings.get("username") or "")
        if not user or ":" in user:
            raise self.error("Basic auth needs a user name without ':'")
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()  # RFC 7617, UTF-8
        return f"Basic {pair}"

    def trusted(self, url: URL) -> bool:
        """Whether this connection's credentials may be sent to ``url``."""
        base = self._base_url()
        return (url.host or "").lower() == (base.host or "").lower() and url.scheme in (base.scheme, "https")

    # --- secrets and messages ----------------------------------------------------------
    def _own_secret(self, connection: str, field_name: str) -> str | None:
        if connection in (self.connection_id, self.name) and field_name == "token":
            return str(self.settings.get("token") or "") or None
        raise self.error(f"{placeholder(connection, field_name)} cannot be resolved here: "
                         f"only this connection's own token is available")

    def _render(self, text: str, where: str) -> str:
        """``text`` with its secret placeholders resolved (and registered for scrubbing)."""

        def resolve(ref: templates.Reference) -> str:
            if ref.kind != "secret":
                raise self.error(f"{where}: only secret references are allowed here, not {ref.text}")
            value = self.resolve_secret(ref.arg or "", ref.field or "")
            if not value:
                raise self.error(f"{where}: {ref.text} has no value; set that secret first")
            self.scrubber.add(value, placeholder(ref.arg or "", ref.field or ""))
            return value

        try:
            return templates.render(text, resolve)
        except TemplateError as exc:
            raise self.error(f"{where}: {exc}") from None

    def _excerpt(self, body: bytes) -> str:
        text = " ".join(self.scrubber.text(body.decode("utf-8", "replace")).split())
        if not text:
            return "(empty body)"
        return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"

    def error(self, message: str) -> ConnectorError:
        return ConnectorError(self.scrubber.text(f"connection '{self.name}': {message}"))

    def call_error(self, call: _Call, message: str, transient: bool | None = None) -> ConnectorError:
        """An error about one request: method and URL path, never the query."""
        error = self.error(f"{call.method} {call.url.path} {message}")
        error.transient = transient
        return error

    @staticmethod
    def _object_spec(obj: str) -> dict[str, Any]:
        if obj.lstrip().startswith("{"):
            try:
                spec = json.loads(obj)
            except ValueError as exc:
                raise ConnectorError(f"the REST object {obj[:80]!r} is not a JSON spec ({exc})") from None
            return dict(spec) if isinstance(spec, dict) else {"path": obj}
        return {"path": obj}


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


def _header_text(name: str, value: Any, fail: Callable[[str], ConnectorError]) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise fail(f"REST spec: header '{name}' must be text or a number")
    return str(value)


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _first_type(values: Iterator[Any]) -> str:
    for value in values:
        if value is None:
            continue
        if isinstance(value, (bool, int)):
            return "INTEGER"
        return "REAL" if isinstance(value, float) else "TEXT"
    return ""
