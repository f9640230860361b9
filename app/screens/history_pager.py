"""The run list of the History screen, fetched from the engine one page at a time.

:class:`RunPager` holds the runs loaded so far for one set of filters, newest first, and
asks the engine (``history.list`` with ``limit`` and ``before``, the last loaded run: a
keyset cursor, so a page deep in a long log costs what the first one does) for the next
page only when :meth:`RunPager.more` is called — the screen calls it when the user scrolls
near the end — so a log of any size is never loaded whole. Guarantees:

- at most one page request is in flight; answers for an older filter set are dropped;
- :meth:`RunPager.refresh` (after a run finished) fetches only the newest page and merges
  it in front of what is loaded, keeping the scrolled-to rows and never duplicating a run;
- runs only ever appear at the top of the log (it is ordered by start time and never
  pruned while the app runs), so the page after the last loaded run leaves no gap and
  repeats no run, however many runs started meanwhile.

No Kivy here: ``call`` is :meth:`app.bridge.EngineBridge.call`, whose callbacks arrive on
the main thread, so every method runs on one thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PAGE_SIZE = 50

Call = Callable[..., None]


class RunPager:
    def __init__(self, call: Call, on_change: Callable[[], None], on_error: Callable[[str], None],
                 page_size: int = PAGE_SIZE) -> None:
        self._call = call
        self._on_change = on_change
        self._on_error = on_error
        self.page_size = page_size
        self.filters: dict[str, str | None] = {}
        self.rows: list[dict[str, Any]] = []
        self.total: int | None = None        # runs matching the filters (None until counted)
        self.exhausted = False               # the last page came back short: nothing more to load
        self.loading = False
        self._ids: set[str] = set()
        self._generation = 0
        self._refresh_pending = False

    # --- what the screen asks for ---------------------------------------------------------
    def reset(self, workflow_id: str | None = None, status: str | None = None, trigger: str | None = None) -> None:
        """Start over with these filters: drop what is loaded, fetch the first page and the count."""
        self._generation += 1
        self.filters = {"workflow_id": workflow_id, "status": status, "trigger": trigger}
        self.rows, self._ids, self.total = [], set(), None
        self.exhausted = self.loading = self._refresh_pending = False
        self._on_change()
        self.more()
        self._count()

    def more(self) -> bool:
        """Fetch the next page unless one is in flight or the log is exhausted; True if asked."""
        if self.loading or self.exhausted:
            return False
        self.loading = True
        generation = self._generation
        cursor = {"before": self.rows[-1]["run_id"]} if self.rows else {}
        self._call("history.list", on_result=lambda rows: self._page_arrived(generation, rows),
                   on_error=lambda msg: self._failed(generation, msg), limit=self.page_size,
                   **cursor, **self.filters)
        return True

    def refresh(self) -> None:
        """Bring in runs started (or finished) since the list was loaded."""
        if self.loading:
            self._refresh_pending = True
            return
        self.loading = True
        generation = self._generation
        # the count is asked once the rows are here and both are shown together: a list with a
        # new run beside the count from before it ("5 runs" over six rows) is never on screen
        self._call("history.list", on_result=lambda rows: self._count(lambda: self._fresh_arrived(generation, rows)),
                   on_error=lambda msg: self._failed(generation, msg), limit=self.page_size,
                   **self.filters)

    def mark_seen(self, run_id: str) -> None:
        for row in self.rows:
            if row["run_id"] == run_id and not row.get("seen", True):
                row["seen"] = True
                self._on_change()

    def mark_pinned(self, run_id: str, pinned: bool) -> None:
        for row in self.rows:
            if row["run_id"] == run_id and bool(row.get("pinned")) != pinned:
                row["pinned"] = pinned
                self._on_change()

    # --- answers --------------------------------------------------------------------------
    def _page_arrived(self, generation: int, rows: list[dict[str, Any]]) -> None:
        if generation != self._generation:
            return
        self.loading = False
        self.exhausted = len(rows) < self.page_size
        new = [r for r in rows if r["run_id"] not in self._ids]
        self.rows.extend(new)
        self._ids.update(r["run_id"] for r in new)
        self._on_change()
        self._after_load()

    def _fresh_arrived(self, generation: int, fresh: list[dict[str, Any]]) -> None:
        if generation != self._generation:
            return
        self.loading = False
        self.rows = merge_newest(self.rows, fresh)
        if len(self.rows) == len(fresh):
            self.exhausted = len(fresh) < self.page_size
        self._ids = {r["run_id"] for r in self.rows}
        self._on_change()
        self._after_load()

    def _after_load(self) -> None:
        if self._refresh_pending:
            self._refresh_pending = False
            self.refresh()

    def _failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self.loading = False
        self._refresh_pending = False
        self._on_error(message)

    def _count(self, then: Any = None) -> None:
        """Ask for the total; ``then()`` runs once it is set (rows that came with it)."""
        generation = self._generation

        def counted(total: int) -> None:
            if generation != self._generation:
                return
            self.total = int(total)
            if then is not None:
                then()      # shows the rows and the total in one change
            else:
                self._on_change()

        def failed(message: str) -> None:
            if then is not None:
                then()
            self._on_error(message)

        self._call("history.count", on_result=counted, on_error=failed, **self.filters)


def merge_newest(loaded: list[dict[str, Any]], fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``fresh`` (the newest page) in front of the loaded rows it does not replace.

    The loaded rows after the last one ``fresh`` also holds are kept, so the rows the user
    has scrolled to stay; when ``fresh`` shares no run with ``loaded`` (a whole page of new
    runs came in) the list starts over from ``fresh`` rather than leave a gap."""
    fresh_ids = {r["run_id"] for r in fresh}
    last_shared = max((i for i, r in enumerate(loaded) if r["run_id"] in fresh_ids), default=None)
    if last_shared is None:
        return list(fresh) if fresh or not loaded else list(loaded)
    return list(fresh) + loaded[last_shared + 1:]
