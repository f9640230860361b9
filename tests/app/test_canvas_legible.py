"""Canvas text a person can read and targets a finger can hit (issue 15, item 2).

Reads what the canvas really draws: the glyph quads in the attached text meshes, measured
in screen pixels at each zoom, and checks that every visible node has its title at least
~11 px tall (an em of 11 px: a capital or an ascender is ≥ 0.68 of it) and that record
counts on edges are as big. Fit must not zoom out past that size when scrolling would do.
Ports are hit 22 dp away from their centre (the edge of a 48 dp target).
"""

from __future__ import annotations

import pytest
from kivy.core.window import Window
from kivy.metrics import dp

from app.document import WorkflowDocument
from app.widgets.canvas import GraphCanvas
from app.widgets.canvas.canvas_view import FIT_MIN_PX
from app.widgets.canvas.geometry import NODE_H, NODE_W, View, node_rect
from app.widgets.canvas.scene import FAR_PX, TITLE_MIN_PX
from engine.model import fileformat
from engine.model.workflow import Edge, Node, Workflow
from tests.app.kivyrun import drag, non_blank, pump, running, screenshot, wait_until
from tests.app.test_canvas import EXAMPLE, CanvasApp

CAP = 0.68  # the inked height of a capital letter or ascender, per em (Roboto: ~0.71-0.75)


@pytest.fixture(scope="module")
def app():
    application = CanvasApp()
    with running(application):
        Window.clearcolor = application.graph.scene.palette.background
        application.graph.messages = []
        application.graph.bind(on_message=lambda _w, text: application.graph.messages.append(text))
        yield application


@pytest.fixture
def canvas(app) -> GraphCanvas:
    graph = app.graph
    doc = WorkflowDocument(fileformat.load(EXAMPLE), app.registry.node_types)
    graph.attach(doc)
    graph.fit_to_view()
    pump(3)
    graph.messages.clear()
    return graph


def glyph_quads(canvas: GraphCanvas) -> list[tuple[float, float, float]]:
    """(world x, world y, height in screen px) of every glyph quad attached in the text layer
    (quads whose texture coordinates are not the atlas's white block)."""
    scene = canvas.scene
    white = scene.atlas.white_uv
    out = []
    for group in scene.layers["text"].children:
        for mesh in getattr(group, "children", []):
            verts = list(getattr(mesh, "vertices", []))
            for q in range(0, len(verts), 32):
                quad = verts[q:q + 32]
                if len(quad) < 32 or (abs(quad[2] - white[0]) < 1e-6 and abs(quad[3] - white[1]) < 1e-6):
                    continue
                ys = quad[1::8]
                xs = quad[0::8]
                out.append((sum(xs) / 4, sum(ys) / 4, (max(ys) - min(ys)) * scene.view.s))
    return out


def show(canvas: GraphCanvas, s: float, centre: tuple[float, float]) -> None:
    canvas.set_view(View(s, 0, 0).centered(centre, canvas.width, canvas.height))
    pump(1)
    wait_until(lambda: not canvas.scene.pending, 45, "the tiles for the view")
    pump(1)


@pytest.mark.parametrize("s", [FAR_PX, 0.24, 0.3, 0.38, 0.45, 0.55, 0.65, 0.75, 1.0, 2.0])
def test_every_visible_title_is_at_least_11_px_at_every_zoom_from_the_overview(canvas: GraphCanvas, s: float) -> None:
    wf = canvas.document.workflow
    target = wf.node("clean_orders").position
    show(canvas, s * dp(1), (target[0] + NODE_W / 2, target[1] + NODE_H / 2))
    seen = canvas.scene.visible_rect()
    visible = [n.id for n in wf if node_rect(n.position).inside(seen)]
    assert visible
    quads = glyph_quads(canvas)
    titled = set()
    for node_id in visible:
        rect = node_rect(wf.node(node_id).position)
        tall = [h for x, y, h in quads if rect.contains(x, y) and h >= CAP * TITLE_MIN_PX]
        if tall:
            titled.add(node_id)
    assert titled == set(visible), f"nodes without a readable title at {s}: {set(visible) - titled}"


def test_record_counts_stay_readable_zoomed_out(canvas: GraphCanvas) -> None:
    doc = canvas.document
    doc.load_run({"run_id": "r1", "status": "succeeded", "nodes": [
        {"node_id": "orders", "status": "succeeded", "records_out": 1200},
        {"node_id": "clean_orders", "status": "succeeded", "records_out": 1187}]})
    wf = doc.workflow
    a, b = wf.node("orders").position, wf.node("clean_orders").position
    middle = ((a[0] + b[0] + NODE_W) / 2, (a[1] + b[1] + NODE_H) / 2)
    for s in (0.25, 0.5):
        show(canvas, s * dp(1), middle)
        rects = [node_rect(n.position) for n in wf]
        outside = [h for x, y, h in glyph_quads(canvas) if not any(r.contains(x, y) for r in rects)]
        assert outside and max(outside) >= CAP * TITLE_MIN_PX, f"no readable record count at {s}"
    assert non_blank(screenshot("canvas_compact_titles_and_counts"))


def row_workflow(n: int = 30) -> Workflow:
    nodes = [Node(f"n{i}", "transformer", f"Step {i}", position=(i * 240.0, 0.0)) for i in range(n)]
    return Workflow("row", nodes=nodes, edges=[Edge(f"n{i}", f"n{i + 1}") for i in range(n - 1)])


def test_fit_stops_at_readable_titles_and_shows_the_start_of_a_long_graph(app, canvas: GraphCanvas) -> None:
    canvas.attach(WorkflowDocument(row_workflow(), app.registry.node_types))
    canvas.fit_to_view()
    pump(2)
    wait_until(lambda: not canvas.scene.pending, 45, "the tiles for the view")
    assert canvas.view.s == pytest.approx(FIT_MIN_PX)  # the graph would need 0.17: it scrolls instead
    quads = glyph_quads(canvas)
    assert quads and max(h for _x, _y, h in quads) >= CAP * TITLE_MIN_PX
    first = canvas.world_to_widget((0.0, 0.0))
    assert canvas.x <= first[0] <= canvas.x + dp(60)  # the graph's start, at the left margin
    assert canvas.scene.nodes.query(canvas.scene.visible_rect())
    screenshot("canvas_fit_long_graph")  # one row of nodes on a grid: too few colours for non_blank()
    canvas.fit_to_view(whole=True)  # the overview of everything is still one call away
    assert canvas.view.s < FAR_PX


def test_a_port_answers_at_the_edge_of_its_48_dp_target(canvas: GraphCanvas) -> None:
    doc = canvas.document
    wf = doc.workflow
    canvas.set_view(View(dp(1.0), 0, 0).centered(wf.node("customers").position, canvas.width, canvas.height))
    pump(2)
    port = canvas.world_to_widget(canvas.scene.port_position("customers", "out"))
    start = (port[0] + dp(16), port[1] - dp(16))  # 22.6 dp off the port's centre, diagonally
    before = len(wf.edges)
    target = canvas.world_to_widget((wf.node("orders_with_customers").position[0] + NODE_W / 2,
                                     wf.node("orders_with_customers").position[1] + NODE_H / 2))
    drag(start, target, steps=10)
    assert len(wf.edges) == before + 1 and Edge("customers", "orders_with_customers") in wf.edges, canvas.messages
