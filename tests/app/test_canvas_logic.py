"""The canvas's pure parts: edge rules, auto-layout, geometry and the spatial index (no window)."""

from __future__ import annotations

import random

import pytest

from app.widgets.canvas.autolayout import layered_layout
from app.widgets.canvas.geometry import (
    NODE_H,
    NODE_W,
    Rect,
    SpatialIndex,
    View,
    distance_to_polyline,
    edge_controls,
    fit_view,
    input_port,
    node_rect,
    output_ports,
    sample_cubic,
    snap,
)
from engine.model.edge_rules import EdgeRules, refusal
from engine.model.workflow import Edge, Node, Workflow
from engine.plugins import load_registry


@pytest.fixture(scope="module")
def types():
    return load_registry().node_types


def wf(*nodes: tuple[str, str], edges: tuple[tuple, ...] = ()) -> Workflow:
    return Workflow("w", nodes=[Node(i, t, position=(k * 240.0, 0.0)) for k, (i, t) in enumerate(nodes)],
                    edges=[Edge(*e) for e in edges])


# --- edge rules ------------------------------------------------------------------------------
def test_a_valid_edge_has_no_refusal(types) -> None:
    w = wf(("start", "start"), ("src", "data_source"), ("t", "transformer"))
    assert refusal(w, types, "start", "src") is None
    assert refusal(w, types, "src", "t") is None


@pytest.mark.parametrize(("source", "target", "port", "words"), [
    ("t", "t", "out", "itself"),
    ("src", "start", "out", "takes no input"),
    ("out", "t", "out", "ends the workflow"),
    ("b", "t", "maybe", "no output 'maybe'"),
    ("start", "src", "out", "already connected"),
    ("t", "src", "out", "loop"),
    ("src2", "t", "out", "already has an input"),
    ("t", "ghost", "out", "no node 'ghost'"),
])
def test_refusals_say_why_in_a_sentence(types, source, target, port, words) -> None:
    w = wf(("start", "start"), ("src", "data_source"), ("src2", "data_source"), ("t", "transformer"),
           ("b", "branch"), ("out", "output"), edges=(("start", "src"), ("src", "t")))
    reason = refusal(w, types, source, target, source_port=port)
    assert reason is not None and words in reason
    assert reason.endswith(".")


def test_a_join_takes_many_inputs_and_branch_ports_are_true_and_false(types) -> None:
    w = wf(("a", "data_source"), ("b", "data_source"), ("c", "data_source"), ("j", "join"), ("br", "branch"),
           ("o1", "output"), edges=(("a", "j"), ("b", "j"), ("j", "br")))
    assert refusal(w, types, "c", "j") is None
    assert refusal(w, types, "br", "o1", source_port="true") is None
    assert refusal(w, types, "br", "o1", source_port="false") is None
    assert "no output 'out'" in refusal(w, types, "br", "o1")


def test_cycle_check_follows_long_paths_and_rules_batch_many_targets(types) -> None:
    chain = [(f"n{i}", "transformer") for i in range(30)]
    w = wf(*chain, edges=tuple((f"n{i}", f"n{i + 1}") for i in range(29)))
    rules = EdgeRules(w, types, "n29")
    assert all("loop" in rules.refusal(f"n{i}") for i in range(29))
    assert EdgeRules(w, types, "n5").ancestors == {f"n{i}" for i in range(6)}


def test_unknown_node_types_are_not_refused_for_their_type(types) -> None:
    w = wf(("a", "mystery_plugin_type"), ("b", "mystery_plugin_type"))
    assert refusal(w, types, "a", "b") is None


# --- auto-layout -----------------------------------------------------------------------------
def dag(n: int, seed: int = 3) -> Workflow:
    rng = random.Random(seed)
    nodes = [Node(f"n{i}", "transformer", position=(rng.uniform(-900, 900), rng.uniform(-900, 900)))
             for i in range(n)]
    edges = {Edge(f"n{rng.randrange(i)}", f"n{i}") for i in range(1, n) for _ in range(rng.randint(1, 2))}
    return Workflow("d", nodes=nodes, edges=sorted(edges, key=str))


def test_layout_is_layered_left_to_right_without_overlaps() -> None:
    w = dag(60)
    positions = layered_layout(w)
    assert set(positions) == {n.id for n in w}
    for edge in w.edges:
        assert positions[edge.target][0] > positions[edge.source][0], edge
    rects = [node_rect(p) for p in positions.values()]
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not (a.x < b.right and b.x < a.right and a.y < b.bottom and b.y < a.bottom), (a, b)
    assert all(p[0] % 20 == 0 and p[1] % 20 == 0 for p in positions.values())


