""""Try on sample", column suggestions and Join's column pickers on a brand-new workflow
that never ran, in the Editor screen of the real app with its real engine: the engine
computes the inputs on a sample (1,000 rows of the CSV), the panel shows the sample table
and how the input was obtained, a tap on a column chip puts the name at the cursor, Tab
completes a begun name, and Join's pickers list each input's columns.
Screenshots go to test-artifacts/ (light and dark, 1280×800 and 800×600)."""

from __future__ import annotations

from pathlib import Path

from kivy.core.window import Window

from engine.model import fileformat
from engine.model.workflow import Edge, Node, Workflow
from tests.app.kivyrun import pump, settle, tap_widget, themed_shots, wait_until

WF = "fresh_orders"


def _fresh_workflow(folder: Path) -> dict:
    folder.mkdir()
    with (folder / "orders.csv").open("w") as fh:
        fh.write("id,customer,total\n")
        fh.writelines(f"{i},{i % 3 + 1},{i * 2}\n" for i in range(1, 1501))
    (folder / "customers.csv").write_text("cid,name\n1,Ada\n2,Bob\n3,Cy\n")
    nodes = [Node("start", "start", "Start", (0, 200), {"trigger": {"kind": "manual"}}),
             Node("orders", "data_source", "Orders", (220, 100), {"source": "file", "path": "orders.csv"}),
             Node("customers", "data_source", "Customers", (220, 320), {"source": "file", "path": "customers.csv"}),
             Node("shape", "transformer", "Shape", (460, 60), {"language": "sql", "mode": "new_table",
                                                              "sql": "SELECT *\nFROM {{ input }}"}),
             Node("joined", "join", "Joined", (460, 280), {"joins": [{"left": "orders", "right": "customers",
                                                                      "type": "inner", "on": [["", ""]]}]})]
    edges = [Edge("start", "orders"), Edge("start", "customers"), Edge("orders", "shape"),
             Edge("orders", "joined"), Edge("customers", "joined")]
    wf = Workflow(WF, "Fresh orders", nodes=nodes, edges=edges, settings={"base_dir": str(folder)})
    return fileformat.to_dict(wf)


def _into_view(panel, widget) -> None:
    scroll = panel.ids.scroll
    settle()
    if scroll.children[0].height > scroll.height:
        scroll.scroll_to(widget, padding=40, animate=False)
    settle()


