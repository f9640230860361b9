"""What ``dagflux validate --check-paths`` adds: the files and folders a workflow needs.

Validation proper checks a workflow's structure and configuration — nothing outside the
file. Before a run a user may also want to know that what it reads is there: this looks
at each Data Source's input file (and workspace table, when there is a workspace), each
Output's folder (present, or created because ``create_dirs`` is on) and a file-watch
trigger's folder. Relative paths are taken from ``base_dir``, the workflow file's folder,
exactly as a run takes them. Reads only: nothing is created.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from engine.model import parameters, triggers
from engine.model.workflow import Workflow


@dataclass(frozen=True)
class PathFinding:
    node_id: str
    message: str
    problem: bool          # False: worth knowing, not a reason the run would fail

    def __str__(self) -> str:
        return f"node '{self.node_id}': {self.message}"


def check_paths(wf: Workflow, base_dir: Path, workspace: Path | None = None) -> list[PathFinding]:
    base_dir = Path(base_dir)
    found: list[PathFinding] = []
    try:            # paths with {{ param.X }} are checked with the parameters' defaults
        defaults = parameters.resolve(wf.parameters, None)
    except parameters.ParameterError:
        defaults = {}
    for node in wf:
        config = {k: parameters.fill_text(v, defaults) if k == "path" and isinstance(v, str) else v
                  for k, v in node.config.items()}
        if node.type == "data_source" and config.get("source", "file") == "file" and config.get("path"):
            path = _resolve(base_dir, str(config["path"]))
            if not path.exists():
                found.append(PathFinding(node.id, f"input file {config['path']} does not exist ({path})", True))
            elif not path.is_file():
                found.append(PathFinding(node.id, f"input {config['path']} is not a file ({path})", True))
        elif node.type == "data_source" and config.get("source") == "workspace" and config.get("table"):
            if workspace is not None and not _has_table(workspace, str(config["table"])):
                found.append(PathFinding(node.id, f"the workspace has no table '{config['table']}' "
                                                  "(a run of the workflow that makes it must come first)", True))
        elif node.type == "output" and not config.get("connection"):
            path = _resolve(base_dir, str(config.get("path") or f"{node.id}.csv"))
            create = bool((config.get("options") or {}).get("create_dirs"))
            if not path.parent.is_dir():
                found.append(PathFinding(node.id, f"output folder {path.parent} does not exist" + (
                    "; it will be created (create_dirs)" if create else "; create it or turn on create_dirs"),
                    not create))
        elif node.type == "start":
            found += _watch_folder(node.id, config, base_dir)
    return found


def _watch_folder(node_id: str, config: dict, base_dir: Path) -> list[PathFinding]:
    try:
        trigger = triggers.parse_trigger(config)
    except triggers.TriggerError:
        return []                      # validation reports it
    if not isinstance(trigger, triggers.FileWatchTrigger):
        return []
    path = triggers.resolve_watch_path(trigger, base_dir)
    if path.exists() or path.parent.is_dir():   # a file may appear later in an existing folder
        return []
    return [PathFinding(node_id, f"the watched path {path} does not exist, nor its folder", True)]


def _resolve(base_dir: Path, raw: str) -> Path:
    path = Path(raw).expanduser()
    return path if path.is_absolute() else base_dir / path


def _has_table(workspace: Path, table: str) -> bool:
    if not workspace.exists():
        return False
    from urllib.parse import quote

    try:
        conn = sqlite3.connect(f"file:{quote(str(workspace))}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?",
                                (table,)).fetchone() is not None
        finally:
            conn.close()
    except sqlite3.Error:
        return False
