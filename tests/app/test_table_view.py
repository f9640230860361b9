"""The output table viewer against a real engine: a 250-row workspace table paged 100 at a
time with the Previous/Next buttons, column names and types in the header, NULLs shown as
such; an unknown table is a clear error; a connection's table pages the same way."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from app.main import build_app_class
from app.widgets.table_view import open_output_viewer, range_text
from engine import workspace
from engine.paths import default_paths
from tests.app.kivyrun import non_blank, pump, running, screenshot, tap_widget, wait_until


@pytest.fixture
def numbers_table(monkeypatch: pytest.MonkeyPatch, dagflux_home: Path) -> str:
    monkeypatch.setenv("DAGFLUX_WEBHOOK_PORT", "0")
    paths = default_paths()
    paths.root.mkdir(parents=True, exist_ok=True)
    conn = workspace.connect(paths.workspace)
    try:
        conn.execute("CREATE TABLE demo__numbers (n INTEGER, word TEXT, half REAL, note TEXT)")
        conn.executemany("INSERT INTO demo__numbers VALUES (?, ?, ?, ?)",
                         [(i, f"word {i}", i / 2, None if i % 10 == 0 else "x" * (i % 7)) for i in range(1, 251)])
        names = ", ".join(f"column_number_{c} TEXT" for c in range(14))
        conn.execute(f"CREATE TABLE demo__wide ({names})")
        conn.executemany(f"INSERT INTO demo__wide VALUES ({', '.join('?' * 14)})",
                         [[f"value {r}-{c} " * 2 for c in range(14)] for r in range(30)])
    finally:
        conn.close()
    return "demo__numbers"


def _page_loaded(view, first: int) -> bool:
    return not view.loading and view.visible_rows() and view.visible_rows()[0][0] == str(first)


def test_paging_a_workspace_table(numbers_table: str, tmp_path: Path) -> None:
    app = build_app_class()()
    with running(app):
        try:
            wait_until(lambda: app.engine_ok, 60, "the engine link")
            viewer = open_output_viewer(app.bridge, "Numbers", numbers_table)
            view = viewer.ids.view
            wait_until(lambda: view.total == 250 and not view.loading, 30, "the first page")
            pump(3)
            assert [(c.name, c.kind) for c in reversed(view.ids.header.children)] == [
                ("n", "INTEGER"), ("word", "TEXT"), ("half", "REAL"), ("note", "TEXT")]
            rows = view.visible_rows()
            assert len(rows) == 100 and rows[0] == ["1", "word 1", "0.5", "x"] and rows[9][3] == "NULL"
            assert view.ids.status.text == "rows 1–100 of 250"
            assert view.ids.previous.disabled and not view.ids.next.disabled
            shot = screenshot("table_view_light")
            assert non_blank(shot)

            tap_widget(view.ids.next)
            wait_until(lambda: _page_loaded(view, 101), 30, "page 2")
            assert view.ids.status.text == "rows 101–200 of 250"
            tap_widget(view.ids.next)
            wait_until(lambda: _page_loaded(view, 201), 30, "page 3")
            assert len(view.visible_rows()) == 50 and view.visible_rows()[-1][0] == "250"
            assert view.ids.status.text == "rows 201–250 of 250"
            pump(2)
            assert view.ids.next.disabled and not view.ids.previous.disabled
            tap_widget(view.ids.next)                       # disabled: nothing happens
            pump(5)
            assert view.offset == 200
            tap_widget(view.ids.previous)
            wait_until(lambda: _page_loaded(view, 101), 30, "back to page 2")

            app.apply_theme("dark")
            pump(5)
            screenshot("table_view_dark")
            app.apply_theme("light")
            viewer.dismiss()

            wide_viewer = open_output_viewer(app.bridge, "Wide", "demo__wide")
            wide = wide_viewer.ids.view
            wait_until(lambda: wide.total == 30 and not wide.loading, 30, "the wide table")
            pump(5)
            first_header = list(reversed(wide.ids.header.children))[0]
            before = first_header.to_window(*first_header.pos)[0]
            assert wide.content_width > wide.ids.rv.width          # it scrolls sideways …
            wide.ids.rv.scroll_x = 1
            pump(5)
            assert wide.ids.header_scroll.scroll_x == 1             # … and the header follows the rows
            assert first_header.to_window(*first_header.pos)[0] < before - (wide.content_width - wide.ids.rv.width) + 5
            screenshot("table_view_wide_scrolled")
            wide_viewer.dismiss()

            missing = open_output_viewer(app.bridge, "Gone", "demo__gone").ids.view
            wait_until(lambda: missing.error, 30, "the error")
            assert missing.error == "the workspace has no table 'demo__gone'"
            assert missing.ids.status.text == missing.error and missing.visible_rows() == []
        finally:
            app.bridge.call_blocking("shutdown", timeout=15)


def test_a_connection_table_pages_the_same_way(numbers_table: str, tmp_path: Path) -> None:
    db = tmp_path / "shop.sqlite"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE sales (id INTEGER, amount NUMERIC)")
        conn.executemany("INSERT INTO sales VALUES (?, ?)", [(i, i * 3) for i in range(1, 131)])
    app = build_app_class()()
    with running(app):
        try:
            wait_until(lambda: app.engine_ok, 60, "the engine link")
            app.bridge.call_blocking("connections.add", id="shop", type="sqlite", name="Shop",
                                     settings={"path": str(db)})
            viewer = open_output_viewer(app.bridge, "Sales", "sales", connection="shop", connection_name="Shop")
            view = viewer.ids.view
            assert viewer.title == "Sales · Shop"                  # where the table lives, in the title
            assert viewer.subtitle == "table 'sales' in connection 'Shop'"
            wait_until(lambda: view.total == 130 and not view.loading, 30, "the first page")
            assert view.columns == [("id", "INTEGER"), ("amount", "NUMERIC")]
            view.next_page()
            wait_until(lambda: _page_loaded(view, 101), 30, "page 2")
            assert view.visible_rows()[-1] == ["130", "390"]
            assert view.ids.status.text == range_text(100, 30, 130) == "rows 101–130 of 130"
            viewer.dismiss()
        finally:
            app.bridge.call_blocking("shutdown", timeout=15)
