"""Column names and column types for tables imported into the workspace.

**Names** (:class:`ColumnNamer`, :func:`sanitize_names`) — deterministic, so a re-import of
the same file always yields the same columns:

1. The source name is trimmed; every run of whitespace or of characters other than
   letters, digits and ``_`` (Unicode letters and digits count) becomes one ``_``;
   leading and trailing ``_`` are dropped. Case is **kept** (``OrderDate`` stays
   ``OrderDate``): users recognise their own headers, and SQLite compares identifiers
   case-insensitively anyway.
2. A name that ends up empty becomes ``col_N``, N being its 1-based position.
3. Duplicates are compared as SQLite compares identifiers (ASCII case-insensitive). The
   first occurrence keeps its name; every later one gets the smallest free suffix
   ``_2``, ``_3``, …. Names that are unique in the source are reserved first, so an
   explicit ``a_2`` in the header keeps its name even when it comes after two ``a``.

With ``keep=True`` (the Data Source option ``original_names``) rule 1 is skipped: a name is
kept exactly as written (spaces, ``$``, quotes and all), and only rules 2 and 3 apply — an
empty name becomes ``col_N`` and a duplicate gets ``_2``. Such names must be quoted in SQL
(``"Order Date"``).

Keywords (``select``) need no special treatment: every identifier is quoted with
:func:`engine.workspace.quote_ident` wherever SQL is built.

**Types** — the declared type of each column, from a sample (the first batch):

* text values (CSV): ``INTEGER`` when every non-null value is an integer literal without
  a leading ``+``, leading zeros (``007`` stays ``TEXT``: zip codes, ids) or surrounding
  spaces, and fits in 64 bits; ``REAL`` when every one is such an integer or a decimal or
  exponent literal (again without leading zeros); otherwise ``TEXT``. ISO dates and
  integers too long for 64 bits stay ``TEXT``.
* Python values (JSON, Excel): ``INTEGER`` when all are ints/bools, ``REAL`` when all
  are numbers, otherwise ``TEXT``.

Values are inserted as they are and SQLite's column affinity converts them. A value after
the sample that is not a number is stored unchanged (as text) in a numeric column; a
later number that the sample would have refused is converted by SQLite's rules (``007``
→ 7, an integer beyond 64 bits → REAL). An all-null sample gives ``TEXT``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from typing import TypeVar

INTEGER = "INTEGER"
REAL = "REAL"
TEXT = "TEXT"
BLOB = "BLOB"

T = TypeVar("T")

_ODD_RUN = re.compile(r"[\W_]+")
# At most 18 digits, so every match fits in a signed 64-bit integer.
_INT_LITERAL = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
# A fraction or an exponent is required: a bare integer too long for INTEGER stays TEXT
# rather than being rounded to a float.
_REAL_LITERAL = re.compile(
    r"-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)|\.[0-9]+(?:[eE][-+]?[0-9]+)?)")
_ASCII_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _key(name: str) -> str:
    """How SQLite compares identifiers: ASCII letters case-insensitively, nothing else."""
    return name.translate(_ASCII_FOLD)


def clean_name(raw: object, position: int, keep: bool = False) -> str:
    """Rules 1–2 of the module doc for one name (rule 2 only with ``keep``); ``position`` is 1-based."""
    text = "" if raw is None else str(raw)
    if keep:
        name = text.replace("\x00", "") if text.strip() else ""
    else:
        name = _ODD_RUN.sub("_", text.strip()).strip("_")
    return name or f"col_{position}"


class ColumnNamer:
    """Hands out sanitised (or, with ``keep``, original), unique column names; later calls
    extend the same table."""

    def __init__(self, keep: bool = False) -> None:
        self.keep = keep
        self._taken: set[str] = set()
        self.names: list[str] = []

    def add(self, raw_names: Sequence[object]) -> list[str]:
        """Sanitise and de-duplicate ``raw_names`` (appended after the existing ones)."""
        offset = len(self.names)
        cleaned = [clean_name(raw, offset + i + 1, self.keep) for i, raw in enumerate(raw_names)]
        # Reserve every first occurrence up front, so an explicit "a_2" wins over a
        # generated one.
        first: dict[str, int] = {}
        for i, name in enumerate(cleaned):
            if _key(name) not in self._taken:
                first.setdefault(_key(name), i)
        self._taken.update(first)
        out = []
        for i, name in enumerate(cleaned):
            if first.get(_key(name)) != i:
                name = self._free_variant(name)
                self._taken.add(_key(name))
            out.append(name)
        self.names.extend(out)
        return out

    def _free_variant(self, name: str) -> str:
        n = 2
        while _key(f"{name}_{n}") in self._taken:
            n += 1
        return f"{name}_{n}"


def sanitize_names(raw_names: Sequence[object]) -> list[str]:
    """Sanitised, de-duplicated names for one header (see the module doc)."""
    return ColumnNamer().add(raw_names)


def infer_text_type(values: Iterable[str], null_values: Iterable[str] = ("",)) -> str:
    """Declared type for a column of text values (CSV); null markers are ignored."""
    nulls = set(null_values)
    present = [v for v in values if v not in nulls]
    if not present:
        return TEXT
    # map() keeps the loop in C: this runs on thousands of values per column.
    ints = list(map(_INT_LITERAL.fullmatch, present))
    if all(ints):
        return INTEGER
    if all(match or _REAL_LITERAL.fullmatch(value) for match, value in zip(ints, present)):
        return REAL
    return TEXT


def infer_value_type(values: Iterable[object], null_values: Iterable[str] = ()) -> str:
    """Declared type for a column of Python values (JSON, Excel); ``None`` and the texts in
    ``null_values`` are ignored."""
    nulls = set(null_values)
    kinds = {type(v) for v in values if v is not None and not (type(v) is str and v in nulls)}
    if not kinds:
        return TEXT
    if kinds <= {int, bool}:
        return INTEGER
    if kinds <= {int, bool, float}:
        return REAL
    return TEXT


def column_slices(flat: Sequence[T], ncols: int, nrows: int) -> list[Sequence[T]]:
    """The values of each column of a row-major flat list holding ``nrows`` rows."""
    used = flat[: ncols * nrows]
    return [used[i::ncols] for i in range(ncols)]
