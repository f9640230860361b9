"""The Workflows screen, driven through its widgets against a real engine.

One app and one engine (started by the app's bridge on a private data dir) serve the whole
module; each test makes the workflows it needs under its own ids and asserts what the engine
holds (``workflows.list``) as well as what the screen shows.
"""

from __future__ import annotations

import gc
import importlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.main import build_app_class
from engine.model import fileformat
from engine.model.validation import validate
from engine.paths import DataPaths
from engine.procutil import pid_alive
from tests.app.kivyrun import REPO, non_blank, pause, pump, running, screenshot, tap, themed_shots, wait_until

EXAMPLE = REPO / "examples" / "orders_report" / "orders_report.json"
WAIT = 30  # a guard only (a frame can take a second on a busy software-GL machine)


# --- one app + engine for the module --------------------------------------------------------
@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    home = tmp_path_factory.mktemp("workflows_screen_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGFLUX_HOME", str(home))
        mp.setenv("DAGFLUX_WEBHOOK_PORT", "0")
        the_app = build_app_class()(paths=DataPaths(home))
        with running(the_app):
            wait_until(lambda: the_app.engine_ok, 60, "the engine link")
            try:
                wait_until(lambda: screen_of(the_app).loaded, WAIT, "the first listing")
                yield the_app
            finally:
                wait_until(lambda: the_app.engine_ok, 60, "the engine link")
                pid = the_app.bridge.call_blocking("status")["pid"]
                the_app.bridge.start_engine = False  # the bridge must not start a new engine now
                the_app.bridge.call_blocking("shutdown", timeout=10)
                wait_until(lambda: not pid_alive(pid), WAIT, "the engine to exit")


@pytest.fixture
def screen(app: Any) -> Any:
    """The Workflows screen, shown, with no workflow saved and no dialog left open by an earlier test."""
    scr = app.open_screen("workflows")
    if scr.dialog is not None:
        scr.dialog.dismiss()
    scr.ids.search.text = ""
    for wf_id in listed(app):
        app.bridge.call_blocking("workflows.delete", id=wf_id)
    scr.refresh()
    wait_until(lambda: app.root.ids.screens.current == "workflows" and scr.dialog is None and not scr.workflows,
               WAIT, "an empty Workflows screen")
    pump(1)
    return scr


def screen_of(app: Any) -> Any:
    return app.screen("workflows")


# --- helpers ---------------------------------------------------------------------------------
def listed(app: Any) -> dict[str, dict]:
    return {w["id"]: w for w in app.bridge.call_blocking("workflows.list")}


def save(app: Any, wf_id: str, name: str, trigger: dict | None = None, description: str = "") -> None:
    doc = {"format": "dagflux-workflow", "version": 2, "id": wf_id, "name": name, "description": description,
           "nodes": [{"id": "start", "type": "start", "title": "Start",
                      "config": {"trigger": trigger or {"kind": "manual"}}}]}
    app.bridge.call_blocking("workflows.save", doc=doc)


def save_failing(app: Any, wf_id: str, name: str) -> None:
    """A workflow run by hand whose Data Source reads a file that is not there: its runs fail."""
    doc = {"format": "dagflux-workflow", "version": 2, "id": wf_id, "name": name,
           "nodes": [{"id": "start", "type": "start", "config": {"trigger": {"kind": "manual"}}},
                     {"id": "load", "type": "data_source", "config": {"source": "file", "path": "no_such_file.csv"}}],
           "edges": [{"from": "start", "to": "load"}]}
    app.bridge.call_blocking("workflows.save", doc=doc)


def press(widget: Any, frames: int = 1) -> None:
    """A real tap at the widget's centre, in window coordinates."""
    x, y = widget.to_window(*widget.center)
    tap(x, y, frames=frames)


def rows(scr: Any) -> dict[str, Any]:
    return {w.wf_id: w for w in scr.ids.rv.layout_manager.children}


