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
* ``cron``: standard 5 fields (minute hour day-of-month month day-of-week) with numbers,
  names (jan–dec, sun–sat), ``*``, ranges ``a-b``, steps ``/n`` and lists; 7 is Sunday.
  No ``L``/``W``/``#``/``?``/``@daily``, no backwards ranges. A field that covers its
  whole range counts as ``*``; when both day fields are restricted, a day matching
  either one fires (as in classic cron). croniter computes the fire times from the
  expression as this module parsed it, so descriptions and fire times agree.
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
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FILE_EVENTS = ("add", "change", "delete")
WEBHOOK_FORMATS = ("json", "csv")
DEFAULT_SETTLE_SECONDS = 2.0
MAX_SETTLE_SECONDS = 3600.0
INTERVAL_STEP, INTERVAL_MAX = 15, 1440
INTERVAL_EPOCH = dt.datetime(2000, 1, 3)

Problem = tuple[str, str]
Raw = Mapping[str, Any]     # one trigger object from the config
# English on purpose: calendar's names follow the process locale, the sentences do not.
_DAY_NAMES = dict(zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                                 "Sunday"), strict=True))
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")
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
    cron, messages = _Cron.parse(expression)
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
        lead = _weekday_words(trigger.days)[0]
        return f"every {lead} at {_hhmm(trigger.time)}"
    if isinstance(trigger, MonthlyTrigger):
        shorter = " (or the last day of shorter months)" if trigger.day >= 29 else ""
        return f"on the {_ordinal(trigger.day)} of every month{shorter} at {_hhmm(trigger.time)}"
    if isinstance(trigger, CronTrigger):
        return _cron_of(trigger).describe()
    if isinstance(trigger, FileWatchTrigger):
        verbs = _join([_EVENT_WORDS[e] for e in trigger.events], "or")
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


def _weekday_words(days: Sequence[str]) -> tuple[str, str]:
    """``(after "every", after "on")``: ("weekday", "weekdays"), ("Monday and Friday", …)."""
    if len(days) == 7:
        return "day", "every day"
    if tuple(days) == WEEKDAYS[:5]:
        return "weekday", "weekdays"
    names = _join([_DAY_NAMES[d] for d in days])
    return names, names


def _join(words: Sequence[str], last: str = "and") -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


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


