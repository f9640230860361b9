"""Building a graph quickly in the Editor (issue 15, item 4), with real fingers and keys on
the example workflow in the real app: tap-to-add after the selected node (connected, one
undo step), drag from the palette onto the canvas or onto an edge, a wire dropped on empty
canvas offering nodes, edges selected by a tap and deleted with Delete, Escape closing a
menu and cancelling a drag, and the palette's search once its entries do not fit."""

from __future__ import annotations

import pytest
from kivy.core.window import Window

from engine.model.workflow import Edge
from tests.app.kivyrun import drag, non_blank, pump, screenshot, settle, tap, touch, wait_until


@pytest.fixture
def editor(editor):
    """The shared example editor (tests/app/conftest.py), its canvas messages collected."""
    editor.ids.canvas.messages = []
    editor.ids.canvas.bind(on_message=lambda _w, text: editor.ids.canvas.messages.append(text))
    yield editor
    editor.ids.canvas.menu.dismiss()


def entry(editor, type_name: str):
    return next(w for w in editor.palette_items if w.type_name == type_name)


def in_window(canvas, world) -> tuple[float, float]:
    return canvas.to_window(*canvas.world_to_widget(world))


def key(code: int) -> None:
    Window.dispatch("on_key_down", code, 0, None, [])
    Window.dispatch("on_key_up", code, 0)
    pump(2)


def no_menu() -> bool:
    return not any(w.__class__.__name__ == "MDDropdownMenu" for w in Window.children)


def test_a_tapped_entry_lands_right_of_the_selected_node_connected_in_one_undo_step(editor) -> None:
    doc, canvas = editor.document, editor.ids.canvas
    canvas.select(["revenue_by_country"])
    settle()
    steps = doc.stack.index
    item = entry(editor, "transformer")
    tap(*item.to_window(*item.center))
    new = next(iter(canvas.selected))
    assert doc.workflow.node(new).type == "transformer"
    assert Edge("revenue_by_country", new) in doc.workflow.edges
    sx, sy = doc.workflow.node("revenue_by_country").position
    nx, ny = doc.workflow.node(new).position
    assert nx > sx + 176 and abs(ny - sy) < 1 or ny > sy  # to the right (below others already there)
    assert doc.stack.index == steps + 1
    doc.undo()
    assert not doc.workflow.has_node(new) and len(doc.workflow.edges) == 11
    canvas.select(["clean_orders"])                      # a Start takes no input: added alone, and why
    settle()
    tap(*entry(editor, "start").to_window(*entry(editor, "start").center))
    new = next(iter(canvas.selected))
    assert doc.workflow.node(new).type == "start" and not doc.workflow.inputs_of(new)
    assert canvas.messages and "without connecting" in canvas.messages[-1]


def test_dragging_an_entry_onto_the_canvas_or_onto_an_edge(editor) -> None:
    doc, canvas = editor.document, editor.ids.canvas
    item = entry(editor, "transformer")
    start = item.to_window(*item.center)
    spot = canvas.to_world((canvas.x + 120, canvas.y + 120))
    drag(start, in_window(canvas, spot), steps=10)
    added = next(iter(canvas.selected))
    assert doc.workflow.node(added).type == "transformer" and not doc.workflow.inputs_of(added)
    x, y = doc.workflow.node(added).position
    assert abs(x + 88 - spot[0]) <= 20 and abs(y + 36 - spot[1]) <= 20   # centred where it was dropped
    edge = Edge("clean_orders", "orders_with_customers")
    middle = canvas.scene.edge_points(edge, 16)[8]
    steps = doc.stack.index
    drag(start, in_window(canvas, middle), steps=10)
    inserted = next(iter(canvas.selected))
    assert edge not in doc.workflow.edges
    assert Edge("clean_orders", inserted) in doc.workflow.edges
    assert Edge(inserted, "orders_with_customers") in doc.workflow.edges
    assert doc.stack.index == steps + 1
    assert non_blank(screenshot("editor_inserted_into_edge"))
    doc.undo()
    assert edge in doc.workflow.edges and not doc.workflow.has_node(inserted)
    count = len(doc.workflow)
    t = touch(*start)                                    # Escape cancels a drag in progress
    t.touch_down()
    pump(1)
    t.touch_move(start[0] + 200, start[1])
    pump(1)
    t.touch_move(*in_window(canvas, spot))
    pump(1)
    assert editor.palette_drag is item
    key(27)
    assert editor.palette_drag is None and not any(type(w).__name__ == "Label" and w.text == item.text
                                                   for w in Window.children)
    t.touch_up()
    pump(2)
    assert len(doc.workflow) == count


