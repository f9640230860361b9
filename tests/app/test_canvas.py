"""The graph canvas in a real window: simulated fingers, mouse and keys, asserting the model.

A small app holds only a GraphCanvas and its Minimap over the example workflow (the same
widgets the Editor screen embeds). Every gesture that edits checks ``doc.workflow`` and the
undo stack; gestures that only move the view check that the model did not change.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kivy.core.window import Window
from kivy.metrics import dp
from kivy.uix.floatlayout import FloatLayout
from kivymd.app import MDApp

from app.document import WorkflowDocument
from app.widgets.canvas import GraphCanvas, Minimap
from app.widgets.canvas.geometry import NODE_H, NODE_W, Rect, View, node_rect, snap
from engine.model import fileformat
from engine.model.commands import SetNodeFieldsCommand
from engine.model.workflow import Edge, Node, Workflow
from engine.plugins import load_registry
from tests.app.kivyrun import (
    REPO,
    drag,
    gesture,
    non_blank,
    pause,
    pump,
    running,
    screenshot,
    tap,
    touch,
    wait_until,
    wheel,
)

EXAMPLE = REPO / "examples" / "orders_report" / "orders_report.json"


class CanvasApp(MDApp):
    def build(self):
        self.registry = load_registry()
        root = FloatLayout()
        self.graph = GraphCanvas()
        self.minimap = Minimap(graph=self.graph, size_hint=(None, None), size=(dp(200), dp(132)),
                               pos=(Window.width - dp(212), dp(12)))
        root.add_widget(self.graph)
        root.add_widget(self.minimap)
        return root


@pytest.fixture(scope="module")
def app():
    application = CanvasApp()
    with running(application):
        Window.clearcolor = application.graph.scene.palette.background
        application.graph.messages = []
        application.graph.bind(on_message=lambda _w, text: application.graph.messages.append(text))
        yield application


def no_menu_left() -> bool:
    """A dismissed dropdown animates out before it leaves the window (and eats touches till then)."""
    return not any(w.__class__.__name__ == "MDDropdownMenu" for w in Window.children)


@pytest.fixture
def canvas(app) -> GraphCanvas:
    graph = app.graph
    graph.menu.dismiss()
    wait_until(no_menu_left, 45, "the context menu to close")
    Window._modifiers = []
    doc = WorkflowDocument(fileformat.load(EXAMPLE), app.registry.node_types)
    graph.attach(doc)
    graph.fit_to_view()
    pump(3)
    graph.messages.clear()
    yield graph
    graph.menu.dismiss()
    Window._modifiers = []
    pump(1)


def positions(doc: WorkflowDocument) -> dict[str, tuple[float, float]]:
    return {n.id: n.position for n in doc.workflow}


def centre_of(canvas: GraphCanvas, node_id: str) -> tuple[float, float]:
    x, y = canvas.document.workflow.node(node_id).position
    return canvas.world_to_widget((x + NODE_W / 2, y + NODE_H / 2))


def node_rect_of(doc: WorkflowDocument, node_id: str) -> Rect:
    return node_rect(doc.workflow.node(node_id).position)


def out_port(canvas: GraphCanvas, node_id: str) -> tuple[float, float]:
    return canvas.world_to_widget(canvas.scene.port_position(node_id, "out"))


# --- view gestures: the model never changes ----------------------------------------------------
def test_pinch_zooms_about_the_fingers_centre(canvas: GraphCanvas) -> None:
    doc, before = canvas.document, positions(canvas.document)
    canvas.set_view(View(dp(0.6), 100, 600))
    pump(2)
    centre = (640.0, 420.0)
    world = canvas.to_world(centre)
    gesture([((590, 420), (540, 420)), ((690, 420), (740, 420))])
    assert canvas.scale == pytest.approx(1.2, rel=0.02)
    assert canvas.world_to_widget(world) == pytest.approx(centre, abs=1.5)
    assert positions(doc) == before and doc.stack.index == 0


def test_two_fingers_moving_together_pan(canvas: GraphCanvas) -> None:
    canvas.set_view(View(dp(0.8), 100, 600))
    pump(2)
    scale, (ox, oy) = canvas.scale, canvas.offset
    gesture([((500, 300), (620, 250)), ((600, 300), (720, 250))])
    assert canvas.scale == pytest.approx(scale, rel=1e-3)
    assert (canvas.offset[0] - ox, canvas.offset[1] - oy) == pytest.approx((120, -50), abs=1.5)
    assert canvas.document.stack.index == 0


def test_wheel_zooms_at_the_cursor(canvas: GraphCanvas) -> None:
    at = (300.0, 500.0)
    world, scale = canvas.to_world(at), canvas.scale
    wheel(*at, "down")
    assert canvas.scale > scale
    assert canvas.world_to_widget(world) == pytest.approx(at, abs=1.0)
    wheel(*at, "up")
    wheel(*at, "up")
    assert canvas.scale < scale
    assert canvas.document.stack.index == 0


def test_dragging_empty_canvas_pans(canvas: GraphCanvas) -> None:
    ox, oy = canvas.offset
    drag((640, 700), (540, 760))
    assert (canvas.offset[0] - ox, canvas.offset[1] - oy) == pytest.approx((-100, 60), abs=1.5)
    assert canvas.document.stack.index == 0


def test_fit_to_view_shows_every_node(canvas: GraphCanvas) -> None:
    canvas.set_view(View(dp(2.0), -3000, 2000))
    canvas.fit_to_view()
    pump(2)
    for node in canvas.document.workflow:
        x0, y1 = canvas.world_to_widget(node.position)
        x1, y0 = canvas.world_to_widget((node.position[0] + NODE_W, node.position[1] + NODE_H))
        assert canvas.x <= x0 and x1 <= canvas.right and canvas.y <= y0 and y1 <= canvas.top, node.id
    assert canvas.handle_key(ord("f"), [])


# --- editing gestures ---------------------------------------------------------------------------
def test_dragging_a_node_is_one_move_command_and_undo_puts_it_back(canvas: GraphCanvas) -> None:
    doc = canvas.document
    start = doc.workflow.node("orders").position
    s = canvas.view.s
    a = centre_of(canvas, "orders")
    drag(a, (a[0] + 100, a[1] - 100), steps=10)
    expected = (snap(start[0] + 100 / s, 20), snap(start[1] + 100 / s, 20))
    assert doc.workflow.node("orders").position == pytest.approx(expected)
    assert doc.stack.index == 1 and doc.stack.undo_text == "Move node 'Orders (CSV)'"
    assert canvas.selection == {"orders"}
    canvas.handle_key(ord("z"), ["ctrl"])
    assert doc.workflow.node("orders").position == start
    canvas.handle_key(ord("z"), ["ctrl", "shift"])
    assert doc.workflow.node("orders").position == pytest.approx(expected)


def test_a_second_finger_turns_a_node_drag_into_a_pinch_and_drops_the_drag(canvas: GraphCanvas) -> None:
    doc = canvas.document
    start = doc.workflow.node("orders").position
    a = centre_of(canvas, "orders")
    first = touch(*a)
    first.touch_down()
    pump(1)
    for k in range(1, 5):
        first.touch_move(a[0] + 20 * k, a[1])
        pump(1)
    assert doc.workflow.node("orders").position != start
    second = touch(a[0] + 200, a[1] - 150)
    second.touch_down()
    pump(1)
    assert doc.workflow.node("orders").position == start and not doc.stack.can_undo
    scale = canvas.scale
    first.touch_move(a[0] + 40, a[1])
    second.touch_move(a[0] + 300, a[1] - 150)
    pump(1)
    first.touch_up()
    second.touch_up()
    pump(2)
    assert canvas.scale > scale
    assert doc.workflow.node("orders").position == start


def test_drawing_an_edge_from_a_port_connects_in_the_model(canvas: GraphCanvas) -> None:
    doc = canvas.document
    new = canvas.add_node("transformer", world_pos=(720.0, 440.0))
    pump(2)
    assert doc.workflow.has_node(new) and doc.workflow.node(new).position == (720.0, 440.0)
    drag(out_port(canvas, "clean_orders"), centre_of(canvas, new), steps=10)
    assert Edge("clean_orders", new) in doc.workflow.edges
    assert doc.stack.undo_text == f"Connect clean_orders -> {new}"
    assert canvas.messages == []


def test_an_invalid_drop_explains_why_and_adds_nothing(canvas: GraphCanvas) -> None:
    doc = canvas.document
    edges = list(doc.workflow.edges)
    drag(out_port(canvas, "tag_customers"), centre_of(canvas, "start"), steps=10)
    assert doc.workflow.edges == edges and doc.stack.index == 0
    assert len(canvas.messages) == 1 and "takes no input" in canvas.messages[0]
    drag(out_port(canvas, "revenue_by_country"), centre_of(canvas, "orders"), steps=10)
    assert doc.workflow.edges == edges
    assert "loop" in canvas.messages[-1]


def test_dragging_a_connected_input_away_removes_that_edge(canvas: GraphCanvas) -> None:
    doc = canvas.document
    port = canvas.world_to_widget((doc.workflow.node("report_csv").position[0],
                                   doc.workflow.node("report_csv").position[1] + NODE_H / 2))
    drag(port, (port[0] - 40, port[1] - 160), steps=10)
    assert not any(e.target == "report_csv" for e in doc.workflow.edges)
    canvas.handle_key(ord("z"), ["ctrl"])
    assert Edge("revenue_check", "report_csv", "true") in doc.workflow.edges


def test_tap_selects_and_a_second_tap_opens_the_node(canvas: GraphCanvas) -> None:
    opened = []
    canvas.bind(on_node_open=lambda _w, node_id: opened.append(node_id))
    tap(*centre_of(canvas, "customers"))
    assert canvas.selection == {"customers"} and opened == []
    tap(*centre_of(canvas, "customers"))
    assert opened == ["customers"]
    tap(640, 740)
    assert canvas.selection == frozenset()


def test_long_press_then_drag_box_selects(canvas: GraphCanvas) -> None:
    doc = canvas.document
    a = canvas.world_to_widget((200.0, 20.0))
    b = canvas.world_to_widget((700.0, 380.0))
    t = touch(*a)
    t.touch_down()
    pause(0.7)
    for k in range(1, 9):
        t.touch_move(a[0] + (b[0] - a[0]) * k / 8, a[1] + (b[1] - a[1]) * k / 8)
        pump(1)
    t.touch_up()
    pump(2)
    assert canvas.selection == {"orders", "customers", "clean_orders", "tag_customers"}
    assert not canvas.menu.is_open and doc.stack.index == 0


def test_shift_drag_box_selects_with_a_mouse(canvas: GraphCanvas) -> None:
    Window._modifiers = ["shift"]
    a = canvas.world_to_widget((1150.0, 20.0))
    b = canvas.world_to_widget((1640.0, 420.0))
    drag(a, b, button="left")
    assert canvas.selection == {"revenue_check", "report_csv", "report_parquet", "low_revenue_alert"}


def menu_item(text: str):
    for root in Window.children:
        for widget in root.walk(restrict=True):
            if getattr(widget, "text", None) == text and widget.__class__.__name__.startswith("MDDropdown"):
                return widget
    raise AssertionError(f"no menu item {text!r}")


def test_long_press_on_a_node_opens_its_menu_and_delete_edits_the_model(canvas: GraphCanvas) -> None:
    doc = canvas.document
    t = touch(*centre_of(canvas, "tag_customers"))
    t.touch_down()
    pause(0.7)
    t.touch_up()
    pump(2)
    assert canvas.menu.is_open
    texts = [a.text for a in canvas.menu_actions]
    assert texts[:2] == ["Open settings", "Open output table"] and "Delete" in texts
    assert not next(a for a in canvas.menu_actions if a.text == "Open output table").enabled
    pause(0.4)  # the menu's opening animation
    item = menu_item("Delete")
    tap(*item.to_window(*item.center))
    pause(0.3)
    assert not doc.workflow.has_node("tag_customers")
    assert not any("tag_customers" in (e.source, e.target) for e in doc.workflow.edges)
    canvas.handle_key(ord("z"), ["ctrl"])
    assert doc.workflow.has_node("tag_customers") and len(doc.workflow.edges) == 11


def test_right_click_on_empty_canvas_offers_adding_a_node_there(canvas: GraphCanvas) -> None:
    doc = canvas.document
    at = canvas.world_to_widget((400.0, 600.0))
    t = touch(*at, button="right")
    t.touch_down()
    t.touch_up()
    pump(2)
    texts = [a.text for a in canvas.menu_actions]
    assert "Paste" in texts and "Fit to view" in texts and "Add Join here" in texts
    next(a for a in canvas.menu_actions if a.text == "Add Join here").run()
    added = [n for n in doc.workflow if n.type == "join" and n.id != "orders_with_customers"]
    assert len(added) == 1
    x, y = added[0].position
    assert (x + NODE_W / 2, y + NODE_H / 2) == pytest.approx((400, 600), abs=20)


def test_right_click_on_an_edge_removes_it(canvas: GraphCanvas) -> None:
    doc = canvas.document
    edge = Edge("orders", "clean_orders")
    middle = canvas.scene.edge_points(edge, 2)[1]
    t = touch(*canvas.world_to_widget(middle), button="right")
    t.touch_down()
    t.touch_up()
    pump(2)
    assert [a.text for a in canvas.menu_actions] == ["Remove connection"]
    canvas.menu_actions[0].run()
    assert edge not in doc.workflow.edges


# --- keyboard ----------------------------------------------------------------------------------
def test_keyboard_select_all_copy_paste_delete_undo_redo(canvas: GraphCanvas) -> None:
    doc = canvas.document
    tap(*centre_of(canvas, "orders"))
    assert canvas.handle_key(ord("c"), ["ctrl"])
    fragment = json.loads(canvas.copy_selection())
    assert [n["id"] for n in fragment["nodes"]] == ["orders"]
    assert canvas.handle_key(ord("v"), ["ctrl"])
    assert doc.workflow.has_node("orders_2") and canvas.selection == {"orders_2"}
    assert doc.workflow.node("orders_2").config == doc.workflow.node("orders").config
    assert canvas.handle_key(127, [])
    assert not doc.workflow.has_node("orders_2")
    assert canvas.handle_key(ord("a"), ["ctrl"])
    assert canvas.selection == {n.id for n in doc.workflow}
    canvas.handle_key(ord("z"), ["ctrl"])  # undo the delete
    assert doc.workflow.has_node("orders_2")
    canvas.handle_key(ord("z"), ["ctrl"])  # undo the paste
    assert not doc.workflow.has_node("orders_2") and len(doc.workflow) == 11
    canvas.handle_key(ord("z"), ["ctrl", "shift"])
    assert doc.workflow.has_node("orders_2")
    assert not canvas.handle_key(ord("q"), [])


def test_paste_between_workflows_and_a_bad_clipboard_is_explained(app, canvas: GraphCanvas) -> None:
    canvas.select(["clean_orders", "tag_customers", "orders_with_customers"])
    text = canvas.copy_selection()
    other = WorkflowDocument(Workflow("other", nodes=[Node("start", "start", "Start")]), app.registry.node_types)
    canvas.attach(other)
    pasted = canvas.paste(text)
    assert sorted(pasted) == ["clean_orders", "orders_with_customers", "tag_customers"]
    assert Edge("clean_orders", "orders_with_customers") in other.workflow.edges
    centre = canvas.view_center_world()
    xs = [other.workflow.node(n).position[0] + NODE_W / 2 for n in pasted]
    assert min(xs) < centre[0] < max(xs)
    assert canvas.paste("not json") == [] and "no nodes to paste" in canvas.messages[-1]


def test_arrow_keys_nudge_the_selection_in_one_undo_step(canvas: GraphCanvas) -> None:
    doc = canvas.document
    canvas.select(["orders"])
    start = doc.workflow.node("orders").position
    for _ in range(3):
        canvas.handle_key(275, [])
    canvas.handle_key(274, ["shift"])
    assert doc.workflow.node("orders").position == (start[0] + 60, start[1] + 200)
    assert doc.stack.index == 1
    canvas.handle_key(ord("z"), ["ctrl"])
    assert doc.workflow.node("orders").position == start


# --- layout, run state, problems, minimap --------------------------------------------------------
def test_auto_layout_is_one_undoable_command_that_keeps_pinned_nodes(canvas: GraphCanvas) -> None:
    doc = canvas.document
    doc.push(SetNodeFieldsCommand(doc.workflow, "customers", {"pinned": True}))
    scrambled = {n.id: ((i * 97) % 500 * 1.0, (i * 53) % 700 * 1.0) for i, n in enumerate(doc.workflow)}
    for node_id, pos in scrambled.items():
        doc.workflow.set_position(node_id, pos)  # a messy start (set up directly: not an edit under test)
    before = positions(doc)
    index = doc.stack.index
    assert canvas.auto_layout()
    assert doc.stack.index == index + 1
    after = positions(doc)
    assert after["customers"] == before["customers"]
    for edge in doc.workflow.edges:
        if edge.target != "customers" and edge.source != "customers":
            assert after[edge.target][0] > after[edge.source][0], edge
    doc.undo()
    assert positions(doc) == before


def test_run_states_record_counts_and_problems_are_drawn(app, canvas: GraphCanvas) -> None:
    doc = canvas.document
    doc.load_run({"run_id": "r1", "status": "failed", "nodes": [
        {"node_id": "start", "status": "succeeded", "records_out": None},
        {"node_id": "orders", "status": "succeeded", "records_out": 1200},
        {"node_id": "clean_orders", "status": "succeeded", "records_out": 1187, "output_table": "t_clean"},
        {"node_id": "customers", "status": "succeeded", "records_out": 90},
        {"node_id": "tag_customers", "status": "failed", "error": "no such column: segment"},
        {"node_id": "orders_with_customers", "status": "not_run"},
    ]})
    doc.push(SetNodeFieldsCommand(doc.workflow, "revenue_by_country", {"config": {}}))
    pause(0.5)  # problems are recomputed shortly after an edit
    pump(3)
    assert canvas.edge_label("clean_orders", "orders_with_customers") == "1187"
    assert canvas.edge_label("orders_with_customers", "revenue_by_country") is None
    assert "revenue_by_country" in canvas.problems
    assert canvas.tooltip.text_for("tag_customers") == "Failed: no such column: segment"
    Window.mouse_pos = centre_of(canvas, "tag_customers")  # a mouse resting on the failed node
    pause(0.7)
    assert canvas.tooltip.label is not None and "no such column: segment" in canvas.tooltip.label.text
    assert non_blank(screenshot("canvas_failed_node_tooltip"))
    Window.mouse_pos = (5, 5)
    assert canvas.tooltip.label is None
    looks = canvas.scene.node_look("tag_customers")
    assert looks.status == "failed" and looks.error == "no such column: segment"
    canvas.select(["clean_orders"])
    canvas.set_view(View(dp(1.0), 40, 600))
    pump(3)
    assert non_blank(screenshot("canvas_run_states_light"))
    app.theme_cls.theme_style = "Dark"
    pause(0.3)
    assert canvas.scene.palette.dark
    assert non_blank(screenshot("canvas_run_states_dark"))
    app.theme_cls.theme_style = "Light"
    pause(0.3)


def test_a_database_badge_says_which_connection_holds_a_nodes_table(app, canvas: GraphCanvas) -> None:
    doc = canvas.document
    doc.load_run({"run_id": "r2", "status": "succeeded", "nodes": [
        {"node_id": "orders", "status": "succeeded", "records_out": 1200, "output_table": "orders",
         "output_connection": "shop_db"},
        {"node_id": "clean_orders", "status": "succeeded", "records_out": 1187, "output_table": "t_clean",
         "output_connection": "shop_db"},
        {"node_id": "customers", "status": "succeeded", "records_out": 90, "output_table": "t_customers"},
    ]})
    pump(2)
    assert canvas.scene.node_look("orders").location == "shop_db"      # no names known yet: the id
    doc.set_connection_names([{"id": "shop_db", "name": "Shop (PostgreSQL)"}])
    pump(3)
    assert canvas.scene.node_look("clean_orders").location == "Shop (PostgreSQL)"
    assert canvas.scene.node_look("customers").location is None        # a workspace table: no badge
    assert canvas.scene.node_look("tag_customers").location is None     # no table
    canvas.set_view(View(dp(1.1), 40, 560))
    pump(3)
    assert non_blank(screenshot("canvas_database_badges"))


def test_minimap_tap_moves_the_view_there(app, canvas: GraphCanvas) -> None:
    minimap = app.minimap
    pump(12)
    target = canvas.document.workflow.node("low_revenue_alert").position
    mx, my = minimap.world_to_map(*target)
    tap(minimap.x + mx, minimap.y + my)
    assert canvas.view_center_world() == pytest.approx(target, abs=2)
    assert canvas.document.stack.index == 0


# --- a big graph: culling and incremental rebuilds ----------------------------------------------
def big_workflow(columns: int = 40, rows: int = 50) -> Workflow:
    kinds = ("transformer", "data_source", "join", "transformer", "output")
    nodes = [Node(f"n{c}_{r}", kinds[(c + r) % len(kinds)], position=(c * 240.0, r * 120.0))
             for c in range(columns) for r in range(rows)]
    edges = [Edge(f"n{c}_{r}", f"n{c + 1}_{r}") for c in range(columns - 1) for r in range(rows)]
    return Workflow("big", nodes=nodes, edges=edges)


def test_two_thousand_nodes_cull_and_rebuild_only_what_changed(app, canvas: GraphCanvas) -> None:
    doc = WorkflowDocument(big_workflow(), app.registry.node_types)
    canvas.attach(doc)
    canvas.fit_to_view(whole=True)
    scene = canvas.scene
    wait_until(lambda: not scene.pending and scene.stats()["shapes"], 45, "the whole graph drawn")
    assert scene.lod == "far" and scene.stats()["shapes"] >= 1
    assert non_blank(screenshot("canvas_2000_overview"))
    canvas.set_view(View(dp(1.0), 0, 0).centered((4800, 3000), canvas.width, canvas.height))
    pump(1)
    wait_until(lambda: not scene.pending, 45, "the tiles around the view")
    assert scene.lod == "text"
    attached = scene.stats()["shapes"]
    tiles = len(scene.grids["detail"].tiles)
    assert 0 < attached < tiles / 5  # only the tiles around the view are drawn
    assert non_blank(screenshot("canvas_2000_zoomed"))
    built = scene.builds
    a = centre_of(canvas, "n20_25")
    drag(a, (a[0] + 60, a[1]), steps=4)
    assert doc.workflow.node("n20_25").position != (20 * 240.0, 25 * 120.0)
    assert scene.builds - built <= 3 * 4 * 3  # a few tiles per frame, never the whole graph
    canvas.pan_by(400, 0)
    pump(1)
    wait_until(lambda: not scene.pending, 45, "the tiles around the view")
    assert scene.stats()["shapes"] < tiles / 5


def test_detach_stops_listening(app, canvas: GraphCanvas) -> None:
    doc = canvas.document
    canvas.detach()
    doc.workflow.set_position("orders", (5.0, 5.0))
    pump(2)
    assert canvas.document is None and len(canvas.scene.nodes) == 0
    assert canvas.handle_key(ord("a"), ["ctrl"]) is False


def test_screenshot_of_the_example(canvas: GraphCanvas) -> None:
    path: Path = screenshot("canvas_example_light")
    assert non_blank(path)


def test_new_nodes_land_in_the_middle_on_a_free_spot_and_center_on_moves_the_view(canvas: GraphCanvas) -> None:
    doc = canvas.document
    first = canvas.add_node("transformer")
    second = canvas.add_node("transformer")
    assert (first, second) == ("transformer", "transformer_2") and canvas.selection == {second}
    a, b = (node_rect_of(doc, n) for n in (first, second))
    assert not a.intersects(b)
    assert a.inflate(NODE_W).contains(*canvas.view_center_world())
    assert doc.stack.index == 2
    canvas.center_on("low_revenue_alert")
    x, y = doc.workflow.node("low_revenue_alert").position
    assert canvas.view_center_world() == pytest.approx((x + NODE_W / 2, y + NODE_H / 2), abs=1)


def test_zoom_and_escape_keys(canvas: GraphCanvas) -> None:
    scale = canvas.scale
    assert canvas.handle_key(ord("="), [])
    assert canvas.scale == pytest.approx(scale * 1.25)
    assert canvas.handle_key(ord("-"), [])
    assert canvas.scale == pytest.approx(scale)
    canvas.select(["orders"])
    assert canvas.handle_key(27, [])
    assert canvas.selection == frozenset()
    assert not canvas.handle_key(27, [])


def test_the_glyph_atlas_grows_and_fits_text_with_an_ellipsis() -> None:
    from app.widgets.canvas.labels import ELLIPSIS, GlyphAtlas

    atlas = GlyphAtlas(size=64)
    generation = atlas.generation
    for char in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        glyph = atlas.glyph(char)
        assert glyph.w > 0 and glyph.h > 0
    assert atlas.generation > generation and atlas.size > 64
    for char in "AZ":
        g = atlas.glyph(char)
        assert 0 <= g.u0 < g.u1 <= 1 and 0 <= g.v_top < g.v_bottom <= 1
    long = "A fairly long node title that does not fit"
    fitted = atlas.fit(long, 15, 120)
    assert fitted.endswith(ELLIPSIS) and atlas.measure(fitted, 15) <= 120
    assert atlas.fit("Short", 15, 120) == "Short"