def refreshed(scr: Any, until: Any, what: str) -> None:
    """Tap Refresh (workflows saved straight through the engine send no event), then wait."""
    press(scr.ids.refresh_button)
    wait_until(until, WAIT, what)
    pump(1)


def row(scr: Any, wf_id: str) -> Any:
    wait_until(lambda: wf_id in rows(scr), WAIT, f"the row of {wf_id}")
    pump(1)  # laid out, so its buttons are where a tap lands
    return rows(scr)[wf_id]


def open_dialog(scr: Any, button: Any) -> Any:
    press(button)
    wait_until(lambda: scr.dialog is not None and scr.dialog.opacity > 0.99, WAIT, "the dialog")
    return scr.dialog


def dialog_gone(scr: Any) -> None:
    wait_until(lambda: scr.dialog is None, WAIT, "the dialog to close")


def snackbar_texts() -> list[str]:
    """The texts of the snackbars (app.notify) on screen now."""
    from kivy.core.window import Window
    from kivymd.uix.snackbar import MDSnackbar, MDSnackbarText

    bars = [w for w in Window.children if isinstance(w, MDSnackbar)]
    return [t.text for bar in bars for t in bar.walk() if isinstance(t, MDSnackbarText)]


def editor_importable() -> bool:
    try:
        importlib.import_module("app.screens.editor")
    except ImportError:
        return False
    return True


def opens_in_editor(app: Any, monkeypatch: pytest.MonkeyPatch, wf_id: str, action: Callable[[], None]) -> None:
    """``action`` makes the app open ``wf_id`` in the editor. With the real editor that is seen as
    the editor screen showing that workflow; while ``app/screens/editor.py`` cannot be imported
    yet, ``open_workflow`` is replaced on this app instance only, for this check only."""
    if editor_importable():
        action()
        wait_until(lambda: app.root.ids.screens.current == "editor"
                   and app.settings_store.get("last_workflow") == wf_id, WAIT, f"the editor to open {wf_id}")
        editor = app.screen("editor")
        wait_until(lambda: editor.document is not None and editor.document.workflow.id == wf_id, WAIT,
                   f"the editor to load {wf_id}")
        app.open_screen("workflows")
        return
    opened: list[str] = []
    with monkeypatch.context() as patch:
        patch.setattr(app, "open_workflow", lambda workflow_id, **_kw: opened.append(workflow_id))
        action()
        wait_until(lambda: opened == [wf_id], WAIT, f"open_workflow({wf_id!r})")


# --- pure helpers ----------------------------------------------------------------------------
def test_relative_times_and_last_run_text() -> None:
    from app.screens.workflows import last_run_text, relative_time

    now = 1_700_000_000.0
    assert [relative_time(now - s, now) for s in (5, 180, 7200, 86400 * 1.5, 86400 * 3)] == [
        "just now", "3 min ago", "2 h ago", "yesterday", "3 days ago"]
    assert relative_time(now - 86400 * 30, now) == time.strftime("%d %b %Y", time.localtime(now - 86400 * 30))
    assert last_run_text({"status": "failed", "started_at": now - 180}, now) == "failed · 3 min ago"
    assert last_run_text(None, now) == "never run"


def test_new_ids_are_unique_valid_and_within_the_length_limit() -> None:
    from app.screens.workflows import unique_id
    from engine.model.workflow import MAX_ID_LENGTH, is_valid_id

    assert unique_id("sales", {"orders"}) == "sales"
    assert unique_id("sales", {"sales", "sales_2"}) == "sales_3"
    long = "a" * MAX_ID_LENGTH
    made = unique_id(long, {long})
    assert is_valid_id(made) and len(made) == MAX_ID_LENGTH and made.endswith("_2")


def test_a_new_workflow_document_is_valid_and_run_by_hand(app: Any) -> None:
    from app.screens.workflows import new_workflow_doc

    wf = fileformat.from_dict(new_workflow_doc("weekly_sales", "Weekly sales"))
    assert (wf.id, wf.name, [n.type for n in wf]) == ("weekly_sales", "Weekly sales", ["start"])
    assert validate(wf, app.registry.node_types) == []


