"""Exact decimals in SQLite: how database ``numeric`` values are stored, and exact aggregates.

SQLite has no decimal type: a value is an INTEGER, a REAL (a double), TEXT or a BLOB. A
``numeric(12,2)`` value such as ``101794.16`` stored as a double is the double *nearest*
to it, and SQLite 3.40's ``sum`` adds those doubles naively, so a sum of a few thousand of
them reads ``101794.16000000006``. A ``numeric(38,10)`` value has more digits than a double
holds at all. This module is the one place that decides what such values become.

Storage (:func:`storable`) — per value, never rounding:

* a value written without a decimal point (``100``, a whole ``numeric(20,0)``) that fits
  64 bits → INTEGER (exact);
* a value with at most :data:`DOUBLE_DIGITS` (15) significant digits (``100.00`` too) →
  REAL: every decimal with ≤ 15 significant digits survives the trip through the nearest
  double and back (``repr`` gives the same digits), and numbers keep sorting, comparing
  and computing as numbers;
* anything wider (or ``NaN``/``Infinity``) → TEXT holding the exact digits, without
  exponent (``1234567890123456789.0123456789``).

A column holding such values is declared :data:`EXACT_DECIMAL` (``DECIMAL BLOB``). The
word ``BLOB`` gives it SQLite's *no-conversion* affinity, which is what keeps the TEXT of a
wide value from being turned into a (rounded) REAL the way a ``NUMERIC`` column would;
``DECIMAL`` is what DagFlux reads: such a column is copied into PostgreSQL as ``numeric``,
into MariaDB as ``DECIMAL(65,30)`` and handed to Python code as :class:`decimal.Decimal`.

Aggregates (:func:`register_exact_aggregates`) — on every workspace connection (and every
SQLite-file connection), ``sum`` and ``avg`` (aggregate and window forms) are replaced by
versions with SQLite's own contract, computed exactly:

* integers only: ``sum`` is an integer; an intermediate result beyond 64 bits fails the
  statement (SQLite says "integer overflow"; Python's sqlite3 reports "user-defined
  aggregate's 'finalize' method raised error"), never a silent float;
* each REAL counts as the decimal it was stored from (the fewest places that give the same
  double back) and is added exactly as a scaled integer; the result is the nearest REAL to
  the exact sum (``101794.16``) — or exact TEXT when some input was a TEXT-stored wide
  decimal and the exact sum needs more than 15 significant digits;
* a REAL that is no short decimal (a computed ``1/3``) is added with Neumaier's
  compensated summation;
* TEXT that spells a number counts as that number (``'12'`` as an integer, ``'1.5'``
  exactly); other TEXT and BLOBs count as 0, as in SQLite;
* ``sum`` and ``avg`` of no rows (or only NULLs) are NULL; ``avg`` is always REAL.

``total`` stays SQLite's built-in: a Python aggregate that saw no row can only return NULL,
and ``total`` must return 0.0 then (``coalesce(sum(x), 0.0)`` is the exact total).
"""

from __future__ import annotations

import decimal
import math
import re
import sqlite3
from typing import Any

DOUBLE_DIGITS = 15
EXACT_DECIMAL = "DECIMAL BLOB"
_INT64 = (-(2**63), 2**63 - 1)
_CONTEXT = decimal.Context(prec=200, Emax=999_999, Emin=-999_999, traps=[decimal.InvalidOperation])


class DecimalFloat(float):
    """A REAL that came from a database decimal (and spells it exactly): a float in every
    respect, marked so that a pull can declare its column :data:`EXACT_DECIMAL`."""

    __slots__ = ()


class DecimalInt(int):
    """An integral database decimal that fits 64 bits, marked as :class:`DecimalFloat` is."""

    __slots__ = ()


class DecimalText(str):
    """The exact digits of a database decimal wider than a double (or NaN/Infinity): text
    in every respect, marked as :class:`DecimalFloat` is."""

    __slots__ = ()


def storable(value: decimal.Decimal) -> int | float | str:
    """What a decimal is stored as in SQLite (see the module doc): int, float or exact text."""
    if not value.is_finite():
        return DecimalText(str(value).replace("sNaN", "NaN"))
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    if exponent >= 0:                   # written without a decimal point
        as_int = int(value)
        if _INT64[0] <= as_int <= _INT64[1]:
            return DecimalInt(as_int)
    significant = len(digits)
    while significant > 1 and digits[significant - 1] == 0:
        significant -= 1
    if significant <= DOUBLE_DIGITS and -300 < value.adjusted() < 300:
        return DecimalFloat(value)
    return DecimalText(format(value, "f"))


