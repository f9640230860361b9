"""Start-node triggers: parse, validate, describe in plain language, compute fire times.

A Start node's config is ``{"trigger": {...}, "missed_runs": "skip" | "run_once"}``.
Both keys are optional: no trigger means ``{"kind": "manual"}``; ``missed_runs``
defaults to ``"skip"`` and is kept on the schedule kinds only.

Guarantees:

* :func:`parse_trigger` returns one frozen dataclass per kind (:data:`Trigger`), or
  raises :class:`TriggerError` (a ``ValueError``) naming every wrong field as a dotted
  config path (``trigger.time``, ``trigger.days[2]``, ``missed_runs``).
* :func:`validate_trigger` never raises; it returns the same ``(field, message)`` pairs.
  The config form is strict: unknown keys are problems too.
* :func:`describe` returns one sentence ("every Monday at 09:30"); :func:`to_cron`
  returns the exactly equivalent standard 5-field cron expression, or ``None``.
* :func:`next_fire` returns the first fire time strictly after ``after`` for the
  schedule kinds (``None`` for the others). It works on the wall clock of ``after``:
  naive local time is expected; an aware ``after`` keeps its tzinfo but no DST
  correction is made (a 02:30 fire on a spring-forward night is a wall-clock 02:30).
* :func:`to_config` is the inverse of :func:`parse_trigger`.

Schedule semantics (the scheduler relies on them):

* ``interval``: clock-aligned multiples of N minutes counted from Monday 2000-01-03
  00:00, so an interval that divides a day (15, 30, 60, 120, …) fires at the same times
  every day, starting at midnight; others (e.g. 90) keep an even rhythm across days.
* ``monthly`` on day 29–31 fires on the last day of months that are shorter.
* ``cron``: standard 5 fields (minute hour day-of-month month day-of-week), parsed,
  checked and described by :mod:`engine.model.cron` (see there for the syntax and its
  guarantees). croniter computes the fire times from the expression as that module
  normalized it, so descriptions and fire times agree.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeGuard

from croniter import CroniterBadDateError, croniter

from engine.errors import DagfluxError
from engine.model.cron import WEEKDAYS, Cron, join_words, ordinal, weekday_words

__all__ = [
    "FILE_EVENTS", "MISSED_RUNS", "SCHEDULE_KINDS", "TRIGGER_KINDS", "WEBHOOK_FORMATS", "WEEKDAYS",
    "CronTrigger", "DailyTrigger", "FileWatchTrigger", "IntervalTrigger", "ManualTrigger",
    "MonthlyTrigger", "Trigger", "TriggerError", "WebhookTrigger", "WeeklyTrigger",
    "describe", "is_schedule", "next_fire", "parse_trigger", "resolve_watch_path", "to_config",
    "to_cron", "validate_trigger",
]

TRIGGER_KINDS = ("manual", "interval", "daily", "weekly", "monthly", "cron", "file_watch", "webhook")
SCHEDULE_KINDS = ("interval", "daily", "weekly", "monthly", "cron")
MISSED_RUNS = ("skip", "run_once")
FILE_EVENTS = ("add", "change", "delete")
WEBHOOK_FORMATS = ("json", "csv")
DEFAULT_SETTLE_SECONDS = 2.0
MAX_SETTLE_SECONDS = 3600.0
INTERVAL_STEP, INTERVAL_MAX = 15, 1440
INTERVAL_EPOCH = dt.datetime(2000, 1, 3)

Problem = tuple[str, str]
Raw = Mapping[str, Any]     # one trigger object from the config
_EVENT_WORDS = {"add": "added", "change": "changed", "delete": "deleted"}
_TIME_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_KEYS = {
    "manual": set(), "interval": {"minutes"}, "daily": {"time"}, "weekly": {"days", "time"},
    "monthly": {"day", "time"}, "cron": {"expression"},
    "file_watch": {"path", "events", "recursive", "settle_seconds"}, "webhook": {"formats"},
}


class TriggerError(DagfluxError, ValueError):
    """A Start-node config that is not a valid trigger; ``problems`` lists every one."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        self.field = self.problems[0][0]
        super().__init__("; ".join(f"{f}: {m}" for f, m in self.problems))