# --- cron expressions ----------------------------------------------------------------
_MONTHS = tuple(m[:3].lower() for m in _MONTH_NAMES)         # jan … dec
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_FIELDS = (  # name, low, high, names (names[0] stands for low)
    ("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS), ("day of week", 0, 7, _CRON_DAYS),
)
_NUMBER_RE = re.compile(r"[0-9]+")
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _cron_of(trigger: CronTrigger) -> _Cron:
    cron, messages = _Cron.parse(trigger.expression)
    if cron is None or messages:
        raise TriggerError([("trigger.expression", m) for m in messages])
    return cron


class _CronSyntaxError(Exception):
    """One field's problem, worded to follow "cron field N (name) "."""


@dataclass(frozen=True)
class _CronField:
    text: str
    values: frozenset[int]
    full: bool              # covers its whole range: behaves as "*"


@dataclass(frozen=True)
class _Cron:
    text: str
    minute: _CronField
    hour: _CronField
    dom: _CronField
    month: _CronField
    dow: _CronField

    @classmethod
    def parse(cls, expression: Any) -> tuple[_Cron | None, list[str]]:
        """The parsed expression and its problems (one per wrong field)."""
        if not isinstance(expression, str) or not expression.strip():
            return None, ["required: a cron expression with 5 fields, e.g. '*/15 * * * *'"]
        parts = expression.split()
        if len(parts) != 5:
            shape = "5 fields (minute hour day-of-month month day-of-week)"
            return None, [f"a cron expression has {shape}; '{' '.join(parts)}' has {len(parts)}"]
        fields, problems = [], []
        for index, part in enumerate(parts):
            try:
                fields.append(_cron_field(index, part))
            except _CronSyntaxError as exc:
                problems.append(f"cron field {index + 1} ({_FIELDS[index][0]}) {exc}")
        if problems:
            return None, problems
        cron = cls(" ".join(parts), *fields)
        return cron, cron._date_problems()

    def _date_problems(self) -> list[str]:
        problems = []
        if not self.dom.full and self.dow.full:
            longest = max(_MONTH_DAYS[m - 1] for m in self.month.values)
            if min(self.dom.values) > longest:
                problems.append(f"cron field 3 (day of month) '{self.dom.text}' never occurs in the "
                                f"months of field 4 ('{self.month.text}')")
        if not problems and not croniter.is_valid(self.normalized()):
            problems.append(f"croniter cannot use '{self.text}'")  # pragma: no cover - safety net
        return problems

    def normalized(self) -> str:
        """The expression as explicit numbers, ``*`` for full fields (what croniter runs)."""
        return " ".join("*" if f.full else ",".join(map(str, sorted(f.values)))
                        for f in (self.minute, self.hour, self.dom, self.month, self.dow))

    def describe(self) -> str:
        days = _cron_days(self)
        if days is not None:
            frequency = _cron_frequency(self, steps_only=True)
            if frequency:
                return f"{frequency}{days[1]}"
            times = _cron_times(self)
            if times:
                return f"{days[0]} at {times}"
            frequency = _cron_frequency(self, steps_only=False)
            if frequency:
                return f"{frequency}{days[1]}"
        return self.fallback()

    def fallback(self) -> str:
        parts = ["every minute" if self.minute.full else f"minute {self.minute.text}",
                 "every hour" if self.hour.full else f"hour {self.hour.text}"]
        dom = None if self.dom.full else f"day of month {self.dom.text}"
        dow = None if self.dow.full else f"day of week {self.dow.text}"
        month = None if self.month.full else f"month {self.month.text}"
        day = f"{dom} or {dow}" if dom and dow else dom or dow
        parts.append(", ".join(p for p in (day, month) if p) or "every day")
        return f"cron: {self.text} ({', '.join(parts)})"


def _cron_field(index: int, text: str) -> _CronField:
    _, low, high, names = _FIELDS[index]
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise _CronSyntaxError(f"'{text}' has an empty item between commas")
        values |= _cron_item(item, low, high, names)
    if index == 4:
        values = {v % 7 for v in values}       # 7 is Sunday too
        high = 6
    return _CronField(text, frozenset(values), values == set(range(low, high + 1)))


def _cron_item(item: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not _NUMBER_RE.fullmatch(step_text) or not 1 <= int(step_text) <= high:
            raise _CronSyntaxError(f"'{item}' has step '{step_text}': use a whole number from 1 to {high}")
        step = int(step_text)
    if base == "*":
        first, last = low, high
    elif "-" in base:
        a, _, b = base.partition("-")
        first, last = _cron_value(a, low, high, names), _cron_value(b, low, high, names)
        if first > last:
            raise _CronSyntaxError(f"'{base}' is a backwards range: write the smaller value first")
    else:
        first = _cron_value(base, low, high, names)
        last = high if slash else first
    return set(range(first, last + 1, step))


def _cron_value(token: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if _NUMBER_RE.fullmatch(token):
        if not low <= int(token) <= high:
            raise _CronSyntaxError(f"'{token}' is out of range {low}–{high}")
        return int(token)
    if token.lower() in names:
        return names.index(token.lower()) + low
    named = f" or a name {names[0]}–{names[-1]}" if names else ""
    raise _CronSyntaxError(f"'{token}' is not a number{named}")


def _cron_days(cron: _Cron) -> tuple[str, str] | None:
    """``(lead, suffix)`` for "<lead> at 09:30" and "every 5 minutes<suffix>"."""
    dom, month, dow = cron.dom, cron.month, cron.dow
    if not dom.full and (not dow.full or len(dom.values) > 6):
        return None
    months = "" if month.full else _join([_MONTH_NAMES[m - 1] for m in sorted(month.values)])
    if not dow.full:
        lead, on = _weekday_words([_CRON_DAYS[v] for v in sorted(dow.values, key=lambda v: (v - 1) % 7)])
        within = f" in {months}" if months else ""
        return f"every {lead}{within}", f" on {on}{within}"
    if not dom.full:
        where = f"the {_join([_ordinal(d) for d in sorted(dom.values)])} of {months or 'every month'}"
        return f"on {where}", f" on {where}"
    return (f"every day in {months}", f" in {months}") if months else ("every day", "")


def _cron_times(cron: _Cron) -> str | None:
    """"09:00 and 18:30" when minute and hour name at most six times of day."""
    minutes, hours = sorted(cron.minute.values), sorted(cron.hour.values)
    if cron.minute.full or cron.hour.full or len(minutes) * len(hours) > 6:
        return None
    return _join([f"{h:02d}:{m:02d}" for h in hours for m in minutes])


def _cron_frequency(cron: _Cron, steps_only: bool) -> str | None:
    """"every 15 minutes", "every 2 hours", or with an hour window when not ``steps_only``."""
    minutes, hours = sorted(cron.minute.values), sorted(cron.hour.values)
    if len(minutes) == 1:
        at = f" at minute {minutes[0]}" if minutes[0] else ""
        step = 1 if cron.hour.full else _even_step(hours, 24)
        if step:
            return f"every hour{at}" if step == 1 else f"every {step} hours{at}"
        window = None if steps_only else _window(hours)
        return f"every hour from {window[0]:02d}:{minutes[0]:02d} to {window[1]:02d}:{minutes[0]:02d}" \
            if window else None
    step = 1 if cron.minute.full else _even_step(minutes, 60)
    if not step:
        return None
    every = "every minute" if step == 1 else f"every {step} minutes"
    if cron.hour.full:
        return every
    window = None if steps_only else _window(hours)
    return f"{every} from {window[0]:02d}:00 to {window[1]:02d}:{minutes[-1]:02d}" if window else None


def _even_step(values: Sequence[int], period: int) -> int | None:
    """n when ``values`` is exactly 0, n, 2n, … and n divides ``period``."""
    if len(values) < 2 or values[0] != 0:
        return None
    step = values[1]
    return step if period % step == 0 and list(values) == list(range(0, period, step)) else None


def _window(hours: Sequence[int]) -> tuple[int, int] | None:
    """First and last hour when ``hours`` is one unbroken run."""
    return (hours[0], hours[-1]) if hours[-1] - hours[0] + 1 == len(hours) else None
