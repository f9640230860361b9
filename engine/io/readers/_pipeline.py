"""Run a batch reader in a background thread while the caller writes to SQLite.

Why a thread helps although parsing holds the GIL: ``sqlite3`` releases the GIL while a
statement runs, so parsing batch N+1 overlaps with SQLite inserting batch N.

Guarantees: at most ``depth`` batches wait in memory; items handed back with
:meth:`Prefetcher.recycle` are freed in the reader thread (freeing a batch's tens of
thousands of strings is work the busy writing thread need not do); an exception raised
by the reader is re-raised in the consumer with its traceback; :meth:`Prefetcher.close`
(also on leaving the ``with`` block, on error or early exit) stops the reader, closes
its generator (so its files are closed) and joins the thread before returning.
"""

from __future__ import annotations

import collections
import queue
import sys
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

_END = object()
_POLL_S = 0.05
# While both threads are busy, a short switch interval hands the GIL back to the
# inserting thread soon after its SQLite step returns: a thread waiting for the GIL asks
# for it only after this interval, and the 5 ms default leaves SQLite idle that long.
# Measured with bench/import_csv.py: 5 ms → 0.5 ms → 50 µs took about 5.0 → 4.5 → 3.9 s.
_SWITCH_INTERVAL_S = 0.00005


def _free(trash: collections.deque[object], keep: int) -> None:
    """Drop items of ``trash`` (their last reference) until ``keep`` remain."""
    try:
        while len(trash) > keep:
            trash.popleft()
    except IndexError:   # the other thread emptied it meanwhile
        pass


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Prefetcher(Generic[T]):
    """Iterate ``source`` in a daemon thread, ``depth`` items ahead of the consumer."""

    def __init__(self, source: Iterator[T], depth: int = 3, name: str = "dagflux-reader") -> None:
        self._source = source
        self._depth = depth
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._trash: collections.deque[object] = collections.deque()
        self._done = False
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._saved_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._saved_interval, _SWITCH_INTERVAL_S))
        try:
            self._thread.start()
        except BaseException:
            sys.setswitchinterval(self._saved_interval)
            raise

    def _produce(self) -> None:
        trash = self._trash
        try:
            for item in self._source:
                _free(trash, keep=0)
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            self._put(_Failure(exc))
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def get(self, block: bool = True) -> T | None:
        """The next item; ``None`` at the end, or when not blocking and none is ready."""
        if self._done:
            return None
        try:
            item = self._queue.get(block=block)
        except queue.Empty:
            return None
        if item is _END:
            self._done = True
            return None
        if isinstance(item, _Failure):
            self._done = True
            raise item.exc
        return item  # type: ignore[return-value]

    def ready(self, limit: int) -> list[T]:
        """One item (waiting for it) plus up to ``limit - 1`` more that are already queued."""
        first = self.get()
        if first is None:
            return []
        items = [first]
        while len(items) < limit and (item := self.get(block=False)) is not None:
            items.append(item)
        return items

    def recycle(self, items: list[T]) -> None:
        """Hand ``items`` back to be freed in the reader thread; empties ``items``."""
        self._trash.extend(items)
        items.clear()
        # A reader that lags leaves the consumer idle anyway: free the excess here.
        _free(self._trash, keep=self._depth)

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            # Drain so a producer blocked on a full queue sees the stop flag at once.
            try:
                self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                pass
        self._thread.join()
        self._trash.clear()
        sys.setswitchinterval(self._saved_interval)

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
