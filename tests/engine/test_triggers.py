"""Start-node triggers: what each config means, how it reads, and when it fires."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path

import pytest

from engine.errors import DagfluxError
from engine.model import triggers
from engine.model.triggers import (
    CronTrigger,
    DailyTrigger,
    FileWatchTrigger,
    IntervalTrigger,
    ManualTrigger,
    MonthlyTrigger,
    TriggerError,
    WebhookTrigger,
    WeeklyTrigger,
    describe,
    next_fire,
    parse_trigger,
    to_config,
    to_cron,
    validate_trigger,
)


def start(**trigger: object) -> dict:
    return {"trigger": dict(trigger)}


def fields(config: object) -> list[str]:
    return [field for field, _ in validate_trigger(config)]


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# --- the Start config as a whole -----------------------------------------------------
@pytest.mark.parametrize("config", [None, {}, {"trigger": None}, start(kind="manual")])
def test_manual_is_the_default(config):
    trigger = parse_trigger(config)
    assert trigger == ManualTrigger()
    assert describe(trigger) == "run by hand"
    assert next_fire(trigger, at("2025-01-01 12:00")) is None
    assert to_cron(trigger) is None


def test_missed_runs_defaults_to_skip_and_is_kept_on_schedules():
    assert parse_trigger(start(kind="daily", time="09:30")).missed_runs == "skip"
    config = {"trigger": {"kind": "interval", "minutes": 15}, "missed_runs": "run_once"}
    assert parse_trigger(config) == IntervalTrigger(15, "run_once")


@pytest.mark.parametrize("missed", ["never", "", None, 1])
def test_missed_runs_must_be_skip_or_run_once(missed):
    config = {"trigger": {"kind": "manual"}, "missed_runs": missed}
    assert fields(config) == ["missed_runs"]
    with pytest.raises(TriggerError, match=r"^missed_runs: .* is not one of 'skip', 'run_once'"):
        parse_trigger(config)


def test_unknown_kind_and_missing_kind_name_the_kind_field():
    with pytest.raises(TriggerError, match=r"^trigger\.kind: 'hourly' is not a trigger kind: use one of man"):
        parse_trigger(start(kind="hourly"))
    with pytest.raises(TriggerError, match=r"^trigger\.kind: is required"):
        parse_trigger({"trigger": {"minutes": 15}})


def test_unknown_settings_are_problems():
    assert fields(start(kind="daily", time="09:30", days=["mon"])) == ["trigger.days"]
    assert fields({"trigger": {"kind": "manual"}, "timezone": "UTC"}) == ["timezone"]


@pytest.mark.parametrize("config", [[], "daily", 3, {"trigger": "daily"}, {"trigger": []},
                                    start(kind=["daily"]), start(kind="weekly", days=[["mon"]], time=9),
                                    start(kind="cron", expression=None), {1: 2}])
def test_validate_never_raises_and_parse_raises_trigger_error(config):
    problems = validate_trigger(config)
    assert problems and all(isinstance(f, str) and isinstance(m, str) for f, m in problems)
    with pytest.raises(TriggerError):
        parse_trigger(config)


def test_trigger_error_is_a_value_error_listing_every_problem():
    with pytest.raises(ValueError) as info:
        parse_trigger({"trigger": {"kind": "monthly", "day": 0, "time": "25:00"}, "missed_runs": "x"})
    error = info.value
    assert isinstance(error, DagfluxError)
    assert [f for f, _ in error.problems] == ["missed_runs", "trigger.time", "trigger.day"]
    assert error.field == "missed_runs"
    assert "trigger.day: 0 is not a day of the month: use 1 to 31" in str(error)


def test_public_api_is_declared():
    assert all(hasattr(triggers, name) for name in triggers.__all__)
    assert set(triggers.SCHEDULE_KINDS) < set(triggers.TRIGGER_KINDS)


# --- interval -----------------------------------------------------------------------
@pytest.mark.parametrize("minutes, text", [
    (15, "every 15 minutes"), (45, "every 45 minutes"), (60, "every hour"),
    (90, "every 1 hour 30 minutes"), (120, "every 2 hours"), (150, "every 2 hours 30 minutes"),
    (1440, "every 24 hours"),
])
def test_interval_descriptions(minutes, text):
    assert describe(parse_trigger(start(kind="interval", minutes=minutes))) == text


@pytest.mark.parametrize("minutes", [0, 10, 20, -15, 1455, 1500, "15", 15.0, True, None])
def test_interval_must_be_a_multiple_of_15_up_to_a_day(minutes):
    assert fields(start(kind="interval", minutes=minutes)) == ["trigger.minutes"]


def test_interval_error_message():
    with pytest.raises(TriggerError, match=r"trigger\.minutes: 20 is not allowed: use a multiple of 15 "
                                           r"from 15 to 1440"):
        parse_trigger(start(kind="interval", minutes=20))


@pytest.mark.parametrize("minutes, cron", [
    (15, "*/15 * * * *"), (30, "*/30 * * * *"), (45, None), (60, "0 * * * *"), (90, None),
    (120, "0 */2 * * *"), (300, None), (720, "0 */12 * * *"), (1440, "0 0 * * *"),
])
def test_interval_cron_equivalent(minutes, cron):
    assert to_cron(IntervalTrigger(minutes)) == cron


@pytest.mark.parametrize("minutes, after, fire", [
    (15, "2025-01-01 12:07", "2025-01-01 12:15"),
    (15, "2025-01-01 12:15", "2025-01-01 12:30"),          # strictly after
    (15, "2025-01-01 12:14:59.5", "2025-01-01 12:15"),
    (60, "2025-01-01 23:30", "2025-01-02 00:00"),
    (90, "2025-06-30 23:00", "2025-07-01 00:00"),          # 90 divides a day: midnight-aligned
    (105, "2000-01-03 23:59", "2000-01-04 00:30"),         # 105 does not: the rhythm carries on
    (1440, "2025-01-01 00:00", "2025-01-02 00:00"),
])
def test_interval_next_fire_is_clock_aligned(minutes, after, fire):
    assert next_fire(IntervalTrigger(minutes), at(after)) == at(fire)


def test_interval_fires_keep_an_even_rhythm():
    trigger, when = IntervalTrigger(105), at("2025-03-01 22:00")
    fires = []
    for _ in range(20):
        when = next_fire(trigger, when)
        fires.append(when)
    assert {b - a for a, b in itertools.pairwise(fires)} == {dt.timedelta(minutes=105)}


# --- daily --------------------------------------------------------------------------
def test_daily_description_and_cron():
    trigger = parse_trigger(start(kind="daily", time="09:30"))
    assert trigger == DailyTrigger(dt.time(9, 30))
    assert describe(trigger) == "every day at 09:30"
    assert to_cron(trigger) == "30 9 * * *"


@pytest.mark.parametrize("time", ["9:30", "24:00", "09:60", "09:30:00", " 09:30", 930, None, ""])
def test_daily_time_must_be_hh_mm(time):
    assert fields(start(kind="daily", time=time)) == ["trigger.time"]


def test_daily_time_error_message():
    with pytest.raises(TriggerError, match=r"trigger\.time: '24:00' is not a time of day: write HH:MM"):
        parse_trigger(start(kind="daily", time="24:00"))


@pytest.mark.parametrize("after, fire", [
    ("2025-01-01 08:00", "2025-01-01 09:30"),
    ("2025-01-01 09:30", "2025-01-02 09:30"),
    ("2025-01-31 10:00", "2025-02-01 09:30"),
    ("2025-12-31 23:59", "2026-01-01 09:30"),
])
def test_daily_next_fire(after, fire):
    assert next_fire(DailyTrigger(dt.time(9, 30)), at(after)) == at(fire)


# --- weekly -------------------------------------------------------------------------
@pytest.mark.parametrize("days, time, text", [
    (["mon"], "09:30", "every Monday at 09:30"),
    (["wed", "mon"], "09:30", "every Monday and Wednesday at 09:30"),
    (["mon", "wed", "fri"], "09:30", "every Monday, Wednesday and Friday at 09:30"),
    (["mon", "tue", "wed", "thu", "fri"], "08:00", "every weekday at 08:00"),
    (["sat", "sun"], "10:00", "every Saturday and Sunday at 10:00"),
    (list(triggers.WEEKDAYS), "07:00", "every day at 07:00"),
])
def test_weekly_descriptions(days, time, text):
    assert describe(parse_trigger(start(kind="weekly", days=days, time=time))) == text


def test_weekly_days_are_kept_in_week_order():
    trigger = parse_trigger(start(kind="weekly", days=["sun", "fri", "mon"], time="09:00"))
    assert trigger == WeeklyTrigger(("mon", "fri", "sun"), dt.time(9))


@pytest.mark.parametrize("days, field", [
    ([], "trigger.days"), (None, "trigger.days"), ("mon", "trigger.days"),
    (["monday"], "trigger.days[0]"), (["mon", "Tue"], "trigger.days[1]"), (["mon", "mon"], "trigger.days[1]"),
])
def test_weekly_needs_distinct_known_weekdays(days, field):
    assert fields(start(kind="weekly", days=days, time="09:00")) == [field]


def test_weekly_error_messages():
    with pytest.raises(TriggerError, match=r"trigger\.days\[0\]: 'monday' is not a weekday: use mon, tue,"):
        parse_trigger(start(kind="weekly", days=["monday"], time="09:00"))
    with pytest.raises(TriggerError, match=r"trigger\.days\[1\]: 'mon' is listed twice"):
        parse_trigger(start(kind="weekly", days=["mon", "mon"], time="09:00"))
    assert fields(start(kind="weekly", days=["mon"])) == ["trigger.time"]


@pytest.mark.parametrize("days, cron", [
    (("mon", "tue", "wed", "thu", "fri"), "0 8 * * 1-5"), (("sat", "sun"), "0 8 * * 0,6"),
    (("mon", "wed"), "0 8 * * 1,3"), (("mon", "tue", "wed", "fri", "sun"), "0 8 * * 0-3,5"),
    (triggers.WEEKDAYS, "0 8 * * *"),
])
def test_weekly_cron_equivalent(days, cron):
    assert to_cron(WeeklyTrigger(days, dt.time(8))) == cron


@pytest.mark.parametrize("days, after, fire", [
    (("mon",), "2025-01-05 10:00", "2025-01-06 09:30"),         # Sunday → Monday
    (("fri",), "2025-01-10 10:00", "2025-01-17 09:30"),         # Friday after the time → next Friday
    (("fri",), "2025-01-10 09:00", "2025-01-10 09:30"),
    (("sun", "mon"), "2025-01-04 23:00", "2025-01-05 09:30"),   # Saturday night → Sunday
    (("mon", "fri"), "2025-12-29 09:30", "2026-01-02 09:30"),   # across the year
])
def test_weekly_next_fire_crosses_the_week_boundary(days, after, fire):
    assert next_fire(WeeklyTrigger(days, dt.time(9, 30)), at(after)) == at(fire)


# --- monthly ------------------------------------------------------------------------
@pytest.mark.parametrize("day, text", [
    (1, "on the 1st of every month at 09:30"), (2, "on the 2nd of every month at 09:30"),
    (3, "on the 3rd of every month at 09:30"), (11, "on the 11th of every month at 09:30"),
    (12, "on the 12th of every month at 09:30"), (22, "on the 22nd of every month at 09:30"),
    (28, "on the 28th of every month at 09:30"),
    (29, "on the 29th of every month (or the last day of shorter months) at 09:30"),
    (31, "on the 31st of every month (or the last day of shorter months) at 09:30"),
])
def test_monthly_descriptions(day, text):
    assert describe(parse_trigger(start(kind="monthly", day=day, time="09:30"))) == text


@pytest.mark.parametrize("day", [0, 32, -1, "1", 1.0, True, None])
def test_monthly_day_must_be_1_to_31(day):
    assert fields(start(kind="monthly", day=day, time="09:30")) == ["trigger.day"]


def test_monthly_cron_only_where_every_month_has_the_day():
    assert to_cron(MonthlyTrigger(28, dt.time(9, 30))) == "30 9 28 * *"
    assert to_cron(MonthlyTrigger(29, dt.time(9, 30))) is None


@pytest.mark.parametrize("day, after, fire", [
    (31, "2025-01-31 10:00", "2025-02-28 09:30"),     # February has no 31st: its last day
    (31, "2024-01-31 10:00", "2024-02-29 09:30"),     # leap year
    (31, "2025-02-28 09:30", "2025-03-31 09:30"),     # back to the 31st
    (30, "2025-04-30 09:30", "2025-05-30 09:30"),
    (31, "2025-04-01 00:00", "2025-04-30 09:30"),
    (1, "2025-12-01 10:00", "2026-01-01 09:30"),
    (15, "2025-03-15 09:29", "2025-03-15 09:30"),
])
def test_monthly_next_fire(day, after, fire):
    assert next_fire(MonthlyTrigger(day, dt.time(9, 30)), at(after)) == at(fire)


# --- cron ---------------------------------------------------------------------------
@pytest.mark.parametrize("expression, text", [
    ("*/5 * * * *", "every 5 minutes"),
    ("* * * * *", "every minute"),
    ("0 * * * *", "every hour"),
    ("5 * * * *", "every hour at minute 5"),
    ("0 */2 * * *", "every 2 hours"),
    ("30 9 * * *", "every day at 09:30"),
    ("0 9,18 * * *", "every day at 09:00 and 18:00"),
    ("30 9 * * 1", "every Monday at 09:30"),
    ("0 8 * * mon-fri", "every weekday at 08:00"),
    ("0 8 * * 6,7", "every Saturday and Sunday at 08:00"),
    ("*/15 9-17 * * 1-5", "every 15 minutes from 09:00 to 17:45 on weekdays"),
    ("0 9-17 * * *", "every hour from 09:00 to 17:00"),
    ("30 9 1 * *", "on the 1st of every month at 09:30"),
    ("0 0 1,15 * *", "on the 1st and 15th of every month at 00:00"),
    ("0 0 1 jan *", "on the 1st of January at 00:00"),
    ("0 6 * 1,7 *", "every day in January and July at 06:00"),
    ("15 10 * 3 1", "every Monday in March at 10:15"),
    ("*/10 * * * 0", "every 10 minutes on Sunday"),
])
def test_cron_common_shapes_read_as_sentences(expression, text):
    assert describe(parse_trigger(start(kind="cron", expression=expression))) == text


@pytest.mark.parametrize("expression, text", [
    ("*/7 * * * *", "cron: */7 * * * * (minute */7, every hour, every day)"),
    ("0 0 1 * 1", "cron: 0 0 1 * 1 (minute 0, hour 0, day of month 1 or day of week 1)"),
    ("0 0 1-10 * *", "cron: 0 0 1-10 * * (minute 0, hour 0, day of month 1-10)"),
])
def test_cron_other_shapes_fall_back_to_the_fields(expression, text):
    assert describe(CronTrigger(expression)) == text


def test_cron_expression_whitespace_is_collapsed():
    assert parse_trigger(start(kind="cron", expression="  */5   * * * * ")) == CronTrigger("*/5 * * * *")


@pytest.mark.parametrize("expression, message", [
    ("0 25 * * *", "cron field 2 (hour) '25' is out of range 0–23"),
    ("60 * * * *", "cron field 1 (minute) '60' is out of range 0–59"),
    ("0 0 0 * *", "cron field 3 (day of month) '0' is out of range 1–31"),
    ("0 0 * 13 *", "cron field 4 (month) '13' is out of range 1–12"),
    ("0 0 * * 8", "cron field 5 (day of week) '8' is out of range 0–7"),
    ("0 0 * foo *", "cron field 4 (month) 'foo' is not a number or a name jan–dec"),
    ("0 0 * * funday", "cron field 5 (day of week) 'funday' is not a number or a name sun–sat"),
    ("x * * * *", "cron field 1 (minute) 'x' is not a number"),
    ("0 0 L * *", "cron field 3 (day of month) 'L' is not a number"),
    ("*/0 * * * *", "cron field 1 (minute) '*/0' has step '0': use a whole number from 1 to 59"),
    ("0 17-9 * * *", "cron field 2 (hour) '17-9' is a backwards range: write the smaller value first"),
    ("1,,2 * * * *", "cron field 1 (minute) '1,,2' has an empty item between commas"),
    ("0 0 31 2 *", "cron field 3 (day of month) '31' never occurs in the months of field 4 ('2')"),
    ("*/5 * * *", ("a cron expression has 5 fields (minute hour day-of-month month day-of-week); "
                   "'*/5 * * *' has 4")),
    ("0 0 * * * 2025", "has 6"),
    ("@daily", "'@daily' has 1"),
    ("", "required: a cron expression with 5 fields"),
])
def test_cron_errors_name_the_field(expression, message):
    with pytest.raises(TriggerError, match="^trigger\\.expression: .*" + re.escape(message)):
        parse_trigger(start(kind="cron", expression=expression))


def test_cron_reports_every_wrong_field():
    messages = [m for _, m in validate_trigger(start(kind="cron", expression="x 25 * * 8"))]
    assert [m.split(")")[0] for m in messages] == ["cron field 1 (minute", "cron field 2 (hour",
                                                   "cron field 5 (day of week"]


@pytest.mark.parametrize("expression, after, fire", [
    ("*/5 * * * *", "2025-01-01 12:02:30", "2025-01-01 12:05"),
    ("*/5 * * * *", "2025-01-01 12:05", "2025-01-01 12:10"),
    ("0 8 * * 1-5", "2025-01-03 09:00", "2025-01-06 08:00"),       # Friday → Monday
    ("0 0 * * 7", "2025-01-01 00:00", "2025-01-05 00:00"),         # 7 is Sunday
    ("0 0 1 * 1", "2025-01-01 00:00", "2025-01-06 00:00"),         # either day field matches
    ("0 0 */1 * 1", "2025-01-01 00:00", "2025-01-06 00:00"),       # a full field counts as *
    ("0 0 29 2 *", "2025-03-01 00:00", "2028-02-29 00:00"),
    ("30 9 31 * *", "2025-02-01 00:00", "2025-03-31 09:30"),
])
def test_cron_next_fire(expression, after, fire):
    assert next_fire(CronTrigger(expression), at(after)) == at(fire)


@pytest.mark.parametrize("trigger", [
    IntervalTrigger(15), IntervalTrigger(60), IntervalTrigger(120), DailyTrigger(dt.time(9, 30)),
    WeeklyTrigger(("mon", "wed"), dt.time(9, 30)), WeeklyTrigger(triggers.WEEKDAYS[:5], dt.time(8)),
    WeeklyTrigger(("sat", "sun"), dt.time(8)), MonthlyTrigger(1, dt.time(9, 30)),
])
def test_cron_equivalent_reads_and_fires_the_same(trigger):
    cron = CronTrigger(to_cron(trigger))
    assert describe(cron) == describe(trigger)
    when = at("2025-01-30 13:00")
    for _ in range(5):
        assert next_fire(cron, when) == next_fire(trigger, when)
        when = next_fire(trigger, when)


def test_a_cron_trigger_is_never_invalid():
    with pytest.raises(TriggerError, match=r"cron field 2 \(hour\) '24' is out of range"):
        CronTrigger("0 24 * * *")


def test_cron_is_its_own_equivalent():
    assert to_cron(CronTrigger("*/7 * * * *")) == "*/7 * * * *"


# --- file watch ---------------------------------------------------------------------
@pytest.mark.parametrize("events, recursive, text", [
    (["add", "change"], False, "when a file is added or changed in data/inbox"),
    (["delete"], False, "when a file is deleted in data/inbox"),
    (["delete", "add", "change"], False, "when a file is added, changed or deleted in data/inbox"),
    (["add"], True, "when a file is added in data/inbox or its subfolders"),
])
def test_file_watch_descriptions(events, recursive, text):
    config = start(kind="file_watch", path="data/inbox", events=events, recursive=recursive)
    assert describe(parse_trigger(config)) == text


def test_file_watch_defaults_and_event_order():
    trigger = parse_trigger(start(kind="file_watch", path="in", events=["change", "add"]))
    assert trigger == FileWatchTrigger("in", ("add", "change"), recursive=False, settle_seconds=2.0)
    assert next_fire(trigger, at("2025-01-01 00:00")) is None and to_cron(trigger) is None


@pytest.mark.parametrize("changes, field", [
    ({"path": ""}, "trigger.path"), ({"path": None}, "trigger.path"), ({"path": 3}, "trigger.path"),
    ({"events": []}, "trigger.events"), ({"events": None}, "trigger.events"),
    ({"events": ["create"]}, "trigger.events[0]"), ({"events": ["add", "add"]}, "trigger.events[1]"),
    ({"recursive": "yes"}, "trigger.recursive"), ({"settle_seconds": -1}, "trigger.settle_seconds"),
    ({"settle_seconds": "2"}, "trigger.settle_seconds"), ({"settle_seconds": True}, "trigger.settle_seconds"),
    ({"settle_seconds": 7200}, "trigger.settle_seconds"),
])
def test_file_watch_invalid(changes, field):
    raw = {"kind": "file_watch", "path": "data/inbox", "events": ["add"], **changes}
    assert fields({"trigger": raw}) == [field]


def test_file_watch_path_resolves_against_the_workflow_folder(tmp_path: Path):
    relative = FileWatchTrigger("data/inbox", ("add",))
    assert triggers.resolve_watch_path(relative, tmp_path) == tmp_path / "data" / "inbox"
    absolute = FileWatchTrigger(str(tmp_path / "x"), ("add",))
    assert triggers.resolve_watch_path(absolute, "/elsewhere") == tmp_path / "x"


# --- webhook ------------------------------------------------------------------------
def test_webhook_description_and_formats():
    assert describe(parse_trigger(start(kind="webhook"))) == "when its webhook URL receives a POST"
    assert parse_trigger(start(kind="webhook")) == WebhookTrigger(("json", "csv"))
    only_json = parse_trigger(start(kind="webhook", formats=["json"]))
    assert describe(only_json) == "when its webhook URL receives a POST with a JSON body"
    assert parse_trigger(start(kind="webhook", formats=["csv", "json"])).formats == ("json", "csv")


@pytest.mark.parametrize("formats, field", [([], "trigger.formats"), (["xml"], "trigger.formats[0]"),
                                            ("json", "trigger.formats")])
def test_webhook_invalid_formats(formats, field):
    assert fields(start(kind="webhook", formats=formats)) == [field]


# --- round trip ---------------------------------------------------------------------
@pytest.mark.parametrize("trigger", [
    ManualTrigger(), IntervalTrigger(90, "run_once"), DailyTrigger(dt.time(0, 5)),
    WeeklyTrigger(("tue", "sun"), dt.time(23, 59)), MonthlyTrigger(31, dt.time(6), "run_once"),
    CronTrigger("0 8 * * mon-fri"), FileWatchTrigger("/tmp/in", ("delete",), True, 0.5),
    WebhookTrigger(("csv",)),
])
def test_to_config_round_trips(trigger):
    config = to_config(trigger)
    assert validate_trigger(config) == []
    assert parse_trigger(config) == trigger


def test_every_kind_has_a_parser_and_round_trips():
    kinds = {type(parse_trigger(to_config(t))).kind for t in (
        ManualTrigger(), IntervalTrigger(15), DailyTrigger(dt.time(1)), WeeklyTrigger(("mon",), dt.time(1)),
        MonthlyTrigger(1, dt.time(1)), CronTrigger("* * * * *"), FileWatchTrigger("x", ("add",)),
        WebhookTrigger())}
    assert kinds == set(triggers.TRIGGER_KINDS)


def test_next_fire_keeps_the_tzinfo_of_after():
    after = dt.datetime(2025, 1, 1, 8, 0, tzinfo=dt.UTC)
    assert next_fire(DailyTrigger(dt.time(9, 30)), after) == dt.datetime(2025, 1, 1, 9, 30,
                                                                         tzinfo=dt.UTC)
