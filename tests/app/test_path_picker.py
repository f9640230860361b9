"""The file picker a person can use (issue 15, item 3), in the real app window.

Where it starts (home or the last folder used, never the data dir), the path box (typed
paths with real key presses), the shortcuts, whole-row wheel steps, the format filter,
Output's default file in a visible folder the panel names, and relative paths explained.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kivy.core.window import Window
from kivy.metrics import dp

from app.widgets.inspector.path_picker import PathPicker
from engine.model import fileformat
from engine.model.workflow import Node, Workflow
from tests.app.kivyrun import pump, screenshot, settle, tap, wait_until, wheel


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    (folder / "reports").mkdir(parents=True)
    for name in ("a.csv", "b.txt", "c.json"):
        (folder / "reports" / name).write_text("x\n1\n")
    monkeypatch.setenv("HOME", str(folder))
    return folder


def opened(picker: PathPicker) -> PathPicker:
    picker.open()
    wait_until(lambda: picker in Window.children, 10, "the picker")
    settle()
    return picker


def close(picker: PathPicker) -> None:
    picker.dismiss()
    wait_until(lambda: picker not in Window.children, 10, "the picker to close")


def type_keys(widget, text: str) -> None:
    """Focus ``widget`` and type ``text`` then Enter, as key presses through the window."""
    widget.focus = True
    pump(2)
    widget.select_all()
    widget.delete_selection()
    for char in text:
        Window.dispatch("on_key_down", ord(char), 0, char, [])
        Window.dispatch("on_textinput", char)
        Window.dispatch("on_key_up", ord(char), 0)
    Window.dispatch("on_key_down", 13, 40, None, [])
    Window.dispatch("on_key_up", 13, 40)
    pump(3)


def edge_tap(widget, dx: float = 0.0, dy: float = 0.0) -> None:
    settle()
    x, y = widget.to_window(*widget.center)
    tap(x + dx, y + dy)


def test_it_starts_at_home_never_in_the_data_dir_then_in_the_last_folder_used(app, home: Path) -> None:
    data = Path(app.paths.root)
    picker = opened(PathPicker(data / "workflows" / "x.csv", data_dir=data))
    assert Path(picker.current) == home
    assert [s[0] for s in picker.shortcuts] == ["Home"]
    picked: list[str] = []
    picker.bind(on_pick=lambda _p, path: picked.append(path))
    type_keys(picker.ids.path_box, "reports/a.csv")  # relative to the folder shown
    assert picked == [str(home / "reports" / "a.csv")] and picker not in Window.children
    again = opened(PathPicker(None, data_dir=data))
    assert Path(again.current) == home / "reports"  # the last folder used
    assert ("reports", "history", str(home / "reports")) in again.shortcuts
    chips = list(reversed(again.ids.shortcuts.children))
    assert all(c.height >= dp(48) for c in chips)
    edge_tap(chips[0], dy=dp(23))                    # Home, tapped at its top edge
    assert Path(again.current) == home
    type_keys(again.ids.path_box, str(home / "nowhere" / "file.csv"))
    assert "There is no file or folder" in again.message and again in Window.children
    type_keys(again.ids.path_box, "~/reports")
    assert Path(again.current) == home / "reports"
    close(again)


def test_the_format_filter_and_whole_row_wheel_steps(app, home: Path) -> None:
    many = home / "many"
    many.mkdir()
    for i in range(60):
        (many / f"f{i:02}.csv").write_text("x\n")
    picker = opened(PathPicker(home / "reports" / "a.csv", extensions=(".csv",), formats="CSV",
                               data_dir=Path(app.paths.root), workflow_dir=home / "reports"))
    assert [s[0] for s in picker.shortcuts][:2] == ["Home", "Workflow's folder"]
    assert [d["name"] for d in picker.ids.list.data] == ["a.csv"]
    assert picker.message == "2 other file(s) hidden by the filter"
    assert picker.ids.filter.text == "CSV files"
    screenshot("path_picker_filter_light")
    edge_tap(picker.ids.filter, dy=dp(23))
    assert [d["name"] for d in picker.ids.list.data] == ["a.csv", "b.txt", "c.json"]
    assert picker.ids.filter.text == "All files"
    picker.go(many)
    settle()
    rv = picker.ids.list
    content, seen = rv.children[0].height, rv.height
    assert content > seen
    before = rv.scroll_y
    x, y = rv.to_window(*rv.center)
    wheel(x, y, "up")  # Kivy names the wheel by where the content goes: "up" scrolls down the list
    settle()
    moved = (before - rv.scroll_y) * (content - seen)
    assert moved == pytest.approx(dp(48), abs=1)
    close(picker)


def test_outputs_write_to_a_visible_folder_the_panel_names_and_relative_paths_are_explained(app, home) -> None:
    wf = Workflow("pick_flow", nodes=[Node("start", "start", "Start", (0, 0)),
                                      Node("src", "data_source", "Orders", (240, 0), {"path": "in/orders.csv"})])
    app.bridge.call_blocking("workflows.save", doc=fileformat.to_dict(wf))
    editor = app.open_workflow("pick_flow")
    wait_until(lambda: editor.document is not None and editor.document.workflow.id == "pick_flow", 15, "the workflow")
    settle()
    editor.add_node("output")
    doc = editor.document
    out = next(n for n in doc.workflow if n.type == "output")
    assert out.config["path"] == str(home / "DagFlux" / "pick_flow" / f"{out.id}.csv")
    wait_until(lambda: getattr(editor.ids.inspector.form, "fields", {}).get("path") is not None, 15, "the panel")
    form = editor.ids.inspector.form
    assert form.fields["path"].helper == f"Writes to {home / 'DagFlux' / 'pick_flow' / out.id}.csv"
    doc.undo()
    assert not any(n.type == "output" for n in doc.workflow)  # adding it was one undo step
    editor.select_node("src")
    wait_until(lambda: getattr(editor.ids.inspector.form, "fields", {}).get("path") is not None
               and editor.ids.inspector.node_id == "src", 15, "the Data Source panel")
    helper = editor.ids.inspector.form.fields["path"].helper
    base = editor.ids.inspector.base_dir()
    assert helper.startswith("Relative to") and str((base / "in" / "orders.csv").resolve()) in helper
    assert "hidden" in helper  # a saved workflow's folder is DagFlux's own
    settle()
    screenshot("inspector_relative_path_explained")
