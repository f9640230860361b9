"""Reader options shared by the formats: null markers and the user's column types.

Guarantees: every option is validated here and a bad one is a :class:`NodeError` naming the
file and the option; the defaults are the documented ones (docs/workflow-format.md,
"Reading files").

**Null markers** (CSV values and Excel text cells): :data:`DEFAULT_NULL_VALUES` — the
pandas/R/KNIME convention — plus the texts listed in ``null_values``. ``default_nulls: false``
drops the defaults, so ``null_values`` is then the exact list (what a list meant before the
defaults existed). ``-`` is not a default: it is a real value too often (a dash for "none" in
a text column, a minus sign on its own in reports), so it is opt-in (``"null_values": ["-"]``).

**Column types**: ``columns`` maps a column (its name in the file or its sanitised name) to
``integer``, ``real`` or ``text``, replacing the inferred type; ``all_text: true`` makes every
column TEXT (``columns`` still wins for the columns it names). ``original_names: true`` keeps
the file's column names as written instead of sanitising them (:mod:`engine.io.columns`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.errors import NodeError
from engine.io.columns import INTEGER, REAL, TEXT

DEFAULT_NULL_VALUES = ("", "NA", "N/A", "NULL", "null", "NaN", "nan", "#N/A")
"""Texts read as NULL unless ``default_nulls`` is false."""

TYPE_NAMES = {"integer": INTEGER, "real": REAL, "text": TEXT}
"""The types a user may choose in ``columns`` (case-insensitive) and the declared type each gives."""


def flag(label: str, name: str, value: object) -> bool:
    """A true/false option as JSON or a form field gives it."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise NodeError(f"{label}: option '{name}' must be true or false, got {value!r}")


def null_markers(label: str, options: Mapping[str, object]) -> list[str]:
    """The texts read as NULL: the defaults (unless ``default_nulls`` is false) plus ``null_values``."""
    extra: Any = options.get("null_values")
    extra = [] if extra is None else [extra] if isinstance(extra, str) else extra
    if not isinstance(extra, list | tuple) or not all(isinstance(v, str) for v in extra):
        raise NodeError(f"{label}: option 'null_values' must be a list of strings")
    defaults = DEFAULT_NULL_VALUES if flag(label, "default_nulls", options.get("default_nulls", True)) else ()
    return list(dict.fromkeys([*defaults, *extra]))


@dataclass
class TypeChoice:
    """The user's column types: ``overrides`` (source or sanitised name → declared type)."""

    overrides: dict[str, str] = field(default_factory=dict)
    all_text: bool = False
    original_names: bool = False      # keep the file's names (see engine.io.columns)
    used: set[str] = field(default_factory=set)

    def apply(self, source_names: Sequence[str], sql_names: Sequence[str],
              inferred: Sequence[str]) -> tuple[list[str], list[bool]]:
        """(declared types, whether the user chose each) for newly added columns."""
        types, chosen = [], []
        for source, name, kind in zip(source_names, sql_names, inferred):
            key = source if source in self.overrides else name if name in self.overrides else None
            if key is not None:
                self.used.add(key)
                types.append(self.overrides[key])
                chosen.append(True)
            else:
                types.append(TEXT if self.all_text else kind)
                chosen.append(self.all_text)
        return types, chosen

    def unmatched(self) -> list[str]:
        """Names in ``columns`` that matched no column (so far)."""
        return [name for name in self.overrides if name not in self.used]


def type_choice(label: str, options: Mapping[str, object]) -> TypeChoice:
    raw: Any = options.get("columns") or {}
    if not isinstance(raw, Mapping):
        raise NodeError(f"{label}: option 'columns' must be an object mapping a column to "
                        f"{', '.join(TYPE_NAMES)}")
    overrides = {}
    for name, kind in raw.items():
        declared = TYPE_NAMES.get(str(kind).strip().lower()) if isinstance(kind, str) else None
        if declared is None:
            raise NodeError(f"{label}: option 'columns': the type of '{name}' must be one of "
                            f"{', '.join(TYPE_NAMES)}, not {kind!r}")
        overrides[str(name)] = declared
    return TypeChoice(overrides, flag(label, "all_text", options.get("all_text", False)),
                      flag(label, "original_names", options.get("original_names", False)))


def unmatched_error(label: str, choice: TypeChoice, columns: Sequence[str]) -> NodeError | None:
    """An error naming the ``columns`` entries that matched no column, or None."""
    missing = choice.unmatched()
    if not missing:
        return None
    names = ", ".join(f"'{m}'" for m in missing)
    shown = ", ".join(columns[:20]) + (", …" if len(columns) > 20 else "")
    return NodeError(f"{label}: option 'columns' names {names}, which the file does not have "
                     f"(its columns: {shown})")
