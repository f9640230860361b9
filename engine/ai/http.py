"""What the three AI wire protocols share: requests with retries, SSE, errors.

:meth:`HttpPolicy.open` sends one request and returns the response once its status is
2xx. Before a reply has started it retries: HTTP 408, 429, 500, 502, 503, 504 and 529,
at most ``max_retries`` times, waiting what the server asked for (``Retry-After`` in
seconds or as a date, ``retry-after-ms``, or a Google ``RetryInfo.retryDelay`` in the
error body) or else 0.5 s doubling. A server asking for longer than
``max_retry_wait_s`` fails at once — never a silent multi-minute hang. A stream that
has started is never retried (its tokens already reached the user).

Errors are :class:`~engine.ai.provider.AiError` with a kind: 401/403 → ``refused``
("the key was refused"), 429 → ``rate_limited``, 529 → ``overloaded``, other 5xx →
``server``, other 4xx → ``bad_request``; no answer within ``timeout_s`` → ``timeout``;
cannot connect → ``unreachable``; a stream that ends before its protocol's last event
→ ``dropped``. Every message passes :meth:`HttpPolicy.scrub`, which removes the key in
every encoding :mod:`engine.scrub` knows; messages quote at most 300 characters of the
server's own error text and never the request's URL query or headers.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from engine.ai.provider import AiError
from engine.scrub import Scrubber

RETRY_STATUS = {408, 429, 500, 502, 503, 504, 529}
FIRST_BACKOFF_S = 0.5
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)s\s*$")


@dataclass
class HttpPolicy:
    label: str
    secrets: list[str] = field(default_factory=list)
    timeout_s: float = 60.0
    max_retries: int = 2
    max_retry_wait_s: float = 30.0

    def __post_init__(self) -> None:
        self._scrubber = Scrubber()
        for value in self.secrets:
            self._scrubber.add(value, "[api key]")

    def scrub(self, text: str) -> str:
        return self._scrubber.text(text)

    def session(self) -> aiohttp.ClientSession:
        timeout = aiohttp.ClientTimeout(total=None, connect=self.timeout_s, sock_connect=self.timeout_s,
                                        sock_read=self.timeout_s)
        return aiohttp.ClientSession(timeout=timeout)

    async def open(self, session: aiohttp.ClientSession, method: str, url: str, headers: Mapping[str, str],
                   body: Any = None) -> aiohttp.ClientResponse:
        """The response of the first attempt that succeeded (the caller reads and releases it)."""
        attempt = 0
        while True:
            try:
                resp = await session.request(method, url, headers=dict(headers), json=body)
            except (TimeoutError, aiohttp.ServerTimeoutError):
                raise AiError(f"{self.label}: no answer within {self.timeout_s:g} s", "timeout") from None
            except aiohttp.ClientError as exc:
                raise AiError(self.scrub(f"{self.label}: cannot reach {_where(url)} "
                                         f"({type(exc).__name__}: {exc})"), "unreachable") from None
            if resp.status < 300:
                return resp
            text = await _body(resp)
            resp.release()
            error = self.error_for(resp.status, text)
            if resp.status not in RETRY_STATUS or attempt >= self.max_retries:
                if resp.status in RETRY_STATUS and self.max_retries:
                    raise AiError(f"{error} (gave up after {attempt + 1} attempts)", error.kind)
                raise error
            wait = retry_delay(resp.headers, text)
            if wait is not None and wait > self.max_retry_wait_s:
                raise AiError(f"{error}; the server asked to wait {wait:g} s, longer than the limit of "
                              f"{self.max_retry_wait_s:g} s", error.kind)
            await asyncio.sleep(wait if wait is not None else FIRST_BACKOFF_S * 2 ** attempt)
            attempt += 1

    def error_for(self, status: int, body: str) -> AiError:
        detail = error_message(body)
        said = f": {detail}" if detail else ""
        if status in (401, 403):
            return AiError(self.scrub(f"{self.label}: the key was refused (HTTP {status}{said})"), "refused")
        if status == 429:
            return AiError(self.scrub(f"{self.label}: rate limited (HTTP 429{said})"), "rate_limited")
        if status == 529:
            return AiError(self.scrub(f"{self.label}: the provider is overloaded (HTTP 529{said})"), "overloaded")
        if status >= 500 or status == 408:
            return AiError(self.scrub(f"{self.label}: server error (HTTP {status}{said})"), "server")
        return AiError(self.scrub(f"{self.label}: the request was refused (HTTP {status}{said})"), "bad_request")

    async def get_json(self, url: str, headers: Mapping[str, str]) -> Any:
        async with self.session() as session:
            resp = await self.open(session, "GET", url, headers)
            try:
                return await resp.json(content_type=None)
            except (ValueError, aiohttp.ClientError) as exc:
                raise AiError(f"{self.label}: {_where(url)} did not answer JSON ({type(exc).__name__})",
                              "server") from None
            finally:
                resp.release()

    def dropped(self, what: str) -> AiError:
        return AiError(f"{self.label}: the stream was dropped before {what}", "dropped")

    def stalled(self) -> AiError:
        return AiError(f"{self.label}: the stream stalled (no data for {self.timeout_s:g} s)", "timeout")


async def sse_events(resp: aiohttp.ClientResponse, policy: HttpPolicy) -> AsyncIterator[tuple[str, str]]:
    """``(event name, data)`` per Server-Sent Event; the name is "message" when unnamed.
    A read timeout or a broken connection raises ``timeout`` / ``dropped``."""
    name, data = "message", []
    try:
        while True:
            raw = await resp.content.readline()
            if not raw:
                break
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line == "":
                if data:
                    yield name, "\n".join(data)
                name, data = "message", []
            elif line.startswith(":"):
                continue
            else:
                key, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if key == "event":
                    name = value
                elif key == "data":
                    data.append(value)
        if data:
            yield name, "\n".join(data)
    except (TimeoutError, aiohttp.ServerTimeoutError):
        raise policy.stalled() from None
    except aiohttp.ClientError as exc:
        raise AiError(f"{policy.label}: the stream was dropped ({type(exc).__name__})", "dropped") from None


def parse_json(data: str, policy: HttpPolicy) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise AiError(policy.scrub(f"{policy.label}: a streamed chunk is not JSON: {data[:120]!r}"), "server") from None


def retry_delay(headers: Mapping[str, str], body: str) -> float | None:
    """Seconds the server asked us to wait, or None when it did not say."""
    if headers.get("retry-after-ms"):
        try:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value) if _is_date(value) else None
            if when is not None:
                return max(0.0, when.timestamp() - time.time())
    return _google_retry_delay(body)


def _is_date(value: str) -> bool:
    try:
        return email.utils.parsedate_to_datetime(value) is not None
    except (TypeError, ValueError):
        return False


def _google_retry_delay(body: str) -> float | None:
    try:
        details = json.loads(body)["error"]["details"]
    except (ValueError, KeyError, TypeError):
        return None
    for item in details if isinstance(details, list) else []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DURATION.match(str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def error_message(body: str) -> str:
    """The server's own error text (OpenAI, Anthropic and Google all use error.message)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return " ".join(body.split())[:300]
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])[:300]
    if isinstance(err, str):
        return err[:300]
    return ""


async def _body(resp: aiohttp.ClientResponse) -> str:
    try:
        return (await resp.content.read(64 * 1024)).decode("utf-8", "replace")
    except (TimeoutError, aiohttp.ClientError):
        return ""


def _where(url: str) -> str:
    """scheme://host:port/path — never the query (it may carry a key)."""
    from yarl import URL

    u = URL(url)
    return f"{u.scheme}://{u.host}{'' if u.port is None else ':' + str(u.port)}{u.path}"
