"""An open workflow: the graph truth while editing, its undo stack and its last run.

Screens and the canvas never change a :class:`~engine.model.workflow.Workflow` directly:
they push commands (:mod:`engine.model.commands`) through :meth:`WorkflowDocument.push`.
The document autosaves through a ``save`` callable (the app passes one that calls the
engine), tracks the file on disk to offer a reload when someone else changed it, and
folds run events (``RunStarted``/``NodeStarted``/``NodeFinished``/``RunFinished``) into
per-node run states the canvas draws. Pure Python: tests use it without Kivy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.plain_problems import plain
from engine.messages import Message, NodeFinished, NodeRetrying, NodeStarted, RunFinished, RunStarted
from engine.model import fileformat, validation
from engine.model.commands import Command, UndoStack
from engine.model.workflow import Workflow
from engine.plugin_api import NodeType

RUN_STATES = ("queued", "running", "succeeded", "reused", "failed", "skipped", "cancelled", "not_run", "interrupted")
RunListener = Callable[[str | None], None]


@dataclass
class NodeRunState:
    status: str = "queued"
    records: int | None = None
    error: str | None = None
    duration_ms: float | None = None
    table: str | None = None
    connection: str | None = None
    attempts: int = 1                  # the attempt running or last made (engine.retry)


class WorkflowDocument:
    def __init__(self, workflow: Workflow, types: Mapping[str, NodeType] | None = None,
                 save: Callable[[dict[str, Any]], None] | None = None, path: Path | None = None) -> None:
        self.workflow = workflow
        self.types = dict(types or {})
        self.stack = UndoStack(limit=500)
        self._save = save
        self.path = path
        self.run_id: str | None = None
        self.run_status: str | None = None   # None, running, or the finished run's status
        self.run_error: str | None = None
        self.node_states: dict[str, NodeRunState] = {}
        self.connection_names: dict[str, str] = {}   # connection id → name (where node tables live)
        self._run_listeners: list[RunListener] = []
        self.stale: set[str] = set()   # nodes whose last-run state predates an edit of them or above them
        self._unwatch = workflow.subscribe(self._model_event)
        self._saved_digest = self._digest(fileformat.dumps(workflow))

    # --- stale run states ------------------------------------------------------------------
    def _model_event(self, event: str, payload: Any) -> None:
        """An edit makes the last run's state of what it touches (and all below) out of date."""
        if not self.node_states:
            return
        if event == "node_changed":
            start = payload.id
        elif event in ("edge_added", "edge_removed"):
            start = payload.target
        else:
            return
        marked = self._below(start) - self.stale
        self.stale |= marked
        for node_id in marked:
            self._notify_run(node_id)

    def _below(self, node_id: str) -> set[str]:
        seen, todo = set(), [node_id]
        while todo:
            current = todo.pop()
            if current in seen or not self.workflow.has_node(current):
                continue
            seen.add(current)
            todo += [e.target for e in self.workflow.outputs_of(current)]
        return seen

    # --- editing -------------------------------------------------------------------------
    def push(self, command: Command) -> None:
        self.stack.push(command)

    def undo(self) -> None:
        if self.stack.can_undo:
            self.stack.undo()

    def redo(self) -> None:
        if self.stack.can_redo:
            self.stack.redo()

    @property
    def dirty(self) -> bool:
        """Edited since the last save (cheap: the stack's clean mark, no serialising)."""
        return not self.stack.is_clean

    def problems(self) -> list[validation.Problem]:
        return validation.validate(self.workflow, self.types)

    def problems_by_node(self) -> dict[str, list[str]]:
        """Each node's problems in plain language (:mod:`app.plain_problems`), each once."""
        out: dict[str, list[str]] = {}
        for problem in self.problems():
            message = plain(problem, self.workflow, self.types)
            for node_id in problem.nodes:
                if message not in out.setdefault(node_id, []):
                    out[node_id].append(message)
        return out

    # --- saving and the file on disk -----------------------------------------------------
    def save(self, force: bool = False) -> bool:
        """Hand the current workflow to ``save`` when it changed (or ``force``); True when sent."""
        text = fileformat.dumps(self.workflow)
        digest = self._digest(text)
        if self._save is None:
            return False
        if digest == self._saved_digest and not force:
            self.stack.set_clean()  # edited and edited back: nothing to write
            return False
        self._save(fileformat.to_dict(self.workflow))
        self._saved_digest = digest
        self.stack.set_clean()
        return True

    def changed_on_disk(self) -> bool:
        """True when the file holds a workflow other than the one we last loaded or saved."""
        if self.path is None or not self.path.exists():
            return False
        try:
            text = fileformat.dumps(fileformat.load(self.path))
        except Exception:  # noqa: BLE001 - a half-written or broken file is "not ours" either way
            return True
        return self._digest(text) != self._saved_digest

    def reload(self, workflow: Workflow) -> None:
        """Adopt ``workflow`` (read from disk) as the new truth; history of edits is dropped."""
        self._unwatch()
        self.workflow = workflow
        self._unwatch = workflow.subscribe(self._model_event)
        self.stack.clear()
        self._saved_digest = self._digest(fileformat.dumps(workflow))

    @staticmethod
    def _digest(text: str) -> str:
        return hashlib.sha1(text.encode()).hexdigest()

    # --- runs ----------------------------------------------------------------------------
    def subscribe_run(self, listener: RunListener) -> Callable[[], None]:
        """``listener(node_id)`` after a node's run state changed; ``listener(None)`` for the run."""
        self._run_listeners.append(listener)
        return lambda: self._run_listeners.remove(listener) if listener in self._run_listeners else None

    def _notify_run(self, node_id: str | None) -> None:
        for listener in list(self._run_listeners):
            listener(node_id)

    def apply_event(self, msg: Message) -> bool:
        """Fold one engine event into the run state; False when it is about another run."""
        if isinstance(msg, RunStarted):
            if msg.workflow_id != self.workflow.id:
                return False
            self.run_id, self.run_status, self.run_error = msg.run_id, "running", None
            self.node_states = {node_id: NodeRunState() for node_id in msg.node_ids}
            self.stale = set()
            self._notify_run(None)
            return True
        if getattr(msg, "run_id", None) != self.run_id or self.run_id is None:
            return False
        if isinstance(msg, NodeStarted):
            self.node_states.setdefault(msg.node_id, NodeRunState()).status = "running"
            self._notify_run(msg.node_id)
        elif isinstance(msg, NodeFinished):
            state = self.node_states.setdefault(msg.node_id, NodeRunState())
            state.status, state.records, state.error = msg.status, msg.records, msg.error
            state.duration_ms = msg.duration_ms
            state.table, state.connection = msg.table, msg.connection
            state.attempts = msg.attempts
            self._notify_run(msg.node_id)
        elif isinstance(msg, NodeRetrying):   # still running: the error says why it tries again
            state = self.node_states.setdefault(msg.node_id, NodeRunState())
            state.attempts = msg.attempt + 1
            state.error = f"attempt {msg.attempt} failed, retrying in {msg.delay_s:g} s: {msg.error or ''}"
            self._notify_run(msg.node_id)
        elif isinstance(msg, RunFinished):
            self.run_status, self.run_error = msg.status, msg.error
            for state in self.node_states.values():
                if state.status in ("queued", "running"):
                    state.status = "not_run" if state.status == "queued" else "cancelled"
            self._notify_run(None)
        return True

    def set_connection_names(self, connections: list[Mapping[str, Any]]) -> None:
        """Names for the database badges, from a ``connections.list`` answer."""
        self.connection_names = {c["id"]: c.get("name") or c["id"] for c in connections}
        self._notify_run(None)

    def load_run(self, run: Mapping[str, Any]) -> None:
        """Show a past run (a ``history.get`` record) as the current run state."""
        self.run_id, self.run_status, self.run_error = run["run_id"], run["status"], run.get("error")
        self.stale = set()
        self.node_states = {
            n["node_id"]: NodeRunState(n["status"], n.get("records_out"), n.get("error"), n.get("duration_ms"),
                                       n.get("output_table"), n.get("output_connection"))
            for n in run.get("nodes", [])}
        self._notify_run(None)

    @property
    def running(self) -> bool:
        return self.run_status == "running"
