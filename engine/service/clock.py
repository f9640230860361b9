"""Time sources for the trigger components: the real clock, and a fake one for tests.

A :class:`Clock` gives two readings and one way to wait:

* :meth:`~Clock.now` — local, naive wall-clock time, the time schedules are written in.
  It can jump (NTP, the user, daylight saving) and it keeps running while the machine sleeps.
* :meth:`~Clock.monotonic` — seconds that never go backwards. On Linux and macOS it stops
  while the machine is suspended, so wall-clock progress far beyond monotonic progress
  means the machine slept or the wall clock was moved forward.
* :meth:`~Clock.utcoffset` — the local time zone's current offset from UTC in seconds, so a
  wall-clock jump that is only a daylight-saving change can be told from a sleep.
* :meth:`~Clock.wait` — block until an event is set or a timeout passes; returns whether
  the event is set. Loops wait through the clock so a test controls their pace.

:class:`FakeClock` is deterministic: time moves only when a test calls
:meth:`~FakeClock.advance` (both readings move) or :meth:`~FakeClock.jump` (only the wall
clock moves, as after a suspend or a clock change). Its :meth:`~FakeClock.wait` never
advances time; it blocks on the event for at most a few real milliseconds, so a
background loop driven by a fake clock spins gently and stops at once when asked.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    def now(self) -> dt.datetime:
        """Local naive wall-clock time."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never decreases."""
        ...

    def utcoffset(self) -> float:
        """Seconds local wall time is ahead of UTC right now (DST included)."""
        ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Block until ``event`` is set or ``seconds`` pass; True when the event is set."""
        ...


class SystemClock:
    """The machine's clocks."""

    def now(self) -> dt.datetime:
        return dt.datetime.now()

    def monotonic(self) -> float:
        return time.monotonic()

    def utcoffset(self) -> float:
        return float(time.localtime().tm_gmtoff)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when told to; safe to read from several threads."""

    #: The longest real time :meth:`wait` blocks, whatever it is asked for.
    REAL_WAIT = 0.005

    def __init__(self, start: dt.datetime = dt.datetime(2025, 1, 6, 8, 0), monotonic: float = 1000.0) -> None:
        self._lock = threading.Lock()
        self._now = start.replace(tzinfo=None)
        self._monotonic = monotonic
        self._utcoffset = 0.0
        self.waits = 0      # how many times a loop waited: lets a test wait for a loop to come round

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    def utcoffset(self) -> float:
        with self._lock:
            return self._utcoffset

    def wait(self, event: threading.Event, seconds: float) -> bool:
        with self._lock:
            self.waits += 1
        return event.wait(min(max(0.0, seconds), self.REAL_WAIT))

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass normally: wall clock and monotonic clock move together."""
        if seconds < 0:
            raise ValueError("time does not run backwards; use jump() to set the wall clock back")
        with self._lock:
            self._now += dt.timedelta(seconds=seconds)
            self._monotonic += seconds

    def jump(self, to: dt.datetime, monotonic_seconds: float = 0.0, utcoffset: float | None = None) -> None:
        """Set the wall clock to ``to`` (either way) while only ``monotonic_seconds`` pass.

        A suspend of three hours is ``jump(now + 3 h)``; a clock set back is ``jump(earlier)``;
        a daylight-saving change also moves the UTC offset (``utcoffset=3600``).
        """
        with self._lock:
            self._now = to.replace(tzinfo=None)
            self._monotonic += monotonic_seconds
            if utcoffset is not None:
                self._utcoffset = float(utcoffset)
