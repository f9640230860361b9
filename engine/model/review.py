"""What a workflow file will do, listed before it is imported.

Importing a workflow from elsewhere is like being handed a script: before it is saved (and
its trigger could fire), :func:`review` lists what it would run and touch —

* the Python code it runs (whole, numbered) and the SQL (each statement as written);
* the files it writes, each flagged when it lies outside the workflow's own folder (an
  absolute path, or one that climbs out with ``..``), and the connection tables it writes;
* the connections it reads or writes through;
* its trigger, and that an imported trigger starts switched off;
* warnings: a ``settings.base_dir`` in the file (ignored — an imported workflow reads its
  relative paths from the folder the file came from, so a file cannot aim them elsewhere),
  and SQL the engine will refuse to run (ATTACH, VACUUM INTO, load_extension, PRAGMA
  writes — see :mod:`engine.sql.guard`).

Pure: nothing is read but the workflow itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from engine.model import triggers
from engine.model.workflow import Workflow


@dataclass
class Review:
    code: list[tuple[str, str]] = field(default_factory=list)        # (node, Python source)
    sql: list[tuple[str, str]] = field(default_factory=list)         # (node, SQL text)
    writes: list[tuple[str, str, str]] = field(default_factory=list)  # (node, target, flag or "")
    connections: list[str] = field(default_factory=list)
    trigger: str = "run by hand"
    trigger_kind: str = "manual"
    workflow_id: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> list[tuple[str, str, str]]:
        return [w for w in self.writes if w[2]]

    def to_dict(self) -> dict[str, Any]:
        return {"code": [list(c) for c in self.code], "sql": [list(s) for s in self.sql],
                "writes": [list(w) for w in self.writes], "connections": self.connections,
                "trigger": self.trigger, "trigger_kind": self.trigger_kind, "warnings": self.warnings}

    def lines(self) -> list[str]:
        out = [f"Trigger: {self.trigger}"
               + ("" if self.trigger_kind == "manual" else " — imported switched off; "
                                                           "turn it on with "
                                                           f"'dagflux workflows enable {self.workflow_id}'")]
        out += [f"⚠ {warning}" for warning in self.warnings]
        if self.connections:
            out.append(f"Connections used: {', '.join(self.connections)}")
        for node, target, flag in self.writes:
            out.append(f"Writes: {target} (node '{node}')" + (f"  ⚠ {flag}" if flag else ""))
        for node, text in self.sql:
            out.append(f"SQL in node '{node}':")
            out += [f"    {line}" for line in text.strip().splitlines()]
        for node, text in self.code:
            out.append(f"Python code in node '{node}' (runs when the workflow runs):")
            out += [f"  {i:>3} | {line}" for i, line in enumerate(text.rstrip().splitlines(), 1)]
        if not (self.sql or self.code or self.writes):
            out.append("It runs no code or SQL and writes no file or table.")
        return out


def review(wf: Workflow) -> Review:
    found = Review(workflow_id=wf.id)
    connections: set[str] = set()
    for node in wf:
        config = node.config
        if isinstance(config.get("connection"), str):
            connections.add(config["connection"])
        if node.type == "start":
            _trigger(found, config)
        elif node.type == "transformer" and config.get("language") == "python":
            found.code.append((node.id, str(config.get("code") or "")))
        elif node.type in ("transformer", "join") and config.get("sql"):
            found.sql.append((node.id, str(config["sql"])))
        elif node.type == "branch" and config.get("condition"):
            found.sql.append((node.id, f"condition: {config['condition']}"))
        elif node.type == "output":
            _writes(found, node.id, config)
        if isinstance(config.get("destination"), str):
            connections.add(config["destination"])
    found.connections = sorted(connections)
    if wf.settings.get("base_dir"):
        found.warnings.append(f"the file names a base folder ({wf.settings['base_dir']}); it is ignored — "
                              "relative paths are read from the folder the file is imported from")
    for node_id, text in found.sql:
        refused = _REFUSED_SQL.search(_without_strings(text))
        if refused:
            found.warnings.append(f"the SQL in node '{node_id}' uses {refused.group(0).upper()}, "
                                  "which the engine refuses to run in a workflow")
    return found


_REFUSED_SQL = re.compile(r"\b(attach|detach|vacuum\s+into|load_extension|pragma)\b", re.IGNORECASE)


def _without_strings(sql: str) -> str:
    """``sql`` with quoted strings and comments blanked, so a word inside them is no match."""
    return re.sub(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", " ", sql, flags=re.DOTALL)


def _trigger(found: Review, config: dict[str, Any]) -> None:
    try:
        parsed = triggers.parse_trigger(config)
    except triggers.TriggerError as exc:
        found.trigger, found.trigger_kind = f"invalid ({exc})", "invalid"
        return
    found.trigger, found.trigger_kind = triggers.describe(parsed), parsed.kind


def _writes(found: Review, node_id: str, config: dict[str, Any]) -> None:
    if config.get("connection"):
        found.writes.append((node_id, f"table '{config.get('table', '?')}' in connection "
                                      f"'{config['connection']}'", ""))
        return
    path = str(config.get("path") or "")
    if not path:
        return
    pure = PurePath(path)
    flag = ("an absolute path, outside the workflow's folder" if pure.is_absolute() or path.startswith("~")
            else "climbs out of the workflow's folder ('..')" if ".." in pure.parts else "")
    found.writes.append((node_id, path, flag))
