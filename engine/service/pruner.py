"""The engine prunes the history beyond its budget in the background (:mod:`engine.history_budget`).

A daemon thread: a pass shortly after the engine is warm, then every :data:`INTERVAL_S`,
and at once when poked (:meth:`Pruner.poke`): a run ended, the budget changed, a run was
unpinned. A pass is many small batches (a few tables
dropped, or a few runs' node rows deleted, each one short transaction under the workspace
write lease) with a pause between them, so a run that writes its tables meanwhile waits
for one batch at most. The budget file is read at each pass: a change made in Settings or
with ``dagflux history budget`` applies at the next one. A failed pass is logged, not fatal.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from engine import history_budget
from engine.history import History

log = logging.getLogger("dagflux.pruner")

INTERVAL_S = 600.0
FIRST_S = 1.0
PAUSE_S = 0.05


class Pruner:
    def __init__(self, root: Path, workspace_path: Path, history: History) -> None:
        self.root, self.workspace_path, self.history = Path(root), Path(workspace_path), history
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="dagflux-pruner", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """Prune soon (a run ended, or the budget changed)."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        wait = FIRST_S
        while not self._stop.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            if self._stop.is_set():
                return
            self.run_pass()
            wait = INTERVAL_S

    def run_pass(self) -> history_budget.Plan | None:
        if not self.workspace_path.exists():
            return None
        try:
            budget = history_budget.load_budget(self.root)
            done = history_budget.prune(self.history, self.workspace_path, budget,
                                        pause=lambda: self._stop.wait(PAUSE_S), stop=self._stop.is_set)
        except Exception as exc:  # noqa: BLE001 - pruning is upkeep: the engine goes on without it
            log.warning("pruning the history beyond its budget failed: %s", exc)
            return None
        self.passes += 1
        if not done.empty:
            log.info("pruned the history beyond its budget: kept tables of %d run(s), node rows of %d",
                     len(done.tables), len(done.details))
        return done
