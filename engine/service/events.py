"""Fan-out of run and trigger events to subscribers.

``publish`` never blocks on a subscriber: each has its own bounded queue, drained
by its own sender. A subscriber that falls too far behind is dropped (its
connection is closed) rather than slowing runs down.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from engine.messages import Message

log = logging.getLogger("dagflux.events")
QUEUE_LIMIT = 10_000


class Subscriber:
    def __init__(self, send: Callable[[Message], None], on_drop: Callable[[], None], name: str) -> None:
        self._send = send
        self._on_drop = on_drop
        self._queue: queue.Queue[Message | None] = queue.Queue(QUEUE_LIMIT)
        self.name = name
        self.thread = threading.Thread(target=self._drain, name=f"dagflux-events-{name}", daemon=True)
        self.thread.start()

    def offer(self, msg: Message | None) -> bool:
        try:
            self._queue.put_nowait(msg)
            return True
        except queue.Full:
            return False

    def _drain(self) -> None:
        while (msg := self._queue.get()) is not None:
            try:
                self._send(msg)
            except (OSError, ValueError):
                self._on_drop()
                return


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        self._listeners: list[Callable[[Message], None]] = []

    def subscribe(self, send: Callable[[Message], None], on_drop: Callable[[], None],
                  name: str) -> Subscriber:
        sub = Subscriber(send, on_drop, name)
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)
        sub.offer(None)

    def listen(self, listener: Callable[[Message], None]) -> None:
        """An in-process listener, called synchronously (keep it quick)."""
        with self._lock:
            self._listeners.append(listener)

    def publish(self, msg: Message) -> None:
        with self._lock:
            subscribers, listeners = list(self._subscribers), list(self._listeners)
        for listener in listeners:
            listener(msg)
        for sub in subscribers:
            if not sub.offer(msg):
                log.warning("dropping event subscriber %s: it fell %d events behind", sub.name, QUEUE_LIMIT)
                self.unsubscribe(sub)
                sub._on_drop()

    def close(self) -> None:
        with self._lock:
            subscribers, self._subscribers = self._subscribers, []
        for sub in subscribers:
            sub.offer(None)