# --- the trigger kinds -------------------------------------------------------------
@dataclass(frozen=True)
class ManualTrigger:
    kind: ClassVar[str] = "manual"


@dataclass(frozen=True)
class IntervalTrigger:
    minutes: int
    missed_runs: str = "skip"
    kind: ClassVar[str] = "interval"


@dataclass(frozen=True)
class DailyTrigger:
    time: dt.time
    missed_runs: str = "skip"
    kind: ClassVar[str] = "daily"


@dataclass(frozen=True)
class WeeklyTrigger:
    days: tuple[str, ...]           # in week order, mon … sun
    time: dt.time
    missed_runs: str = "skip"
    kind: ClassVar[str] = "weekly"


@dataclass(frozen=True)
class MonthlyTrigger:
    day: int
    time: dt.time
    missed_runs: str = "skip"
    kind: ClassVar[str] = "monthly"


@dataclass(frozen=True)
class CronTrigger:
    expression: str                 # as written, whitespace collapsed to single spaces
    missed_runs: str = "skip"
    kind: ClassVar[str] = "cron"

    def __post_init__(self) -> None:
        _cron_of(self)      # built directly, not by parse_trigger: still never invalid


@dataclass(frozen=True)
class FileWatchTrigger:
    path: str                       # as written; see resolve_watch_path
    events: tuple[str, ...]         # in the order add, change, delete
    recursive: bool = False
    settle_seconds: float = DEFAULT_SETTLE_SECONDS
    kind: ClassVar[str] = "file_watch"


@dataclass(frozen=True)
class WebhookTrigger:
    formats: tuple[str, ...] = WEBHOOK_FORMATS
    kind: ClassVar[str] = "webhook"


Trigger = (ManualTrigger | IntervalTrigger | DailyTrigger | WeeklyTrigger | MonthlyTrigger
           | CronTrigger | FileWatchTrigger | WebhookTrigger)
_SCHEDULES = (IntervalTrigger, DailyTrigger, WeeklyTrigger, MonthlyTrigger, CronTrigger)


# --- parsing -------------------------------------------------------------------------
def parse_trigger(config: Mapping[str, Any] | None) -> Trigger:
    """The trigger of a Start node's ``config``; raises :class:`TriggerError`."""
    trigger, problems = _check(config)
    if problems or trigger is None:
        raise TriggerError(problems or [("trigger", "is not a valid trigger")])
    return trigger


def validate_trigger(config: Any) -> list[Problem]:
    """Every ``(field, message)`` problem of a Start node's ``config``; never raises."""
    return _check(config)[1]


def _check(config: Any) -> tuple[Trigger | None, list[Problem]]:
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        return None, [("config", f"the Start node's config must be an object, found {_show(config)}")]
    problems = [(str(k), "unknown setting: a Start node has only 'trigger' and 'missed_runs'")
                for k in config if k not in ("trigger", "missed_runs")]
    missed = config.get("missed_runs", "skip")
    if not isinstance(missed, str) or missed not in MISSED_RUNS:
        problems.append(("missed_runs", f"{_show(missed)} is not one of 'skip', 'run_once'"))
        missed = "skip"
    raw = config.get("trigger")
    raw = {"kind": "manual"} if raw is None else raw
    if not isinstance(raw, Mapping):
        return None, problems + [("trigger", f"must be an object with a 'kind', found {_show(raw)}")]
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in TRIGGER_KINDS:
        what = "is required" if kind is None else f"{_show(kind)} is not a trigger kind"
        return None, problems + [("trigger.kind", f"{what}: use one of {', '.join(TRIGGER_KINDS)}")]
    problems += [(f"trigger.{k}", f"unknown setting for a {kind} trigger")
                 for k in raw if k != "kind" and k not in _KEYS[kind]]
    trigger = _PARSERS[kind](raw, missed, problems)
    return (None if problems else trigger), problems


def _parse_manual(raw: Raw, missed: str, problems: list[Problem]) -> Trigger:
    return ManualTrigger()


