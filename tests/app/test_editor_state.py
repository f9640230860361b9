"""Say what things are, never show stale state (issue 15, item 5), in the real app: a
node's last-run badge goes out of date after an edit above it, a Branch's untaken edge
shows no record count, a required field's error goes as the user types, Tab moves focus,
and the schedule sentence follows a cron expression as it is typed."""

from __future__ import annotations

from kivy.core.window import Window

from app.widgets.canvas.painter import status_text
from engine.model.commands import ChangeConfigCommand
from tests.app.kivyrun import non_blank, pump, screenshot, settle, wait_until


def type_keys(text: str) -> None:
    for char in text:
        Window.dispatch("on_key_down", ord(char), 0, char, [])
        Window.dispatch("on_textinput", char)
        Window.dispatch("on_key_up", ord(char), 0)
    pump(2)


def press(code: int) -> None:
    Window.dispatch("on_key_down", code, 0, None, [])
    Window.dispatch("on_key_up", code, 0)
    pump(2)


def test_an_edit_marks_the_last_run_out_of_date_and_an_untaken_branch_shows_no_count(editor) -> None:
    doc, canvas = editor.document, editor.ids.canvas
    doc.load_run({"run_id": "r1", "status": "succeeded", "nodes": [
        {"node_id": n, "status": "succeeded", "records_out": 4} for n in
        ("orders", "clean_orders", "customers", "tag_customers", "orders_with_customers", "revenue_by_country",
         "revenue_check", "report_csv", "report_parquet")] + [
        {"node_id": "low_revenue_alert", "status": "skipped", "records_out": None}]})
    pump(2)
    assert status_text(canvas.scene.node_look("clean_orders")) == "4 rows"
    assert canvas.edge_label("revenue_check", "report_csv") == "4"
    assert canvas.edge_label("revenue_check", "low_revenue_alert") is None   # nothing went that way
    config = dict(doc.workflow.node("clean_orders").config, sql="SELECT * FROM {{ input }} LIMIT 3")
    doc.push(ChangeConfigCommand(doc.workflow, "clean_orders", config))
    pump(3)
    look = canvas.scene.node_look("clean_orders")
    assert look.stale and "out of date" in status_text(look)
    assert canvas.scene.node_look("report_csv").stale           # everything below it too
    assert not canvas.scene.node_look("customers").stale        # not what is beside it
    assert status_text(canvas.scene.node_look("customers")) == "4 rows"
    canvas.center_on("clean_orders")
    settle()
    assert non_blank(screenshot("editor_stale_run_badge"))


def test_a_required_error_clears_as_the_user_types_and_tab_moves_focus(editor) -> None:
    editor.ids.canvas.select(())
    editor.add_node("data_source")
    form = editor.ids.inspector.form
    wait_until(lambda: getattr(form, "fields", {}).get("path") is not None and form.fields["path"].error, 15,
               "the required path's error")
    row = form.fields["path"]
    assert row.error == "Choose a file to read"      # plain language, not "'path' is required"
    field = row.ids.field
    field.focus = True
    pump(2)
    type_keys("da")
    assert row.error == ""                          # gone while typing, before any commit
    assert editor.document.workflow.node(form.node_id).config.get("path") in (None, "")
    press(9)                                        # Tab
    assert not field.focus and "\t" not in field.text and field.text == "da"
    wait_until(lambda: editor.document.workflow.node(form.node_id).config.get("path") == "da", 5,
               "the commit on focus loss")


def test_the_schedule_sentence_follows_a_cron_expression_as_it_is_typed(editor) -> None:
    editor.select_node("start")
    wait_until(lambda: getattr(editor.ids.inspector.form, "kind_row", None) is not None, 15, "the Start panel")
    form = editor.ids.inspector.form
    form.push({"trigger": {"kind": "cron", "expression": "0 9 * * *"}})
    wait_until(lambda: getattr(form, "expression_field", None) is not None, 5, "the cron field")
    first = form.summary.sentence
    field = form.expression_field.ids.field
    field.focus = True
    pump(2)
    field.select_all()
    field.delete_selection()
    type_keys("30 6 * * 1")
    wait_until(lambda: form.summary.sentence != first and "6:30" in form.summary.sentence
               or "06:30" in form.summary.sentence, 5, "the sentence for the typed expression")
    assert editor.document.workflow.node("start").config["trigger"]["expression"] == "0 9 * * *"  # not committed
    assert form.summary.cron == "Cron: 30 6 * * 1"
    field.focus = False
    pump(2)


def test_a_new_workflows_schedule_shows_a_clearly_off_switch_until_switched_on(app) -> None:
    from app.screens.workflows import new_workflow_doc
    from app.widgets.inspector.fields import CheckRow

    app.bridge.call_blocking("workflows.save", doc=new_workflow_doc("fresh", "Fresh"))
    editor = app.open_workflow("fresh")
    wait_until(lambda: editor.document is not None and editor.document.workflow.id == "fresh", 15, "the workflow")
    settle()
    doc = editor.document
    assert doc.workflow.settings["trigger_enabled"] is False
    editor.select_node("start")
    wait_until(lambda: getattr(editor.ids.inspector.form, "kind_row", None) is not None, 15, "the Start panel")
    form = editor.ids.inspector.form
    form.kind_row.choose("schedule")
    wait_until(lambda: isinstance(getattr(form, "active", None), CheckRow), 5, "the on/off switch")
    assert not form.active.active and form.active.label.startswith("Off")
    assert doc.workflow.settings["trigger_enabled"] is False      # choosing Schedule did not switch it on
    form.active.dispatch("on_release")
    assert form.active.active and doc.workflow.settings["trigger_enabled"] is True
    doc.undo()
    pump(2)
    assert not form.active.active and doc.workflow.settings["trigger_enabled"] is False
    settle()
    assert non_blank(screenshot("start_schedule_switch_off"))


def test_problems_are_said_in_plain_language_each_once(editor) -> None:
    canvas = editor.ids.canvas
    canvas.select(())
    editor.add_node("join")
    join = next(iter(canvas.selected))
    wait_until(lambda: join in canvas.problems, 5, "the new Join's problems")
    assert canvas.problems[join] == ["Connect 2 inputs to this Join",
                                     "Choose the columns to join on (or write the SQL)"]
    panel = editor.ids.inspector
    wait_until(lambda: "Connect 2 inputs" in panel.problems_text, 5, "the panel's problems")
    assert panel.problems_text.count("Connect 2 inputs to this Join") == 1
    shown = [w.error for w in panel.form.walk() if isinstance(getattr(w, "error", None), str) and w.error]
    assert all(text.count("Choose the columns to join on") <= 1 for text in shown)
    assert sum(text.count("Choose the columns to join on") for text in shown + [panel.problems_text]) <= 1, \
        (shown, panel.problems_text)
    canvas.select(())
    editor.add_node("transformer")
    transformer = next(iter(canvas.selected))
    wait_until(lambda: transformer in canvas.problems, 5, "the new Transformer's problems")
    assert "Connect something to this Transformer" in canvas.problems[transformer]
    settle()
    assert non_blank(screenshot("editor_plain_problems"))
