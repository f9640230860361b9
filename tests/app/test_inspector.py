"""The node panel in a real window, on the example workflow saved in a real engine.

Every edit is made through the panel's widgets (taps on buttons and chips, text typed and
committed by focus loss) and checked on the MODEL: each commit is one step on the undo
stack, undo puts the old value back and the panel follows. Wrong input shows an inline
error under its field; the schedule builder shows the cron expression and the sentence.
The Data Source preview and the Transformer's "try on sample" are real engine calls.
Screenshots of every panel, light and dark, go to test-artifacts/.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from kivy.clock import Clock
from kivy.core.clipboard import Clipboard
from kivy.core.window import Window
from kivy.uix.behaviors import ButtonBehavior
from kivymd.uix.boxlayout import MDBoxLayout

from app.document import WorkflowDocument
from app.main import build_app_class
from app.widgets.inspector import InspectorPanel
from app.widgets.inspector.json_form import JsonConfigForm
from app.widgets.inspector.path_picker import PathPicker
from engine.model import fileformat
from engine.model.commands import RemoveNodeCommand
from engine.model.workflow import Node, Workflow
from tests.app.kivyrun import non_blank, pump, running, screenshot, tap_widget, wait_until

REPO = Path(__file__).resolve().parents[2]
WF = "orders_report"


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("DAGFLUX_WEBHOOK_PORT", "0")
    folder = tmp_path / "orders_report"
    shutil.copytree(REPO / "examples" / "orders_report", folder, ignore=shutil.ignore_patterns("out"))
    (folder / "out").mkdir()
    return folder


class Harness:
    """The app with its engine, the example imported, and the panel in a side sheet."""

    def __init__(self, app, folder: Path) -> None:
        self.app = app
        app.bridge.call_blocking("workflows.import", path=str(folder / f"{WF}.json"))
        saved = app.bridge.call_blocking("workflows.get", id=WF)
        self.doc = WorkflowDocument(fileformat.from_dict(saved, WF), app.registry.node_types,
                                    save=lambda d: app.bridge.call_blocking("workflows.save", doc=d))
        self.sheet = MDBoxLayout(size_hint=(None, None), size=(380, 790), pos=(895, 5),
                                 md_bg_color=app.theme_cls.surfaceContainerLowColor)
        self.panel = InspectorPanel()
        self.sheet.add_widget(self.panel)
        Window.add_widget(self.sheet)

    def show(self, node_id: str):
        self.panel.show(self.doc, node_id, self.app.bridge)
        pump(3)
        return self.panel.form

    def config(self, node_id: str) -> dict:
        return self.doc.workflow.node(node_id).config

    def into_view(self, widget) -> None:
        scroll = self.panel.ids.scroll
        pump(2)                                          # the layout settles first
        if scroll.children[0].height > scroll.height:    # scroll_to only when there is something to scroll
            scroll.scroll_to(widget, padding=40, animate=False)
        else:
            scroll.scroll_y = 1
        pump(2)

    def tap(self, widget) -> None:
        self.into_view(widget)
        if not isinstance(widget, ButtonBehavior):
            self.tap_in_window(widget)
            return
        released: list[Any] = []
        widget.bind(on_release=released.append)
        try:
            before = widget.to_window(*widget.center)
            self.tap_in_window(widget)
        finally:
            widget.unbind(on_release=released.append)
        if not released:    # say what the finger met instead, so a failure can be explained
            scroll = self.panel.ids.scroll
            raise AssertionError(
                f"the tap on {type(widget).__name__}({getattr(widget, 'text', '')!r}) at {before} did not release "
                f"it; now at {widget.to_window(*widget.center)}, size {widget.size}, disabled={widget.disabled}; "
                f"window children {[type(w).__name__ for w in Window.children]}; scroll_y={scroll.scroll_y:.3f} "
                f"touch={scroll._touch!r}; pending {[e.get_callback() for e in Clock.get_events()][:12]}")

    @staticmethod
    def tap_in_window(widget) -> None:
        """Tap the centre of ``widget`` once the layout has settled: the chain a change sets off
        (text set, lines measured, heights, positions) runs over several frames, and a widget can
        hold still for one of them and then move. Down and up come in one frame, so nothing can
        move the widget from under the finger between them (seen on a loaded machine: the tap
        on a mode button after another mode's form was built landed on the old position)."""
        tap_widget(widget, held=0)
        pump(3)

    def type_into(self, row, text: str) -> None:
        """Focus the field, replace its text, then move the focus away (the commit)."""
        self.into_view(row)
        field = row.ids.field
        field.focus = True
        pump(1)
        field.text = text
        pump(1)
        field.focus = False
        pump(3)

    def shots(self, name: str, scroll_y: float = 1) -> None:
        self.panel.ids.scroll.scroll_y = scroll_y
        for theme in ("light", "dark"):
            self.app.apply_theme(theme)
            self.sheet.md_bg_color = self.app.theme_cls.surfaceContainerLowColor
            pump(4)
            assert non_blank(screenshot(f"inspector_{name}_{theme}"))
        self.app.apply_theme("light")
        self.sheet.md_bg_color = self.app.theme_cls.surfaceContainerLowColor
        pump(2)


@pytest.fixture
def harness(example: Path):
    app = build_app_class()()
    with running(app):
        try:
            wait_until(lambda: app.engine_ok, 60, "the engine link")
            yield Harness(app, example)
        finally:
            app.bridge.call_blocking("shutdown", timeout=15)


def test_start_schedule_builder_inline_errors_undo_and_webhook(harness: Harness) -> None:
    h, doc = harness, harness.doc
    form = h.show("start")
    assert form.kind_row.value == "manual" and form.summary.sentence == "Run by hand"
    h.shots("start_manual")

    steps = doc.stack.index
    h.tap(form.kind_row.button_for("schedule"))
    assert h.config("start") == {"trigger": {"kind": "daily", "time": "09:00"}, "missed_runs": "skip"}
    assert doc.stack.index == steps + 1
    assert form.summary.sentence == "Every day at 09:00" and form.summary.cron == "Cron: 0 9 * * *"
    assert form.summary.next_run.startswith("Next run: ")

    h.tap(form.schedule_row.button_for("weekly"))
    assert h.config("start")["trigger"] == {"kind": "weekly", "days": ["mon", "tue", "wed", "thu", "fri"],
                                            "time": "09:00"}
    assert form.summary.sentence == "Every weekday at 09:00" and form.summary.cron == "Cron: 0 9 * * 1-5"
    h.tap(form.days.button_for("fri"))
    h.tap(form.days.button_for("sat"))
    assert h.config("start")["trigger"]["days"] == ["mon", "tue", "wed", "thu", "sat"]
    assert form.summary.sentence == "Every Monday, Tuesday, Wednesday, Thursday and Saturday at 09:00"

    steps = doc.stack.index
    form.time_field.ids.field.text = "7:3"             # typing alone changes nothing …
    pump(2)
    assert doc.stack.index == steps and h.config("start")["trigger"]["time"] == "09:00"
    h.type_into(form.time_field, "7:30")               # … the commit does, once
    assert doc.stack.index == steps + 1 and h.config("start")["trigger"]["time"] == "7:30"
    assert "'7:30' is not a time of day" in form.time_field.error
    assert form.summary.sentence.startswith("Fix the settings") and form.summary.cron == ""
    assert any("7:30" in m for m in doc.problems_by_node()["start"])
    h.shots("start_weekly_error")
    h.type_into(form.time_field, "07:30")
    assert form.time_field.error == "" and form.summary.cron == "Cron: 30 7 * * 1-4,6"

    h.tap(form.schedule_row.button_for("cron"))       # the cron builder starts from the equivalent
    assert h.config("start")["trigger"] == {"kind": "cron", "expression": "30 7 * * 1-4,6"}
    h.type_into(form.expression_field, "*/15 9-17 * * 1-5")
    assert form.summary.sentence == "Every 15 minutes from 09:00 to 17:45 on weekdays"
    assert form.summary.cron == "Cron: */15 9-17 * * 1-5"
    h.type_into(form.expression_field, "61 * * * *")
    assert "cron field 1 (minute) '61' is out of range 0–59" in form.expression_field.error

    h.tap(form.schedule_row.button_for("interval"))
    assert h.config("start")["trigger"] == {"kind": "interval", "minutes": 60}
    plus = form.stepper.children[0]
    h.tap(plus)
    h.tap(plus)
    assert h.config("start")["trigger"]["minutes"] == 90 and form.stepper.text == "90 min"
    assert form.summary.sentence == "Every 1 hour 30 minutes" and form.summary.cron == "Cron: no exact cron equivalent"
    h.type_into(form.minutes_field, "20")
    assert "20 is not allowed" in form.minutes_field.error and h.config("start")["trigger"]["minutes"] == 20

    doc.undo()                                          # undo: the model and the panel go back
    pump(3)
    assert h.config("start")["trigger"]["minutes"] == 90
    assert form.minutes_field.text == "90" and form.minutes_field.error == "" and form.stepper.text == "90 min"
    doc.redo()
    pump(3)
    assert form.minutes_field.text == "20" and "20 is not allowed" in form.minutes_field.error
    h.tap(form.missed)
    assert h.config("start")["missed_runs"] == "run_once"
    h.shots("start_interval")

    h.tap(form.kind_row.button_for("file_watch"))
    assert h.config("start") == {"trigger": {"kind": "file_watch", "path": "", "events": ["add", "change"]}}
    assert "required" in form.path_field.error
    h.type_into(form.path_field, "data/inbox")
    h.tap(form.events.button_for("delete"))
    h.tap(form.recursive)
    assert h.config("start")["trigger"] == {"kind": "file_watch", "path": "data/inbox",
                                            "events": ["add", "change", "delete"], "recursive": True}
    assert form.path_field.error == ""
    assert form.summary.sentence == "When a file is added, changed or deleted in data/inbox or its subfolders"

    h.tap(form.kind_row.button_for("webhook"))
    assert h.config("start") == {"trigger": {"kind": "webhook"}}
    doc.save()                                          # the editor autosaves; the engine registers the URL
    wait_until(lambda: form.url_box.url.startswith("http://127.0.0.1:"), 30, "the webhook URL")
    assert form.url_box.url == next(e["url"] for e in h.app.bridge.call_blocking("triggers.list")
                                    if e["workflow_id"] == WF)
    h.tap(form.url_box.ids.copy_button)
    assert Clipboard.paste() == form.url_box.url
    h.tap(form.formats.button_for("csv"))
    assert h.config("start")["trigger"]["formats"] == ["json"]
    h.shots("start_webhook")

    while doc.stack.can_undo:                           # every step undoes back to the start
        doc.undo()
    pump(3)
    assert h.config("start") == {"trigger": {"kind": "manual"}} and form.kind_row.value == "manual"


def test_data_source_preview_sheet_choice_and_errors(harness: Harness) -> None:
    h, doc = harness, harness.doc
    base = Path(doc.workflow.settings["base_dir"])
    form = h.show("orders")
    wait_until(lambda: form.preview.table.columns, 30, "the preview")
    assert form.preview.table.columns[:3] == [("Order_ID", "INTEGER"), ("Customer_ID", "INTEGER"),
                                              ("Order_Date", "TEXT")]
    assert len(form.preview.table.rows) == 5
    h.shots("data_source_file")

    h.type_into(form.fields["path"], "data/missing.csv")
    assert h.config("orders")["path"] == "data/missing.csv"
    wait_until(lambda: form.preview.ids.busy.failed, 30, "the preview error")
    assert "data/missing.csv does not exist" in form.preview.status and not form.preview.table.columns
    doc.undo()
    pump(3)
    assert form.fields["path"].text == "data/orders.csv"
    wait_until(lambda: form.preview.table.columns and not form.preview.busy, 30, "the preview again")

    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(["text"])
    sheet = book.create_sheet("Q1")
    sheet.append(["Region", "Revenue"])
    for i in range(8):
        sheet.append([f"r{i}", i * 10])
    book.save(base / "data" / "book.xlsx")
    h.type_into(form.fields["path"], "data/book.xlsx")
    sheet_row = form.fields["options.sheet"]            # the Excel shape of the form
    sheet_row.open_menu()
    wait_until(lambda: sheet_row.options == [("Notes", "Notes"), ("Q1", "Q1")], 30, "the sheet list")
    menu_item = next(i for i in sheet_row._menu.items if i["text"] == "Q1")
    menu_item["on_release"]()
    pump(3)
    assert h.config("orders")["options"] == {"null_values": [""], "sheet": "Q1"}
    wait_until(lambda: form.preview.table.columns == [("Region", "TEXT"), ("Revenue", "INTEGER")], 30,
               "the Q1 preview")
    assert form.preview.table.cell_texts()[:2] == [["r0", "0"], ["r1", "10"]]
    h.shots("data_source_excel")

    h.tap(form.pick_button)                            # the file picker, driven by taps
    picker = next(w for w in Window.children if isinstance(w, PathPicker))
    pump(10)
    assert Path(picker.current) == base / "data"
    assert non_blank(screenshot("inspector_path_picker_light"))
    h.tap_in_window(picker.ids["up"])
    assert Path(picker.current) == base
    h.tap_in_window(_entry(picker, "data"))
    assert Path(picker.current) == base / "data" and "book.xlsx" in [d["name"] for d in picker.ids.list.data]
    h.tap_in_window(_entry(picker, "customers.json"))
    pump(10)
    assert picker not in Window.children and h.config("orders")["path"] == "data/customers.json"
    wait_until(lambda: ("id", "INTEGER") in form.preview.table.columns, 30, "the customers preview")

    h.tap(form.source.button_for("workspace"))
    assert h.config("orders") == {"source": "workspace", "table": ""}
    assert form.fields["table"].error == "Choose the table to read"
    assert "Choose the table" in form.preview.status

    db = base / "shop.sqlite"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE sales (id INTEGER, amount NUMERIC)")
        conn.executemany("INSERT INTO sales VALUES (?, ?)", [(i, i * 3) for i in range(1, 21)])
    h.app.bridge.call_blocking("connections.add", id="shop", type="sqlite", name="Shop", settings={"path": str(db)})
    h.tap(form.source.button_for("connection"))
    assert h.config("orders") == {"source": "connection", "connection": "", "table": ""}
    assert form.fields["connection"].error == "Choose the connection to read from"
    _pick_from_menu(form.fields["connection"], "Shop (sqlite)")
    assert h.config("orders")["connection"] == "shop"
    _pick_from_menu(form.fields["table"], "sales")
    assert h.config("orders") == {"source": "connection", "connection": "shop", "table": "sales"}
    wait_until(lambda: form.preview.table.columns == [("id", "INTEGER"), ("amount", "NUMERIC")], 30,
               "the connection preview")
    assert form.preview.table.cell_texts()[0] == ["1", "3"] and "read in place" in form.preview.note


def _entry(picker, name: str):
    return next(w for w in picker.ids.list.children[0].children if w.name == name)


def _pick_from_menu(row, label: str) -> None:
    """Open the drop-down (its options come from the engine), then pick the item labelled ``label``."""
    row.open_menu()
    wait_until(lambda: any(text == label for _, text in row.options), 30, f"the option {label}")
    if row._menu is None:
        row.open_menu()
    pump(5)
    item = next(i for i in row._menu.items if i["text"] == label)
    item["on_release"]()
    pump(3)


def test_transformer_try_join_branch_output(harness: Harness) -> None:
    h, doc = harness, harness.doc
    form = h.show("clean_orders")
    h.tap(form.try_button)
    wait_until(lambda: form.preview.table.columns and not form.preview.busy, 60, "the try without a run")
    assert form.preview.provenance.startswith("Input: computed from a ")
    assert "sample of Orders (CSV)" in form.preview.provenance

    run = h.app.bridge.call_blocking("runs.start", workflow_id=WF)
    assert h.app.bridge.call_blocking("runs.wait", run_id=run["run_id"], timeout=120)["status"] == "succeeded"
    steps = doc.stack.index
    sql = "SELECT Order_ID AS id, Quantity * 2 AS double_qty\nFROM {{ input }}\nWHERE Quantity IS NOT NULL"
    h.type_into(form.code, sql)
    assert h.config("clean_orders")["sql"] == sql and doc.stack.index == steps + 1
    h.tap(form.try_button)
    wait_until(lambda: form.preview.table.columns and not form.preview.busy, 60, "the try result")
    assert [name for name, _ in form.preview.table.columns] == ["id", "double_qty"]
    assert len(form.preview.table.rows) == 5 and "nothing was written to the workspace" in form.preview.note
    h.tap(form.mode.button_for("in_place"))
    assert h.config("clean_orders")["mode"] == "in_place"
    h.shots("transformer", scroll_y=0)
    h.type_into(form.code, "")
    assert form.code.error == "Write the SQL that makes this node's table" and "sql" not in h.config("clean_orders")
    doc.undo()
    doc.undo()
    pump(3)
    assert h.config("clean_orders")["mode"] == "new_table" and form.code.text == sql
    h.tap(form.language.button_for("python"))
    assert set(h.config("clean_orders")) == {"language", "code", "description"} and form.code.label.startswith("Python")
    h.tap(form.try_button)
    wait_until(lambda: form.preview.table.columns and not form.preview.busy, 90, "the Python try")
    assert form.preview.table.columns[0][0] == "Order_ID" and "rows from the sample" in form.preview.status
    doc.undo()
    pump(3)
    assert h.config("clean_orders")["sql"] == sql and form.mode in form.children

    join = h.show("orders_with_customers")
    assert "clean_orders — Clean orders" in join.inputs.text and "tag_customers — Tag customers" in join.inputs.text
    card = join.cards[0]
    h.tap(card.kind.button_for("left"))
    assert h.config("orders_with_customers")["joins"][0]["type"] == "left"
    pair = card.pairs.children[0]
    h.type_into(pair.right_column.field, "customer_key")
    assert h.config("orders_with_customers")["joins"][0]["on"] == [["customer_id", "customer_key"]]
    h.tap(card.ids.add_pair)
    assert h.config("orders_with_customers")["joins"][0]["on"] == [["customer_id", "customer_key"], ["", ""]]
    h.tap(card.pairs.children[0].remove)
    assert h.config("orders_with_customers")["joins"][0]["on"] == [["customer_id", "customer_key"]]
    h.tap(join.mode.button_for("sql"))
    assert set(h.config("orders_with_customers")) == {"sql"} and join.sql.text.startswith("SELECT *")
    h.tap(join.mode.button_for("columns"))
    assert h.config("orders_with_customers") == {"joins": [{"left": "clean_orders", "right": "tag_customers",
                                                             "type": "inner", "on": [["", ""]]}]}
    doc.undo()
    doc.undo()
    pump(3)
    card = join.cards[0]
    h.type_into(join.keep.field, "clean_orders.order_id\nnope.name")
    assert h.config("orders_with_customers")["columns"] == ["clean_orders.order_id", "nope.name"]
    assert "'nope' is not an input" in join.keep.field.error
    h.shots("join", scroll_y=0)

    branch = h.show("revenue_check")
    h.type_into(branch.condition, "")
    assert branch.condition.error == "Write the condition that picks the side"
    assert "When true, goes to: Report (CSV), Report (Parquet)" in branch.routes.text
    h.type_into(branch.condition, "count(*) > 3")
    assert h.config("revenue_check") == {"condition": "count(*) > 3"} and branch.condition.error == ""
    h.shots("branch")

    output = h.show("report_csv")
    h.tap(output.fields["if_exists"].button_for("fail"))
    assert h.config("report_csv")["if_exists"] == "fail"
    h.tap(output.fields["options.line_ending"].button_for("lf"))
    h.type_into(output.fields["options.null"], "NULL")
    assert h.config("report_csv")["options"] == {"line_ending": "lf", "null": "NULL"}
    h.shots("output_csv_options")
    h.type_into(output.fields["path"], "out/report.tsv")
    assert "out/report.tsv (CSV), stopping if it exists" in output.summary.text
    h.tap(output.destination.button_for("connection"))
    assert h.config("report_csv") == {"connection": "", "mode": "replace"}
    assert output.fields["connection"].error == "choose the connection to write to"
    h.shots("output_connection")

    h.type_into(h.panel.ids.title, "Revenue report")
    assert doc.workflow.node("report_csv").title == "Revenue report"
    doc.undo()
    pump(3)
    assert doc.workflow.node("report_csv").title == "Report (CSV)" and h.panel.ids.title.text == "Report (CSV)"

    code = h.show("revenue_by_country").code.ids.field    # an edit still in its field when the panel moves on …
    code.focus = True
    pump(1)
    code.text = "SELECT 1 AS one"
    pump(1)
    h.show("revenue_check")
    assert h.config("revenue_by_country")["sql"] == "SELECT 1 AS one"     # … lands on its own node
    assert h.config("revenue_check") == {"condition": "count(*) > 3"}

    h.show("low_revenue_alert")
    doc.push(RemoveNodeCommand(doc.workflow, "low_revenue_alert"))
    pump(3)
    assert h.panel.missing and h.panel.form is None
    doc.undo()
    pump(3)
    assert not h.panel.missing and h.panel.form.summary.text.startswith("Writes the table from")


def test_plugin_node_types_get_a_json_form(harness: Harness) -> None:
    h = harness
    wf = Workflow("plug", nodes=[Node("start", "start"), Node("thing", "echo_plugin", config={"a": 1})])
    doc = WorkflowDocument(wf, h.app.registry.node_types)
    h.panel.show(doc, "thing", h.app.bridge)
    pump(3)
    form = h.panel.form
    assert isinstance(form, JsonConfigForm) and "unknown type 'echo_plugin'" in h.panel.problems_text
    h.type_into(form.editor, "{bad")
    assert form.editor.error.startswith("not valid JSON") and wf.node("thing").config == {"a": 1}
    h.type_into(form.editor, '{"a": 2, "b": [1]}')
    assert wf.node("thing").config == {"a": 2, "b": [1]} and form.editor.error == ""
    doc.undo()
    pump(3)
    assert wf.node("thing").config == {"a": 1} and '"a": 1' in form.editor.text


def test_data_source_findings_one_tap_choices_and_column_type_pickers(harness: Harness) -> None:
    h, doc = harness, harness.doc
    base = Path(doc.workflow.settings["base_dir"])
    (base / "data" / "delays.csv").write_text("arr_delay,carrier\n12,UA\nNA,AA\n7,B6\n", encoding="utf-8")
    form = h.show("orders")
    h.type_into(form.fields["path"], "data/delays.csv")
    wait_until(lambda: form.preview.table.columns == [("arr_delay", "INTEGER"), ("carrier", "TEXT")], 30,
               "NA read as empty by default")
    assert form.choices.finding_rows == [] and set(form.choices.pickers) == {"arr_delay", "carrier"}

    h.tap(form.fields["options.default_nulls"])                   # NA is a value now: kept as text, reported
    assert h.config("orders")["options"]["default_nulls"] is False
    wait_until(lambda: form.choices.finding_rows, 30, "the finding")
    assert form.preview.table.columns[0] == ("arr_delay", "TEXT")
    [row] = form.choices.finding_rows
    assert row.message.startswith("column arr_delay: 1 of 3 values are not numbers ('NA' ×1) — kept as text")
    h.shots("data_source_findings", scroll_y=0)

    h.tap(row.null_button)                                       # one tap: read them as empty
    assert h.config("orders")["options"]["null_values"] == ["", "NA"]
    wait_until(lambda: form.preview.table.columns[:1] == [("arr_delay", "INTEGER")], 30, "NA as null")
    wait_until(lambda: not form.choices.finding_rows, 30, "no finding")
    doc.undo()
    wait_until(lambda: form.choices.finding_rows, 30, "the finding again")

    h.tap(form.choices.finding_rows[0].text_button)              # one tap: keep as text, chosen
    assert h.config("orders")["options"]["columns"] == {"arr_delay": "text"}
    wait_until(lambda: form.preview.table.columns[:1] == [("arr_delay", "TEXT")] and not form.choices.finding_rows
               and form.choices.pickers["arr_delay"].value == "text", 30, "a chosen text column")

    _pick_from_menu(form.choices.pickers["carrier"], "Text")
    _pick_from_menu(form.choices.pickers["arr_delay"], "Real")    # the picker replaces the earlier choice
    assert h.config("orders")["options"]["columns"] == {"arr_delay": "real", "carrier": "text"}
    wait_until(lambda: form.preview.table.columns[:1] == [("arr_delay", "REAL")] and form.choices.finding_rows,
               30, "a REAL column holding a text")
    assert "stored as text in a REAL column" in form.choices.finding_rows[0].message
    _pick_from_menu(form.choices.pickers["arr_delay"], "Automatic")
    assert h.config("orders")["options"]["columns"] == {"carrier": "text"}

    h.tap(form.fields["options.all_text"])
    assert h.config("orders")["options"]["all_text"] is True
    wait_until(lambda: form.preview.table.columns == [("arr_delay", "TEXT"), ("carrier", "TEXT")]
               and not form.choices.finding_rows, 30, "every column text")
    h.tap(form.fields["options.all_text"])
    assert "all_text" not in h.config("orders")["options"]

    (base / "data" / "named.csv").write_text("Order Date,total ($)\n2024-01-05,3\n", encoding="utf-8")
    h.type_into(form.fields["path"], "data/named.csv")
    wait_until(lambda: form.preview.table.columns == [("Order_Date", "TEXT"), ("total", "INTEGER")], 30,
               "sanitised names")
    h.tap(form.fields["options.original_names"])
    assert h.config("orders")["options"]["original_names"] is True
    wait_until(lambda: form.preview.table.columns == [("Order Date", "TEXT"), ("total ($)", "INTEGER")], 30,
               "the names as written")
