"""What the Editor screen draws on every frame (issue 15, item 6), in the real app.

On a software GL the frame time is set by how many pixels are painted: every layer as
large as the canvas costs about as much as an empty canvas, transparent or not, and Kivy
redraws every layer on every frame. So the canvas must be the only thing painted over its
area (the window's clear colour is its background), hidden parts must be out of the widget
tree, and the chrome is drawn from cached pictures. ``bench/canvas.py`` measures the
effect; these tests pin down the causes.
"""

from __future__ import annotations

import gc

from kivy.core.window import Window

from tests.app.kivyrun import settle, tap_widget, wait_until

AREA_KINDS = ("Rectangle", "RoundedRectangle", "SmoothRoundedRectangle", "BoxShadow")


def _big_instructions(instr, limit: float, found: list) -> None:
    kind = type(instr).__name__
    if kind in AREA_KINDS:
        w, h = instr.size
        if w * h >= limit:
            found.append(f"{kind} {int(w)}x{int(h)}")
    for child in getattr(instr, "children", None) or []:
        if type(child).__name__ != "Canvas":   # a child widget's canvas: visited with the widget
            _big_instructions(child, limit, found)


def layers_as_large_as(widget, limit: float, skip) -> list[str]:
    """Every area instruction of ``limit`` px² or more drawn by the widgets in the window
    (except ``skip`` and what it contains), named by widget class."""
    found: list[str] = []
    for w in widget.walk(restrict=True):
        if any(_inside(w, s) for s in skip):
            continue
        own: list = []
        for group in (w.canvas.before, w.canvas, w.canvas.after):
            if group is not None:
                _big_instructions(group, limit, own)
        found += [f"{type(w).__name__}: {f}" for f in own]
    return found


def _inside(widget, ancestor) -> bool:
    while widget is not None:
        if widget is ancestor:
            return True
        widget = widget.parent if widget.parent is not widget else None
    return False


def test_nothing_but_the_canvas_paints_the_canvas_area(editor) -> None:
    canvas = editor.ids.canvas
    settle()
    limit = canvas.width * canvas.height * 0.5
    big = []
    for root in Window.children:
        big += layers_as_large_as(root, limit, skip=[canvas])
    assert big == [], f"layers as large as half the canvas, redrawn on every frame: {big}"


def test_the_chrome_is_drawn_from_cached_pictures(editor, app) -> None:
    from app.widgets.cached_band import CachedBand

    for band in (editor.ids.toolbar, editor.ids.palette, app.root.ids.rail):
        assert isinstance(band, CachedBand)
        assert band._fbo.texture.size == (int(round(band.width)), int(round(band.height)))
    # the toolbar's picture shows the toolbar: its colour, not an empty (transparent) texture
    toolbar = editor.ids.toolbar
    pixels, (w, h) = toolbar._fbo.pixels, toolbar._fbo.size
    alphas = {pixels[(y * w + x) * 4 + 3] for x in (2, w // 2, w - 3) for y in (2, h // 2, h - 3)}
    assert alphas == {255}


def test_hidden_parts_are_out_of_the_widget_tree(editor) -> None:
    sheet, banner, canvas = editor.ids.inspector_sheet, editor.ids.reload_banner, editor.ids.canvas
    assert sheet.parent is None and banner.parent is None     # nothing open, file unchanged
    gc.collect()                       # parked parts are kept alive while out of the tree
    editor.ids.inspector.clear()
    editor.ids.reload_button.disabled = False
    canvas.select(["clean_orders"])
    wait_until(lambda: sheet.parent is not None, 10, "the node panel in the tree")
    assert sheet.get_root_window() is Window
    tap_widget(next(w for w in sheet.walk() if getattr(w, "icon", "") == "close"))
    wait_until(lambda: sheet.parent is None, 10, "the node panel out of the tree")
    editor.disk_changed = True
    assert banner.get_root_window() is Window
    editor.disk_changed = False
    assert banner.parent is None
