"""The schedule trigger runner: fires each registered workflow at its Start node's times.

One :class:`Scheduler` holds at most one job per workflow and one daemon thread that checks,
every ``tick_s`` seconds, which jobs are due.

Guarantees:

* Fire times come from :func:`engine.model.triggers.next_fire` for every kind, so the time
  :meth:`Scheduler.registered` shows is the time the job runs, and both agree with the
  plain-language sentence the editor shows. A due job calls
  ``on_fire(workflow_id, {"reason": "schedule", "scheduled_for": iso})`` once per fire time,
  at most a tick (plus the time earlier callbacks took) after it.
* :meth:`~Scheduler.set` unregisters the workflow's old job before registering the new one,
  :meth:`~Scheduler.remove` drops it; after either returns, no fire of the old job begins
  (one whose callback is already running finishes). Callbacks run on the scheduler thread,
  outside its lock: they may call ``set``/``remove``, and they should return quickly (hand
  the run to the run manager) because the next due job waits for them.
* **Missed runs.** A fire time is *missed* when the loop finds it late by more than the
  grace (two ticks) after a *pause*: the wall clock moved ahead of monotonic time (the
  machine slept, or the clock was set forward), or the loop itself was frozen longer than
  it asked to wait (suspend on platforms whose monotonic clock counts it, a stopped
  process), or the scheduler had not run yet (started after the job was registered).
  The trigger's ``missed_runs`` policy then applies, once per job and wake-up:
  ``"skip"`` calls ``on_missed(workflow_id, {"missed": N, "policy": "skip", "first": iso,
  "last": iso})`` and does not fire; ``"run_once"`` calls ``on_missed`` the same way and
  fires once with ``{"reason": "missed_run", "missed": N, "scheduled_for": iso, "first",
  "last"}``. A fire time that comes due while the loop was merely busy is not missed: it
  fires late, and several such times fire once (the others count as missed). ``N`` counts
  at most :data:`MISSED_COUNT_LIMIT`. The next fire is then strictly after now.
* A daylight-saving change moves the wall clock by exactly the change in the UTC offset;
  that is not a pause, so a 02:30 job on a spring-forward night fires at 03:00.
* **Wall clock going back** (beyond the grace): every next fire is recomputed from the new
  time, so nothing stalls. Fire times already fired or skipped are not repeated when the
  jump is at most :data:`BACKWARD_DEDUP` (daylight saving's fall-back, clock corrections);
  after a longer jump the schedule simply restarts from the new time.
* A callback that raises is logged on ``dagflux.scheduler`` and the loop goes on.
* :meth:`~Scheduler.start` starts one daemon thread; :meth:`~Scheduler.stop` returns once it
  has ended (it waits at most 2 s, then logs an error: only a callback that never returns
  can hold it).

Why not the ``schedule`` package: it reads ``datetime.now()`` itself (no clock to inject),
runs an overdue job once and re-plans from "now" (so it cannot count missed runs or skip
them), counts intervals from registration time while our intervals are clock-aligned
(``next_fire`` and the description say "every 15 minutes" at :00, :15, …), and needs one job
per weekday for weekly rules. Computing every kind with ``next_fire`` keeps one source of
truth for when a workflow runs.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.model.triggers import (
    CronTrigger,
    DailyTrigger,
    IntervalTrigger,
    MonthlyTrigger,
    Trigger,
    WeeklyTrigger,
    describe,
    is_schedule,
    next_fire,
)
from engine.service.clock import Clock, SystemClock

__all__ = ["BACKWARD_DEDUP", "MISSED_COUNT_LIMIT", "OnFire", "OnMissed", "Scheduler"]

log = logging.getLogger("dagflux.scheduler")

#: ``on_fire(workflow_id, info)`` and ``on_missed(workflow_id, info)``; see the module doc.
OnFire = Callable[[str, dict[str, Any]], None]
OnMissed = Callable[[str, dict[str, Any]], None]
ScheduleTrigger = IntervalTrigger | DailyTrigger | WeeklyTrigger | MonthlyTrigger | CronTrigger

BACKWARD_DEDUP = dt.timedelta(hours=2)
MISSED_COUNT_LIMIT = 1000
STOP_TIMEOUT_S = 2.0
_RESOLUTION = dt.timedelta(seconds=1)     # fire times are whole minutes: 1 s finds them exactly


@dataclass(eq=False)
class _Job:
    workflow_id: str
    trigger: ScheduleTrigger
    next_fire: dt.datetime | None
    done_until: dt.datetime | None = None      # latest fire time fired or skipped


@dataclass(frozen=True)
class _Delivery:
    job: _Job
    missed: bool            # True: on_missed, False: on_fire
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Reading:
    wall: dt.datetime
    mono: float
    offset: float


class Scheduler:
    """Schedule triggers of many workflows on one thread; see the module doc."""

    def __init__(self, on_fire: OnFire, on_missed: OnMissed | None = None, clock: Clock | None = None,
                 tick_s: float = 1.0) -> None:
        if tick_s <= 0:
            raise ValueError(f"tick_s must be positive, got {tick_s}")
        self._on_fire = on_fire
        self._on_missed = on_missed
        self._clock: Clock = clock or SystemClock()
        self._tick = tick_s
        self._grace = dt.timedelta(seconds=2 * tick_s)
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()           # guards _jobs and the jobs in it
        self._check_lock = threading.Lock()     # one check at a time (thread or a test)
        self._last: _Reading | None = None      # the clocks at the end of the previous check
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- registration ------------------------------------------------------------------
    def set(self, workflow_id: str, trigger: Trigger) -> None:
        """Register (or replace) the workflow's schedule; ValueError for other kinds."""
        if not is_schedule(trigger):
            kind = getattr(trigger, "kind", type(trigger).__name__)
            raise ValueError(f"workflow {workflow_id}: a {kind} trigger is not a schedule "
                             "(use interval, daily, weekly, monthly or cron)")
        assert isinstance(trigger, ScheduleTrigger)     # narrowed by is_schedule
        with self._lock:
            self._jobs.pop(workflow_id, None)           # the old job goes first
            first = next_fire(trigger, self._clock.now())
            self._jobs[workflow_id] = _Job(workflow_id, trigger, first)

    def remove(self, workflow_id: str) -> bool:
        """Unregister the workflow's schedule; False when it had none."""
        with self._lock:
            return self._jobs.pop(workflow_id, None) is not None

    def registered(self) -> dict[str, dict[str, Any]]:
        """``{workflow_id: {"kind", "description", "next_fire"}}``, next_fire as ISO text."""
        with self._lock:
            return {wid: {"kind": job.trigger.kind, "description": describe(job.trigger),
                          "next_fire": _iso(job.next_fire)} for wid, job in self._jobs.items()}

    # --- the loop ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the scheduler thread (no-op when it runs)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        with self._check_lock:
            self._last = None
        self._thread = threading.Thread(target=self._run, name="dagflux-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (at most 2 s)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is None or thread is threading.current_thread():
            return
        thread.join(STOP_TIMEOUT_S)
        if thread.is_alive():
            log.error("the scheduler thread did not stop within %.0f s: a callback is still running",
                      STOP_TIMEOUT_S)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pending()
            except Exception:   # a bug in one check must not end every schedule; the next tick retries
                log.exception("scheduler check failed")
            if self._clock.wait(self._stop, self._tick):
                break

    def run_pending(self) -> None:
        """One check: fire what is due now. The thread calls it every tick; tests call it directly."""
        with self._check_lock:
            reading = self._read()
            previous, self._last = self._last, reading
            with self._lock:
                pause = self._notice_clock(previous, reading)
                deliveries = [d for job in self._jobs.values() for d in self._due(job, reading.wall, pause)]
            for delivery in deliveries:
                self._deliver(delivery)
            self._last = self._read()   # time spent in callbacks is not a pause

    def _read(self) -> _Reading:
        return _Reading(self._clock.now(), self._clock.monotonic(), self._clock.utcoffset())

    def _notice_clock(self, previous: _Reading | None, now: _Reading) -> bool:
        """Whether a pause happened since the previous check; handles a backward jump."""
        if previous is None:
            return True
        mono = now.mono - previous.mono
        wall = (now.wall - previous.wall).total_seconds() - (now.offset - previous.offset)
        drift = wall - mono     # seconds the wall clock moved beyond real time (DST excluded)
        grace = self._grace.total_seconds()
        if drift < -grace:
            log.warning("the wall clock went back %.0f s; recomputing every next fire time", -drift)
            self._recompute(now.wall)
            return False
        if drift > grace:
            log.info("the wall clock moved %.0f s beyond real time (sleep or clock change)", drift)
            return True
        if mono > self._tick + grace:
            log.info("the scheduler loop was frozen for %.0f s", mono)
            return True
        return False

    def _recompute(self, now: dt.datetime) -> None:
        for job in self._jobs.values():
            base = now
            done = job.done_until
            if done is not None and now < done <= now + BACKWARD_DEDUP:
                base = done     # do not repeat what already fired or was skipped
            job.next_fire = next_fire(job.trigger, base)

    def _due(self, job: _Job, now: dt.datetime, pause: bool) -> list[_Delivery]:
        """What to deliver for ``job`` now; advances it past ``now``."""
        first = job.next_fire
        if first is None or first > now:
            return []
        count, before_last, last = _scan(job.trigger, first, now)
        job.done_until = last
        job.next_fire = next_fire(job.trigger, max(now, last))
        on_time = now - last <= self._grace or not pause
        missed = count - 1 if on_time else count
        if missed == 0:
            return [_Delivery(job, False, {"reason": "schedule", "scheduled_for": _iso(last)})]
        last_missed = before_last if on_time else last
        report = {"missed": missed, "policy": job.trigger.missed_runs, "first": _iso(first),
                  "last": _iso(last_missed)}
        deliveries = [_Delivery(job, True, report)]
        if job.trigger.missed_runs == "run_once":
            deliveries.append(_Delivery(job, False, {"reason": "missed_run", "missed": missed,
                                                     "scheduled_for": _iso(last), "first": report["first"],
                                                     "last": report["last"]}))
        elif on_time:
            deliveries.append(_Delivery(job, False, {"reason": "schedule", "scheduled_for": _iso(last)}))
        return deliveries

    def _deliver(self, delivery: _Delivery) -> None:
        job = delivery.job
        with self._lock:
            if self._jobs.get(job.workflow_id) is not job:
                return      # removed or replaced since it came due
        callback = self._on_missed if delivery.missed else self._on_fire
        if callback is None:
            log.info("workflow %s: %d missed run(s) skipped (%s to %s)", job.workflow_id,
                     delivery.info["missed"], delivery.info["first"], delivery.info["last"])
            return
        try:
            callback(job.workflow_id, dict(delivery.info))
        except Exception:   # the caller's bug must not stop the other schedules; it is logged in full
            what = "on_missed" if delivery.missed else "on_fire"
            log.exception("workflow %s: %s raised", job.workflow_id, what)


def _scan(trigger: ScheduleTrigger, first: dt.datetime,
          now: dt.datetime) -> tuple[int, dt.datetime | None, dt.datetime]:
    """``(count, before_last, last)`` of the fire times from ``first`` up to ``now``.

    ``count`` stops at :data:`MISSED_COUNT_LIMIT`; ``last`` and ``before_last`` are exact
    even then (found by bisection instead of walking every fire time).
    """
    count, before_last, last = 1, None, first
    while count < MISSED_COUNT_LIMIT:
        upcoming = next_fire(trigger, last)
        if upcoming is None or upcoming > now:
            return count, before_last, last
        count, before_last, last = count + 1, last, upcoming
    latest = _latest_fire(trigger, last, now)
    if latest != last:
        before_last = _latest_fire(trigger, last, latest - dt.timedelta(microseconds=1))
    return count, before_last, latest


def _latest_fire(trigger: ScheduleTrigger, known: dt.datetime, until: dt.datetime) -> dt.datetime:
    """The latest fire time at or before ``until``, given ``known``, one such fire time."""
    following = next_fire(trigger, known)
    if following is None or following > until:
        return known
    low, high = known, until      # next_fire(low) <= until < next_fire(high)
    while high - low > _RESOLUTION:
        middle = low + (high - low) / 2
        candidate = next_fire(trigger, middle)
        if candidate is not None and candidate <= until:
            low = middle
        else:
            high = middle
    result = next_fire(trigger, low)
    assert result is not None
    return result


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")
