"""Build the one SQLite SELECT that a Join node runs over its input tables.

The Join node's config::

    {"joins": [{"left": "orders", "right": "customers", "type": "left",
                "on": [["customer_id", "id"]]},
               {"left": "customers", "right": "regions", "type": "inner",
                "on": [["region_id", "id"]]}],
     "columns": ["orders.id", "customers.name", "regions.name"]}

Join order
    The first join's ``left`` input is the FROM table; each join adds its ``right``
    input. Every input is joined exactly once, and a later join's ``left`` may be
    any input joined before it: it only says which table the left ``on`` columns
    come from. As in SQL, a join's type applies between everything joined so far
    and its right input. ``type`` is ``inner`` (the default), ``left``, ``right``
    or ``full`` (SQLite ≥ 3.39). ``on`` pairs compare with ``=`` and are ANDed, so
    NULL keys never match.

Columns
    ``columns`` lists ``"<input node id>.<column>"`` (node ids contain no dot, so
    the column part may); missing or empty means every column of every input, in
    input order.

Same-name rule
    A column name kept from more than one input (compared ignoring ASCII case,
    as SQLite does) is output as ``<node_id>_<column>`` for **every** input that
    has it; a name kept from one input only is output as it is. When a renamed
    name would clash with another output name, ``_2``, ``_3``, … is appended to
    the renamed one. Nothing is ever dropped or silently shadowed:
    ``orders.id`` + ``customers.id`` → ``orders_id``, ``customers_id``.

Guarantees
    Every table and column is quoted with :func:`engine.workspace.quote_ident`;
    tables get the aliases ``t1``, ``t2``, … by input position, so any name —
    quotes, spaces, keywords, another table's alias — is safe and not
    injectable, and the same table may be joined to itself. Every mistake is a
    :class:`JoinSpecError` naming the join, the input and the column (with the
    columns available). :func:`validate_join_spec` reports, without raising, all
    that can be checked before the column lists are known.
"""

from __future__ import annotations

import contextvars
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.errors import NodeError
from engine.sql import fold_ident
from engine.workspace import quote_ident

__all__ = ["JOIN_TYPES", "JoinSpecError", "build_join_sql", "output_names", "validate_join_spec"]

JOIN_TYPES = {"inner": "INNER JOIN", "left": "LEFT JOIN", "right": "RIGHT JOIN",
              "full": "FULL OUTER JOIN"}
DEFAULT_JOIN_TYPE = "inner"

Problem = tuple[str, str]   # (config field, message)


_quote: contextvars.ContextVar[Callable[[str], str]] = contextvars.ContextVar("quote", default=quote_ident)


class JoinSpecError(NodeError, ValueError):
    """A Join config that cannot be turned into SQL; the message says why."""


@dataclass(frozen=True)
class _Input:
    node_id: str
    table: str
    columns: tuple[str, ...]
    alias: str

    def column(self, name: str, where: str) -> str:
        if name not in self.columns:
            available = ", ".join(self.columns) or "none"
            raise JoinSpecError(f"{where}: input '{self.node_id}' has no column '{name}' "
                                f"(its columns: {available})")
        return f"{self.alias}.{_quote.get()(name)}"


def validate_join_spec(spec: Mapping[str, Any], input_ids: Sequence[str]) -> list[Problem]:
    """Every problem found without column lists: shape, input ids, join order, types."""
    if not isinstance(spec, Mapping):
        return [("joins", "the join configuration must be a mapping")]
    joins = spec.get("joins")
    if not isinstance(joins, list) or not joins:
        return [("joins", "at least one join is required")]
    problems: list[Problem] = []
    joined: list[str] = []
    for number, join in enumerate(joins, 1):
        problems += _join_problems(join, f"join {number}", joined, input_ids)
    problems += [("joins", f"input '{node_id}' is not joined; add a join whose right input is it")
                 for node_id in input_ids if node_id not in joined]
    problems += _columns_problems(spec.get("columns"), input_ids)
    return problems


def build_join_sql(spec: Mapping[str, Any], inputs: Sequence[tuple[str, str, list[str]]],
                   quote: Callable[[str], str] = quote_ident) -> str:
    """One SELECT joining ``inputs`` (``[(node id, table, [columns])]``) as ``spec`` says;
    ``quote`` quotes identifiers for the dialect the SQL will run in (SQLite by default)."""
    token = _quote.set(quote)
    try:
        return _build(spec, inputs)
    finally:
        _quote.reset(token)


def _build(spec: Mapping[str, Any], inputs: Sequence[tuple[str, str, list[str]]]) -> str:
    by_id = _inputs_by_id(inputs)
    problems = validate_join_spec(spec, list(by_id))
    if problems:
        raise JoinSpecError("; ".join(message for _, message in problems))
    joins = spec["joins"]
    selected = _selected_columns(spec.get("columns"), by_id)
    names = output_names([(inp.node_id, column) for inp, column in selected])
    select = ",\n  ".join(f"{inp.column(column, 'columns')} AS {_quote.get()(name)}"
                          for (inp, column), name in zip(selected, names, strict=True))
    first = by_id[joins[0]["left"]]
    lines = [f"SELECT\n  {select}", f"FROM {_table_ref(first)}"]
    lines += [_join_clause(join, f"join {n}", by_id) for n, join in enumerate(joins, 1)]
    return "\n".join(lines)


