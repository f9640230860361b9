"""The Editor screen end to end: a real engine process, the example workflow, a real run.

Opens the example from the Workflows screen, runs it through the engine, checks every node's
state and record count on the canvas, opens a node's output table, and covers autosave,
reload after an outside change, undo/redo from the toolbar and screenshots (light, dark, and
with a run in progress).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.model import fileformat
from engine.model.commands import MoveNodesCommand
from tests.app.kivyrun import REPO, non_blank, pump, screenshot, tap, wait_until

EXAMPLE = REPO / "examples" / "orders_report"
SLOW_SQL = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000000) "
            "SELECT * FROM {{ input }} WHERE (SELECT count(*) FROM c) > 0")


@pytest.fixture(scope="module")
def example_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("example") / "orders_report"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("out"))
    (target / "out").mkdir()
    return target / "orders_report.json"


def center(widget) -> tuple[float, float]:
    return widget.to_window(*widget.center)


def workflow_row(app, workflow_id: str):
    """The Workflows screen's row widget showing ``workflow_id`` (None until it is listed)."""
    from app.screens.workflows import WorkflowRowWidget

    rows = [w for w in app.screen("workflows").walk() if isinstance(w, WorkflowRowWidget) and w.wf_id == workflow_id]
    return rows[0] if rows else None


def open_in_editor(app, workflow_id: str):
    editor = app.open_workflow(workflow_id)
    wait_until(lambda: editor.document is not None and editor.document.workflow.id == workflow_id, 15,
               "the workflow to open")
    pump(3)
    return editor


def test_open_the_example_from_the_workflows_screen_run_it_and_see_every_node(app, example_copy: Path) -> None:
    app.bridge.call_blocking("workflows.import", path=str(example_copy))
    workflows = app.open_screen("workflows")
    workflows.refresh()
    wait_until(lambda: workflow_row(app, "orders_report") is not None, 45, "the example in the list")
    row = workflow_row(app, "orders_report")
    tap(*row.to_window(row.x + 40, row.center_y))
    editor = app.screen("editor")
    wait_until(lambda: app.root.ids.screens.current == "editor" and editor.document is not None, 15,
               "the editor with the example")
    doc = editor.document
    assert doc.workflow.id == "orders_report" and len(doc.workflow) == 11
    assert non_blank(screenshot("editor_light"))

    tap(*center(editor.ids.run_button))
    wait_until(lambda: doc.run_status not in (None, "running"), 60, "the run to finish")
    assert doc.run_status == "succeeded", doc.run_error
    states = {node_id: state.status for node_id, state in doc.node_states.items()}
    assert states.pop("low_revenue_alert") == "skipped"  # the branch took the other side
    assert set(states.values()) == {"succeeded"}
    assert doc.node_states["clean_orders"].records > 0
    assert doc.node_states["revenue_by_country"].table == "orders_report__revenue_by_country"
    assert editor.run_text == "Last run: succeeded"
    canvas = editor.ids.canvas
    assert canvas.edge_label("clean_orders", "orders_with_customers") == str(doc.node_states["clean_orders"].records)
    shot = screenshot("editor_after_run")
    assert non_blank(shot)

    # "Run from here" (right-click a node): what is above it and unchanged is reused
    from app.widgets.canvas.geometry import NODE_H, NODE_W

    x, y = doc.workflow.node("revenue_by_country").position
    at = canvas.to_window(*canvas.world_to_widget((x + NODE_W / 2, y + NODE_H / 2)))
    tap(*at, button="right")
    wait_until(lambda: canvas.menu.is_open, 15, "the node's menu")
    action = next(a for a in canvas.menu_actions if a.text.startswith("Run from here"))
    first_run = doc.run_id
    action.run()
    wait_until(lambda: doc.run_id != first_run and doc.run_status not in (None, "running"), 60, "the run from here")
    assert doc.run_status == "succeeded", doc.run_error
    assert doc.node_states["clean_orders"].status == "reused" and doc.node_states["orders"].status == "reused"
    assert doc.node_states["revenue_by_country"].status == "succeeded"
    assert non_blank(screenshot("editor_run_from_here"))

    canvas.selection = {"revenue_by_country"}
    canvas.dispatch("on_node_open", "revenue_by_country")
    from app.widgets.table_view import TableView

    def viewers() -> list:
        return [w for top in app.root_window.children for w in top.walk() if isinstance(w, TableView)]

    wait_until(lambda: any(v.total >= 0 for v in viewers()), 45, "the output table")
    viewer = viewers()[0]
    assert viewer.total == doc.node_states["revenue_by_country"].records
    assert [name for name, _kind in viewer.columns][:3] == ["country", "orders", "revenue"]
    assert non_blank(screenshot("editor_output_table"))


def test_a_run_in_progress_shows_live_states_and_dark_theme(app, example_copy: Path) -> None:
    doc_dict = json.loads(example_copy.read_text())
    doc_dict["id"] = "slow_report"
    for node in doc_dict["nodes"]:
        if node["id"] == "revenue_by_country":
            node["config"]["sql"] = SLOW_SQL
    slow = example_copy.with_name("slow_report.json")
    slow.write_text(json.dumps(doc_dict))
    app.bridge.call_blocking("workflows.import", path=str(slow))
    app.apply_theme("dark")
    editor = open_in_editor(app, "slow_report")
    doc = editor.document
    assert non_blank(screenshot("editor_dark"))
    editor.run()
    wait_until(lambda: doc.node_states.get("revenue_by_country") is not None
               and doc.node_states["revenue_by_country"].status == "running", 60, "the slow node to run")
    assert editor.running and "Running" in editor.run_text
    assert doc.node_states["clean_orders"].status == "succeeded"
    assert non_blank(screenshot("editor_run_in_progress"))
    editor.cancel_run()
    wait_until(lambda: not doc.running, 60, "the cancelled run to end")
    states = {n: (st.status, st.error) for n, st in doc.node_states.items()}
    assert doc.run_status == "cancelled", (doc.run_error, states)
    assert doc.node_states["report_csv"].status in ("not_run", "cancelled")
    app.apply_theme("light")


def test_edits_autosave_and_an_outside_change_offers_a_reload(app, example_copy: Path) -> None:
    app.bridge.call_blocking("workflows.import", path=str(example_copy))
    editor = open_in_editor(app, "orders_report")
    doc = editor.document
    doc.push(MoveNodesCommand(doc.workflow, {"orders": (300.0, 40.0)}))
    saved = app.paths.workflows / "orders_report.json"
    wait_until(lambda: fileformat.load(saved).node("orders").position == (300.0, 40.0), 45, "the autosave")
    assert editor.can_undo
    tap(*center(editor.ids.undo))
    assert doc.workflow.node("orders").position != (300.0, 40.0)
    tap(*center(editor.ids.redo))
    assert doc.workflow.node("orders").position == (300.0, 40.0)
    wait_until(lambda: not doc.dirty and editor._autosave_ev is None, 45, "the autosave after redo")

    outside = fileformat.load(saved)
    outside.name = "Changed elsewhere"
    fileformat.save(outside, saved)
    wait_until(lambda: editor.disk_changed, 45, "the reload offer")
    tap(*center(editor.ids.reload_button))
    assert not editor.disk_changed
    assert editor.document.workflow.name == "Changed elsewhere" and editor.workflow_name == "Changed elsewhere"
