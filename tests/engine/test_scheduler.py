"""Schedule triggers on a fake clock: when they fire, what a sleep or a clock jump does."""

from __future__ import annotations

import datetime as dt
import logging
import threading

import pytest

from engine.model.triggers import parse_trigger
from engine.service.clock import FakeClock, SystemClock
from engine.service.scheduler import Scheduler

MONDAY_8AM = dt.datetime(2025, 1, 6, 8, 0)      # a Monday


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def trigger(missed_runs: str = "skip", **raw: object):
    return parse_trigger({"trigger": dict(raw), "missed_runs": missed_runs})


class Recorder:
    """Collects callbacks as (workflow, info, wall time of the call)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.fired: list[tuple[str, dict, dt.datetime]] = []
        self.missed: list[tuple[str, dict]] = []

    def on_fire(self, workflow_id: str, info: dict) -> None:
        self.fired.append((workflow_id, info, self.clock.now()))

    def on_missed(self, workflow_id: str, info: dict) -> None:
        self.missed.append((workflow_id, info))

    def scheduled(self) -> list[str]:
        return [info["scheduled_for"] for _, info, _ in self.fired]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_8AM)


@pytest.fixture
def rec(clock: FakeClock) -> Recorder:
    return Recorder(clock)


@pytest.fixture
def sched(clock: FakeClock, rec: Recorder) -> Scheduler:
    scheduler = Scheduler(rec.on_fire, rec.on_missed, clock=clock, tick_s=1.0)
    scheduler.run_pending()     # the first check sets the reference readings
    return scheduler


def run_for(sched: Scheduler, clock: FakeClock, seconds: int) -> None:
    """Let time pass normally, the loop checking every second."""
    for _ in range(seconds):
        clock.advance(1)
        sched.run_pending()


def skip_to(sched: Scheduler, clock: FakeClock, moment: dt.datetime) -> None:
    """Move the wall clock to ``moment`` (to be used when nothing comes due on the way)."""
    clock.jump(moment, monotonic_seconds=(moment - clock.now()).total_seconds())
    sched.run_pending()


# --- firing times --------------------------------------------------------------------
def test_interval_every_15_minutes_fires_on_the_quarter_hours(sched, clock, rec):
    sched.set("wf", trigger(kind="interval", minutes=15))
    assert sched.registered() == {"wf": {"kind": "interval", "description": "every 15 minutes",
                                         "next_fire": "2025-01-06T08:15:00"}}
    run_for(sched, clock, 3600)
    assert rec.scheduled() == ["2025-01-06T08:15:00", "2025-01-06T08:30:00", "2025-01-06T08:45:00",
                               "2025-01-06T09:00:00"]
    assert all(when == at(info["scheduled_for"]) for _, info, when in rec.fired), "fired on the second"
    assert {info["reason"] for _, info, _ in rec.fired} == {"schedule"}
    assert rec.missed == []
    assert sched.registered()["wf"]["next_fire"] == "2025-01-06T09:15:00"


@pytest.mark.parametrize(("raw", "fires"), [
    ({"kind": "daily", "time": "09:30"}, ["2025-01-06T09:30:00", "2025-01-07T09:30:00"]),
    ({"kind": "weekly", "days": ["mon", "fri"], "time": "09:00"},
     ["2025-01-06T09:00:00", "2025-01-10T09:00:00", "2025-01-13T09:00:00"]),
    ({"kind": "monthly", "day": 31, "time": "10:00"},
     ["2025-01-31T10:00:00", "2025-02-28T10:00:00", "2025-03-31T10:00:00"]),
    ({"kind": "cron", "expression": "30 8 * * 1-5"},
     ["2025-01-06T08:30:00", "2025-01-07T08:30:00", "2025-01-08T08:30:00"]),
])
def test_calendar_kinds_fire_at_their_next_times(sched, clock, rec, raw, fires):
    sched.set("wf", trigger(**raw))
    for expected in fires:
        assert sched.registered()["wf"]["next_fire"] == expected
        skip_to(sched, clock, at(expected) - dt.timedelta(seconds=2))
        run_for(sched, clock, 3)
        assert rec.scheduled()[-1] == expected
    assert rec.scheduled() == fires
    assert rec.missed == []


def test_only_schedule_kinds_are_accepted(sched):
    for raw in ({"kind": "manual"}, {"kind": "webhook"},
                {"kind": "file_watch", "path": "in", "events": ["add"]}):
        with pytest.raises(ValueError, match="is not a schedule"):
            sched.set("wf", parse_trigger({"trigger": raw}))
    assert sched.registered() == {}


# --- registration --------------------------------------------------------------------
def test_replacing_unregisters_the_old_job(sched, clock, rec):
    sched.set("wf", trigger(kind="interval", minutes=15))
    sched.set("wf", trigger(kind="daily", time="09:00"))
    assert list(sched.registered()) == ["wf"]
    assert sched.registered()["wf"]["kind"] == "daily"
    run_for(sched, clock, 3600 + 5)
    assert rec.scheduled() == ["2025-01-06T09:00:00"], "the 15-minute job never fired"


def test_remove_leaves_no_job(sched, clock, rec):
    sched.set("a", trigger(kind="interval", minutes=15))
    sched.set("b", trigger(kind="interval", minutes=30))
    assert sched.remove("a") is True
    assert sched.remove("a") is False
    assert list(sched.registered()) == ["b"]
    run_for(sched, clock, 1800)
    assert [wid for wid, _, _ in rec.fired] == ["b"]
    sched.remove("b")
    run_for(sched, clock, 1800)
    assert sched.registered() == {} and len(rec.fired) == 1


def test_a_callback_may_replace_its_own_job(clock):
    fired = []

    def on_fire(wid, info):
        fired.append(info["scheduled_for"])
        sched.set(wid, trigger(kind="daily", time="23:00"))     # e.g. the workflow was re-saved

    sched = Scheduler(on_fire, clock=clock)
    sched.set("wf", trigger(kind="interval", minutes=15))
    run_for(sched, clock, 1800)
    assert fired == ["2025-01-06T08:15:00"]
    assert sched.registered()["wf"]["next_fire"] == "2025-01-06T23:00:00"


# --- missed runs ---------------------------------------------------------------------
def sleep(clock: FakeClock, hours: float) -> None:
    """Suspend: the wall clock moves on, monotonic time does not."""
    clock.jump(clock.now() + dt.timedelta(hours=hours))


def test_sleep_with_skip_policy_reports_missed_runs_and_does_not_fire(sched, clock, rec):
    sched.set("wf", trigger(kind="interval", minutes=60))
    run_for(sched, clock, 60)
    sleep(clock, 3.5)                   # 08:01 → 11:31: 09:00, 10:00 and 11:00 were missed
    sched.run_pending()
    assert rec.fired == []
    assert rec.missed == [("wf", {"missed": 3, "policy": "skip", "first": "2025-01-06T09:00:00",
                                  "last": "2025-01-06T11:00:00"})]
    assert sched.registered()["wf"]["next_fire"] == "2025-01-06T12:00:00"
    run_for(sched, clock, 30 * 60)
    assert rec.scheduled() == ["2025-01-06T12:00:00"]


def test_sleep_with_run_once_policy_fires_exactly_once(sched, clock, rec):
    sched.set("wf", trigger("run_once", kind="interval", minutes=60))
    sleep(clock, 3.5)
    sched.run_pending()
    run_for(sched, clock, 10)
    assert len(rec.fired) == 1
    wid, info, _ = rec.fired[0]
    assert info == {"reason": "missed_run", "missed": 3, "scheduled_for": "2025-01-06T11:00:00",
                    "first": "2025-01-06T09:00:00", "last": "2025-01-06T11:00:00"}
    assert rec.missed == [("wf", {"missed": 3, "policy": "run_once", "first": "2025-01-06T09:00:00",
                                  "last": "2025-01-06T11:00:00"})]


def test_waking_right_on_a_fire_time_fires_it_and_reports_the_earlier_ones(sched, clock, rec):
    sched.set("wf", trigger(kind="interval", minutes=60))
    clock.jump(at("2025-01-06T11:00:00"))
    sched.run_pending()
    assert rec.scheduled() == ["2025-01-06T11:00:00"]
    assert rec.missed[0][1]["missed"] == 2 and rec.missed[0][1]["last"] == "2025-01-06T10:00:00"


def test_clock_set_forward_counts_as_missed_like_a_sleep(sched, clock, rec):
    sched.set("wf", trigger(kind="daily", time="09:30"))
    clock.jump(at("2025-01-08T12:00:00"), monotonic_seconds=1)
    sched.run_pending()
    assert rec.fired == []
    assert rec.missed[0][1] == {"missed": 3, "policy": "skip", "first": "2025-01-06T09:30:00",
                                "last": "2025-01-08T09:30:00"}


def test_a_long_sleep_counts_missed_runs_up_to_the_limit(sched, clock, rec):
    sched.set("wf", trigger(kind="cron", expression="* * * * *"))
    clock.jump(at("2025-01-13T08:30:30"))     # a week asleep
    sched.run_pending()
    info = rec.missed[0][1]
    assert info["missed"] == 1000
    assert (info["first"], info["last"]) == ("2025-01-06T08:01:00", "2025-01-13T08:30:00")
    assert sched.registered()["wf"]["next_fire"] == "2025-01-13T08:31:00"


def test_a_frozen_loop_whose_monotonic_clock_kept_counting_is_a_pause_too(sched, clock, rec):
    sched.set("wf", trigger(kind="interval", minutes=60))
    clock.advance(3 * 3600 + 1800)      # no check for 3.5 h, wall and monotonic moved together
    sched.run_pending()
    assert rec.fired == [] and rec.missed[0][1]["missed"] == 3


def test_slow_callbacks_make_fires_late_not_missed(clock):
    fired = []

    def slow(wid, info):
        fired.append(info)
        clock.advance(5)        # the callback takes 5 s

    sched = Scheduler(slow, clock=clock)
    sched.run_pending()
    sched.set("a", trigger(kind="interval", minutes=15))
    sched.set("b", trigger(kind="interval", minutes=15))
    run_for(sched, clock, 900)
    assert [info["reason"] for info in fired] == ["schedule", "schedule"]


def test_daylight_saving_spring_forward_is_not_a_pause(sched, clock, rec):
    skip_to(sched, clock, at("2025-03-30T01:59:59"))
    sched.set("wf", trigger(kind="daily", time="02:30"))
    clock.jump(at("2025-03-30T03:00:00"), monotonic_seconds=1, utcoffset=3600)
    sched.run_pending()
    assert rec.scheduled() == ["2025-03-30T02:30:00"] and rec.missed == []


# --- the wall clock going back -------------------------------------------------------
def test_clock_going_back_does_not_repeat_a_fire(sched, clock, rec):
    sched.set("wf", trigger(kind="interval", minutes=60))
    run_for(sched, clock, 3600)
    assert rec.scheduled() == ["2025-01-06T09:00:00"]
    clock.jump(at("2025-01-06T08:30:00"), monotonic_seconds=1)      # e.g. daylight saving ends
    sched.run_pending()
    assert sched.registered()["wf"]["next_fire"] == "2025-01-06T10:00:00"
    run_for(sched, clock, 2 * 3600)
    assert rec.scheduled() == ["2025-01-06T09:00:00", "2025-01-06T10:00:00"]
    assert [when for _, _, when in rec.fired][-1] == at("2025-01-06T10:00:00")


def test_clock_going_back_far_restarts_the_schedule_instead_of_stalling(sched, clock, rec):
    sched.set("wf", trigger(kind="interval", minutes=60))
    run_for(sched, clock, 3600)
    clock.jump(at("2025-01-05T12:10:00"), monotonic_seconds=1)      # a wrong clock fixed
    sched.run_pending()
    assert sched.registered()["wf"]["next_fire"] == "2025-01-05T13:00:00"
    run_for(sched, clock, 3600)
    assert rec.scheduled()[-1] == "2025-01-05T13:00:00" and rec.missed == []


# --- robustness and the thread -------------------------------------------------------
def test_a_raising_callback_does_not_stop_later_fires(clock, caplog):
    calls = []

    def on_fire(wid, info):
        calls.append(info["scheduled_for"])
        if len(calls) == 1:
            raise RuntimeError("boom")

    sched = Scheduler(on_fire, clock=clock)
    sched.run_pending()
    sched.set("wf", trigger(kind="interval", minutes=15))
    with caplog.at_level(logging.ERROR, logger="dagflux.scheduler"):
        run_for(sched, clock, 1800)
    assert calls == ["2025-01-06T08:15:00", "2025-01-06T08:30:00"]
    assert [r.name for r in caplog.records] == ["dagflux.scheduler"]
    assert "wf: on_fire raised" in caplog.records[0].getMessage()
    assert caplog.records[0].exc_info[0] is RuntimeError


def test_the_thread_fires_and_stop_leaves_no_thread(clock, rec):
    fired = threading.Event()

    def on_fire(wid, info):
        rec.on_fire(wid, info)
        fired.set()

    sched = Scheduler(on_fire, clock=clock)
    sched.set("wf", trigger(kind="interval", minutes=15))
    sched.start()
    sched.start()       # idempotent
    threads = [t for t in threading.enumerate() if t.name == "dagflux-scheduler"]
    assert len(threads) == 1 and threads[0].daemon
    clock.advance(900)
    assert fired.wait(5)
    assert rec.scheduled() == ["2025-01-06T08:15:00"]
    sched.stop()
    assert not threads[0].is_alive()
    assert not any(t.name == "dagflux-scheduler" for t in threading.enumerate())


def test_stop_is_prompt_with_the_system_clock():
    sched = Scheduler(lambda wid, info: None, clock=SystemClock(), tick_s=1.0)
    sched.set("wf", trigger(kind="daily", time="09:30"))
    sched.start()
    thread = next(t for t in threading.enumerate() if t.name == "dagflux-scheduler")
    started = dt.datetime.now()
    sched.stop()
    assert not thread.is_alive()
    assert dt.datetime.now() - started < dt.timedelta(seconds=2)
    sched.start()       # can start again after a stop
    sched.stop()
    assert not any(t.name == "dagflux-scheduler" for t in threading.enumerate())
