"""The output table viewer sorts by a tapped column header (the whole table, in the engine),
right-aligns numbers, names computed columns' types and filters rows by text (issue 15,
item 5), against a real engine and workspace."""

from __future__ import annotations

from app.main import build_app_class
from app.widgets.table_view import TableCell, open_output_viewer
from engine import workspace
from engine.paths import default_paths
from tests.app.kivyrun import non_blank, pump, running, screenshot, settle, tap_widget, wait_until
from tests.app.test_table_view import numbers_table  # noqa: F401  (the fixture)


def header(view, name: str):
    return next(c for c in view.ids.header.children if c.name == name)


def first_column(view) -> list[str]:
    return [row[0] for row in view.visible_rows()]


def test_sort_by_a_header_tap_right_aligned_numbers_computed_types_and_a_text_filter(numbers_table) -> None:  # noqa: F811
    conn = workspace.connect(default_paths().workspace)
    try:
        conn.execute("CREATE TABLE demo__calc AS SELECT n, n * 2 AS doubled, word FROM demo__numbers")
    finally:
        conn.close()
    app = build_app_class()()
    with running(app):
        try:
            wait_until(lambda: app.engine_ok, 60, "the engine link")
            viewer = open_output_viewer(app.bridge, "Numbers", "demo__calc")
            view = viewer.ids.view
            wait_until(lambda: view.total == 250 and not view.loading, 30, "the first page")
            settle()
            assert view.columns == [("n", "INT"), ("doubled", "INTEGER (computed)"), ("word", "TEXT")]
            cells = [w for w in view.ids.rv.walk() if isinstance(w, TableCell)]
            by_column = {w.text: w.halign for w in cells[:3]}
            assert by_column == {"1": "right", "2": "right", "word 1": "left"}
            tap_widget(header(view, "doubled"), held=0)
            wait_until(lambda: not view.loading and view.order_by == "doubled", 30, "sorted ascending")
            tap_widget(header(view, "doubled"), held=0)
            wait_until(lambda: not view.loading and view.descending and first_column(view)[0] == "250", 30,
                       "sorted descending over the whole table")
            assert header(view, "doubled").sort == "desc"
            view.ids.filter.text = "word 12"
            wait_until(lambda: not view.loading and view.total == 11, 30, "the filtered rows")
            assert sorted(int(n) for n in first_column(view)) == [12] + list(range(120, 130))
            assert first_column(view)[0] == "129"     # still sorted, descending
            settle()
            assert non_blank(screenshot("table_view_sorted_filtered"))
            view.ids.filter.text = ""
            wait_until(lambda: not view.loading and view.total == 250, 30, "all rows again")
            viewer.dismiss()
            pump(2)
        finally:
            app.bridge.call_blocking("shutdown", timeout=15)