def _parse_interval(raw: Raw, missed: str, problems: list[Problem]) -> Trigger | None:
    minutes = raw.get("minutes")
    if not _is_int(minutes):
        problems.append(("trigger.minutes", f"required: a whole number of minutes, found {_show(minutes)}"))
    elif not INTERVAL_STEP <= minutes <= INTERVAL_MAX or minutes % INTERVAL_STEP:
        allowed = f"a multiple of {INTERVAL_STEP} from {INTERVAL_STEP} to {INTERVAL_MAX} (24 hours)"
        problems.append(("trigger.minutes", f"{minutes} is not allowed: use {allowed}"))
    else:
        return IntervalTrigger(minutes, missed)
    return None


def _parse_daily(raw: Raw, missed: str, problems: list[Problem]) -> Trigger | None:
    time = _time(raw, problems)
    return DailyTrigger(time, missed) if time else None


def _parse_weekly(raw: Raw, missed: str, problems: list[Problem]) -> Trigger | None:
    days = _subset(raw, "days", WEEKDAYS, problems, default=None, noun="weekday")
    time = _time(raw, problems)
    return WeeklyTrigger(days, time, missed) if days and time else None


def _parse_monthly(raw: Raw, missed: str, problems: list[Problem]) -> Trigger | None:
    day, time = raw.get("day"), _time(raw, problems)
    if not _is_int(day) or not 1 <= day <= 31:
        problems.append(("trigger.day", f"{_show(day)} is not a day of the month: use 1 to 31"))
        return None
    return MonthlyTrigger(day, time, missed) if time else None


def _parse_cron(raw: Raw, missed: str, problems: list[Problem]) -> Trigger | None:
    expression = raw.get("expression")
    cron, messages = Cron.parse(expression)
    problems += [("trigger.expression", m) for m in messages]
    return CronTrigger(cron.text, missed) if cron and not messages else None


def _parse_file_watch(raw: Raw, missed: str, problems: list[Problem]) -> Trigger | None:
    path: Any = raw.get("path")
    recursive = raw.get("recursive", False)
    settle = raw.get("settle_seconds", DEFAULT_SETTLE_SECONDS)
    start = len(problems)
    if not isinstance(path, str) or not path.strip() or "\x00" in path:
        where = "relative to the workflow file's folder, or absolute"
        problems.append(("trigger.path", f"required: the file or folder to watch ({where})"))
    events = _subset(raw, "events", FILE_EVENTS, problems, default=None)
    if not isinstance(recursive, bool):
        problems.append(("trigger.recursive", f"must be true or false, found {_show(recursive)}"))
    if not _is_number(settle) or not 0 <= settle <= MAX_SETTLE_SECONDS:
        message = f"{_show(settle)} is not a number of seconds from 0 to {MAX_SETTLE_SECONDS:g}"
        problems.append(("trigger.settle_seconds", message))
    if len(problems) > start or not events:
        return None
    return FileWatchTrigger(path, events, recursive, float(settle))


def _parse_webhook(raw: Raw, missed: str, problems: list[Problem]) -> Trigger | None:
    formats = _subset(raw, "formats", WEBHOOK_FORMATS, problems, default=WEBHOOK_FORMATS)
    return WebhookTrigger(formats) if formats else None


_PARSERS = {"manual": _parse_manual, "interval": _parse_interval, "daily": _parse_daily,
            "weekly": _parse_weekly, "monthly": _parse_monthly, "cron": _parse_cron,
            "file_watch": _parse_file_watch, "webhook": _parse_webhook}


def _time(raw: Raw, problems: list[Problem]) -> dt.time | None:
    value = raw.get("time")
    match = _TIME_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        what = "required" if value is None else f"{_show(value)} is not a time of day"
        problems.append(("trigger.time", f"{what}: write HH:MM from 00:00 to 23:59, e.g. \"09:30\""))
        return None
    return dt.time(int(match.group(1)), int(match.group(2)))