def output_names(selected: Sequence[tuple[str, str]]) -> list[str]:
    """Output names of ``(node id, column)`` pairs, in order, by the same-name rule."""
    counts = Counter(fold_ident(column) for _, column in selected)
    shared = [counts[fold_ident(column)] > 1 for _, column in selected]
    used = {fold_ident(column) for (_, column), renamed in zip(selected, shared, strict=True)
            if not renamed}
    names = []
    for (node_id, column), renamed in zip(selected, shared, strict=True):
        if renamed:
            column = _unused(f"{node_id}_{column}", used)
            used.add(fold_ident(column))
        names.append(column)
    return names


def _unused(name: str, used: set[str]) -> str:
    candidate, suffix = name, 2
    while fold_ident(candidate) in used:
        candidate, suffix = f"{name}_{suffix}", suffix + 1
    return candidate


def _join_problems(join: Any, where: str, joined: list[str],
                   input_ids: Sequence[str]) -> list[Problem]:
    if not isinstance(join, Mapping):
        return [("joins", f"{where} must be a mapping with left, right, type and on")]
    problems = []
    names = ", ".join(input_ids) or "none"
    for side in ("left", "right"):
        if join.get(side) not in input_ids:
            problems.append(("joins", f"{where}: {side} input {join.get(side)!r} is not an input "
                                      f"of this node (inputs: {names})"))
    kind = join.get("type", DEFAULT_JOIN_TYPE)
    if not isinstance(kind, str) or kind not in JOIN_TYPES:
        problems.append(("joins", f"{where}: unknown join type {kind!r} "
                                  f"(use {', '.join(JOIN_TYPES)})"))
    problems += _on_problems(join.get("on"), where)
    if not problems:
        problems += _order_problems(join["left"], join["right"], where, joined)
    return problems


def _order_problems(left: str, right: str, where: str, joined: list[str]) -> list[Problem]:
    """Check the join order and record the inputs joined so far."""
    if left == right:
        return [("joins", f"{where} joins input '{left}' with itself")]
    if not joined:
        joined += [left, right]
        return []
    if left not in joined:
        return [("joins", f"{where}: left input '{left}' is not joined yet (joined so far: "
                          f"{', '.join(joined)}); a join's left must be joined before it")]
    if right in joined:
        return [("joins", f"{where}: input '{right}' is joined twice")]
    joined.append(right)
    return []


def _on_problems(on: Any, where: str) -> list[Problem]:
    if not isinstance(on, list) or not on:
        return [("joins", f"{where}: 'on' needs at least one [left column, right column] pair")]
    return [("joins", f"{where}: on pair {n} must be [left column, right column], got {pair!r}")
            for n, pair in enumerate(on, 1)
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2
                    and all(isinstance(c, str) and c for c in pair))]


def _columns_problems(columns: Any, input_ids: Sequence[str]) -> list[Problem]:
    if columns in (None, []):
        return []
    if not isinstance(columns, list):
        return [("columns", "columns must be a list of '<input node id>.<column>' names")]
    problems = []
    for entry in columns:
        node_id, _, column = entry.partition(".") if isinstance(entry, str) else ("", "", "")
        if not column:
            problems.append(("columns", f"column {entry!r} must be written "
                                        f"'<input node id>.<column>'"))
        elif node_id not in input_ids:
            problems.append(("columns", f"column {entry!r}: '{node_id}' is not an input of "
                                        f"this node (inputs: {', '.join(input_ids) or 'none'})"))
    problems += [("columns", f"column {entry!r} is listed {count} times")
                 for entry, count in Counter(c for c in columns if isinstance(c, str)).items()
                 if count > 1]
    return problems


def _inputs_by_id(inputs: Sequence[tuple[str, str, list[str]]]) -> dict[str, _Input]:
    by_id: dict[str, _Input] = {}
    for position, (node_id, table, columns) in enumerate(inputs, 1):
        if node_id in by_id:
            raise JoinSpecError(f"input '{node_id}' is connected more than once")
        by_id[node_id] = _Input(node_id, table, tuple(columns), f"t{position}")
    return by_id


def _selected_columns(columns: list[str] | None,
                      by_id: Mapping[str, _Input]) -> list[tuple[_Input, str]]:
    if not columns:
        return [(inp, column) for inp in by_id.values() for column in inp.columns]
    selected = []
    for entry in columns:
        node_id, _, column = entry.partition(".")
        by_id[node_id].column(column, f"column '{entry}'")
        selected.append((by_id[node_id], column))
    return selected


def _table_ref(inp: _Input) -> str:
    return f"{_quote.get()(inp.table)} AS {inp.alias}"


def _join_clause(join: Mapping[str, Any], where: str, by_id: Mapping[str, _Input]) -> str:
    left, right = by_id[join["left"]], by_id[join["right"]]
    conditions = " AND ".join(
        f"{left.column(lcol, f'{where} on')} = {right.column(rcol, f'{where} on')}"
        for lcol, rcol in join["on"])
    kind = JOIN_TYPES[join.get("type", DEFAULT_JOIN_TYPE)]
    return f"{kind} {_table_ref(right)} ON {conditions}"