# --- screenshots -----------------------------------------------------------------------------
def test_screenshots_light_and_dark_with_a_few_workflows(app: Any, screen: Any) -> None:
    save(app, "shot_inbox", "Inbox files to warehouse", {"kind": "file_watch", "path": "inbox", "events": ["add"]},
         "Loads every CSV dropped into the inbox folder into the warehouse staging tables.")
    save(app, "shot_nightly", "Nightly sales rollup", {"kind": "daily", "time": "02:30"},
         "Aggregates yesterday's orders per store and region.")
    save(app, "shot_webhook", "Shop webhook", {"kind": "webhook"})
    app.bridge.call_blocking("workflows.set_enabled", id="shot_webhook", enabled=False)
    save_failing(app, "shot_adhoc", "Ad-hoc customer export")
    for wf_id in ("shot_nightly", "shot_adhoc"):
        run = app.bridge.call_blocking("runs.start", workflow_id=wf_id)
        app.bridge.call_blocking("runs.wait", run_id=run["run_id"], timeout=60)
    wanted = {"shot_inbox", "shot_nightly", "shot_webhook", "shot_adhoc"}
    refreshed(screen, lambda: wanted <= set(rows(screen)), "the rows")
    themed_shots(app, "workflows_{theme}")


# --- empty state, new workflow -----------------------------------------------------------------
def test_with_no_workflows_the_screen_says_so_and_offers_to_create_one(app: Any, screen: Any) -> None:
    refreshed(screen, lambda: not rows(screen) and screen.shown_count == 0, "an empty list")
    assert screen.ids.empty_state.opacity == 1 and not screen.ids.empty_actions.disabled
    shot = screenshot("workflows_empty")
    assert non_blank(shot, min_colours=4)

    dialog = open_dialog(screen, screen.ids.empty_new_button)
    assert dialog.headline == "New workflow"
    press(dialog.ids.cancel_button)
    dialog_gone(screen)
    assert listed(app) == {}


