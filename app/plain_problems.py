"""Validation problems said in plain language, for the app (the engine's own messages stay
precise for the command line and logs).

``plain(problem, workflow, types)`` turns e.g. "Transformer node 't' (T) needs at least 1
input(s), has 0" into "Connect something to this Transformer", and "'path' is required" on
a Data Source into "Choose a file to read". What it does not know is shown without the
"node 'x' (Title) (type):" prefix (on the node itself that part is obvious).
:func:`unique` keeps each message once, in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_PREFIX = re.compile(r"^(?:[\w ]+ )?node '[^']*'(?: \([^)]*\))*:? ?")
_AT_LEAST = re.compile(r"needs at least (\d+) input\(s\), has (\d+)")
_AT_MOST = re.compile(r"takes at most (\d+) input\(s\), has (\d+)")
_PORT = re.compile(r"has nothing connected to its '([^']+)' output")
_REQUIRED = re.compile(r"^'([\w.]+)' is required$")

REQUIRED = {
    ("data_source", "path"): "Choose a file to read",
    ("data_source", "table"): "Choose the table to read",
    ("data_source", "connection"): "Choose the connection to read from",
    ("output", "path"): "Choose the file to write",
    ("output", "connection"): "Choose the connection to write to",
    ("transformer", "sql"): "Write the SQL that makes this node's table",
    ("transformer", "code"): "Write the code that makes this node's table",
    ("branch", "condition"): "Write the condition that picks the side",
    ("start", "expression"): "Type a cron expression",
    ("start", "path"): "Choose the file or folder to watch",
}


def _inputs(n: int) -> str:
    return "1 input" if n == 1 else f"{n} inputs"


def plain_message(message: str, type_name: str = "", type_label: str = "", field: str | None = None) -> str:
    label = type_label or type_name.replace("_", " ").title() or "node"
    found = _AT_LEAST.search(message)
    if found:
        need, has = int(found.group(1)), int(found.group(2))
        if has == 0 and need == 1:
            return f"Connect something to this {label}"
        if has == 0:
            return f"Connect {_inputs(need)} to this {label}"
        return f"Connect {need - has} more to this {label}: it needs {_inputs(need)}, it has {has}"
    found = _AT_MOST.search(message)
    if found:
        most, has = int(found.group(1)), int(found.group(2))
        return f"This {label} takes {_inputs(most)}; remove {has - most} of its incoming connections"
    if "cannot have inputs" in message:
        return f"A {label} takes no input; remove the connections into it"
    found = _PORT.search(message)
    if found:
        return f"Connect something to the '{found.group(1)}' side"
    if "give either 'sql' or 'joins'" in message:
        return "Choose the columns to join on (or write the SQL)"
    short = _PREFIX.sub("", message, count=1) or message
    required = _REQUIRED.match(short.split(": ", 1)[-1] if field is None else short)
    if required:
        name = field or required.group(1)
        return REQUIRED.get((type_name, name), f"Fill in '{name}'")
    return short


def plain(problem: Any, workflow: Any, types: Mapping[str, Any]) -> str:
    """The plain message for a :class:`~engine.model.validation.Problem` about a node."""
    node = workflow.node(problem.nodes[0]) if problem.nodes and workflow.has_node(problem.nodes[0]) else None
    type_name = node.type if node is not None else ""
    spec = types.get(type_name)
    return plain_message(problem.message, type_name, getattr(spec, "label", "") or "", problem.field)


def unique(messages: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(messages))
