"""One run of the execution log in detail: what ran, when, for how long, and what failed.

:class:`RunDetailView` loads a run with ``history.get`` and shows its header (workflow,
trigger, status, start, duration, records, error), the per-node timeline
(:class:`~app.widgets.timeline.TimelineWidget`), the node rows in start order (status,
duration, records in/out, error) and the selected node's facts with its error and warnings as text the
user can select and copy. One node is selected at a time — the first failing node when the
run failed — and tapping a bar or a row selects it in both places. "Open in editor at this
node" calls ``app.open_workflow(workflow_id, node_id=…, run_id=…)``. "Open output" shows the
selected node's output as *this* run made it (``history.output`` finds the kept table,
:mod:`engine.kept`) in the table viewer; the pin button pins the run (``history.pin``): a
pinned run is never pruned by the history budget.

Opening a failed run that was unseen marks it seen (``history.mark_seen``) and dispatches
``on_seen(run_id)``; pinning or unpinning dispatches ``on_pinned(run_id, pinned)`` (the list
marks the run); ``on_back`` asks the owner to return to the list. While the run shown is
still going, its node and run events reload it, so the timeline grows live. Answers for
a run no longer shown are dropped.
"""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.metrics import dp
from kivy.properties import BooleanProperty, ColorProperty, ObjectProperty, StringProperty
from kivy.uix.recycleview.views import RecycleDataViewBehavior
from kivymd.uix.boxlayout import MDBoxLayout
from kivymd.uix.button import MDButton

from app.kvload import load_kv
from app.screens import history_format as fmt
from app.widgets.painted_row import Cell, PaintedRow
from app.widgets.timeline import TimelineWidget, build_bars, status_color  # noqa: F401  (kv uses the widget)
from engine.messages import Message, NodeFinished, NodeStarted, RunFinished

RELOAD_DELAY_S = 0.2   # node events of a running run arrive in bursts: one reload per burst


class HistoryTopButton(MDButton):
    """A 48dp-tall button (a kv dynamic class would lose its height to MDButton's own 40dp rule)."""


class HistoryStatusPill(MDBoxLayout):
    icon = StringProperty("")
    text = StringProperty("")
    colour = ColorProperty([0, 0, 0, 1])


class HistoryNodeRow(RecycleDataViewBehavior, PaintedRow):
    """One node of the run, painted; tapping selects it, its pencil opens the editor at it.
    Columns match the headings in history_detail.kv."""

    node_id = StringProperty("")
    title = StringProperty("")
    subtitle = StringProperty("")
    status_icon = StringProperty("")
    status_text = StringProperty("")
    status_rgba = ColorProperty([0, 0, 0, 1])
    duration_text = StringProperty("")
    in_text = StringProperty("")
    out_text = StringProperty("")
    has_error = BooleanProperty(False)
    selected = BooleanProperty(False)
    view = ObjectProperty(None, allownone=True)
    repaint_on = ("node_id", "title", "subtitle", "status_icon", "status_text", "status_rgba", "duration_text",
                  "in_text", "out_text", "has_error", "selected")
    padding = (dp(12), 0)
    spacing = dp(12)
    divider = False

    def cells(self) -> list[Cell]:
        return [Cell(dp(130), self.status_text, icon=self.status_icon, colour=self.status_rgba, pill=True),
                Cell(0, self.title, sub=self.subtitle, size=15,
                     sub_colour=self.theme_cls.errorColor if self.has_error else None),
                Cell(dp(84), self.duration_text, align="right"),
                Cell(dp(84), self.in_text, align="right"),
                Cell(dp(84), self.out_text, align="right"),
                Cell(dp(48), icon="vector-polyline-edit", align="center", name="open")]

    def background(self) -> list[float]:
        theme = self.theme_cls
        return theme.secondaryContainerColor if self.selected else theme.surfaceContainerLowColor

    def on_release(self) -> None:
        if self.view is None:
            return
        if self.last_touch is not None and self.cell_at(self.last_touch.x) == "open":
            self.view.open_in_editor(self.node_id)
        else:
            self.view.select_node(self.node_id)


