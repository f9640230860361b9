"""The History screen: every run in the execution log, newest first, and one run in detail.

The runs table is a RecycleView fed by :class:`~app.screens.history_pager.RunPager`: one page
(``history.list`` with ``limit``) when the screen opens, the next (``before`` the last run
loaded) only when the user scrolls near the end, so a log of any length is never loaded
whole; the scroll position is kept while pages arrive. Filters — workflow (from ``history.workflows``, so deleted
workflows can be picked too), status and trigger — restart the paging; ``history.count`` says
how many runs match. A failed run nobody has looked at yet (a trigger's failure) is
highlighted until it is opened, which marks it seen (``history.mark_seen``).

Tapping a run shows it in :class:`~app.screens.history_detail.RunDetailView` (timeline, node
rows, "open in editor at this node"). The list refreshes — only its newest page — when a run
starts or finishes or a trigger is skipped (engine events through ``app.bridge.listen``) and
when the engine (re)connects.
"""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.metrics import dp
from kivy.properties import BooleanProperty, ColorProperty, ObjectProperty, StringProperty
from kivy.uix.recycleview.views import RecycleDataViewBehavior
from kivymd.uix.screen import MDScreen

from app.kvload import load_kv
from app.screens import history_format as fmt
from app.screens.history_detail import HistoryStatusPill, RunDetailView  # noqa: F401  (used by history.kv)
from app.screens.history_pager import RunPager
from app.widgets.menu import AppMenu
from app.widgets.painted_row import Cell, PaintedRow
from app.widgets.timeline import status_color
from engine.messages import Message, RunFinished, RunStarted, TriggerSkipped

REFRESH_EVENTS = (RunStarted, RunFinished, TriggerSkipped)
REFRESH_DELAY_S = 0.3      # events in a burst (many runs ending together) cause one refresh
MORE_WITHIN_VIEWS = 1.0    # fetch the next page when less than this many screenfuls remain below
ROW_H = dp(56)             # the runs table's row height (history.kv)
COMPACT_BELOW_DP = 900     # a narrower table (800x600, a window held upright) drops its
                           # Trigger and Records columns: they go under the workflow's name


class HistoryHeaderRow(PaintedRow):
    """The runs table's column headings, laid out like :class:`HistoryRunRow` (so they line
    up at every width, with the same columns dropped when the table is narrow)."""

    divider = False

    def cells(self) -> list[Cell]:
        muted = self.theme_cls.onSurfaceVariantColor
        heads = [("Status", dp(140), "left"), ("Workflow", 0, "left"), ("Trigger", dp(130), "left"),
                 ("Started", dp(130), "left"), ("Duration", dp(100), "right"), ("Records", dp(100), "right")]
        if self.width < dp(COMPACT_BELOW_DP):
            heads = [h for h in heads if h[0] not in ("Trigger", "Records")]
        cells = [Cell(w, text, colour=muted, align=align, size=14, bold=True) for text, w, align in heads]
        return cells + [Cell(dp(24))]

    def on_touch_down(self, touch) -> bool:  # headings only: not a button
        return False


class HistoryRunRow(RecycleDataViewBehavior, PaintedRow):
    """One run in the table, painted (a long list stays cheap to draw); tapping it calls
    ``opener(run_id)``. Columns match the headings in history.kv."""

    run_id = StringProperty("")
    workflow_name = StringProperty("")
    workflow_id = StringProperty("")
    trigger_text = StringProperty("")
    trigger_icon = StringProperty("")
    status_icon = StringProperty("")
    status_text = StringProperty("")
    status_rgba = ColorProperty([0, 0, 0, 1])
    started_text = StringProperty("")
    duration_text = StringProperty("")
    records_text = StringProperty("")
    unseen = BooleanProperty(False)
    pinned = BooleanProperty(False)
    selected = BooleanProperty(False)
    opener = ObjectProperty(None, allownone=True)
    repaint_on = ("run_id", "workflow_name", "workflow_id", "trigger_text", "trigger_icon", "status_icon",
                  "status_text", "status_rgba", "started_text", "duration_text", "records_text", "unseen", "pinned",
                  "selected")

    def cells(self) -> list[Cell]:
        sub = f"{self.workflow_id}  ·  not looked at yet" if self.unseen else self.workflow_id
        if self.pinned:
            sub += "  ·  pinned"
        compact = self.width < dp(COMPACT_BELOW_DP)
        if compact:  # the trigger and the records move under the workflow's name
            sub = "  ·  ".join(part for part in (sub, self.trigger_text, self.records_text and
                                                  f"{self.records_text} records") if part)
        status = Cell(dp(140), self.status_text, icon=self.status_icon, colour=self.status_rgba, pill=True)
        workflow = Cell(0, self.workflow_name, sub=sub, bold=self.unseen, size=15, icon="pin" if self.pinned else "",
                        sub_colour=self.theme_cls.errorColor if self.unseen else None)
        started, duration = Cell(dp(130), self.started_text), Cell(dp(100), self.duration_text, align="right")
        chevron = Cell(dp(24), icon="chevron-right", align="center")
        if compact:
            return [status, workflow, started, duration, chevron]
        return [status, workflow, Cell(dp(130), self.trigger_text, icon=self.trigger_icon), started, duration,
                Cell(dp(100), self.records_text, align="right"), chevron]

    def background(self) -> list[float]:
        theme = self.theme_cls
        if self.unseen:
            return theme.errorContainerColor[:3] + [0.35]
        return theme.secondaryContainerColor if self.selected else theme.surfaceContainerLowColor

    def on_release(self) -> None:
        if self.opener is not None:
            self.opener(self.run_id)


