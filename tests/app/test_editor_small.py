"""The Editor in small windows and held upright (issue 15, item 7), in the real app: at
800×600, 1024×768 and 768×1024 the node panel is a sheet under the canvas and the
selected node stays in view above it; the minimap can be switched off (remembered in the
app settings); Fit keeps the graph out from under the minimap. Screenshots in light and
dark are saved to ``test-artifacts/`` (``DAGFLUX_TEST_ARTIFACTS``)."""

from __future__ import annotations

import pytest
from kivy.core.window import Window

from app.settings_store import AppSettings
from tests.app.kivyrun import pump, settle, tap_widget, themed_shots, wait_until


@pytest.fixture
def sized():
    old = Window.size

    def resize(w: int, h: int) -> None:
        Window.size = (w, h)
        wait_until(lambda: tuple(Window.size) == (w, h), 10, f"the window at {w}x{h}")
        pump(3)
        settle()

    yield resize
    Window.size = old
    pump(3)


def window_rect(widget) -> tuple[float, float, float, float]:
    x, y = widget.to_window(*widget.pos)
    return x, y, x + widget.width, y + widget.height


def node_window_rect(canvas, node_id: str) -> tuple[float, float, float, float]:
    r = canvas.scene.nodes.rect_of(node_id)
    x0, y1 = canvas.to_window(*canvas.world_to_widget((r.x, r.y)))
    x1, y0 = canvas.to_window(*canvas.world_to_widget((r.right, r.bottom)))
    return x0, y0, x1, y1


def inside(inner, outer) -> bool:
    return inner[0] >= outer[0] - 1 and inner[1] >= outer[1] - 1 and inner[2] <= outer[2] + 1 \
        and inner[3] <= outer[3] + 1


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("size", [(800, 600), (1024, 768), (768, 1024)])
def test_in_a_small_or_upright_window_the_panel_is_a_sheet_and_the_node_stays_in_view(
        editor, app, sized, size) -> None:
    sized(*size)
    canvas, sheet = editor.ids.canvas, editor.ids.inspector_sheet
    editor.fit()
    settle()
    far = max(editor.document.workflow, key=lambda n: (n.position[0], n.position[1])).id   # bottom-right-most
    canvas.select([far])
    wait_until(lambda: sheet.parent is not None, 10, "the node panel")
    settle()
    assert editor.panel_below
    sheet_rect, canvas_rect = window_rect(sheet), window_rect(canvas)
    assert sheet_rect[3] <= canvas_rect[1] + 1             # the sheet is under the canvas, not over it
    assert sheet.width == pytest.approx(canvas.width, abs=1)
    assert inside(node_window_rect(canvas, far), canvas_rect), "the selected node is panned into view"
    toolbar = editor.ids.toolbar
    assert all(inside(window_rect(w), window_rect(toolbar)) for w in toolbar.children), "toolbar clipped"
    themed_shots(app, f"editor-small-{size[0]}x{size[1]}-{{theme}}")


def test_at_1280x800_the_panel_stays_beside_the_canvas(editor) -> None:
    canvas, sheet = editor.ids.canvas, editor.ids.inspector_sheet
    canvas.select(["clean_orders"])
    wait_until(lambda: sheet.parent is not None, 10, "the node panel")
    settle()
    assert not editor.panel_below
    assert window_rect(sheet)[0] >= window_rect(canvas)[2] - 1
    assert inside(node_window_rect(canvas, "clean_orders"), window_rect(canvas))


def test_the_minimap_can_be_switched_off_and_it_is_remembered(editor, app) -> None:
    minimap, toggle = editor.ids.minimap, editor.ids.minimap_toggle
    assert minimap.get_root_window() is Window
    tap_widget(toggle)
    assert minimap.parent is None and not editor.minimap_shown
    assert AppSettings(app.paths.root).get("minimap") is False       # written to the settings file
    editor._restore_minimap()                                          # what a new Editor does
    assert minimap.parent is None
    tap_widget(toggle)
    assert minimap.get_root_window() is Window
    assert AppSettings(app.paths.root).get("minimap") is True


def test_fit_keeps_the_graph_out_from_under_the_minimap(editor, sized) -> None:
    sized(800, 600)
    canvas, minimap = editor.ids.canvas, editor.ids.minimap
    editor.fit()
    settle()
    covered = window_rect(minimap)
    under = [n.id for n in editor.document.workflow if overlaps(node_window_rect(canvas, n.id), covered)]
    assert under == []
