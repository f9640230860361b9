"""The Run dialog: a workflow with parameters asks for their values before a run.

A real engine process; the dialog's fields are typed into and its buttons tapped; the run's
history shows the values used. Screenshots: the dialog as it opens, and with an error.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from app.widgets.run_dialog import RunParametersDialog
from app.widgets.timeline import _bar_caption, build_bars
from tests.app.kivyrun import non_blank, pump, screenshot, tap, wait_until

EVIL = "x'; DROP TABLE people; --"


def _flow(folder: Path) -> Path:
    (folder / "people.csv").write_text("name,age\nann,31\nbob,17\ncid,52\n", encoding="utf-8")
    doc = {"format": "dagflux-workflow", "version": 2, "id": "adults", "name": "Adults",
           "parameters": [{"name": "min_age", "type": "integer", "default": 18},
                          {"name": "label", "type": "text", "default": "adult"}],
           "nodes": [{"id": "start", "type": "start", "position": [0, 0], "config": {"trigger": {"kind": "manual"}}},
                     {"id": "people", "type": "data_source", "position": [200, 0],
                      "config": {"source": "file", "path": str(folder / "people.csv")}},
                     {"id": "pick", "type": "transformer", "position": [400, 0],
                      "config": {"language": "sql", "mode": "new_table",
                                 "sql": "SELECT name, {{ param.label }} AS label FROM {{ input }} "
                                        "WHERE age >= {{ param.min_age }}"}}],
           "edges": [{"from": "start", "to": "people"}, {"from": "people", "to": "pick"}]}
    path = folder / "adults.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _dialog(app) -> RunParametersDialog | None:
    found = [w for w in app.root_window.children if isinstance(w, RunParametersDialog)]
    return found[0] if found else None


def test_the_run_dialog_asks_for_parameters_checks_them_and_runs_with_them(app, dagflux_home, tmp_path):
    app.bridge.call_blocking("workflows.import", path=str(_flow(tmp_path)))
    editor = app.open_workflow("adults")
    wait_until(lambda: editor.document is not None and editor.document.workflow.id == "adults", 15, "the editor")
    pump(3)
    tap(*editor.ids.run_button.to_window(*editor.ids.run_button.center))
    wait_until(lambda: _dialog(app) is not None, 10, "the Run dialog")
    dialog = _dialog(app)
    pump(20)
    assert dialog.values() == {"min_age": "18", "label": "adult"}      # prefilled with the defaults
    assert not editor.running
    assert non_blank(screenshot("run_dialog"))

    dialog.fields["min_age"].text = "thirty"
    tap(*dialog.ids.confirm_button.to_window(*dialog.ids.confirm_button.center))
    pump(5)
    assert "parameter 'min_age' is an integer" in dialog.error_text and not editor.running
    assert non_blank(screenshot("run_dialog_error"))

    dialog.fields["min_age"].text = "30"
    dialog.fields["label"].text = EVIL
    assert dialog.error_text == ""            # typing clears the error
    tap(*dialog.ids.confirm_button.to_window(*dialog.ids.confirm_button.center))
    doc = editor.document
    wait_until(lambda: doc.run_status not in (None, "running"), 60, "the run to finish")
    assert doc.run_status == "succeeded", doc.run_error
    wait_until(lambda: _dialog(app) is None, 10, "the dialog to close")
    assert doc.node_states["pick"].records == 2
    run = app.bridge.call_blocking("history.get", run_id=doc.run_id)
    assert run["params"] == {"min_age": 30, "label": EVIL}
    conn = sqlite3.connect(dagflux_home / "workspace.sqlite")
    try:
        assert sorted(conn.execute("SELECT name, label FROM adults__pick").fetchall()) == [("ann", EVIL),
                                                                                         ("cid", EVIL)]
    finally:
        conn.close()


def test_the_timeline_says_a_node_was_retried():
    run = {"started_at": 100.0, "nodes": [
        {"node_id": "fetch", "title": "", "status": "succeeded", "started_at": 100.0, "duration_ms": 2500,
         "attempts": [{"attempt": 1, "status": "failed"}, {"attempt": 2, "status": "failed"},
                      {"attempt": 3, "status": "succeeded"}]},
        {"node_id": "clean", "title": "", "status": "succeeded", "started_at": 102.5, "duration_ms": 10,
         "attempts": []}]}
    bars = build_bars(run)
    assert [b.attempts for b in bars] == [3, 1]
    assert _bar_caption(bars[0]).endswith(" (3×)") and "×" not in _bar_caption(bars[1])