def from_text(text: str) -> int | float | str:
    """:func:`storable` for a decimal's text as a database spells it (``-123.4500``,
    ``NaN``, ``Infinity``) — the same answer, without building a Decimal on the common paths."""
    if len(text) <= DOUBLE_DIGITS + 1 and "." in text:     # at most 15 digits: the hot path
        return DecimalFloat(text)
    if text.isdigit() or (text[:1] == "-" and text[1:].isdigit()):
        number = int(text)
        return DecimalInt(number) if _INT64[0] <= number <= _INT64[1] else DecimalText(text)
    return storable(decimal.Decimal(text))


def is_decimal_value(value: Any) -> bool:
    """True for a value that came from a database decimal (a Decimal or a marked one)."""
    return isinstance(value, (decimal.Decimal, DecimalFloat, DecimalInt, DecimalText))


def is_exact_decimal(declared: str) -> bool:
    """True for a column declared :data:`EXACT_DECIMAL` (any case and spacing)."""
    return " ".join((declared or "").upper().split()) == EXACT_DECIMAL


def is_decimal_declared(declared: str) -> bool:
    """True for a database's decimal type (``numeric``, ``decimal(38,10)``, ``dec``,
    ``number``, ``fixed``; any precision, ``unsigned`` or not)."""
    name = re.sub(r"\(.*?\)", " ", declared or "").lower().replace("unsigned", " ").split()
    return len(name) == 1 and name[0] in _DECIMAL_NAMES


_DECIMAL_NAMES = ("numeric", "decimal", "dec", "number", "fixed")


