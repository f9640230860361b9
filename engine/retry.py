"""Per-node retries: which failures are retried, how often, and how long to wait.

A node may carry ``"retry": {"count": 3, "delay_s": 2, "backoff": 2}`` — after a failure
that *can be transient* the runner waits ``delay_s`` and runs the node again, up to ``count``
more times; each further wait is the previous one times ``backoff`` (2 s, 4 s, 8 s …, each
capped at :data:`MAX_DELAY_S`). The wait is on the run's cancel event, so a cancel during a
wait stops the run at once. Every attempt is kept in the node's history row.

**The transient rule.** A failure is retried only when the worker marks it transient:

* the network: connection refused, reset or aborted, a host that cannot be reached, a DNS
  failure, a timeout (``ConnectionError``, ``TimeoutError``, ``socket.gaierror``, the matching
  ``OSError`` errnos) — anywhere in the exception's cause chain;
* a server that says "try later": HTTP 5xx and 429 (a REST connector's error carries the status);
* a database driver's connection-level error (its ``OperationalError`` for a lost or refused
  connection, as the connector reports it with ``transient=True``).

Never retried: SQL errors (syntax, a missing table or column, a constraint), HTTP 4xx other
than 429, a missing file, a bad configuration, a cancel, a node timeout (the node's own time
limit was spent) or a worker that died. Retrying those would fail the same way.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_DELAY_S = 3600.0
_TRANSIENT_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT,
                     errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EPIPE, errno.EAGAIN}


@dataclass(frozen=True)
class RetryPolicy:
    count: int = 0          # retries after the first attempt
    delay_s: float = 1.0    # wait before the first retry
    backoff: float = 2.0    # factor between consecutive waits

    @classmethod
    def of(cls, spec: Mapping[str, Any] | None) -> RetryPolicy:
        """The policy a (validated) node ``retry`` object describes; none → no retries."""
        if not spec:
            return cls()
        return cls(int(spec.get("count", 0)), float(spec.get("delay_s", 1.0)), float(spec.get("backoff", 2.0)))

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry)."""
        return min(self.delay_s * self.backoff ** (retry - 1), MAX_DELAY_S)


def check(spec: Any, node_type: str) -> list[str]:
    """What is wrong with a node's ``retry`` object beyond its schema (the types and ranges)."""
    if spec is None:
        return []
    if node_type == "start":
        return ["retry: a Start node does no work that could be retried"]
    return []


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` (or anything in its cause/context chain) is a failure a later attempt
    may not meet — see the module doc for the rule."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        marked = getattr(current, "transient", None)
        if marked is not None:
            return bool(marked)
        if isinstance(current, (ConnectionError, TimeoutError, socket.gaierror)):
            return True
        if isinstance(current, OSError) and current.errno in _TRANSIENT_ERRNOS:
            return True
        current = current.__cause__ or current.__context__
    return False


def http_status_transient(status: int) -> bool:
    """A reply that asks to try later: 5xx, and 429 Too Many Requests."""
    return status >= 500 or status == 429


# The connectors' own words (engine/connectors) for failures a later attempt may not meet.
_TRANSIENT_REASONS = ("cannot reach the server", "the server has no free connection slots",
                      "the server closed the connection", "cannot resolve the configured host name",
                      "lost the connection to the server", "the database system is starting up",
                      "the database system is shutting down")


def reason_transient(reason: str) -> bool:
    """True for a connector's description of a connection-level failure (refused, timed out,
    no route, server full or restarting, connection lost) — never for a SQL or auth error."""
    return reason.startswith(_TRANSIENT_REASONS)