def test_layout_keeps_pinned_nodes_and_moves_others_off_them() -> None:
    w = dag(25)
    pinned = {"n3", "n10"}
    for node in w:
        if node.id in pinned:
            node.pinned = True
    free = layered_layout(w)
    assert pinned.isdisjoint(free)
    for node_id in pinned:
        pin = node_rect(w.node(node_id).position)
        for other, pos in free.items():
            assert not pin.intersects(node_rect(pos)), (node_id, other)


def test_layout_straightens_a_chain_and_survives_a_cycle() -> None:
    w = Workflow("c", nodes=[Node(f"n{i}", "transformer", position=(0, i * 30.0)) for i in range(4)],
                 edges=[Edge("n0", "n1"), Edge("n1", "n2"), Edge("n2", "n3"), Edge("n3", "n1")])
    positions = layered_layout(w)
    assert [positions[f"n{i}"][0] for i in range(4)] == sorted(positions[f"n{i}"][0] for i in range(4))
    assert len({positions[f"n{i}"][1] for i in range(4)}) == 1  # one straight row


def test_layout_of_a_big_graph_is_quick_enough_to_use() -> None:
    w = dag(2000)
    positions = layered_layout(w)
    assert len(positions) == 2000


# --- geometry --------------------------------------------------------------------------------
def test_ports_sit_on_the_node_edges() -> None:
    r = node_rect((100, 50))
    assert input_port(r) == (100, 50 + NODE_H / 2)
    (x, y), = output_ports(r, ("out",)).values()
    assert (x, y) == (100 + NODE_W, 50 + NODE_H / 2)
    branch = output_ports(r, ("true", "false"))
    assert list(branch) == ["true", "false"]
    assert branch["true"][1] < branch["false"][1] and all(50 < p[1] < 50 + NODE_H for p in branch.values())


def test_bezier_leaves_and_enters_horizontally_and_hits_near_the_curve() -> None:
    ctrl = edge_controls((0, 0), (300, 200))
    pts = sample_cubic(ctrl, 16)
    assert pts[0] == (0, 0) and pts[-1] == pytest.approx((300, 200))
    assert pts[1][0] > pts[0][0] and abs(pts[1][1]) < 5
    assert distance_to_polyline((150, 100), pts) < 5
    assert distance_to_polyline((0, 200), pts) > 60


def test_view_round_trips_and_zoom_keeps_the_anchor_still() -> None:
    v = View(0.5, 100, 700)
    assert v.to_world(*v.to_view(12, -40)) == pytest.approx((12, -40))
    z = v.zoomed(2.0, (300, 200))
    assert z.to_world(300, 200) == pytest.approx(v.to_world(300, 200))
    world = v.world_rect(800, 600)
    assert world.contains(*v.to_world(400, 300)) and world.w == 1600


def test_fit_view_shows_everything_inside_the_margin() -> None:
    bounds = Rect(-500, 200, 3000, 900)
    v = fit_view(bounds, 1280, 800, 48, 0.05, 1.0)
    x0, y0 = v.to_view(bounds.x, bounds.y)
    x1, y1 = v.to_view(bounds.right, bounds.bottom)
    assert 47 <= x0 and x1 <= 1233 and 0 <= y1 and y0 <= 800
    assert fit_view(Rect(0, 0, 10, 10), 1280, 800, 48, 0.05, 1.0).s == 1.0


def test_snap() -> None:
    assert snap(29, 20) == 20 and snap(31, 20) == 40 and snap(7, 0) == 7


# --- spatial index ---------------------------------------------------------------------------
def test_spatial_index_agrees_with_brute_force() -> None:
    rng = random.Random(5)
    index = SpatialIndex(200)
    rects = {}
    for i in range(500):
        r = Rect(rng.uniform(-5000, 5000), rng.uniform(-5000, 5000), NODE_W, NODE_H)
        rects[i] = r
        index.insert(i, r)
    for i in range(0, 500, 3):  # move a third, remove a few
        rects[i] = Rect(rects[i].x + 333, rects[i].y - 77, NODE_W, NODE_H)
        index.insert(i, rects[i])
    for i in range(1, 500, 50):
        del rects[i]
        index.remove(i)
    for _ in range(50):
        q = Rect(rng.uniform(-6000, 6000), rng.uniform(-6000, 6000), rng.uniform(1, 4000), rng.uniform(1, 4000))
        assert index.query(q) == {k for k, r in rects.items() if r.intersects(q)}
    k, r = next(iter(rects.items()))
    assert k in index.at(r.x + 5, r.y + 5)
    expected = Rect.bounding([(r.x, r.y) for r in rects.values()] + [(r.right, r.bottom) for r in rects.values()])
    got = index.bounds()
    assert (got.x, got.y, got.right, got.bottom) == pytest.approx((expected.x, expected.y, expected.right,
                                                                    expected.bottom))
    assert len(index) == len(rects)