def test_try_chips_and_join_pickers_on_a_workflow_that_never_ran(app, tmp_path: Path) -> None:
    app.bridge.call_blocking("workflows.save", doc=_fresh_workflow(tmp_path / "fresh"))
    screen = app.open_workflow(WF)
    wait_until(lambda: screen.document is not None and screen.document.workflow.id == WF, 15, "the workflow")
    settle()
    panel = screen.ids.inspector

    # --- Try on sample: the input is computed from the CSV's first 1,000 rows -------------------
    screen.select_node("shape")
    settle()
    form = panel.form
    _into_view(panel, form.try_button)
    tap_widget(form.try_button, held=0)
    wait_until(lambda: form.preview.table.columns and not form.preview.busy or form.preview.ids.busy.failed, 90,
               "the try on a never-run workflow")
    assert not form.preview.ids.busy.failed, form.preview.status
    assert [name for name, _ in form.preview.table.columns] == ["id", "customer", "total"]
    assert form.preview.table.rows[:2] == [[1, 2, 2], [2, 3, 4]]
    # (the panel asked for the input's columns first: the try found that sample in the cache)
    assert form.preview.provenance.startswith("Input: computed from a 1,000-row sample of Orders (CSV)")
    assert form.preview.ids.provenance.text == form.preview.provenance and form.preview.ids.provenance.height > 0
    assert "1,000 rows from the sample" in form.preview.status
    _into_view(panel, form.preview)
    themed_shots(app, "try_before_run_transformer_{theme}")

    # --- column chips: a tap inserts at the cursor; Tab completes the word being typed ----------
    wait_until(lambda: form.chips.names == ["id", "customer", "total"], 60, "the column chips")
    assert "computed from a 1,000-row sample of Orders (CSV)" in form.chips.caption
    editor = form.code.ids.field
    _into_view(panel, form.code)
    editor.focus = True
    pump(1)
    editor.cursor = (len("SELECT "), 0)          # after "SELECT ", before the "*"
    editor.select_text(len("SELECT "), len("SELECT *"))
    editor.delete_selection()
    pump(2)
    chip = next(c for c in form.chips.ids.chips.children if c.text == "total")
    tap_widget(chip, held=0)
    wait_until(lambda: form.node.config["sql"] == "SELECT total\nFROM {{ input }}", 10, "the chip's name in the SQL")
    wait_until(lambda: editor.focus, 5, "the editor focused again")
    editor.cursor = (len("SELECT total"), 0)
    editor.insert_text(", cu")
    pump(2)
    assert [c.text for c in form.chips.ids.chips.children] == ["customer"]      # narrowed to the begun word
    Window.dispatch("on_key_down", 9, 43, None, [])       # Tab
    Window.dispatch("on_key_up", 9, 43)
    pump(2)
    assert editor.text == "SELECT total, customer\nFROM {{ input }}"
    editor.focus = False
    pump(3)
    assert form.node.config["sql"] == "SELECT total, customer\nFROM {{ input }}"
    themed_shots(app, "try_before_run_chips_{theme}")

    # --- Join: the column pairs are picked from each input's columns ---------------------------
    screen.select_node("joined")
    settle()
    join = panel.form
    card = join.cards[0]
    pair = card.pairs.children[0]
    wait_until(lambda: pair.left_column.options == ["id", "customer", "total"], 60, "the left input's columns")
    assert pair.right_column.options == ["cid", "name"]
    _into_view(panel, pair)
    tap_widget(pair.left_column.ids.pick, held=0)
    wait_until(lambda: pair.left_column._menu is not None and pair.left_column._menu.parent is not None, 10,
               "the column menu")
    pump(5)
    themed_shots(app, "try_before_run_join_picker_{theme}")
    item = next(i for i in pair.left_column._menu.items if i["text"] == "customer")
    item["on_release"]()
    pump(3)
    assert join.node.config["joins"][0]["on"] == [["customer", ""]]
    pair = join.cards[0].pairs.children[0]
    field = pair.right_column.field.ids.field           # a typed name is still accepted
    field.focus = True
    pump(1)
    field.text = "cid"
    pump(1)
    field.focus = False
    pump(3)
    assert join.node.config["joins"][0]["on"] == [["customer", "cid"]]
    # the columns to keep are added from a menu of every input's columns, as <input>.<column>
    keep = join.keep
    assert keep.options == ["orders.id", "orders.customer", "orders.total", "customers.cid", "customers.name"]
    for wanted in ("orders.total", "customers.name"):
        _into_view(panel, keep)
        tap_widget(keep.ids.pick, held=0)
        wait_until(lambda: keep._menu is not None and keep._menu.parent is not None, 10, "the keep menu")
        pump(3)
        item = next(i for i in keep._menu.items if i["text"] == wanted)
        item["on_release"]()
        pump(3)
    assert join.node.config["columns"] == ["orders.total", "customers.name"]
    assert "orders.total" not in join.keep.offered()          # a listed column is not offered again
    join.try_sample()
    wait_until(lambda: join.preview.table.columns and not join.preview.busy or join.preview.ids.busy.failed, 90,
               "the join's try")
    assert not join.preview.ids.busy.failed, join.preview.status
    assert [c[0] for c in join.preview.table.columns] == ["total", "name"]
    assert join.preview.provenance.startswith("Inputs: orders computed from a 1,000-row sample of Orders (CSV)")
    _into_view(panel, join.preview)
    themed_shots(app, "try_before_run_join_{theme}")

    # --- a small window: the same panel at 800×600 ----------------------------------------------
    old = Window.size
    Window.size = (800, 600)
    try:
        pump(5)
        settle()
        _into_view(panel, join.preview)
        themed_shots(app, "try_before_run_join_800x600_{theme}")
    finally:
        Window.size = old
        pump(3)
    # Join's SQL mode: both inputs' columns as chips.
    _into_view(panel, join.mode)
    tap_widget(join.mode.button_for("sql"), held=0)
    wait_until(lambda: "sql" in join.node.config and join.sql_chips is not None, 10, "the SQL mode")
    wait_until(lambda: join.sql_chips.names == ["id", "customer", "total", "cid", "name"], 30, "both inputs' columns")
    # Nothing real was made: the workflow still has no run.
    assert app.bridge.call_blocking("history.list", workflow_id=WF) == []