def _subset(raw: Raw, key: str, allowed: tuple[str, ...], problems: list[Problem],
            default: tuple[str, ...] | None, noun: str = "value") -> tuple[str, ...] | None:
    """A non-empty list of distinct ``allowed`` strings, returned in ``allowed`` order."""
    values = raw.get(key)
    options = ", ".join(allowed)
    if values is None and default is not None:
        return default
    if not isinstance(values, list) or not values:
        problems.append((f"trigger.{key}", f"choose at least one of {options} (a list)"))
        return None
    start = len(problems)
    for i, value in enumerate(values):
        if not isinstance(value, str) or value not in allowed:
            problems.append((f"trigger.{key}[{i}]", f"{_show(value)} is not a {noun}: use {options}"))
        elif value in values[:i]:
            problems.append((f"trigger.{key}[{i}]", f"{_show(value)} is listed twice"))
    return None if len(problems) > start else tuple(v for v in allowed if v in values)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return type(value).__name__


# --- serialising ---------------------------------------------------------------------
def to_config(trigger: Trigger) -> dict[str, Any]:
    """The Start node config that :func:`parse_trigger` turns back into ``trigger``."""
    raw: dict[str, Any] = {"kind": trigger.kind}
    if isinstance(trigger, IntervalTrigger):
        raw["minutes"] = trigger.minutes
    if isinstance(trigger, WeeklyTrigger):
        raw["days"] = list(trigger.days)
    if isinstance(trigger, MonthlyTrigger):
        raw["day"] = trigger.day
    if isinstance(trigger, (DailyTrigger, WeeklyTrigger, MonthlyTrigger)):
        raw["time"] = _hhmm(trigger.time)
    if isinstance(trigger, CronTrigger):
        raw["expression"] = trigger.expression
    if isinstance(trigger, FileWatchTrigger):
        raw.update(path=trigger.path, events=list(trigger.events), recursive=trigger.recursive,
                   settle_seconds=trigger.settle_seconds)
    if isinstance(trigger, WebhookTrigger):
        raw["formats"] = list(trigger.formats)
    config: dict[str, Any] = {"trigger": raw}
    if isinstance(trigger, _SCHEDULES):
        config["missed_runs"] = trigger.missed_runs
    return config


def is_schedule(trigger: Trigger) -> bool:
    """True for the kinds that fire at computed times (those :func:`next_fire` serves)."""
    return isinstance(trigger, _SCHEDULES)


def resolve_watch_path(trigger: FileWatchTrigger, workflow_dir: str | Path) -> Path:
    """The watched path: ``~`` expanded, relative paths against the workflow file's folder."""
    path = Path(trigger.path).expanduser()
    return path if path.is_absolute() else Path(workflow_dir) / path


# --- plain language ------------------------------------------------------------------
def describe(trigger: Trigger) -> str:
    """One plain-language sentence saying when the workflow runs."""
    if isinstance(trigger, ManualTrigger):
        return "run by hand"
    if isinstance(trigger, IntervalTrigger):
        return _describe_interval(trigger.minutes)
    if isinstance(trigger, DailyTrigger):
        return f"every day at {_hhmm(trigger.time)}"
    if isinstance(trigger, WeeklyTrigger):
        lead = weekday_words(trigger.days)[0]
        return f"every {lead} at {_hhmm(trigger.time)}"
    if isinstance(trigger, MonthlyTrigger):
        shorter = " (or the last day of shorter months)" if trigger.day >= 29 else ""
        return f"on the {ordinal(trigger.day)} of every month{shorter} at {_hhmm(trigger.time)}"
    if isinstance(trigger, CronTrigger):
        return _cron_of(trigger).describe()
    if isinstance(trigger, FileWatchTrigger):
        verbs = join_words([_EVENT_WORDS[e] for e in trigger.events], "or")
        where = f"{trigger.path} or its subfolders" if trigger.recursive else trigger.path
        return f"when a file is {verbs} in {where}"
    only = f" with a {trigger.formats[0].upper()} body" if len(trigger.formats) == 1 else ""
    return f"when its webhook URL receives a POST{only}"


