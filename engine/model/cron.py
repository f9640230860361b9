"""Cron expressions: parse, check, normalize and describe in plain language.

The standard 5 fields (minute hour day-of-month month day-of-week) with numbers, names
(jan–dec, sun–sat, any case), ``*``, ranges ``a-b``, steps ``/n`` (also ``a/n``, meaning
``a-<high>/n``) and comma lists; 7 is Sunday, like 0. No ``L``/``W``/``#``/``?``/``@daily``,
no backwards ranges.

Guarantees:

* :meth:`Cron.parse` never raises. It returns ``(cron, problems)``: the expression is valid
  exactly when ``problems`` is empty. There is one message per wrong field, worded
  ``cron field N (name) …``, so every wrong field is reported at once; a missing, blank
  or non-string expression, or one without exactly 5 fields, gives one message and no
  :class:`Cron`. A day of month that never occurs in the chosen months (``31 2``) is a
  problem when day-of-week is unrestricted.
* :attr:`Cron.text` is the expression as written with whitespace collapsed to single spaces.
* A field that covers its whole range counts as ``*``; when both day fields are
  restricted, a day matching either one fires (as in classic cron).
* :meth:`Cron.normalized` spells every field as explicit numbers or ``*``; for a valid
  expression croniter accepts it, and it is what fire times are computed from, so
  descriptions and fire times agree.
* :meth:`Cron.describe` returns one English sentence ("every weekday at 08:00"),
  independent of the process locale, or for shapes it cannot word simply the fields
  themselves (``cron: */7 * * * * (minute */7, every hour, every day)``).

:data:`WEEKDAYS`, :func:`weekday_words`, :func:`join_words` and :func:`ordinal` are the
plain-language pieces shared with :mod:`engine.model.triggers`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from croniter import croniter

__all__ = ["WEEKDAYS", "Cron", "join_words", "ordinal", "weekday_words"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")     # Monday first, as datetime.weekday()
# English on purpose: calendar's names follow the process locale, the sentences do not.
_DAY_NAMES = dict(zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                                 "Sunday"), strict=True))
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")
_MONTHS = tuple(m[:3].lower() for m in _MONTH_NAMES)         # jan … dec
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_FIELDS = (  # name, low, high, names (names[0] stands for low)
    ("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS), ("day of week", 0, 7, _CRON_DAYS),
)
_NUMBER_RE = re.compile(r"[0-9]+")
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class _CronSyntaxError(Exception):
    """One field's problem, worded to follow "cron field N (name) "."""


@dataclass(frozen=True)
class _CronField:
    text: str
    values: frozenset[int]
    full: bool              # covers its whole range: behaves as "*"


@dataclass(frozen=True)
class Cron:
    """Five parsed fields; made by :meth:`parse`, valid when it reports no problems."""

    text: str
    minute: _CronField
    hour: _CronField
    dom: _CronField
    month: _CronField
    dow: _CronField

    @classmethod
    def parse(cls, expression: Any) -> tuple[Cron | None, list[str]]:
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


def _cron_days(cron: Cron) -> tuple[str, str] | None:
    """``(lead, suffix)`` for "<lead> at 09:30" and "every 5 minutes<suffix>"."""
    dom, month, dow = cron.dom, cron.month, cron.dow
    if not dom.full and (not dow.full or len(dom.values) > 6):
        return None
    months = "" if month.full else join_words([_MONTH_NAMES[m - 1] for m in sorted(month.values)])
    if not dow.full:
        lead, on = weekday_words([_CRON_DAYS[v] for v in sorted(dow.values, key=lambda v: (v - 1) % 7)])
        within = f" in {months}" if months else ""
        return f"every {lead}{within}", f" on {on}{within}"
    if not dom.full:
        where = f"the {join_words([ordinal(d) for d in sorted(dom.values)])} of {months or 'every month'}"
        return f"on {where}", f" on {where}"
    return (f"every day in {months}", f" in {months}") if months else ("every day", "")


def _cron_times(cron: Cron) -> str | None:
    """"09:00 and 18:30" when minute and hour name at most six times of day."""
    minutes, hours = sorted(cron.minute.values), sorted(cron.hour.values)
    if cron.minute.full or cron.hour.full or len(minutes) * len(hours) > 6:
        return None
    return join_words([f"{h:02d}:{m:02d}" for h in hours for m in minutes])


def _cron_frequency(cron: Cron, steps_only: bool) -> str | None:
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


# --- plain-language pieces (shared with engine.model.triggers) -----------------------
def weekday_words(days: Sequence[str]) -> tuple[str, str]:
    """``(after "every", after "on")``: ("weekday", "weekdays"), ("Monday and Friday", …)."""
    if len(days) == 7:
        return "day", "every day"
    if tuple(days) == WEEKDAYS[:5]:
        return "weekday", "weekdays"
    names = join_words([_DAY_NAMES[d] for d in days])
    return names, names


def join_words(words: Sequence[str], last: str = "and") -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


def ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
