"""The webhook trigger's HTTP server: one secret URL per workflow, rows to the engine.

:class:`WebhookServer` runs an aiohttp application on its own thread and event loop,
bound to ``127.0.0.1`` by default. Each workflow with a webhook Start node gets a route
``POST /hooks/<token>``; the token is an opaque random string (:func:`new_token`) and is
the only secret, so it is never written to a log.

Guarantees:

* :meth:`WebhookServer.start` returns once the socket listens (``port=0`` picks a free
  port, then :attr:`~WebhookServer.port` and :meth:`~WebhookServer.url_for` tell it);
  :meth:`~WebhookServer.stop` closes the socket, ends the loop and joins every thread the
  server started.
* A workflow has at most one token: :meth:`~WebhookServer.add` replaces the workflow's
  previous one, :meth:`~WebhookServer.remove_workflow` drops it, and
  :meth:`~WebhookServer.tokens` lists what is routed, so no route outlives its workflow.
* Replies (all JSON objects with a ``status``):

  ====  ==========================================================================
  202   ``{"status": "started", "run_id": …}``: the callback started a run
  400   the body is malformed; the error names the line (and column for JSON), or
        JSON nested deeper than :data:`engine.jsonlimits.MAX_DEPTH` levels
  404   unknown token, any method: one fixed body, so nothing tells whether a
        workflow exists
  405   a known token with a method other than POST
  409   ``{"status": "skipped", "reason": …}``: the callback declined (e.g. already
        running)
  413   the body is larger than ``max_body_bytes``; never more than that is buffered
  415   a content type other than ``application/json`` or ``text/csv``, or a format
        the workflow does not accept
  500   the callback raised; the reply is generic, the detail goes to the
        ``dagflux.webhook`` log
  ====  ==========================================================================

* Bodies become rows: a JSON object is one row, a JSON array of objects is one row per
  item (nested values are kept as Python lists/dicts), CSV is read with a required header
  row. Parsing and the callback run on a worker thread of the server
  (``loop.run_in_executor``), so a slow callback or a large body never stalls other
  requests. The callback may therefore run on several threads at once (``max_workers``,
  8 by default): it must be thread-safe, and quick (decide, hand the run over, return),
  since a request waits for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import io
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from engine import jsonlimits
from engine.errors import DagfluxError

__all__ = ["OnWebhook", "WebhookServer", "WebhookServerError", "new_token"]

log = logging.getLogger("dagflux.webhook")

#: ``on_webhook(workflow_id, rows, meta)`` returns ``("started", run_id)``, ``("skipped", reason)`` or
#: ``("invalid", reason)`` (a query-string parameter value the workflow refuses: HTTP 400).
OnWebhook = Callable[[str, list[dict[str, Any]], dict[str, Any]], tuple[str, Any]]

DEFAULT_MAX_BODY = 10 * 1024 * 1024
FORMATS = ("json", "csv")
_CONTENT_TYPES = {"application/json": "json", "text/csv": "csv"}
_CHUNK = 64 * 1024
_READY_TIMEOUT = 10.0
_NOT_FOUND = {"status": "error", "error": "not found"}
_INTERNAL = {"status": "error", "error": "internal error: no run was started; see the engine log"}


class WebhookServerError(DagfluxError):
    """The webhook server cannot start, or is used in a state that does not allow it."""


def new_token() -> str:
    """A fresh random URL token (32 URL-safe characters, 192 bits)."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class _Route:
    workflow_id: str
    formats: tuple[str, ...]