def as_decimal(value: Any) -> Any:
    """A stored value of an :data:`EXACT_DECIMAL` column as :class:`decimal.Decimal`
    (a REAL by its shortest repr, which is the decimal it was stored from); NULL stays None,
    and TEXT that is not a number is returned as it is."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, float):
        return decimal.Decimal(repr(value))
    try:
        return decimal.Decimal(value)
    except (decimal.InvalidOperation, ValueError, TypeError):
        return value


# --- exact sum / avg --------------------------------------------------------------------

class _ExactSum:
    """Running state shared by sum and avg (aggregate and window forms).

    Integers as a Python int; each REAL as the decimal it was stored from, kept as a scaled
    integer (``scaled / 10**scale``: the smallest scale at which ``round(x * 10**scale) /
    10**scale`` gives ``x`` back is the decimal's number of places, for every decimal of at
    most 15 significant digits) — all exact; TEXT-stored wide decimals exactly in
    :class:`decimal.Decimal`; REALs that are no short decimal (computed doubles such as
    ``1/3``) with Neumaier's compensated summation.
    """

    __slots__ = ("count", "ints", "overflow", "reals", "scaled", "scale", "power", "decimals", "wide",
                 "binary", "s", "c", "special")

    def __init__(self) -> None:
        self.count = 0
        self.ints = 0                   # the exact sum of integer inputs
        self.overflow = False           # an integer-only running sum left 64 bits
        self.reals = False              # some input was not an integer
        self.scaled = 0                 # the exact sum of REAL inputs, times 10**scale
        self.scale = 0
        self.power = 1.0                # 10.0 ** scale
        self.decimals: decimal.Decimal | None = None    # REALs that are no short decimal, wide TEXT
        self.wide = False               # some input was a wide TEXT decimal
        self.binary = False             # some REAL was no short decimal: s + c holds those
        self.s = 0.0
        self.c = 0.0
        self.special = 0.0              # the sum of ±inf inputs (NaN when both signs met)

    def step(self, value: Any) -> None:
        if type(value) is float:        # the hot path
            try:
                m = round(value * self.power)
            except (OverflowError, ValueError):     # ±inf, NaN
                m = None
            if m is not None and m / self.power == value and -_EXACT_BELOW < m < _EXACT_BELOW:
                self.scaled += m
            else:
                self._add_real(value)
            self.count += 1
            self.reals = True
        elif type(value) is int:        # the other hot path
            self.count += 1
            self.ints += value
            if not _INT64[0] <= self.ints <= _INT64[1] and not self.reals:
                self.overflow = True
        elif value is not None:
            self._add_other(value, 1)

    def inverse(self, value: Any) -> None:
        if type(value) is float:
            self.step(-value)
            self.count -= 2
        elif value is not None:
            self._add_other(value, -1)

    def _add_real(self, value: float) -> None:
        """A REAL that does not fit the current scale: raise the scale if it is a short
        decimal; otherwise (a computed double such as 1/3, ±inf, NaN) add it with Neumaier's
        compensated summation — and stop looking for scales once one such value was seen."""
        if not math.isfinite(value):
            self.special += value
            return
        if not self.binary and abs(value) < _EXACT_BELOW:
            for scale in range(self.scale + 1, _MAX_SCALE + 1):
                power = 10.0 ** scale
                m = round(value * power)
                if not -_EXACT_BELOW < m < _EXACT_BELOW:
                    break
                if m / power == value:
                    self.scaled = self.scaled * 10 ** (scale - self.scale) + m
                    self.scale, self.power = scale, power
                    return
            self.binary = True
        s = self.s
        t = s + value
        self.c += (s - t) + value if abs(s) >= abs(value) else (value - t) + s
        self.s = t

    def _add_other(self, value: Any, sign: int) -> None:
        self.count += sign
        number = value if isinstance(value, int) else _number(value)
        if isinstance(number, int):
            self.ints += sign * number
            if not self.reals and not _INT64[0] <= self.ints <= _INT64[1]:
                self.overflow = True
            return
        if isinstance(number, float):
            self.count -= sign
            if sign > 0:
                self.step(number)
            else:
                self.inverse(number)
            return
        self.reals = self.wide = True
        add = number if sign > 0 else -number
        self.decimals = add if self.decimals is None else _CONTEXT.add(self.decimals, add)

    def exact(self) -> decimal.Decimal:
        """The sum: exact, except for the compensated part of REALs that are no short decimal."""
        scaled = decimal.Decimal(self.scaled).scaleb(-self.scale, _CONTEXT)
        total = _CONTEXT.add(decimal.Decimal(self.ints), scaled)
        if self.binary:
            total = _CONTEXT.add(total, decimal.Decimal(repr(self.s + self.c)))
        return total if self.decimals is None else _CONTEXT.add(total, self.decimals)

    def finite(self) -> bool:
        return self.special == 0.0

    def as_float(self) -> float | None:
        result = float(self.exact()) if self.finite() else self.special
        return None if result != result else result     # NaN is NULL in SQLite


_EXACT_BELOW = 2**53                    # a scaled REAL below this is an exact integer in a double
_MAX_SCALE = 20


def _number(value: Any) -> int | float | decimal.Decimal:
    """A TEXT or BLOB value as SQLite's sum reads it: an integer, a number with at most
    15 significant digits as a float, a wider one as an exact Decimal, anything else 0."""
    if isinstance(value, float):
        return value
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = decimal.Decimal(text)
    except decimal.InvalidOperation:
        return 0
    if not number.is_finite():
        return 0
    stored = storable(number)
    return number if isinstance(stored, str) else stored


class ExactSumAggregate(_ExactSum):
    """``sum(x)``: see the module doc."""

    __slots__ = ()

    def value(self) -> Any:
        if self.count <= 0:
            return None
        if not self.reals:
            if self.overflow:
                raise IntegerOverflowError("integer overflow in sum()")
            return self.ints
        if self.wide and self.finite():
            stored = storable(self.exact())
            return str(stored) if isinstance(stored, str) else float(stored)
        return self.as_float()

    def finalize(self) -> Any:
        return self.value()


class ExactAvgAggregate(_ExactSum):
    """``avg(x)``: the exact sum divided by the count, as the nearest REAL; NULL over no rows."""

    __slots__ = ()

    def value(self) -> float | None:
        if self.count <= 0:
            return None
        if not self.reals:
            return self.ints / self.count       # int / int is correctly rounded in Python
        if not self.finite():
            return self.as_float()
        return float(_CONTEXT.divide(self.exact(), decimal.Decimal(self.count)))

    def finalize(self) -> float | None:
        return self.value()


class IntegerOverflowError(ArithmeticError):
    """An integer-only ``sum`` left 64 bits (SQLite's "integer overflow")."""


def register_exact_aggregates(conn: sqlite3.Connection) -> None:
    """Replace SQLite's ``sum`` and ``avg`` on ``conn`` by the exact versions (an application
    function overrides a built-in of the same name and arity). ``total`` stays SQLite's: a
    Python aggregate that saw no row returns NULL, and ``total`` must return 0.0 then."""
    conn.create_window_function("sum", 1, ExactSumAggregate)
    conn.create_window_function("avg", 1, ExactAvgAggregate)