def _describe_interval(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"every {rest} minutes"
    if not rest:
        return "every hour" if hours == 1 else f"every {hours} hours"
    return f"every {hours} hour{'s' if hours > 1 else ''} {rest} minutes"


def _hhmm(time: dt.time) -> str:
    return f"{time.hour:02d}:{time.minute:02d}"


# --- cron equivalents and fire times -------------------------------------------------
def to_cron(trigger: Trigger) -> str | None:
    """The equivalent standard cron expression, or ``None`` when none is exact."""
    if isinstance(trigger, CronTrigger):
        return trigger.expression
    if isinstance(trigger, IntervalTrigger):
        return _interval_cron(trigger.minutes)
    if isinstance(trigger, DailyTrigger):
        return f"{trigger.time.minute} {trigger.time.hour} * * *"
    if isinstance(trigger, WeeklyTrigger):
        numbers = sorted((WEEKDAYS.index(d) + 1) % 7 for d in trigger.days)
        dow = "*" if len(numbers) == 7 else _cron_list(numbers)
        return f"{trigger.time.minute} {trigger.time.hour} * * {dow}"
    if isinstance(trigger, MonthlyTrigger) and trigger.day <= 28:
        return f"{trigger.time.minute} {trigger.time.hour} {trigger.day} * *"
    return None     # monthly 29–31 clamps to shorter months: no standard cron does that


def _interval_cron(minutes: int) -> str | None:
    if minutes < 60:
        return f"*/{minutes} * * * *" if 60 % minutes == 0 else None
    hours, rest = divmod(minutes, 60)
    if rest or 24 % hours:
        return None
    return {1: "0 * * * *", 24: "0 0 * * *"}.get(hours, f"0 */{hours} * * *")


def _cron_list(numbers: Sequence[int]) -> str:
    """``[1, 2, 3, 5]`` → ``"1-3,5"``: runs of three or more become ranges."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) >= 3 else ",".join(map(str, r)) for r in runs)


def next_fire(trigger: Trigger, after: dt.datetime) -> dt.datetime | None:
    """The first fire time strictly after ``after`` (wall clock; see module doc)."""
    if not is_schedule(trigger):
        return None
    start = after.replace(tzinfo=None)
    fire = _NEXT[trigger.kind](trigger, start)
    return None if fire is None else fire.replace(tzinfo=after.tzinfo)


def _next_interval(trigger: IntervalTrigger, after: dt.datetime) -> dt.datetime:
    step = dt.timedelta(minutes=trigger.minutes)
    return INTERVAL_EPOCH + ((after - INTERVAL_EPOCH) // step + 1) * step


def _next_daily(trigger: DailyTrigger, after: dt.datetime) -> dt.datetime:
    fire = dt.datetime.combine(after.date(), trigger.time)
    return fire if fire > after else fire + dt.timedelta(days=1)


def _next_weekly(trigger: WeeklyTrigger, after: dt.datetime) -> dt.datetime:
    for offset in range(8):
        fire = dt.datetime.combine(after.date() + dt.timedelta(days=offset), trigger.time)
        if fire > after and WEEKDAYS[fire.weekday()] in trigger.days:
            return fire
    raise AssertionError("a weekly trigger has at least one day")  # pragma: no cover


def _next_monthly(trigger: MonthlyTrigger, after: dt.datetime) -> dt.datetime:
    year, month = after.year, after.month
    while True:
        day = min(trigger.day, calendar.monthrange(year, month)[1])
        fire = dt.datetime.combine(dt.date(year, month, day), trigger.time)
        if fire > after:
            return fire
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _next_cron(trigger: CronTrigger, after: dt.datetime) -> dt.datetime | None:
    try:
        fire: dt.datetime = croniter(_cron_of(trigger).normalized(), after).get_next(dt.datetime)
    except CroniterBadDateError:
        return None     # no date within croniter's search horizon
    return fire


_NEXT: dict[str, Any] = {"interval": _next_interval, "daily": _next_daily, "weekly": _next_weekly,
                         "monthly": _next_monthly, "cron": _next_cron}


def _cron_of(trigger: CronTrigger) -> Cron:
    cron, messages = Cron.parse(trigger.expression)
    if cron is None or messages:
        raise TriggerError([("trigger.expression", m) for m in messages])
    return cron