def test_a_new_workflow_gets_an_id_from_its_name_and_a_minimal_valid_document(
        app: Any, screen: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    save(app, "weekly_sales_report", "Older report")
    refreshed(screen, lambda: "weekly_sales_report" in rows(screen), "the existing row")

    dialog = open_dialog(screen, screen.ids.new_button)
    press(dialog.ids.confirm_button)  # no name yet: refused in the dialog
    assert dialog.error_text == "Give the workflow a name." and screen.dialog is dialog
    dialog.ids.field.focus = True  # typing, as a user does after the refusal
    dialog.ids.field.text = "Weekly sales report!"
    assert dialog.ids.status.text == "Id: weekly_sales_report_2"  # the id is taken: the next free one
    pause(0.5)  # let the field's hint animation settle for the picture
    screenshot("workflows_new_dialog")
    opens_in_editor(app, monkeypatch, "weekly_sales_report_2", lambda: press(dialog.ids.confirm_button))
    dialog_gone(screen)

    saved = listed(app)["weekly_sales_report_2"]
    assert (saved["name"], saved["nodes"], saved["trigger"]) == ("Weekly sales report!", 1, "manual")
    wf = fileformat.from_dict(app.bridge.call_blocking("workflows.get", id="weekly_sales_report_2"))
    assert validate(wf, app.registry.node_types) == []
    assert row(screen, "weekly_sales_report_2").name == "Weekly sales report!"


# --- rename, duplicate, delete -----------------------------------------------------------------
def test_rename_through_the_row_dialog(app: Any, screen: Any) -> None:
    save(app, "to_rename", "Before")
    refreshed(screen, lambda: "to_rename" in rows(screen), "the row")

    dialog = open_dialog(screen, row(screen, "to_rename").ids.rename_button)
    assert dialog.ids.field.text == "Before"
    dialog.ids.field.text = "   "
    press(dialog.ids.confirm_button)
    assert dialog.error_text == "A workflow needs a name." and screen.dialog is dialog
    dialog.ids.field.text = "After the rename"
    press(dialog.ids.confirm_button)
    dialog_gone(screen)

    assert listed(app)["to_rename"]["name"] == "After the rename"
    wait_until(lambda: rows(screen).get("to_rename") is not None
               and rows(screen)["to_rename"].name == "After the rename", WAIT, "the renamed row")


def test_duplicate_from_the_row(app: Any, screen: Any) -> None:
    save(app, "to_copy", "Original", {"kind": "daily", "time": "06:00"}, "Copied by the test.")
    refreshed(screen, lambda: "to_copy" in rows(screen), "the row")

    press(row(screen, "to_copy").ids.duplicate_button)
    wait_until(lambda: "to_copy_copy" in rows(screen), WAIT, "the copy's row")
    copy = listed(app)["to_copy_copy"]
    assert (copy["name"], copy["description"], copy["trigger"]) == ("Original (copy)", "Copied by the test.", "daily")
    assert "to_copy" in listed(app)


def test_a_tap_while_a_dialog_fades_out_reaches_the_screen(app: Any, screen: Any) -> None:
    """A dismissed dialog fades out; a tap during the fade goes to what is under it (it was
    swallowed: the user had to tap again)."""
    from kivy.core.window import Window

    save(app, "fading", "Fading")
    refreshed(screen, lambda: "fading" in rows(screen), "the row")
    first = open_dialog(screen, row(screen, "fading").ids.delete_button)
    first.hide_duration = 30  # a long fade: the next tap surely lands while it is still on screen
    press(first.ids.cancel_button)
    assert screen.dialog is None and first in Window.children  # closed for the screen, still fading
    press(row(screen, "fading").ids.delete_button)
    second = screen.dialog
    assert second is not None and second is not first  # the tap opened the next dialog
    wait_until(lambda: second.opacity > 0.99, WAIT, "the second dialog")
    press(second.ids.cancel_button)
    dialog_gone(screen)


def test_a_notification_never_takes_a_tap(app: Any, screen: Any) -> None:
    """A snackbar is information only: a tap on it reaches what is under it (here the open
    dialog's outside, which closes the dialog) — "Saved …" once covered a form's Cancel button."""
    from kivy.core.window import Window

    from app.widgets.snackbar import AppSnackbar

    dialog = open_dialog(screen, screen.ids.new_button)
    app.notify("Something happened", seconds=60)
    bar = next(w for w in Window.children if isinstance(w, AppSnackbar))
    wait_until(lambda: bar.height > 1, WAIT, "the snackbar laid out")
    pump(1)
    assert not bar.collide_point(*screen.ids.new_button.to_window(*screen.ids.new_button.center))
    tap(*bar.center)
    wait_until(lambda: screen.dialog is None, WAIT, "the dialog to close from the tap outside it")
    assert dialog not in (screen.dialog,)
    bar.dismiss()


def test_delete_asks_first_and_says_what_goes(app: Any, screen: Any) -> None:
    save(app, "to_delete", "Doomed", {"kind": "interval", "minutes": 30})
    refreshed(screen, lambda: "to_delete" in rows(screen), "the row")

    dialog = open_dialog(screen, row(screen, "to_delete").ids.delete_button)
    assert dialog.headline == "Delete “Doomed”?"
    assert "“to_delete.json” is deleted and its trigger (every 30 minutes) stops" in dialog.message
    assert "past runs stay in History" in dialog.message
    press(dialog.ids.cancel_button)
    dialog_gone(screen)
    assert "to_delete" in listed(app)

    dialog = open_dialog(screen, row(screen, "to_delete").ids.delete_button)
    pause(0.5)
    screenshot("workflows_delete_dialog")
    press(dialog.ids.confirm_button)
    dialog_gone(screen)
    assert "to_delete" not in listed(app)
    wait_until(lambda: "to_delete" not in rows(screen), WAIT, "the row to go")


# --- import ------------------------------------------------------------------------------------
def test_import_the_example_then_a_duplicate_then_a_malformed_file(app: Any, screen: Any, tmp_path: Path) -> None:
    dialog = open_dialog(screen, screen.ids.import_button)
    dialog.ids.field.text = str(EXAMPLE)
    assert dialog.ids.confirm_text.text == "Review"
    press(dialog.ids.confirm_button)          # first: what the file will do
    wait_until(lambda: dialog.reviewed_path == str(EXAMPLE), WAIT, "the review")
    assert "Python code in node 'tag_customers'" in dialog.review_text
    assert "Writes: out/revenue_by_country.csv" in dialog.review_text and "orders_report" not in listed(app)
    assert dialog.ids.confirm_text.text == "Import"
    pump(2)
    pause(0.3)
    screenshot("workflows_import_review")
    press(dialog.ids.confirm_button)          # then: import
    dialog_gone(screen)
    imported = listed(app)["orders_report"]
    assert (imported["name"], imported["nodes"]) == ("Orders report", len(fileformat.load(EXAMPLE)))
    assert row(screen, "orders_report").name == "Orders report"

    # the same file again: its id is taken — said in the dialog, which offers a copy
    dialog = open_dialog(screen, screen.ids.import_button)
    assert dialog.ids.copy_button.parent is None
    gc.collect()  # the hidden "Import as a copy" button must outlive a collection (ids are weak)
    dialog.ids.field.text = str(EXAMPLE)
    press(dialog.ids.confirm_button)
    wait_until(lambda: dialog.reviewed_path == str(EXAMPLE), WAIT, "the review")
    press(dialog.ids.confirm_button)
    wait_until(lambda: dialog.error_text, WAIT, "the duplicate error")
    assert "a workflow 'orders_report' already exists" in dialog.error_text
    assert screen.dialog is dialog and dialog.ids.copy_button.parent is not None
    pump(1)  # the new button laid out
    press(dialog.ids.copy_button)
    dialog_gone(screen)
    assert listed(app)["orders_report_copy"]["name"] == "Orders report"
    wait_until(lambda: "orders_report_copy" in rows(screen), WAIT, "the copy's row")

    # a malformed file: a clear error, the dialog keeps the path, nothing saved is touched
    bad = tmp_path / "broken.json"
    bad.write_text('{"format": "dagflux-workflow", "version": 2, "id": "broken",\n  "nodes": [}\n')
    before = listed(app)
    dialog = open_dialog(screen, screen.ids.import_button)
    dialog.ids.field.text = str(bad)
    press(dialog.ids.confirm_button)
    wait_until(lambda: dialog.error_text, WAIT, "the malformed-file error")
    assert f"{bad}: invalid JSON at line 2" in dialog.error_text
    assert dialog.ids.status.text == dialog.error_text and dialog.ids.field.text == str(bad)
    assert dialog.ids.copy_button.parent is None
    pause(0.5)
    screenshot("workflows_import_error")
    press(dialog.ids.cancel_button)
    dialog_gone(screen)
    assert listed(app) == before


def test_an_invalid_file_can_only_be_imported_as_a_draft_and_a_trigger_starts_off(
        app: Any, screen: Any, tmp_path: Path) -> None:
    doc = {"format": "dagflux-workflow", "version": 2, "id": "loopy", "name": "Loopy",
           "settings": {"base_dir": "/etc"},
           "nodes": [{"id": "start", "type": "start", "config": {"trigger": {"kind": "daily", "time": "07:00"}}},
                     {"id": "a", "type": "transformer", "config": {"language": "sql", "sql": "SELECT 1"}},
                     {"id": "b", "type": "transformer", "config": {"language": "sql", "sql": "SELECT 2"}}],
           "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "b"}, {"from": "b", "to": "a"}]}
    path = tmp_path / "loopy.json"
    path.write_text(json.dumps(doc))
    dialog = open_dialog(screen, screen.ids.import_button)
    dialog.ids.field.text = str(path)
    press(dialog.ids.confirm_button)
    wait_until(lambda: dialog.reviewed_path == str(path), WAIT, "the review")
    assert dialog.has_problems and "cycle" in dialog.review_text
    assert "imported switched off" in dialog.review_text
    assert "Warning: the file names a base folder (/etc); it is ignored" in dialog.review_text
    assert "⚠" not in dialog.review_text                      # a glyph the app's font does not have
    pump(2)
    screenshot("workflows_import_review")
    assert dialog.ids.confirm_text.text == "Import as a draft"
    press(dialog.ids.confirm_button)
    dialog_gone(screen)
    saved = listed(app)["loopy"]
    assert (saved["draft"], saved["enabled"]) == (True, False)
    wait_until(lambda: "loopy" in rows(screen), WAIT, "the draft's row")
    assert "draft: has problems, does not run" in row(screen, "loopy").meta


def test_browse_picks_the_file_with_the_file_manager(app: Any, screen: Any, tmp_path: Path) -> None:
    (tmp_path / "sales.json").write_text(EXAMPLE.read_text())
    (tmp_path / "notes.txt").write_text("not a workflow")
    dialog = open_dialog(screen, screen.ids.import_button)
    dialog.ids.field.text = str(tmp_path)  # browsing starts in the folder typed so far
    press(dialog.ids.browse_button)
    wait_until(lambda: dialog._manager is not None and dialog._manager.ids.rv.layout_manager.children, WAIT,
               "the file manager's listing")
    manager = dialog._manager
    pump(2)
    items = {getattr(w, "dir_or_file_name", ""): w for w in manager.ids.rv.layout_manager.children}
    assert "sales.json" in items and "notes.txt" not in items  # only .json files are offered
    pause(0.3)
    screenshot("workflows_browse")
    press(items["sales.json"])
    wait_until(lambda: dialog._manager is None and manager._window_manager.parent is None, WAIT,
               "the file manager to close")
    assert dialog.ids.field.text == str(tmp_path / "sales.json")
    press(dialog.ids.cancel_button)
    dialog_gone(screen)


def test_a_saved_file_that_cannot_be_read_is_listed_with_its_error(app: Any, screen: Any) -> None:
    (app.paths.workflows / "hand_edited.json").write_text('{"format": "dagflux-workflow", "version": 2,\n')
    refreshed(screen, lambda: "hand_edited" in rows(screen), "the broken row")
    broken = row(screen, "hand_edited")
    assert broken.broken and "hand_edited.json: invalid JSON at line 2" in broken.meta
    assert broken.ids.rename_button.disabled and broken.ids.duplicate_button.disabled
    assert broken.ids.switch.disabled and not broken.ids.delete_button.disabled
    x, y = broken.to_window(broken.x + broken.width * 0.35, broken.center_y)
    tap(x, y)
    assert app.root.ids.screens.current == "workflows"  # nothing to open: the error is shown instead

    dialog = open_dialog(screen, broken.ids.delete_button)
    press(dialog.ids.confirm_button)
    dialog_gone(screen)
    assert not (app.paths.workflows / "hand_edited.json").exists()


# --- trigger switch, last run, open, search ----------------------------------------------------
def test_the_trigger_switch_turns_a_schedule_off_and_on(app: Any, screen: Any) -> None:
    save(app, "switch_me", "Hourly sync", {"kind": "interval", "minutes": 60})
    save(app, "by_hand", "By hand")
    refreshed(screen, lambda: {"switch_me", "by_hand"} <= set(rows(screen)), "the rows")
    switch = row(screen, "switch_me").ids.switch
    assert switch.active and not switch.disabled
    assert row(screen, "by_hand").ids.switch.disabled  # nothing to switch for a manual trigger

    press(switch)
    wait_until(lambda: listed(app)["switch_me"]["enabled"] is False, WAIT, "the trigger off")
    wait_until(lambda: not rows(screen)["switch_me"].enabled, WAIT, "the row to show it off")
    assert not row(screen, "switch_me").ids.switch.active
    triggers = {t["workflow_id"]: t for t in app.bridge.call_blocking("triggers.list")}
    assert "switch_me" not in triggers or not triggers["switch_me"].get("enabled", False)

    press(row(screen, "switch_me").ids.switch)
    wait_until(lambda: listed(app)["switch_me"]["enabled"] is True, WAIT, "the trigger on")
    wait_until(lambda: rows(screen)["switch_me"].enabled, WAIT, "the row to show it on")

    # the engine refuses (the workflow went away behind the screen's back): said, and the switch flips back
    app.bridge.call_blocking("workflows.delete", id="switch_me")
    switch = row(screen, "switch_me").ids.switch
    press(switch)
    wait_until(lambda: any("Could not switch the trigger off" in t and "switch_me" in t for t in snackbar_texts()),
               WAIT, "the error snackbar")
    assert switch.active


def test_the_last_run_appears_after_a_run_without_a_manual_refresh(app: Any, screen: Any) -> None:
    save_failing(app, "runs_here", "Runs here")
    refreshed(screen, lambda: "runs_here" in rows(screen), "the row")
    assert row(screen, "runs_here").run_text == "never run"

    run = app.bridge.call_blocking("runs.start", workflow_id="runs_here")
    finished = app.bridge.call_blocking("runs.wait", run_id=run["run_id"], timeout=60)
    assert finished["status"] == "failed"
    # RunFinished reaches the screen through the bridge, which lists again
    wait_until(lambda: rows(screen)["runs_here"].run_text == "failed · just now", WAIT, "the last run")
    chip = rows(screen)["runs_here"]
    assert chip.run_role == "error" and chip.run_icon == "close-circle"
    assert listed(app)["runs_here"]["last_run"]["run_id"] == run["run_id"]


def test_tapping_a_row_opens_the_workflow(app: Any, screen: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    save(app, "open_me", "Open me")
    refreshed(screen, lambda: "open_me" in rows(screen), "the row")
    target = row(screen, "open_me")
    x, y = target.to_window(target.x + target.width * 0.35, target.center_y)  # on the text, not a button
    opens_in_editor(app, monkeypatch, "open_me", lambda: tap(x, y))


def test_search_filters_by_name_id_and_description(app: Any, screen: Any) -> None:
    save(app, "needle_one", "Finance close", description="Month end ledger checks")
    save(app, "needle_two", "Ledger import")
    refreshed(screen, lambda: {"needle_one", "needle_two"} <= set(rows(screen)), "the rows")
    screen.ids.search.text = "ledger"
    wait_until(lambda: set(rows(screen)) == {"needle_one", "needle_two"}, WAIT, "the filtered rows")
    assert screen.ids.count_label.text == f"2 of {len(listed(app))}"
    screen.ids.search.text = "needle_two"
    wait_until(lambda: set(rows(screen)) == {"needle_two"}, WAIT, "one row")
    screen.ids.search.text = "zzz nothing"
    wait_until(lambda: screen.shown_count == 0, WAIT, "no rows")
    assert screen.ids.empty_state.opacity == 1 and screen.ids.empty_actions.disabled


def test_the_list_is_fetched_again_when_the_engine_comes_back(app: Any, screen: Any) -> None:
    save(app, "before", "Before the restart")
    refreshed(screen, lambda: "before" in rows(screen), "the row")
    # a workflow file appears behind the engine's back (no event): the screen cannot know yet
    doc = json.loads(EXAMPLE.read_text())
    doc.update(id="came_back", name="Came back")
    (app.paths.workflows / "came_back.json").write_text(json.dumps(doc))
    pump(3)
    assert "came_back" not in rows(screen)

    old_pid = app.bridge.call_blocking("status")["pid"]
    app.bridge.call_blocking("shutdown")
    wait_until(lambda: not pid_alive(old_pid) and not app.engine_ok, WAIT, "the engine to go")
    # the bridge starts a new engine and reconnects; the screen lists again on its own
    wait_until(lambda: app.engine_ok and "came_back" in rows(screen), 90, "the list after reconnecting")
    assert app.bridge.call_blocking("status")["pid"] != old_pid
