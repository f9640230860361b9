"""Touch targets in the Editor are at least 48 dp (issue 15, item 2): each is tapped near its
edge (23 dp from its centre) and must still answer — toolbar buttons, palette entries and
the node panel's chips. Also: the Branch panel shows no glyph the UI font lacks."""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

from kivy.metrics import dp

from tests.app.kivyrun import REPO, non_blank, pump, screenshot, settle, tap, wait_until


def edge_tap(widget, dx: float = 0.0, dy: float = 0.0) -> None:
    settle()
    x, y = widget.to_window(*widget.center)
    tap(x + dx, y + dy)


def test_toolbar_buttons_and_palette_entries_answer_at_their_edges(editor) -> None:
    canvas = editor.ids.canvas
    for name in ("undo", "redo", "layout", "fit", "snap"):
        button = editor.ids[name]
        assert button.width >= dp(48) - 0.5 and button.height >= dp(48) - 0.5, name
    before = canvas.snap_to_grid
    edge_tap(editor.ids.snap, dy=dp(23))
    assert canvas.snap_to_grid is not before
    edge_tap(editor.ids.snap, dx=-dp(23))
    assert canvas.snap_to_grid is before
    items = [w for w in editor.ids.palette.children if getattr(w, "type_name", "")]
    assert items
    doc = editor.document
    count = len(doc.workflow)
    item = items[-1]  # the first entry (children are in reverse order)
    assert item.height >= dp(48) and item.width >= dp(48)
    x, y = item.to_window(item.x, item.y)
    tap(x + dp(6), y + dp(4))  # the entry's lower left corner, on its label's edge
    assert len(doc.workflow) == count + 1
    assert non_blank(screenshot("editor_targets"))


def test_the_node_panels_chips_answer_at_their_edges(app, editor) -> None:
    editor.select_node("start")
    wait_until(lambda: getattr(editor.ids.inspector.form, "kind_row", None) is not None, 15, "the Start panel")
    settle()
    form = editor.ids.inspector.form
    for button in form.kind_row.buttons():
        assert button.height >= dp(48) - 0.5, button.text
    schedule = form.kind_row.button_for("schedule")
    editor.ids.inspector.ids.scroll.scroll_y = 1
    pump(2)
    edge_tap(schedule, dy=dp(23))
    wait_until(lambda: form.kind_row.value == "schedule", 5, "the chip tapped at its top edge to answer")
    assert editor.document.workflow.node("start").config["trigger"]["kind"] != "manual"


def test_no_glyph_the_ui_font_lacks_in_the_apps_strings_or_the_branch_panel(editor) -> None:
    import kivymd

    from app.widgets.canvas.labels import rasterise

    font = str(Path(kivymd.__file__).parent / "fonts" / "Roboto-Regular.ttf")
    tofu = rasterise("\u0378", font, 32)  # an unassigned code point: the font's "missing" box

    def lacks(char: str) -> bool:
        bitmap = rasterise(char, font, 32)
        return (bitmap.w, bitmap.h, bitmap.data) == (tofu.w, tofu.h, tofu.data)

    assert lacks("\u2192")  # the probe works: Roboto has no arrow
    shown = set()
    for path in (REPO / "app").rglob("*.py"):
        tokens = list(tokenize.generate_tokens(io.StringIO(path.read_text()).readline))
        for i, token in enumerate(tokens):
            searched = i >= 2 and tokens[i - 2].string == "replace"  # a symbol being replaced, not shown
            if token.type == tokenize.STRING and not token.string.startswith(('"""', "'''")) and not searched:
                shown |= {c for c in token.string if ord(c) > 127}
    for path in (REPO / "app").rglob("*.kv"):
        shown |= {c for line in path.read_text().splitlines() if "text" in line for c in line if ord(c) > 127}
    missing = sorted(c for c in shown if lacks(c))
    assert not missing, f"the UI font cannot draw {missing}"
    editor.select_node("revenue_check")
    wait_until(lambda: getattr(editor.ids.inspector.form, "routes", None) is not None, 15, "the Branch panel")
    routes = editor.ids.inspector.form.routes.text
    assert "Report (CSV)" in routes and not [c for c in routes if lacks(c)]