def test_edges_are_selected_by_a_tap_and_deleted_with_delete(editor) -> None:
    doc, canvas = editor.document, editor.ids.canvas
    edge = Edge("orders", "clean_orders")
    middle = canvas.scene.edge_points(edge, 16)[8]
    canvas.show_world_point_at(middle, canvas.center, 2.0)   # close enough that the ports are out of reach
    settle()
    tap(*in_window(canvas, canvas.scene.edge_points(edge, 16)[8]))
    assert canvas.selected_edge == edge and canvas.scene.edge_look(edge).active
    key(127)
    assert edge not in doc.workflow.edges and canvas.selected_edge is None
    doc.undo()
    assert edge in doc.workflow.edges


def test_a_wire_dropped_on_empty_canvas_offers_nodes_and_escape_closes_the_menu(editor) -> None:
    doc, canvas = editor.document, editor.ids.canvas
    port = in_window(canvas, canvas.scene.port_position("revenue_by_country", "out"))
    empty = in_window(canvas, (1200.0, 500.0))
    drag(port, empty, steps=10)
    wait_until(lambda: canvas.menu.is_open, 5, "the menu of nodes to add")
    labels = [a.text for a in canvas.menu_actions]
    assert "Add Transformer here" in labels and "Add Start here" not in labels
    key(27)
    assert not canvas.menu.is_open
    wait_until(no_menu, 10, "the menu to close")
    drag(port, empty, steps=10)
    wait_until(lambda: canvas.menu.is_open, 5, "the menu again")
    action = next(a for a in canvas.menu_actions if a.text == "Add Output here")
    canvas.menu.choose(action)
    new = next(iter(canvas.selected))
    assert doc.workflow.node(new).type == "output" and Edge("revenue_by_country", new) in doc.workflow.edges
    wait_until(no_menu, 10, "the menu to close")


def test_the_palette_has_a_search_once_its_entries_do_not_fit(editor) -> None:
    old = Window.size
    try:
        assert not editor.palette_search_shown
        Window.size = (800, 480)  # six entries (76 dp each) no longer fit under the toolbar
        settle()
        wait_until(lambda: editor.palette_search_shown, 5, "the palette's search field")
        search = editor.ids.palette_search
        search.text = "joi"
        settle()
        shown = [w.type_name for w in editor.ids.palette.children if getattr(w, "type_name", "")]
        assert shown == ["join"]
        search.text = "file"                     # descriptions count: whatever reads or writes files
        settle()
        shown = {w.type_name for w in editor.ids.palette.children if getattr(w, "type_name", "")}
        assert shown and "join" not in shown
        assert non_blank(screenshot("editor_palette_search_800x480"))
        search.text = ""
        settle()
    finally:
        Window.size = old
        settle()


def test_a_slow_frame_does_not_turn_a_drag_into_a_long_press(editor) -> None:
    """The clock runs before a frame's input: after a frame longer than the long-press time,
    the long-press timer is due while the finger's move is still queued. The move wins; a
    finger that really stays down still gets the long press (its menu)."""
    import time

    doc, canvas = editor.document, editor.ids.canvas
    count = len(doc.workflow)
    port = in_window(canvas, canvas.scene.port_position("revenue_by_country", "out"))
    empty = in_window(canvas, (1200.0, 500.0))
    t = touch(*port)
    t.touch_down()
    time.sleep(0.6)               # one slow frame: the timer is due when the next one starts
    pump(1)                       # its clock runs; the move below is this frame's input
    t.touch_move((port[0] + empty[0]) / 2, (port[1] + empty[1]) / 2)
    pump(1)
    t.touch_move(*empty)
    pump(1)
    t.touch_up()
    pump(2)
    wait_until(lambda: canvas.menu.is_open, 5, "the menu of nodes to add (a wire was drawn)")
    wire_menu = [a.text for a in canvas.menu_actions]
    assert "Add Transformer here" in wire_menu and "Add Start here" not in wire_menu
    key(27)
    wait_until(no_menu, 10, "the menu to close")

    held = touch(*in_window(canvas, (1200.0, 500.0)))
    held.touch_down()
    time.sleep(0.6)
    pump(2)                       # nothing moved in either frame: a long press
    held.touch_up()
    pump(2)
    wait_until(lambda: canvas.menu.is_open, 5, "the canvas's long-press menu")
    assert {"Paste", "Select all", "Add Start here"} <= {a.text for a in canvas.menu_actions}   # the canvas's
    key(27)
    assert len(doc.workflow) == count
