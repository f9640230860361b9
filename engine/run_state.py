"""What a run knows about itself and returns: per-node state and the run's result.

Plain data, kept apart from the scheduling loop in :mod:`engine.runner` (which
re-exports both names).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.kept import kept_name


@dataclass
class NodeRun:
    id: str
    type: str
    title: str
    status: str = "queued"
    records: int | None = None
    records_in: int | None = None
    duration_ms: float | None = None
    error: str | None = None
    started_at: float | None = None
    table: str | None = None
    connection: str | None = None
    branch: str | None = None
    peak_rss_kib: int | None = None
    warnings: list[str] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)   # failed attempts before this one
    attempt_started: float | None = None
    kept: str | None = None    # a reused node: the kept name of the result it stands in with

    def settle_kept(self, run_id: str, status: str, own: str, nodes: Iterable[NodeRun]) -> str | None:
        """Where this run's result of the node is kept (:mod:`engine.kept`), for its history
        row: the output it wrote to its own table ``own``; a table it passes on (an Output
        node) as its maker's; the result it reused as before. None for anything else."""
        if status == "succeeded" and self.table and self.connection is None:
            self.kept = kept_name(own, run_id) if self.table == own else next(
                (n.kept for n in nodes if n is not self and n.table == self.table and n.kept), None)
        return self.kept if status in ("succeeded", "reused") else None

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "status": self.status, "records": self.records,
                "table": self.table, "connection": self.connection,   # where its table lives (None: workspace)
                "duration_ms": self.duration_ms, "error": self.error, "warnings": list(self.warnings),
                "attempts": len(self.attempts) + 1}


def all_attempts(state: NodeRun, status: str, duration_ms: float | None, error: str | None,
                 waiting: bool) -> list[dict[str, Any]]:
    """Every attempt of a retried node, the last one included (empty: it ran once). A node
    cancelled while ``waiting`` for its next attempt ends with the attempts it made."""
    if not state.attempts:
        return []
    if waiting:
        return list(state.attempts)
    return [*state.attempts, {"attempt": len(state.attempts) + 1, "status": status,
                              "started_at": state.attempt_started, "duration_ms": duration_ms,
                              "error": error}]


@dataclass
class RunResult:
    run_id: str
    workflow_id: str
    status: str
    nodes: list[NodeRun]
    started_at: float
    ended_at: float
    error: str | None = None
    records: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "workflow_id": self.workflow_id, "status": self.status,
                "params": dict(self.params), "nodes": [n.summary() for n in self.nodes]}

    def node(self, node_id: str) -> NodeRun:
        return next(n for n in self.nodes if n.id == node_id)