class RunDetailView(MDBoxLayout):
    run_id = StringProperty("")
    run = ObjectProperty(None, allownone=True)
    run_loaded = BooleanProperty(False)
    title = StringProperty("")
    subtitle = StringProperty("")
    status_icon = StringProperty("")
    status_text = StringProperty("")
    status_rgba = ColorProperty([0, 0, 0, 0])
    trigger_text = StringProperty("")
    started_text = StringProperty("")
    duration_text = StringProperty("")
    records_text = StringProperty("")
    run_error = StringProperty("")
    run_error_label = StringProperty("Error")
    selected_node = StringProperty("")
    node_title = StringProperty("")
    node_meta = StringProperty("")
    node_status = StringProperty("")
    node_started = StringProperty("")
    node_duration = StringProperty("")
    node_records = StringProperty("")
    node_table = StringProperty("")
    node_error = StringProperty("")
    node_warnings = StringProperty("")    # one per line, e.g. a column kept as text
    node_kept = BooleanProperty(False)    # the selected node kept an output in this run
    pinned = BooleanProperty(False)
    viewer = ObjectProperty(None, allownone=True)   # the last output viewer opened (tests look at it)

    __events__ = ("on_back", "on_seen", "on_pinned")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app = App.get_running_app()
        self._reload_soon = Clock.create_trigger(lambda _dt: self._fetch(), RELOAD_DELAY_S)
        self.app.theme_cls.bind(onSurfaceColor=self._theme_changed)

    def _theme_changed(self, *_args: Any) -> None:
        if self.run:
            self.status_rgba = status_color(self.run["status"], self.app.theme_cls)
        self._fill_nodes()

    def on_back(self) -> None:
        pass

    def on_seen(self, run_id: str) -> None:
        pass

    def on_pinned(self, run_id: str, pinned: bool) -> None:
        pass

    # --- loading ---------------------------------------------------------------------------
    def show(self, run_id: str) -> None:
        """Show ``run_id`` (its rows arrive from the engine)."""
        if run_id != self.run_id:
            self.run, self.run_loaded, self.selected_node = None, False, ""
            self.title, self.subtitle = "Loading…", run_id
            self.status_text = self.run_error = ""
            self.ids.timeline.show_run(None)
            self.ids.nodes.data = []
        self.run_id = run_id
        self._fetch()

    def _fetch(self) -> None:
        run_id = self.run_id
        self.app.bridge.call("history.get", on_result=lambda run: self._loaded(run_id, run),
                             on_error=lambda msg: self._failed(run_id, msg), run_id=run_id)

    def _failed(self, run_id: str, message: str) -> None:
        if run_id == self.run_id:
            self.title, self.subtitle = "Could not load this run", message

    def _loaded(self, run_id: str, run: dict[str, Any]) -> None:
        if run_id != self.run_id:
            return
        self.run, self.run_loaded = run, True
        self.pinned = bool(run.get("pinned"))
        self._fill_header(run)
        self.ids.timeline.show_run(run)
        keep = self.selected_node if any(n["node_id"] == self.selected_node for n in run["nodes"]) else ""
        self.select_node(keep or self._default_node(run))
        if run["status"] == "failed" and not run.get("seen", True):
            self.app.bridge.call("history.mark_seen", on_result=lambda _ok: self.dispatch("on_seen", run_id),
                                 run_id=run_id)

    def engine_event(self, msg: Message) -> None:
        """Reload while the run shown is still going (called by the screen for every event)."""
        if isinstance(msg, (NodeStarted, NodeFinished, RunFinished)) and msg.run_id == self.run_id:
            self._reload_soon()

    @staticmethod
    def _default_node(run: dict[str, Any]) -> str:
        bars = build_bars(run)
        failed = [b for b in bars if b.status == "failed"]
        return (failed or bars)[0].node_id if bars else ""

    def _fill_header(self, run: dict[str, Any]) -> None:
        status = run["status"]
        self.title = run["workflow_name"] or run["workflow_id"]
        params = fmt.params_text(run.get("params"))
        self.subtitle = f"{run['workflow_id']} · run {run['run_id']}" + (f" · {params}" if params else "")
        self.status_icon = fmt.STATUS_ICONS.get(status, "help-circle-outline")
        self.status_text = fmt.status_label(status)
        self.status_rgba = status_color(status, self.app.theme_cls)
        self.trigger_text = fmt.trigger_label(run["trigger"])
        self.started_text = fmt.full_time(run["started_at"])
        self.duration_text = fmt.duration(run["duration_ms"])
        nodes = len(run["nodes"]) or run.get("node_count") or 0
        self.records_text = f"{fmt.records(run['records'])}  ·  {nodes} node{'' if nodes == 1 else 's'}"
        self.run_error = run["error"] or ""
        self.run_error_label = "Why it was skipped" if status == "skipped" else "Error"

    # --- nodes -----------------------------------------------------------------------------
    def _ordered_nodes(self) -> list[dict[str, Any]]:
        """The run's node rows in timeline order (by start)."""
        if not self.run:
            return []
        by_id = {n["node_id"]: n for n in self.run["nodes"]}
        return [by_id[b.node_id] for b in self.ids.timeline.bars]

    def _fill_nodes(self) -> None:
        theme = self.app.theme_cls
        self.ids.nodes.data = [self._node_view(node, theme) for node in self._ordered_nodes()]

    def _node_view(self, node: dict[str, Any], theme: Any) -> dict[str, Any]:
        status, error = node["status"], node.get("error") or ""
        return {"node_id": node["node_id"], "title": node.get("title") or node["node_id"],
                "subtitle": error.splitlines()[0] if error else " · ".join(filter(None, (
                    node["node_type"], node["node_id"], fmt.attempts_note(node)))),
                "has_error": bool(error), "status_icon": fmt.STATUS_ICONS.get(status, "help-circle-outline"),
                "status_text": fmt.status_label(status) + fmt.attempts_mark(node),
                "status_rgba": status_color(status, theme),
                "duration_text": fmt.duration(node["duration_ms"]), "in_text": fmt.records(node["records_in"]),
                "out_text": fmt.records(node["records_out"]), "selected": node["node_id"] == self.selected_node,
                "view": self}

    def select_node(self, node_id: str) -> None:
        """Select a node in the timeline, the node rows and the node card."""
        self.selected_node = node_id or ""
        self.ids.timeline.selected_node = self.selected_node
        self._fill_nodes()
        self._fill_node_card()
        if self.selected_node:
            self.ids.timeline.ensure_visible(self.selected_node)
            self._scroll_nodes_to(self.selected_node)

    def _scroll_nodes_to(self, node_id: str) -> None:
        rv = self.ids.nodes
        index = next((i for i, row in enumerate(rv.data) if row["node_id"] == node_id), None)
        layout = rv.layout_manager
        if index is None or layout is None:
            return
        hidden = layout.height - rv.height
        if hidden <= 0:
            return
        row_h = layout.height / max(1, len(rv.data))
        top, first_visible = index * row_h, (1 - rv.scroll_y) * hidden
        if top < first_visible:
            rv.scroll_y = max(0.0, 1 - top / hidden)
        elif top + row_h > first_visible + rv.height:
            rv.scroll_y = max(0.0, min(1.0, 1 - (top + row_h - rv.height) / hidden))

    def _fill_node_card(self) -> None:
        node = next((n for n in (self.run or {}).get("nodes", []) if n["node_id"] == self.selected_node), None)
        if node is None:
            self.node_title = self.node_meta = self.node_error = self.node_warnings = ""
            self.node_kept = False
            return
        self.node_title = node.get("title") or node["node_id"]
        note = fmt.attempts_note(node)
        self.node_meta = "\n".join([f"{node['node_type']} · {node['node_id']}"
                                    + (f" · {fmt.status_label(node['status']).lower()} {note}:" if note else ""),
                                    *fmt.attempt_lines(node)])
        self.node_status = fmt.status_label(node["status"]) + fmt.attempts_mark(node)
        started = node["started_at"]
        self.node_started = "did not run" if started is None else \
            f"+{fmt.duration((started - self.run['started_at']) * 1000)}"
        self.node_duration = fmt.duration(node["duration_ms"])
        self.node_records = f"{fmt.records(node['records_in'])} / {fmt.records(node['records_out'])}"
        table, kept = node.get("output_table"), node.get("kept_table")
        self.node_kept = bool(kept) and not (self.run or {}).get("pruned", 0)
        self.node_table = "—" if not table else (f"{node['output_connection']}: {table}"
                                                  if node.get("output_connection") else f"workspace: {kept or table}")
        if kept and (self.run or {}).get("pruned", 0):
            self.node_table += " (pruned by the history budget)"
        self.node_error = node.get("error") or ""
        self.node_warnings = "\n".join(node.get("warnings") or [])

    # --- kept outputs and pins ---------------------------------------------------------------
    def open_output(self, node_id: str | None = None) -> None:
        """Open the node's output as this run made it in the table viewer."""
        node_id = node_id or self.selected_node
        if not self.run or not node_id:
            return
        run_id = self.run["run_id"]
        node = next((n for n in self.run["nodes"] if n["node_id"] == node_id), {})
        title = f"{node.get('title') or node_id} · run {run_id}"
        self.app.bridge.call("history.output", on_result=lambda found: self._open_viewer(run_id, title, found),
                             on_error=self.app.notify, run_id=run_id, node_id=node_id)

    def _open_viewer(self, run_id: str, title: str, found: dict[str, Any]) -> None:
        from app.widgets.table_view import open_output_viewer

        if run_id == self.run_id:
            self.viewer = open_output_viewer(self.app.bridge, title, found["table"])

    def toggle_pin(self) -> None:
        """Pin the run (never pruned) or unpin it."""
        if not self.run:
            return
        run_id, want = self.run["run_id"], not self.pinned
        self.app.bridge.call("history.pin", on_result=lambda now: self._pinned(run_id, bool(now)),
                             on_error=self.app.notify, run_id=run_id, pinned=want)

    def _pinned(self, run_id: str, pinned: bool) -> None:
        if run_id == self.run_id and self.run:
            self.run["pinned"] = self.pinned = pinned
            self._fill_node_card()
            self.dispatch("on_pinned", run_id, pinned)
            self.app.notify("Pinned: this run is never pruned" if pinned else
                            "Unpinned: this run is pruned beyond the history budget")

    # --- leaving -----------------------------------------------------------------------------
    def open_in_editor(self, node_id: str | None = None) -> None:
        """The lead's editor opens the workflow, selects ``node_id`` and shows this run's states."""
        if not self.run:
            return
        self.app.open_workflow(self.run["workflow_id"], node_id=node_id or self.selected_node or None,
                               run_id=self.run["run_id"])


load_kv(__file__)
