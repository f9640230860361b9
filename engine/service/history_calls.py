"""The engine's ``history.*`` calls: the execution log, each run's kept outputs, the budget
and pins (split from :mod:`engine.service.engine`, which mixes this in)."""

from __future__ import annotations

from typing import Any

from engine import history_budget, kept, workspace
from engine.errors import DagfluxError
from engine.history import History
from engine.paths import DataPaths


class HistoryCalls:
    history: History
    paths: DataPaths
    pruner: Any

    def _call_history_list(self, limit: int = 50, offset: int = 0, workflow_id: str | None = None,
                           status: str | None = None, trigger: str | None = None,
                           before: str | None = None) -> list:
        return self.history.list_runs(limit, offset, workflow_id, status, trigger, before=before)

    def _call_history_count(self, workflow_id: str | None = None, status: str | None = None,
                            trigger: str | None = None) -> int:
        return self.history.count_runs(workflow_id, status, trigger)

    def _call_history_workflows(self) -> list:
        return self.history.workflows()

    def _call_history_get(self, run_id: str) -> dict:
        return self.history.get_run(run_id)

    def _call_history_mark_seen(self, run_id: str) -> bool:
        self.history.set_seen(run_id, True)
        return True

    def _call_history_pin(self, run_id: str, pinned: bool = True) -> bool:
        self.history.set_pinned(run_id, bool(pinned))
        self._poke_pruner()     # an unpinned run beyond the budget goes now
        return bool(pinned)

    def _poke_pruner(self) -> None:
        pruner = getattr(self, "pruner", None)
        if pruner is not None:
            pruner.poke()

    def _call_history_output(self, run_id: str, node_id: str) -> dict:
        """The workspace table holding ``node_id``'s output as run ``run_id`` made it."""
        run = self.history.get_run(run_id)
        node = next((n for n in run["nodes"] if n["node_id"] == node_id), None)
        if node is None:
            raise DagfluxError(f"run {run['run_id']} has no node '{node_id}'")
        name = node.get("kept_table")
        if not name:
            raise DagfluxError(f"node '{node_id}' kept no output in run {run['run_id']}")
        table = None
        if self.paths.workspace.exists():
            conn = workspace.connect(self.paths.workspace, readonly=True)
            try:
                table = kept.resolve(conn, name)
            finally:
                conn.close()
        if table is None:
            raise DagfluxError(f"the output of node '{node_id}' in run {run['run_id']} is no longer kept: "
                               f"the history budget pruned it")
        return {"run_id": run["run_id"], "node_id": node_id, "kept_table": name, "table": table,
                "latest": table != name}

    def _call_history_budget(self, days: Any = "unchanged", size: Any = "unchanged") -> dict:
        """The budget ``{days, size}`` (size in bytes; None: no limit); a given value sets it."""
        budget = history_budget.load_budget(self.paths.root)
        if days != "unchanged" or size != "unchanged":
            if days != "unchanged":
                budget.days = history_budget.parse_days(str(days)) if days is not None else None
            if size != "unchanged":
                budget.size = history_budget.parse_size(str(size)) if size is not None else None
            history_budget.save_budget(self.paths.root, budget)
            self._poke_pruner()
        return {"days": budget.days, "size": budget.size}

    def _call_history_prune(self, dry_run: bool = False) -> dict:
        """Prune beyond the budget now (or, ``dry_run``, say what would go). An older workspace
        is first switched to incremental vacuum (one full VACUUM: writers wait for it)."""
        path = self.paths.workspace
        budget = history_budget.load_budget(self.paths.root)
        if not path.exists():
            return {**history_budget.Plan().as_dict(), "dry_run": bool(dry_run), "switched": False,
                    "file_before": 0, "file_after": 0}
        switched = False if dry_run else history_budget.make_incremental(path)
        before = path.stat().st_size
        done = history_budget.prune(self.history, path, budget, dry_run=bool(dry_run))
        return {**done.as_dict(), "dry_run": bool(dry_run), "switched": switched, "file_before": before,
                "file_after": path.stat().st_size}
