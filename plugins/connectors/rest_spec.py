"""The REST connector's fetch spec and request/reply records (split from :mod:`.rest`,
whose docstring describes the spec)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

from yarl import URL

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
