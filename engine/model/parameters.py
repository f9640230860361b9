"""Workflow parameters: declared once in the workflow, given a value per run.

A workflow declares ``parameters: [{"name", "type", "default"}]``; ``type`` is one of
``text``, ``integer``, ``number``, ``boolean`` or ``date`` (ISO ``YYYY-MM-DD``). A node refers
to one as ``{{ param.NAME }}`` in the fields listed in :data:`PARAM_FIELDS` — SQL, Branch
conditions and file paths. How a value enters them is the guarantee of this feature:

* in SQL and conditions it is a **bound value** (a placeholder the driver fills), never text
  pasted into the statement, so ``x'; DROP TABLE t; --`` stays a string value;
* in a path it is text (the path names a file; it never reaches a SQL statement).

Values come from ``dagflux run --param k=v``, a webhook request's query string, the app's Run
dialog, or — for schedules, file watches and anything not given — the declared default. Every
value arriving as text is converted by the declared type (:func:`convert`); a wrong value is a
:class:`ParameterError` naming the parameter and what it expects. The values a run used are
stored in its history row.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine import templates
from engine.errors import DagfluxError, TemplateError

TYPES = ("text", "integer", "number", "boolean", "date")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# node type → config fields where a {{ param.NAME }} may appear
PARAM_FIELDS = {"transformer": ("sql",), "join": ("sql",), "branch": ("condition",),
                "data_source": ("path",), "output": ("path",)}
_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


class ParameterError(DagfluxError):
    """A parameter declaration or value that cannot be used; the message names the parameter."""


@dataclass(frozen=True)
class ParamProblem:
    message: str
    node_id: str | None = None
    field: str | None = None


def declared(parameters: Any) -> dict[str, dict[str, Any]]:
    """The well-formed declarations by name (malformed ones are left to :func:`check_declarations`)."""
    out: dict[str, dict[str, Any]] = {}
    for item in parameters if isinstance(parameters, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            out.setdefault(item["name"], item)
    return out


def check_declarations(parameters: Any) -> list[ParamProblem]:
    if not isinstance(parameters, list):
        return [ParamProblem("parameters must be a list of {name, type, default}")]
    problems, seen = [], set()
    for i, item in enumerate(parameters, 1):
        if not isinstance(item, dict):
            problems.append(ParamProblem(f"parameter #{i} must be an object with name, type and default"))
            continue
        name = item.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.append(ParamProblem(f"parameter #{i}: name {name!r} must be letters, digits and "
                                         f"underscores, starting with a letter or underscore"))
            continue
        if name in seen:
            problems.append(ParamProblem(f"parameter '{name}' is declared twice"))
        seen.add(name)
        unknown = sorted(set(item) - {"name", "type", "default", "description"})
        if unknown:
            problems.append(ParamProblem(f"parameter '{name}': unknown key(s) {', '.join(unknown)}"))
        kind = item.get("type", "text")
        if kind not in TYPES:
            problems.append(ParamProblem(f"parameter '{name}': type must be one of {', '.join(TYPES)}, "
                                         f"not {kind!r}"))
            continue
        if item.get("default") is not None:
            try:
                convert(name, kind, item["default"])
            except ParameterError as exc:
                problems.append(ParamProblem(f"{exc} (its default)"))
    return problems


def convert(name: str, kind: str, value: Any) -> Any:
    """``value`` (text from a command line or URL, or a JSON value) as the declared type:
    text → str, integer → int, number → float, boolean → bool, date → ISO ``YYYY-MM-DD`` str."""
    try:
        return _CONVERT[kind](value)
    except (ValueError, TypeError, OverflowError):
        pass
    article = "an" if kind == "integer" else "a"
    raise ParameterError(f"parameter '{name}' is {article} {kind}: {_EXPECT[kind]}, not {value!r}")


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise TypeError
    return value if isinstance(value, str) else str(value)


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError
        return int(value)
    if isinstance(value, int):
        return value
    return int(str(value).strip().replace("_", "x"), 10)   # "1_000" is no integer here


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError
    number = float(value) if isinstance(value, (int, float)) else float(str(value).strip())
    if not math.isfinite(number):
        raise ValueError
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError


def _date(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError
    return dt.date.fromisoformat(text).isoformat()


_CONVERT = {"text": _text, "integer": _integer, "number": _number, "boolean": _boolean, "date": _date}
_EXPECT = {"text": "any text", "integer": "a whole number like 42", "number": "a number like 3.5",
           "boolean": "true or false (also yes/no, 1/0, on/off)", "date": "a date like 2026-12-31"}


def resolve(parameters: Any, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The value of every declared parameter for one run: ``given`` (converted) over the
    defaults. A name not declared, a bad value, or a parameter with neither is an error."""
    decls = declared(parameters)
    given = dict(given or {})
    unknown = sorted(set(given) - set(decls))
    if unknown:
        known = ", ".join(decls) or "none"
        raise ParameterError(f"unknown parameter(s) {', '.join(unknown)} (this workflow declares: {known})")
    values = {}
    for name, decl in decls.items():
        kind = decl.get("type", "text")
        raw = given[name] if name in given else decl.get("default")
        if raw is None:
            raise ParameterError(f"parameter '{name}' has no default; give a value (--param {name}=…)")
        values[name] = convert(name, kind, raw)
    return values


def as_text(value: Any) -> str:
    """A value as it is written into a path: booleans as ``true``/``false``."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def fill_text(text: str, values: Mapping[str, Any]) -> str:
    """``text`` with each ``{{ param.X }}`` that has a value replaced by it (for paths); every
    other reference, and a parameter without a value, stays as written."""
    def resolve(ref: templates.Reference) -> str:
        return as_text(values[ref.arg]) if ref.kind == "param" and ref.arg in values else ref.text

    try:
        return templates.render(text, resolve)
    except TemplateError:
        return text


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """``["k=v", …]`` from the command line as ``{k: v}`` (the value may contain ``=``)."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"--param {item!r}: write it as NAME=VALUE")
        out[name.strip()] = value
    return out


def references(text: str) -> Iterator[templates.Reference]:
    try:
        refs = templates.parse(text)
    except TemplateError:
        return  # reported by the node's own checks
    yield from (ref for ref in refs if ref.kind == "param")


def check_references(node_id: str, node_type: str, config: Mapping[str, Any],
                     parameters: Any) -> list[ParamProblem]:
    """A ``{{ param.X }}`` naming no declared parameter, or in a field that takes none."""
    names = set(declared(parameters))
    allowed = PARAM_FIELDS.get(node_type, ())
    problems = []
    for key, value in config.items():
        for where, text in _strings(f"config.{key}", value):
            for ref in references(text):
                if key not in allowed or where != f"config.{key}":
                    fields = ", ".join(allowed) or "no field"
                    problems.append(ParamProblem(f"{where}: {ref.text} is not allowed here "
                                                 f"(a {node_type} node takes parameters in: {fields})",
                                                 node_id, where))
                elif ref.arg not in names:
                    known = ", ".join(sorted(names)) or "none declared"
                    problems.append(ParamProblem(f"{where}: {ref.text} names no workflow parameter "
                                                 f"(parameters: {known})", node_id, where))
    return problems


def _strings(where: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if "param" in value:
            yield where, value
    elif isinstance(value, Mapping):
        for key, child in value.items():
            yield from _strings(f"{where}.{key}", child)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _strings(f"{where}[{i}]", child)
