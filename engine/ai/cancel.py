"""Stopping a per-node assistant round from another thread (``ai.cancel`` on an ``ai.assist_start``).

The assistant's model calls run as worker ops; cancelling the op in flight makes the pool
kill its worker, which closes the provider's HTTP stream (the key never left that worker).
"""

from __future__ import annotations

import threading
from typing import Any

from engine.errors import DagfluxError
from engine.messages_ai import AiDelta


class CancelToken:
    """Stops an :meth:`AssistService.assist_node` from another thread: :meth:`cancel` cancels
    the worker op in flight (the pool kills its worker, which closes the provider's stream)
    and every later step sees :attr:`cancelled`. It also keeps the text streamed so far."""

    def __init__(self) -> None:
        self.cancelled = False
        self._parts: list[str] = []
        self._future: Any = None
        self._executor: Any = None
        self._lock = threading.Lock()

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            executor, future = self._executor, self._future
        if future is not None:
            executor.cancel(future)

    def attach(self, executor: Any, future: Any) -> bool:
        """Follow ``future`` (the op in flight); False (and the op cancelled) when already stopped."""
        with self._lock:
            self._executor, self._future = executor, future
            stopped = self.cancelled
        if stopped:
            executor.cancel(future)
        return not stopped

    def watch(self, on_event: Any) -> Any:
        def relay(msg: Any) -> None:
            if isinstance(msg, AiDelta):
                self._parts.append(msg.text)
            if on_event is not None:
                on_event(msg)
        return relay

    def text(self) -> str:
        return "".join(self._parts)


def check_call_id(call_id: Any, what: str = "call_id") -> str:
    if not isinstance(call_id, str) or not call_id or not call_id.replace("-", "").isalnum() or len(call_id) > 64:
        raise DagfluxError(f"{what} must be a short id of letters, digits and '-'")
    return call_id
