"""What a run knows about itself and returns: per-node state and the run's result.

Plain data, kept apart from the scheduling loop in :mod:`engine.runner` (which
re-exports both names).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "status": self.status, "records": self.records,
                "table": self.table, "connection": self.connection,   # where its table lives (None: workspace)
                "duration_ms": self.duration_ms, "error": self.error, "warnings": list(self.warnings),
                "attempts": len(self.attempts) + 1}


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