class HistoryScreen(MDScreen):
    workflow_id = StringProperty(None, allownone=True)
    status = StringProperty(None, allownone=True)
    trigger = StringProperty(None, allownone=True)
    workflow_label = StringProperty("Any workflow")
    trigger_label = StringProperty("Any trigger")
    filtered = BooleanProperty(False)
    count_text = StringProperty("")
    loaded_text = StringProperty("")
    placeholder = StringProperty("Waiting for the engine…")
    placeholder_detail = StringProperty("")
    current_run = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app = App.get_running_app()
        self.pager = RunPager(self.app.bridge.call, self._rows_changed, self._load_failed)
        self._names: dict[str, str] = {}
        self._menu: AppMenu | None = None
        self._keep_top: float | None = None    # px scrolled from the top, restored once rows are laid out
        self._started = False
        self._refresh_soon = Clock.create_trigger(lambda _dt: self.pager.refresh(), REFRESH_DELAY_S)
        self._check_more = Clock.create_trigger(self._maybe_more, 0)
        self._unlisten = self.app.bridge.listen(self._engine_event)
        self.app.bind(engine_ok=self._engine_ok)
        self.app.theme_cls.bind(onSurfaceColor=lambda *_a: self._rows_changed())
        self.ids.runs.bind(scroll_y=self._check_more, height=self._check_more)
        self.ids.runs_layout.bind(height=self._restore_scroll)

    # --- life cycle ------------------------------------------------------------------------
    def on_enter(self, *_args: Any) -> None:
        if not self._started or not self.pager.rows:
            self.reload()
        else:
            self.pager.refresh()

    def on_app_stop(self) -> None:
        self._unlisten()
        if self._menu is not None:
            self._menu.dismiss()

    def _engine_ok(self, _app: Any, ok: bool) -> None:
        if ok and self._started:
            self.on_enter()

    def _engine_event(self, msg: Message) -> None:
        if isinstance(msg, REFRESH_EVENTS) and self._started:
            self._refresh_soon()
        self.ids.detail.engine_event(msg)

    # --- the list --------------------------------------------------------------------------
    def reload(self) -> None:
        """Start the list over with the current filters (top of the log)."""
        self._started = True
        self.pager.reset(workflow_id=self.workflow_id, status=self.status, trigger=self.trigger)

    def _rows_changed(self) -> None:
        rv, rows = self.ids.runs, self.pager.rows
        if rows and len(rows) != len(rv.data) and self._keep_top is None:
            # the table is about to grow: keep what the user looks at where it is, also when
            # new runs come in above it
            self._keep_top = (1 - rv.scroll_y) * max(0.0, self.ids.runs_layout.height - rv.height)
            if self._keep_top > 0 and rv.data:
                above = next((i for i, r in enumerate(rows) if r["run_id"] == rv.data[0]["run_id"]), 0)
                self._keep_top += above * ROW_H
        theme = self.app.theme_cls
        rv.data = [self._row_view(run, theme) for run in rows]
        if not rows:
            rv.scroll_y = 1.0
        self._update_texts()
        self._check_more()

    def _row_view(self, run: dict[str, Any], theme: Any) -> dict[str, Any]:
        status = run["status"]
        took = "—" if status == "skipped" else fmt.duration(run["duration_ms"])  # a skip took no time
        return {"run_id": run["run_id"], "workflow_name": run["workflow_name"] or run["workflow_id"],
                "workflow_id": run["workflow_id"], "trigger_text": fmt.trigger_label(run["trigger"]),
                "trigger_icon": fmt.TRIGGER_ICONS.get(run["trigger"], "lightning-bolt-outline"),
                "status_icon": fmt.STATUS_ICONS.get(status, "help-circle-outline"),
                "status_text": fmt.status_label(status), "status_rgba": status_color(status, theme),
                "started_text": fmt.when(run["started_at"]), "duration_text": took,
                "records_text": fmt.records(run["records"]),
                "unseen": status == "failed" and not run.get("seen", True),
                "pinned": bool(run.get("pinned")),
                "selected": run["run_id"] == self.current_run, "opener": self.open_run}

    def _update_texts(self) -> None:
        pager, total = self.pager, self.pager.total
        if total is None:
            self.count_text = ""
        else:
            self.count_text = f"{total:,} run{'' if total == 1 else 's'}{' match' if self.filtered else ''}"
        shown = len(pager.rows)
        self.loaded_text = f"{shown:,} of {total:,} loaded" if total and shown < total else ""
        if shown:
            self.placeholder = self.placeholder_detail = ""
        elif pager.loading or total is None:
            self.placeholder, self.placeholder_detail = "Loading…", ""
        elif self.filtered:
            self.placeholder = "No runs match these filters"
            self.placeholder_detail = "Try another workflow, status or trigger, or clear the filters."
        else:
            self.placeholder = "No runs yet"
            self.placeholder_detail = "Every run of a workflow — manual or by its trigger — appears here."

    def _load_failed(self, message: str) -> None:
        if not self.app.engine_ok:
            self.placeholder, self.placeholder_detail = "Waiting for the engine…", message
        elif self.pager.rows:
            self.app.notify(f"Could not load the history: {message}")
        else:
            self.placeholder, self.placeholder_detail = "Could not load the history", message

    def _restore_scroll(self, *_args: Any) -> None:
        """Keep the rows the user looks at in place when rows are added (RecycleView keeps
        the scroll fraction, which would jump)."""
        if self._keep_top is None:
            return
        rv, hidden = self.ids.runs, self.ids.runs_layout.height - self.ids.runs.height
        rv.scroll_y = 1.0 if hidden <= 0 else max(0.0, min(1.0, 1 - self._keep_top / hidden))
        self._keep_top = None
        self._check_more()

    def _maybe_more(self, *_args: Any) -> None:
        """Fetch the next page when the user is near the end of what is loaded."""
        rv = self.ids.runs
        if self._keep_top is not None or not self._started or rv.height <= 0:
            return
        hidden = self.ids.runs_layout.height - rv.height
        below = rv.scroll_y * hidden if hidden > 0 else 0.0
        if below < rv.height * MORE_WITHIN_VIEWS:
            self.pager.more()

    # --- filters ---------------------------------------------------------------------------
    def set_filters(self, workflow_id: str | None, status: str | None, trigger: str | None) -> None:
        self.workflow_id, self.status, self.trigger = workflow_id or None, status or None, trigger or None
        self.filtered = bool(self.workflow_id or self.status or self.trigger)
        self.workflow_label = self._names.get(self.workflow_id, self.workflow_id) if self.workflow_id \
            else "Any workflow"
        self.trigger_label = f"Trigger: {fmt.trigger_label(self.trigger)}" if self.trigger else "Any trigger"
        self.reload()

    def open_status_menu(self) -> None:
        items = [("Any status", None)] + [(fmt.status_label(s), s) for s in fmt.STATUSES]
        self._open_menu(self.ids.status_filter, items, self.status,
                        lambda value: self.set_filters(self.workflow_id, value, self.trigger))

    def open_trigger_menu(self) -> None:
        items = [("Any trigger", None)] + [(fmt.trigger_label(t), t) for t in fmt.TRIGGERS]
        self._open_menu(self.ids.trigger_filter, items, self.trigger,
                        lambda value: self.set_filters(self.workflow_id, self.status, value))

    def open_workflow_menu(self) -> None:
        """The workflows come fresh from the log, so a new or deleted workflow is offered too."""
        self.app.bridge.call("history.workflows", on_result=self._show_workflow_menu,
                             on_error=lambda msg: self.app.notify(f"Could not list the workflows: {msg}"))

    def _show_workflow_menu(self, workflows: list[dict[str, Any]]) -> None:
        self._names = {w["workflow_id"]: w["workflow_name"] or w["workflow_id"] for w in workflows}
        items = [("Any workflow", None)] + [(f"{self._names[w['workflow_id']]}  ({w['runs']:,})", w["workflow_id"])
                                            for w in workflows]
        self._open_menu(self.ids.workflow_filter, items, self.workflow_id,
                        lambda value: self.set_filters(value, self.status, self.trigger))

    def _open_menu(self, caller: Any, items: list[tuple[str, str | None]], current: str | None,
                   choose: Any) -> None:
        if self._menu is not None:
            self._menu.dismiss()

        def chosen(value: str | None) -> None:
            if self._menu is not None:
                self._menu.dismiss()
                self._menu = None
            choose(value)

        entries = [{"text": text, "leading_icon": "check" if value == current else "blank",
                    "on_release": lambda v=value: chosen(v)} for text, value in items]
        self._menu = AppMenu(caller=caller, items=entries, position="bottom", width=dp(280),
                                    max_height=dp(48) * 9)
        self._menu.open()

    # --- one run ---------------------------------------------------------------------------
    def open_run(self, run_id: str) -> None:
        self.current_run = run_id
        self._rows_changed()
        self.ids.detail.show(run_id)
        self.ids.pages.transition.direction = "left"
        self.ids.pages.current = "run"

    def run_seen(self, run_id: str) -> None:
        self.pager.mark_seen(run_id)

    def show_list(self) -> None:
        self.ids.pages.transition.direction = "right"
        self.ids.pages.current = "runs"


load_kv(__file__)
