"""Saved workflows: ``<data dir>/workflows/<id>.json``, written only by the engine.

Every write is atomic (:func:`engine.model.fileformat.save`). A file that cannot be
read is listed with its error and left exactly as it is. A workflow's trigger can be
switched off without deleting it (``settings.trigger_enabled``). Imported workflows
remember their original folder in ``settings.base_dir``, so relative data paths keep
resolving where the file came from.

Importing checks the file first: an invalid workflow is refused with every problem
listed, unless forced — then it is kept as a *draft* (``settings.draft``; listed as such,
it does not run until fixed). An imported trigger (schedule, file watch, webhook) starts
switched off: the user turns it on once they have read what the workflow does
(:mod:`engine.model.review`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import DagfluxError, WorkflowFileError, WorkflowValidationError
from engine.model import fileformat, triggers
from engine.model.validation import START, validate
from engine.model.workflow import Workflow, is_valid_id


class WorkflowNotFound(DagfluxError):
    """No saved workflow has that id."""


class WorkflowStore:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, workflow_id: str) -> Path:
        if not is_valid_id(workflow_id):
            raise WorkflowNotFound(f"'{workflow_id}' is not a valid workflow id")
        return self.folder / f"{workflow_id}.json"

    def exists(self, workflow_id: str) -> bool:
        return is_valid_id(workflow_id) and self.path(workflow_id).is_file()

    def load(self, workflow_id: str) -> Workflow:
        path = self.path(workflow_id)
        if not path.is_file():
            raise WorkflowNotFound(f"no saved workflow '{workflow_id}'")
        wf = fileformat.load(path)
        if wf.id != workflow_id:
            raise WorkflowFileError(f"{path}: holds workflow id '{wf.id}', not '{workflow_id}'", str(path))
        return wf

    def base_dir(self, wf: Workflow) -> Path:
        return Path(wf.settings.get("base_dir") or self.folder)

    def ids(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.json") if is_valid_id(p.stem))

    def list(self) -> list[dict[str, Any]]:
        out = []
        for workflow_id in self.ids():
            try:
                out.append(summary(self.load(workflow_id)))
            except DagfluxError as exc:
                out.append({"id": workflow_id, "name": workflow_id, "error": str(exc)})
        return out

    def save(self, doc: dict[str, Any] | Workflow) -> Workflow:
        wf = doc if isinstance(doc, Workflow) else fileformat.from_dict(doc, "<saved workflow>")
        if not is_valid_id(wf.id):
            raise WorkflowFileError(f"workflow id '{wf.id}' must be snake_case (letters, digits, single "
                                    "underscores, starting with a letter)")
        fileformat.save(wf, self.path(wf.id))
        return wf

    def rename(self, workflow_id: str, name: str) -> Workflow:
        if not name.strip():
            raise DagfluxError("a workflow name cannot be empty")
        wf = self.load(workflow_id)
        wf.set_meta(name=name.strip())
        return self.save(wf)

    def duplicate(self, workflow_id: str, new_id: str | None = None, name: str | None = None) -> Workflow:
        wf = self.load(workflow_id).clone()
        new_id = new_id or self._free_id(f"{workflow_id}_copy")
        if self.exists(new_id):
            raise DagfluxError(f"a workflow '{new_id}' already exists")
        wf.id, wf.name = new_id, name or f"{wf.name} (copy)"
        wf.settings["trigger_enabled"] = False  # a copy does not fire until switched on
        return self.save(wf)

    def delete(self, workflow_id: str) -> None:
        path = self.path(workflow_id)
        if not path.is_file():
            raise WorkflowNotFound(f"no saved workflow '{workflow_id}'")
        path.unlink()

    def set_enabled(self, workflow_id: str, enabled: bool) -> Workflow:
        wf = self.load(workflow_id)
        wf.settings["trigger_enabled"] = bool(enabled)
        return self.save(wf)

    def import_file(self, source: Path, new_id: str | None = None, types: Mapping[str, Any] | None = None,
                    force: bool = False) -> Workflow:
        """Save the workflow file ``source``; with ``types`` it is validated first (refused when
        invalid, or kept as a draft with ``force``). Its trigger starts switched off."""
        source = Path(source).resolve()
        wf = fileformat.load(source)
        if new_id:
            wf.id = new_id
        if self.exists(wf.id):
            raise DagfluxError(f"a workflow '{wf.id}' already exists; give the imported one another id")
        problems = validate(wf, types) if types is not None else []
        if problems and not force:
            raise WorkflowValidationError(problems, f"{source.name} was not imported; fix it or import it "
                                                    "as a draft with --force")
        if problems:
            wf.settings["draft"] = True
        trigger = start_trigger(wf)
        if trigger is not None and trigger.kind != "manual":
            wf.settings["trigger_enabled"] = False
        # always the file's own folder: a base_dir written in the file could aim relative paths anywhere
        wf.settings["base_dir"] = str(source.parent)
        return self.save(wf)

    def _free_id(self, base: str) -> str:
        candidate, n = base, 2
        while self.exists(candidate):
            candidate, n = f"{base}_{n}", n + 1
        return candidate


def is_enabled(wf: Workflow) -> bool:
    return bool(wf.settings.get("trigger_enabled", True))


def start_trigger(wf: Workflow) -> triggers.Trigger | None:
    start = next((n for n in wf if n.type == START), None)
    if start is None:
        return None
    try:
        return triggers.parse_trigger(start.config)
    except triggers.TriggerError:
        return None


def summary(wf: Workflow) -> dict[str, Any]:
    trigger = start_trigger(wf)
    return {"id": wf.id, "name": wf.name, "description": wf.description, "nodes": len(wf),
            "trigger": trigger.kind if trigger else None,
            "trigger_description": triggers.describe(trigger) if trigger else "no valid trigger",
            "enabled": is_enabled(wf), "draft": bool(wf.settings.get("draft"))}
