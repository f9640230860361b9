"""Workflows and History in a small window (issue 15, item 7), in the real app with its
engine: at 800×600 the Workflows header keeps every control on one line ("New workflow"
whole, the count never stacked letter by letter) and History keeps its Workflow column
(Trigger and Records move under the workflow's name). Screenshots at 1280×800 and 800×600,
light and dark, go to ``test-artifacts/``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from kivy.core.window import Window
from kivy.metrics import dp

from tests.app.conftest import EXAMPLE_WF
from tests.app.kivyrun import REPO, pump, settle, themed_shots, wait_until

SIZES = [(1280, 800), (800, 600)]


@pytest.fixture
def with_a_run(app, tmp_path: Path):
    folder = tmp_path / EXAMPLE_WF
    shutil.copytree(REPO / "examples" / EXAMPLE_WF, folder, ignore=shutil.ignore_patterns("out"))
    (folder / "out").mkdir()
    app.bridge.call_blocking("workflows.import", path=str(folder / f"{EXAMPLE_WF}.json"))
    run_id = app.bridge.call_blocking("runs.start", workflow_id=EXAMPLE_WF)["run_id"]
    assert app.bridge.call_blocking("runs.wait", run_id=run_id, timeout=90) is not None
    yield app
    Window.size = (1280, 800)
    pump(3)


def resize(w: int, h: int) -> None:
    Window.size = (w, h)
    wait_until(lambda: tuple(Window.size) == (w, h), 10, f"the window at {w}x{h}")
    pump(3)
    settle()


def shots(app, name: str, size) -> None:
    themed_shots(app, f"{name}-{size[0]}x{size[1]}-{{theme}}")


def inside_window(widget) -> bool:
    x, y = widget.to_window(*widget.pos)
    return x >= -1 and x + widget.width <= Window.width + 1


@pytest.mark.parametrize("size", SIZES)
def test_the_workflows_header_keeps_its_controls_on_one_line(with_a_run, size) -> None:
    app = with_a_run
    screen = app.open_screen("workflows")
    screen.refresh()
    wait_until(lambda: screen.workflows, 30, "the workflow listed")
    resize(*size)
    count, new = screen.ids.count_label, screen.ids.new_button
    assert count.texture_size[1] < dp(30), f"the count wraps into a column: {count.texture_size}"
    assert inside_window(new) and inside_window(screen.ids.import_button)
    label = next(w for w in new.walk() if type(w).__name__ == "MDButtonText")
    assert label.text == "New workflow" and label.texture_size[0] <= new.width
    # the row keeps the workflow's name whole ("Orders report", not "Orders rep..."): in a narrow
    # window the run chip shows only its icon and its text moves under the name
    row = next(w for w in screen.ids.rv.walk() if type(w).__name__ == "WorkflowRowWidget" and w.wf_id)
    wait_until(lambda: row.run_text, 30, "the row showing its last run")
    pump(3)
    name_label = next(w for w in row.walk() if getattr(w, "text", None) == row.name)
    assert name_label.texture_size[0] <= name_label.width and "..." not in name_label.text
    assert name_label.width >= dp(200), f"the name has {name_label.width} px"
    meta = next(w for w in row.walk() if "orders_report" in (getattr(w, "text", "") or ""))
    assert row.compact == (size[0] < 1000)
    assert (row.run_text in meta.text) == row.compact and (row.ids.run_chip.text == "") == row.compact
    shots(app, "workflows", size)


@pytest.mark.parametrize("size", SIZES)
def test_history_keeps_its_workflow_column(with_a_run, size) -> None:
    app = with_a_run
    screen = app.open_screen("history")
    screen.reload()
    wait_until(lambda: screen.ids.runs.data, 30, "the run listed")
    resize(*size)
    rows = [w for w in screen.ids.runs_layout.children if getattr(w, "run_id", "")]
    wait_until(lambda: rows and rows[0]._spans, 10, "a painted row")
    row = rows[0]
    spans = {cell.text: width for cell, _left, width in row._spans}
    assert spans[row.workflow_name] >= dp(150), f"the Workflow column is {spans[row.workflow_name]:.0f} px"
    head_row = screen.ids.headings
    heads = {cell.text: head_row.to_window(left, 0)[0] for cell, left, _w in head_row._spans}
    cols = {cell.text: row.to_window(left, 0)[0] for cell, left, _w in row._spans}
    assert abs(heads["Workflow"] - cols[row.workflow_name]) < 2 and abs(heads["Started"] - cols[row.started_text]) < 2
    if size[0] < 1000:
        assert "Trigger" not in heads and row.trigger_text in next(c.sub for c, _l, _w in row._spans
                                                                   if c.text == row.workflow_name)
    shots(app, "history", size)