class _Reject(Exception):
    """A request refused with ``status`` and a message for the client."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.payload = status, {"status": "error", "error": message, **extra}


class WebhookServer:
    """An aiohttp server on its own thread that turns webhook POSTs into runs."""

    def __init__(self, on_webhook: OnWebhook, host: str = "127.0.0.1", port: int = 0,
                 max_body_bytes: int = DEFAULT_MAX_BODY, max_workers: int = 8,
                 shutdown_timeout: float = 5.0) -> None:
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be at least 1, got {max_body_bytes}")
        self._on_webhook = on_webhook
        self._host, self._requested_port = host, port
        self._max_body = max_body_bytes
        self._max_workers, self._shutdown_timeout = max_workers, shutdown_timeout
        self._routes: dict[str, _Route] = {}
        self._routes_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._port: int | None = None

    # --- routes (any thread) -----------------------------------------------------------
    def add(self, token: str, workflow_id: str, formats: Iterable[str] = FORMATS) -> None:
        """Route ``POST /hooks/<token>`` to ``workflow_id``, replacing its previous token."""
        allowed = tuple(f for f in FORMATS if f in set(formats))
        unknown = sorted(set(formats) - set(FORMATS))
        if unknown or not allowed:
            raise ValueError(f"webhook formats must be a non-empty subset of {FORMATS}, got {list(formats)}")
        if not token:
            raise ValueError("a webhook token must not be empty")
        with self._routes_lock:
            holder = self._routes.get(token)
            if holder is not None and holder.workflow_id != workflow_id:
                raise ValueError(f"this token is already routed to another workflow ({holder.workflow_id})")
            self._drop(workflow_id)
            self._routes[token] = _Route(workflow_id, allowed)

    def remove_workflow(self, workflow_id: str) -> bool:
        """Drop the workflow's route; True when it had one."""
        with self._routes_lock:
            return self._drop(workflow_id)

    def tokens(self) -> frozenset[str]:
        """Every routed token (tests use it to prove that no route is orphaned)."""
        with self._routes_lock:
            return frozenset(self._routes)

    def token_of(self, workflow_id: str) -> str | None:
        with self._routes_lock:
            return next((t for t, r in self._routes.items() if r.workflow_id == workflow_id), None)

    def _drop(self, workflow_id: str) -> bool:
        stale = [t for t, r in self._routes.items() if r.workflow_id == workflow_id]
        for token in stale:
            del self._routes[token]
        return bool(stale)

    def _lookup(self, token: str) -> _Route | None:
        with self._routes_lock:
            return self._routes.get(token)

    # --- lifecycle -----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise WebhookServerError("the webhook server is not running")
        return self._port

    def url_for(self, token: str) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}/hooks/{token}"

    def start(self) -> None:
        """Listen; returns once requests are accepted. Raises WebhookServerError."""
        if self._thread is not None:
            raise WebhookServerError("the webhook server is already running")
        ready = threading.Event()
        failure: list[BaseException] = []
        thread = threading.Thread(target=self._thread_main, args=(ready, failure),
                                  name="dagflux-webhook", daemon=True)
        thread.start()
        if not ready.wait(_READY_TIMEOUT):
            raise WebhookServerError(f"the webhook server did not start within {_READY_TIMEOUT:g} s")
        if failure:
            thread.join()
            where = f"{self._host}:{self._requested_port}"
            raise WebhookServerError(f"cannot listen for webhooks on {where}: {failure[0]}") from failure[0]
        self._thread = thread

    def stop(self) -> None:
        """Close the socket, finish the loop and join the server's threads (idempotent)."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and thread.is_alive():
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:  # the loop ended on its own (an error, logged) in the meantime
                pass
        thread.join()
        self._thread = self._loop = self._stopping = self._executor = None
        self._port = None

    def __enter__(self) -> WebhookServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _thread_main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        try:
            asyncio.run(self._serve(ready))
        except BaseException as exc:  # reported to start(); after start there is nobody to tell
            if ready.is_set():
                log.exception("the webhook server stopped on an error")
            else:
                failure.append(exc)
        finally:
            ready.set()

    async def _serve(self, ready: threading.Event) -> None:
        app = web.Application(client_max_size=self._max_body)
        app.router.add_route("*", "/hooks/{token}", self._handle)
        app.router.add_route("*", "/{tail:.*}", _not_found_handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False,
                               shutdown_timeout=self._shutdown_timeout)
        executor = concurrent.futures.ThreadPoolExecutor(self._max_workers, "dagflux-webhook-worker")
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._requested_port).start()
            self._port = runner.addresses[0][1]
            stopping = asyncio.Event()
            self._loop, self._stopping, self._executor = asyncio.get_running_loop(), stopping, executor
            ready.set()
            await stopping.wait()
        finally:
            await runner.cleanup()
            executor.shutdown(wait=True, cancel_futures=True)

    # --- requests (server thread) ------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        route = self._lookup(request.match_info["token"])
        if route is None:
            return _not_found()
        if request.method != "POST":
            return web.json_response({"status": "error", "error": "use POST"}, status=405,
                                     headers={"Allow": "POST"})
        loop = asyncio.get_running_loop()
        try:
            kind = _format_of(request.content_type, route.formats)
            body = await _read_limited(request, self._max_body)
            rows = await loop.run_in_executor(self._executor, _parse, kind, body, request.charset)
        except _Reject as reject:
            return web.json_response(reject.payload, status=reject.status)
        meta = {"content_type": request.content_type, "format": kind, "bytes": len(body),
                "remote": request.remote, "query": dict(request.query)}   # the workflow's parameter values
        return await self._dispatch(loop, route.workflow_id, rows, meta)

    async def _dispatch(self, loop: asyncio.AbstractEventLoop, workflow_id: str,
                        rows: list[dict[str, Any]], meta: dict[str, Any]) -> web.Response:
        try:
            outcome = await loop.run_in_executor(self._executor, self._on_webhook, workflow_id, rows, meta)
            state, detail = outcome
        except Exception:  # the engine's callback failed: the client gets a generic 500, the log the cause
            log.exception("webhook for workflow %s: the run could not be started", workflow_id)
            return web.json_response(_INTERNAL, status=500)
        if state == "started":
            run_id = detail if isinstance(detail, (str, int)) else str(detail)
            return web.json_response({"status": "started", "run_id": run_id}, status=202)
        if state == "skipped":
            return web.json_response({"status": "skipped", "reason": str(detail)}, status=409)
        if state == "invalid":   # e.g. a query-string parameter value of the wrong type
            return web.json_response({"status": "error", "error": str(detail)}, status=400)
        log.error("webhook for workflow %s: the callback returned %r, not started/skipped", workflow_id, state)
        return web.json_response(_INTERNAL, status=500)


# --- request helpers (pure, testable without a socket) ---------------------------------
def _not_found() -> web.Response:
    return web.json_response(_NOT_FOUND, status=404)


async def _not_found_handler(request: web.Request) -> web.Response:
    return _not_found()


def _format_of(content_type: str, allowed: tuple[str, ...]) -> str:
    kind = _CONTENT_TYPES.get(content_type)
    if kind is None:
        accepted = " or ".join(t for t, k in _CONTENT_TYPES.items() if k in allowed)
        raise _Reject(415, f"unsupported content type '{content_type}': send {accepted}")
    if kind not in allowed:
        raise _Reject(415, f"this webhook does not accept {kind.upper()}: send {' or '.join(allowed).upper()}")
    return kind


async def _read_limited(request: web.Request, limit: int) -> bytes:
    """The body, refusing (413) as soon as it would exceed ``limit`` bytes."""
    too_large = _Reject(413, f"the body is larger than the limit of {limit} bytes", limit=limit)
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks, size = [], 0
    while True:
        chunk = await request.content.read(min(_CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)


def _parse(kind: str, body: bytes, charset: str | None) -> list[dict[str, Any]]:
    text = _decode(body, charset)
    return _json_rows(text) if kind == "json" else _csv_rows(text)


def _decode(body: bytes, charset: str | None) -> str:
    encoding = charset or "utf-8"
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"      # tolerate a byte-order mark
    try:
        return body.decode(encoding)
    except LookupError:
        raise _Reject(415, f"unknown charset '{charset}': send UTF-8") from None
    except UnicodeDecodeError as exc:
        raise _Reject(400, f"the body is not valid {charset or 'UTF-8'} text at byte {exc.start}") from None


def _json_rows(text: str) -> list[dict[str, Any]]:
    try:
        value = jsonlimits.loads(text)
    except jsonlimits.JsonTooDeep as exc:
        raise _Reject(400, f"the JSON body is {exc}") from None
    except json.JSONDecodeError as exc:
        raise _Reject(400, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                      line=exc.lineno, column=exc.colno) from None
    if isinstance(value, Mapping):
        return [dict(value)]
    if not isinstance(value, list):
        raise _Reject(400, f"a JSON body must be an object or an array of objects, not {_json_kind(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise _Reject(400, f"item {index} of the JSON array is {_json_kind(item)}: each item must be an object")
    return value


def _json_kind(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _csv_rows(text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    header = _csv_next(reader, lambda r: r.fieldnames)
    if not header:
        raise _Reject(400, "a CSV body needs a header row naming the columns")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise _Reject(400, f"malformed CSV at line 1: duplicate column name(s) {', '.join(duplicates)}", line=1)
    rows = []
    while (row := _csv_next(reader, lambda r: next(r, None))) is not None:
        rows.append(_checked_csv_row(row, len(header), reader.line_num))
    return rows


def _csv_next(reader: csv.DictReader, step: Callable[[csv.DictReader], Any]) -> Any:
    """``step(reader)``, a csv.Error becoming a 400 that names the line its record starts on."""
    line = reader.line_num + 1      # the csv module counts lines read, up to where it failed
    try:
        return step(reader)
    except csv.Error as exc:
        raise _Reject(400, f"malformed CSV at line {line}: {exc}", line=line) from None


def _checked_csv_row(row: dict[str | None, Any], width: int, line: int) -> dict[str, Any]:
    if None in row:
        found = width + len(row[None])
        raise _Reject(400, f"malformed CSV at line {line}: {found} fields, the header has {width}", line=line)
    if any(value is None for value in row.values()):
        found = sum(value is not None for value in row.values())
        raise _Reject(400, f"malformed CSV at line {line}: {found} fields, the header has {width}", line=line)
    return row  # type: ignore[return-value]  # no None key left
