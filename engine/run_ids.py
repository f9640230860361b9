"""Run ids: unique under any load, sortable by start time, readable at a glance.

A run id looks like ``20261205-044512-123-00a-k3j6x2w2qz7fb`` — the UTC date and time, the
millisecond, a per-process counter (three hex digits) and 65 random bits (13 base-32
characters, a–z and 2–7). Ids made by one process are strictly increasing even when the wall clock
steps back or many runs start within one millisecond: the time part never goes below the
last one issued and the counter breaks ties (UUIDv7's method 1). Ids from different
processes (engine, ``dagflux run``, tests) are told apart by the random part: with 65
bits, a collision among a billion ids is about as likely as 1 in 70 billion. The time
part is what a user sees first and what ``dagflux history ID`` prefix lookups match on.
"""

from __future__ import annotations

import base64
import functools
import os
import threading
import time

__all__ = ["new_run_id"]

_RANDOM_CHARS = 13                             # 13 × 5 = 65 random bits
_COUNTER_MAX = 0xFFF

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def _next_stamp() -> tuple[int, int]:
    """(milliseconds since the epoch, counter), strictly increasing within this process."""
    global _last_ms, _counter
    now_ms = time.time_ns() // 1_000_000
    with _lock:
        if now_ms > _last_ms:
            _last_ms, _counter = now_ms, 0
        elif _counter < _COUNTER_MAX:
            _counter += 1
        else:  # 4,096 ids within one millisecond: borrow the next one
            _last_ms, _counter = _last_ms + 1, 0
        return _last_ms, _counter


def _random_part() -> str:
    return base64.b32encode(os.urandom(10)).decode("ascii")[:_RANDOM_CHARS].lower()  # 80 bits drawn, 65 kept


@functools.lru_cache(maxsize=4)
def _second(seconds: int) -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(seconds))


def new_run_id() -> str:
    ms, counter = _next_stamp()
    seconds, millis = divmod(ms, 1000)
    return f"{_second(seconds)}-{millis:03d}-{counter:03x}-{_random_part()}"


def _reset_after_fork() -> None:
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)
