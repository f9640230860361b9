"""A kept run's output on the History screen: a real engine runs a workflow twice with
different data; the first run's detail opens *its* output in the table viewer (not the
latest), and the pin toggle pins the run in the execution log."""

from __future__ import annotations

from pathlib import Path

from app.main import build_app_class
from engine.history import History
from tests.app.kivyrun import non_blank, pump, running, screenshot, settle, tap_widget, wait_until
from tests.integration.helpers import source, sql, start, write_csv, write_workflow


def test_a_kept_runs_output_opens_in_the_viewer_and_the_run_can_be_pinned(
        monkeypatch, dagflux_home: Path, tmp_path: Path) -> None:
    monkeypatch.setenv("DAGFLUX_WEBHOOK_PORT", "0")
    flow = write_workflow(tmp_path, "kept", [start(), source("src", "in.csv"),
                                             sql("double", "SELECT x, x * 2 AS twice FROM {{ input }}",
                                                 title="Double")],
                          [("start", "src"), ("src", "double")])
    app = build_app_class()()
    with running(app):
        try:
            wait_until(lambda: app.engine_ok, 30, "the engine link")
            app.bridge.call_blocking("workflows.import", path=str(flow))
            runs = []
            for values in ([1, 2, 3], [10, 20]):
                write_csv(tmp_path / "in.csv", ["x"], [[v] for v in values])
                run_id = app.bridge.call_blocking("runs.start", workflow_id="kept")["run_id"]
                assert app.bridge.call_blocking("runs.wait", run_id=run_id, timeout=60)["status"] == "succeeded"
                runs.append(run_id)

            screen = app.open_screen("history")
            screen.open_run(runs[0])
            detail = screen.ids.detail
            wait_until(lambda: detail.run_loaded and detail.run_id == runs[0], 45, "the run detail")
            detail.select_node("double")
            pump(3)
            assert detail.node_kept and f"double@{runs[0]}" in detail.node_table
            settle()
            detail.ids.side_scroll.scroll_to(detail.ids.open_output_button, animate=False)   # as a user scrolls
            settle()
            tap_widget(detail.ids.open_output_button)
            wait_until(lambda: detail.viewer is not None and detail.viewer.ids.view.total == 3, 30,
                       "the first run's output in the viewer")
            view = detail.viewer.ids.view
            assert view.table == f"kept__double@{runs[0]}"
            assert [row[:2] for row in view.visible_rows()] == [["1", "2"], ["2", "4"], ["3", "6"]]
            assert non_blank(screenshot("history_kept_run_output"))
            viewer = detail.viewer
            viewer.dismiss()
            wait_until(lambda: viewer.parent is None, 10, "the viewer closed")
            settle()

            assert not detail.pinned and not detail.ids.pin_button.disabled
            tap_widget(detail.ids.pin_button)
            wait_until(lambda: detail.pinned, 30, "the run pinned")
            with History(dagflux_home / "history.sqlite") as history:
                assert history.get_run(runs[0])["pinned"] is True
            assert non_blank(screenshot("history_run_pinned"))

            def listed_pinned() -> dict:
                return {row["run_id"]: row["pinned"] for row in screen.ids.runs.data}

            assert listed_pinned() == {runs[0]: True, runs[1]: False}   # the list marks it at once
            screen.show_list()
            screen.reload()                                            # … and as the engine lists it
            wait_until(lambda: screen.pager.rows and listed_pinned() == {runs[0]: True, runs[1]: False}, 30,
                       "the list reloaded with the pinned run")
            settle()
            assert non_blank(screenshot("history_list_pinned"))
            screen.open_run(runs[0])
            wait_until(lambda: detail.run_loaded and detail.run_id == runs[0] and detail.pinned, 45,
                       "the pinned run's detail")
            settle()
            tap_widget(detail.ids.pin_button)
            wait_until(lambda: not detail.pinned, 30, "the run unpinned")
            with History(dagflux_home / "history.sqlite") as history:
                assert history.get_run(runs[0])["pinned"] is False
            assert listed_pinned() == {runs[0]: False, runs[1]: False}
        finally:
            try:
                app.bridge.call_blocking("shutdown", timeout=10)
            except Exception:  # noqa: BLE001 - already gone
                pass
