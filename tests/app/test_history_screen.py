"""The History screen against a real engine: the runs list and its filters, the run detail
with its per-node timeline, "open in editor at this node", live refresh, and paging through
a long log without loading it whole."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from kivy.core.window import Window
from kivy.metrics import dp
from kivy.uix.behaviors import ButtonBehavior

from app.main import build_app_class
from app.screens.history import ROW_H
from app.screens.history_pager import PAGE_SIZE, merge_newest
from engine.history import History, NodeRow
from engine.paths import DataPaths
from tests.app.kivyrun import non_blank, pump, running, screenshot, tap, tap_widget, wait_until
from tests.integration.helpers import source, sql, start, write_csv, write_workflow

ORDERS_NODES = ["start", "src", "clean", "by_country", "big_orders"]


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DAGFLUX_WEBHOOK_PORT", "0")


def _shutdown(app) -> None:
    try:
        app.bridge.call_blocking("shutdown", timeout=10)
    except Exception:  # noqa: BLE001 - already gone is fine here
        pass


def _write_workflows(folder: Path) -> tuple[Path, Path]:
    write_csv(folder / "orders.csv", ["id", "country", "amount"],
              [[1, "FR", 120], [2, "DE", 80], [3, "FR", 300], [4, "IT", 45]])
    orders = write_workflow(folder, "orders_report", [
        start(), source("src", "orders.csv"),
        sql("clean", "SELECT id, country, amount FROM {{ input }} WHERE amount > 50", title="Clean orders"),
        sql("by_country", "SELECT country, sum(amount) AS total FROM {{ input }} GROUP BY country"),
        sql("big_orders", "SELECT * FROM {{ input }} WHERE amount > 100"),
    ], [("start", "src"), ("src", "clean"), ("clean", "by_country"), ("clean", "big_orders")])
    broken = write_workflow(folder, "broken_report", [
        start(), source("src", "orders.csv"),
        sql("bad_sql", "SELECT no_such_column FROM {{ input }}", title="Bad SQL"),
        sql("after", "SELECT * FROM {{ input }}"),
    ], [("start", "src"), ("src", "bad_sql"), ("bad_sql", "after")])
    return orders, broken


SEEDED_WARNING = "in.csv: column x: 1 of 3 values are not numbers ('NA' ×1) — kept as text"


def _seed_log(home: Path) -> None:
    """Before the engine starts: a skipped webhook trigger, and a failure of a scheduled run
    that nobody has looked at yet (what the engine writes when a trigger's run fails)."""
    with History(DataPaths(home).history) as log:
        now = time.time()
        log.record_skipped("seed-skipped", "orders_report", "orders report", "webhook", now - 300,
                           "already running (run seed-x)")
        log.start_run("seed-unseen", "nightly", "Nightly load", "schedule", now - 600, node_count=1)
        log.record_node("seed-unseen", NodeRow("load", "data_source", "Load", "failed", now - 600, 40.0,
                                                None, None, "file not found: in.csv",
                                                warnings=[SEEDED_WARNING]), seq=1)
        log.finish_run("seed-unseen", "failed", now - 599.9, error="node 'load' failed")
        log.set_seen("seed-unseen", False)


def _run(app, workflow_id: str) -> str:
    run_id = app.bridge.call_blocking("runs.start", workflow_id=workflow_id)["run_id"]
    assert app.bridge.call_blocking("runs.wait", run_id=run_id, timeout=60) is not None
    return run_id


def _listed(screen) -> list[str]:
    return [row["run_id"] for row in screen.ids.runs.data]


def _run_row(screen, run_id: str):
    layout = screen.ids.runs.layout_manager
    return next(view for view in layout.children if view.run_id == run_id)


def _choose(screen, button_id: str, label: str, slow_close: bool = False) -> Any:
    """Open a filter menu by tapping its button, then tap the menu item called ``label``.
    With ``slow_close`` the menu takes 30 s to shrink away (the caller removes it): the next
    tap surely comes while it is still on screen. Returns the menu."""
    tap_widget(screen.ids[button_id])
    wait_until(lambda: screen._menu is not None and screen._menu._scale_y == 1, 45, f"the {button_id} menu")
    pump(2)
    menu = screen._menu
    if slow_close:
        menu.hide_duration = 30
    item = next(w for w in menu.walk() if isinstance(w, ButtonBehavior) and getattr(w, "text", "") == label)
    tap_widget(item)
    return menu


def _settled(screen) -> bool:
    return not screen.pager.loading and screen.pager.total is not None


def test_runs_filters_timeline_and_open_at_the_failing_node(app_env, dagflux_home: Path, tmp_path: Path) -> None:
    orders_file, broken_file = _write_workflows(tmp_path)
    _seed_log(dagflux_home)
    app = build_app_class()()
    opened: list[tuple] = []
    app.open_workflow = lambda wf_id, node_id=None, run_id=None: opened.append((wf_id, node_id, run_id))
    with running(app):
        try:
            wait_until(lambda: app.engine_ok, 30, "the engine link")
            for path in (orders_file, broken_file):
                app.bridge.call_blocking("workflows.import", path=str(path))
            ok_1, ok_2 = _run(app, "orders_report"), _run(app, "orders_report")
            failed = _run(app, "broken_report")

            screen = app.open_screen("history")
            wait_until(lambda: len(_listed(screen)) == 5 and _settled(screen), 45, "the runs list")
            assert _listed(screen) == [failed, ok_2, ok_1, "seed-skipped", "seed-unseen"]
            assert screen.count_text == "5 runs"
            rows = {row["run_id"]: row for row in screen.ids.runs.data}
            assert rows[failed]["status_text"] == "Failed" and rows[ok_1]["status_text"] == "Succeeded"
            assert rows["seed-skipped"]["trigger_text"] == "Webhook"
            assert rows[ok_1]["records_text"] != "—" and rows[ok_1]["duration_text"] != "—"
            assert [r for r in rows if rows[r]["unseen"]] == ["seed-unseen"]   # a manual failure is seen
            assert screen.ids.runs.layout_manager.children, "rows are drawn"
            shot = screenshot("history_list_light")
            assert non_blank(shot)

            closing = _choose(screen, "status_filter", "Failed", slow_close=True)
            wait_until(lambda: screen.status == "failed" and _settled(screen), 45, "the status filter")
            assert _listed(screen) == [failed, "seed-unseen"] and screen.count_text == "2 runs match"
            assert closing in Window.children  # still shrinking away: the next tap must reach the screen
            _choose(screen, "trigger_filter", "Webhook")
            Window.remove_widget(closing)
            wait_until(lambda: screen.trigger == "webhook" and _settled(screen), 45, "the trigger filter")
            assert _listed(screen) == [] and "No runs match" in screen.placeholder
            _choose(screen, "status_filter", "Any status")
            wait_until(lambda: screen.status is None and _settled(screen), 45, "dropping the status filter")
            assert _listed(screen) == ["seed-skipped"]
            tap_widget(screen.ids.clear_filters)
            wait_until(lambda: not screen.filtered and _settled(screen), 45, "clearing the filters")
            _choose(screen, "workflow_filter", "orders report  (3)")
            wait_until(lambda: screen.workflow_id == "orders_report" and _settled(screen), 45, "the workflow filter")
            assert _listed(screen) == [ok_2, ok_1, "seed-skipped"]
            assert screen.workflow_label == "orders report"
            tap_widget(screen.ids.clear_filters)
            wait_until(lambda: len(_listed(screen)) == 5 and _settled(screen), 45, "all runs again")

            # an unseen failure is marked seen once opened
            tap_widget(_run_row(screen, "seed-unseen"))
            detail = screen.ids.detail
            wait_until(lambda: detail.run_loaded and detail.run_id == "seed-unseen", 45, "the unseen run")
            assert detail.node_warnings == SEEDED_WARNING == detail.ids.node_warnings.text   # the node's warning
            wait_until(lambda: not any(r["unseen"] for r in screen.ids.runs.data), 45, "the run marked seen")
            assert app.bridge.call_blocking("history.get", run_id="seed-unseen")["seen"] is True
            tap_widget(detail.ids.back_button)
            assert screen.ids.pages.current == "runs"

            # a skipped trigger: no node ran, the reason is shown
            tap_widget(_run_row(screen, "seed-skipped"))
            wait_until(lambda: detail.run_loaded and detail.run_id == "seed-skipped", 45, "the skipped run")
            assert list(detail.ids.timeline.bars) == [] and detail.ids.nodes.data == []
            assert detail.run_error_label == "Why it was skipped"
            assert "already running" in detail.ids.run_error.text
            tap_widget(detail.ids.back_button)

            # the failed run: one bar per node in start order, the failing node selected
            tap_widget(_run_row(screen, failed))
            wait_until(lambda: detail.run_loaded and detail.run_id == failed, 45, "the failed run")
            run = app.bridge.call_blocking("history.get", run_id=failed)
            bars = detail.ids.timeline.bars
            assert sorted(b.node_id for b in bars) == sorted(n["node_id"] for n in run["nodes"])
            started = [b.start_s for b in bars if b.start_s is not None]
            assert started == sorted(started) and len(started) == 3
            assert [b.node_id for b in bars][:1] == ["start"] and bars[-1].node_id == "after"
            assert bars[-1].start_s is None and bars[-1].status == "not_run"
            assert [b.row for b in bars] == list(range(len(bars)))
            failing = next(b for b in bars if b.status == "failed")
            assert failing.node_id == "bad_sql" and failing.end_s is not None and failing.end_s >= failing.start_s
            assert detail.selected_node == "bad_sql" and detail.ids.timeline.selected_node == "bad_sql"
            assert "no_such_column" in detail.node_error and "no_such_column" in detail.ids.node_error.text
            assert [r["node_id"] for r in detail.ids.nodes.data] == [b.node_id for b in bars]

            # tapping a bar selects that node everywhere
            tap(*detail.ids.timeline.row_center("src"))
            assert detail.selected_node == "src"
            assert [r["node_id"] for r in detail.ids.nodes.data if r["selected"]] == ["src"]
            assert detail.node_records == "— / 4"
            tap(*detail.ids.timeline.row_center("bad_sql"))
            assert detail.selected_node == "bad_sql"
            tap_widget(detail.ids.open_node_button)
            assert opened == [("broken_report", "bad_sql", failed)]
            src_row = next(v for v in detail.ids.nodes.layout_manager.children if v.node_id == "src")
            tap(*src_row.cell_center("open"))                     # the pencil at the end of a node row
            assert opened[-1] == ("broken_report", "src", failed)
            tap(*detail.ids.timeline.row_center("bad_sql"))
            shot = screenshot("history_detail_light")
            assert non_blank(shot)
            targets = [screen.ids[i] for i in ("workflow_filter", "status_filter", "trigger_filter", "refresh_button")]
            targets += [detail.ids[i] for i in ("back_button", "open_editor_button", "open_node_button")]
            assert min(min(w.width, w.height) for w in targets) >= dp(48)
            assert min(v.height for v in detail.ids.nodes.layout_manager.children) >= dp(48)

            # the successful run's timeline: parallel branches after "clean"
            tap_widget(detail.ids.back_button)
            tap_widget(_run_row(screen, ok_1))
            wait_until(lambda: detail.run_loaded and detail.run_id == ok_1, 45, "the successful run")
            bars = detail.ids.timeline.bars
            assert [b.node_id for b in bars][:3] == ["start", "src", "clean"]
            assert sorted(b.node_id for b in bars) == sorted(ORDERS_NODES)
            assert all(b.status == "succeeded" and b.end_s is not None for b in bars)
            assert detail.selected_node == "start"

            # a new run appears without asking (RunFinished from the engine)
            tap_widget(detail.ids.back_button)
            calls_before = len(_listed(screen))
            app.bridge.call("runs.start", workflow_id="orders_report")
            wait_until(lambda: len(_listed(screen)) == calls_before + 1 and screen.ids.runs.data[0]["status_text"]
                       == "Succeeded", 30, "the finished run in the list")
            assert screen.count_text == "6 runs"

            app.apply_theme("dark")
            pump(3)
            shot = screenshot("history_list_dark")
            assert non_blank(shot)
            tap_widget(_run_row(screen, failed))
            wait_until(lambda: detail.run_loaded and detail.run_id == failed, 45, "the failed run (dark)")
            shot = screenshot("history_detail_dark")
            assert non_blank(shot)

            # with the real editor: the workflow opens at the failing node, showing this run's states
            del app.open_workflow
            assert detail.selected_node == "bad_sql"
            tap_widget(detail.ids.open_node_button)
            editor = app.screen("editor")
            wait_until(lambda: app.root.ids.screens.current == "editor" and editor.document is not None
                       and editor.document.run_id == failed, 20, "the editor showing the failed run")
            assert set(editor.ids.canvas.selection) == {"bad_sql"}
            assert editor.document.node_states["bad_sql"].status == "failed"
        finally:
            _shutdown(app)


def _many_runs(home: Path, count: int) -> list[str]:
    """``count`` finished runs written straight into the log (newest first in the answer)."""
    with History(DataPaths(home).history):
        pass  # creates the schema
    base = time.time() - count * 60
    rows = [(f"run-{i:05d}", "bulk" if i % 3 else "other", "Bulk load", "schedule" if i % 2 else "manual",
             "failed" if i % 7 == 0 else "succeeded", base + i * 60, base + i * 60 + 1.5, None, 2, i, 1)
            for i in range(count)]
    db = sqlite3.connect(DataPaths(home).history)
    with db:
        db.executemany("INSERT INTO runs (run_id, workflow_id, workflow_name, trigger, status, started_at, "
                       "ended_at, error, node_count, records, seen) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.close()
    return [r[0] for r in reversed(rows)]


def _add_runs(home: Path, count: int) -> list[str]:
    """Runs newer than any other, written while the engine runs (newest first)."""
    ids = [f"new-{i}" for i in range(count)]
    with History(DataPaths(home).history) as log:
        for i, run_id in enumerate(ids):
            log.start_run(run_id, "bulk", "Bulk load", "manual", time.time() + 10 + i, node_count=1)
    return list(reversed(ids))


def test_a_long_history_is_paged_as_the_user_scrolls(app_env, dagflux_home: Path) -> None:
    newest_first = _many_runs(dagflux_home, 10_000)
    app = build_app_class()()
    pages: list[dict[str, Any]] = []
    real_call = app.bridge.call

    def counting_call(method: str, on_result=None, **params: Any) -> None:
        if method != "history.list":
            return real_call(method, on_result=on_result, **params)

        def arrived(rows: list) -> None:
            pages.append({"before": params.get("before"), "offset": params.get("offset"), "limit": params["limit"],
                          "rows": len(rows)})
            on_result(rows)

        return real_call(method, on_result=arrived, **params)

    app.bridge.call = counting_call
    with running(app):
        try:
            wait_until(lambda: app.engine_ok, 30, "the engine link")
            screen = app.open_screen("history")
            wait_until(lambda: len(_listed(screen)) == PAGE_SIZE and _settled(screen), 45, "the first page")
            pump(5)
            assert screen.count_text == "10,000 runs"
            assert len(pages) == 1 and screen.loaded_text == f"{PAGE_SIZE} of 10,000 loaded"

            rv = screen.ids.runs
            for page in range(2, 6):
                rv.scroll_y = 0.0                      # the user reaches the end of what is loaded
                wait_until(lambda n=page: len(_listed(screen)) == n * PAGE_SIZE and not screen.pager.loading, 20,
                           f"page {page}")
                pump(5)
                assert rv.scroll_y > 0.05, "the rows in view stay put while a page arrives"
            pump(10)
            assert [p["before"] for p in pages] == [None] + [newest_first[i * PAGE_SIZE - 1] for i in range(1, 5)]
            assert all(p["offset"] is None for p in pages), "pages are asked for by cursor, not by position"
            assert all(p["limit"] == PAGE_SIZE and p["rows"] == PAGE_SIZE for p in pages)
            assert _listed(screen) == newest_first[:5 * PAGE_SIZE]
            assert sum(p["rows"] for p in pages) == 250

            shot = screenshot("history_list_long")
            assert non_blank(shot)

            # new runs arrive while the user reads deep in the list: what they look at stays put
            scrolled = (lambda: (1 - rv.scroll_y) * (screen.ids.runs_layout.height - rv.height))
            before = scrolled()
            newer = _add_runs(dagflux_home, 3)
            screen.pager.refresh()                     # what a RunFinished event does
            wait_until(lambda: len(_listed(screen)) == 253 and not screen.pager.loading, 45, "the newer runs")
            pump(5)
            assert _listed(screen) == newer + newest_first[:250]
            assert scrolled() == pytest.approx(before + 3 * ROW_H, abs=2)
            assert pages[-1] == {"before": None, "offset": None, "limit": PAGE_SIZE, "rows": PAGE_SIZE}

            rv.scroll_y = 1.0                          # back to the top: nothing more is fetched
            pump(10)
            assert len(pages) == 6
        finally:
            _shutdown(app)


# --- merging the newest page into what is loaded (no widgets) -----------------------------
def _rows(*ids: str) -> list[dict]:
    return [{"run_id": i} for i in ids]


@pytest.mark.parametrize("loaded, fresh, expected", [
    ([], ["c", "b"], ["c", "b"]),
    (["b", "a"], ["c", "b"], ["c", "b", "a"]),                       # one new run on top
    (["c", "b", "a", "z"], ["d", "c", "b"], ["d", "c", "b", "a", "z"]),  # rows below the page are kept
    (["b", "a"], ["e", "d"], ["e", "d"]),                            # a whole page of new runs: start over
    (["b", "a"], ["b", "a"], ["b", "a"]),
])
def test_the_newest_page_is_merged_in_front_without_duplicates(loaded, fresh, expected) -> None:
    assert [r["run_id"] for r in merge_newest(_rows(*loaded), _rows(*fresh))] == expected


# --- the timeline on its own: a run of hundreds of nodes in a scrolled view ---------------
def _big_run(nodes: int) -> dict:
    origin = 1000.0
    return {"run_id": "big", "started_at": origin, "duration_ms": nodes * 100.0 + 50, "nodes": [
        {"node_id": f"n{i:03d}", "title": f"Step {i}", "status": "failed" if i == nodes - 1 else "succeeded",
         "started_at": origin + (nodes - 1 - i) * 0.1, "duration_ms": 80.0} for i in range(nodes)]}


def test_the_timeline_draws_only_the_rows_in_view_and_maps_taps_after_scrolling(dagflux_home: Path) -> None:
    from kivy.core.window import Window
    from kivy.uix.scrollview import ScrollView

    from app.widgets.timeline import ROW_H, TimelineWidget

    app = build_app_class()(start_engine=False)
    with running(app):
        view = ScrollView(size_hint=(None, None), size=(700, 400), pos=(300, 100), do_scroll_x=False)
        timeline = TimelineWidget(size_hint_y=None)
        timeline.bind(content_height=timeline.setter("height"))
        view.add_widget(timeline)
        Window.add_widget(view)
        try:
            timeline.show_run(_big_run(400))
            pump(3)
            bars = timeline.bars
            assert len(bars) == 400 and [b.node_id for b in bars[:2]] == ["n399", "n398"]   # by start
            assert [b.start_s for b in bars] == sorted(b.start_s for b in bars)
            assert len(timeline.drawn_rows) <= 400 / ROW_H + 2 and timeline.drawn_rows[0] == 0

            view.scroll_y = 0.0
            pump(3)
            assert timeline.drawn_rows[-1] == 399 and len(timeline.drawn_rows) < 15
            tap(*timeline.row_center("n000"))                  # the last row, reached by scrolling
            assert timeline.selected_node == "n000"

            timeline.ensure_visible("n300")
            pump(3)
            assert bars[99].node_id == "n300" and 99 in timeline.drawn_rows
            tap(*timeline.row_center("n300"))
            assert timeline.selected_node == "n300"
        finally:
            Window.remove_widget(view)


@pytest.mark.parametrize("span, ticks, step", [(5.0, 5, 1.0), (0.0072, 6, 0.002), (130.0, 4, 50.0),
                                               (1.0, 10, 0.1)])
def test_axis_steps_are_1_2_5_multiples(span: float, ticks: int, step: float) -> None:
    from app.widgets.timeline import nice_step

    assert nice_step(span, ticks) == pytest.approx(step)


def test_nodes_that_never_started_come_last_in_log_order() -> None:
    from app.widgets.timeline import build_bars

    run = {"started_at": 10.0, "nodes": [
        {"node_id": "b", "status": "succeeded", "started_at": 10.5, "duration_ms": 100.0},
        {"node_id": "x", "status": "not_run", "started_at": None, "duration_ms": None},
        {"node_id": "a", "status": "failed", "started_at": 10.2, "duration_ms": None},
        {"node_id": "y", "status": "skipped", "started_at": None, "duration_ms": None}]}
    bars = build_bars(run)
    assert [(b.node_id, b.row) for b in bars] == [("a", 0), ("b", 1), ("x", 2), ("y", 3)]
    assert bars[0].start_s == pytest.approx(0.2) and bars[0].end_s is None
    assert bars[1].end_s == pytest.approx(0.6)
