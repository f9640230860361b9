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

import base64
import json
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from yarl import URL

from engine import templates
from engine.connectors.base import Columns, Connector, ConnectorError, FieldSpec, Row
from engine.errors import TemplateError
from engine.retry import http_status_transient
from engine.scrub import Scrubber

from .rest_http import (
    _Http,
    _Pager,
    dig,
)
from .rest_spec import (
    AUTH_TYPES,
    DEFAULT_KEY_NAMES,
    EXCERPT_CHARS,
    FetchSpec,
    _Auth,
    _Call,
    _Reply,
    parse_spec,
    placeholder,
)

__all__ = ["RestConnector"]


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
