"""Layered auto-layout, left to right, that leaves pinned nodes where the user put them.

:func:`layered_layout` returns a position for every node that is not pinned:

1. edges that close a cycle (an invalid but editable graph may have one) are set aside;
2. each node's column is its longest path from a source, so every edge points right;
3. within a column nodes are ordered by the barycentre of their neighbours, sweeping
   down and up a few times to untangle crossings;
4. each node's row is the mean row of its predecessors, and a column's rows are then
   pushed apart by at least ``row_gap`` with the least total movement (isotonic
   regression), so chains stay straight and siblings fan out around their parent;
5. an unpinned node that would land on a pinned one moves below it.

The layout starts at the top-left of the nodes it moves, so the graph stays about where
it was; results are snapped to ``grid``. Pure Python: no Kivy.
"""

from __future__ import annotations

from collections.abc import Iterable

from app.widgets.canvas.geometry import NODE_H, NODE_W, Point, Rect, node_rect, snap
from engine.model.workflow import Workflow

COLUMN_GAP = 240.0
ROW_GAP = 120.0
OBSTACLE_MARGIN = 24.0


def layered_layout(workflow: Workflow, pinned: Iterable[str] | None = None, *, column_gap: float = COLUMN_GAP,
                   row_gap: float = ROW_GAP, grid: float = 20.0, sweeps: int = 4) -> dict[str, Point]:
    """New positions for the nodes that are not pinned (``Node.pinned`` or in ``pinned``)."""
    fixed = {n.id for n in workflow if n.pinned} | set(pinned or ())
    movable = [n for n in workflow if n.id not in fixed]
    if not movable:
        return {}
    ids = [n.id for n in workflow]
    preds, succs = _acyclic_adjacency(workflow, ids)
    layer = _longest_path_layers(ids, preds, succs)
    columns = _order_columns(ids, layer, preds, succs, sweeps)
    x0 = min(n.position[0] for n in movable)
    y0 = min(n.position[1] for n in movable)
    rows = _assign_rows(columns, preds, row_gap, {i: workflow.node(i).position[1] - y0 for i in fixed})
    out = {node_id: (snap(x0 + layer[node_id] * column_gap, grid), snap(y0 + rows[node_id], grid))
           for node_id in ids if node_id not in fixed}
    obstacles = [node_rect(workflow.node(i).position).inflate(OBSTACLE_MARGIN) for i in fixed]
    if obstacles:
        _avoid(columns, out, obstacles, row_gap, grid)
    return out


def _acyclic_adjacency(workflow: Workflow, ids: list[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Predecessors and successors without the edges that close a cycle (found by DFS)."""
    known = set(ids)
    succs: dict[str, list[str]] = {i: [] for i in ids}
    for edge in workflow.edges:
        if edge.source in known and edge.target in known and edge.source != edge.target:
            if edge.target not in succs[edge.source]:
                succs[edge.source].append(edge.target)
    state: dict[str, int] = {}  # 1 on the DFS stack, 2 finished
    back: set[tuple[str, str]] = set()
    for root in ids:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succs[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(succs[child])))
    succs = {s: [t for t in ts if (s, t) not in back] for s, ts in succs.items()}
    preds: dict[str, list[str]] = {i: [] for i in ids}
    for s, ts in succs.items():
        for t in ts:
            preds[t].append(s)
    return preds, succs


def _longest_path_layers(ids: list[str], preds: dict[str, list[str]],
                         succs: dict[str, list[str]]) -> dict[str, int]:
    waiting = {i: len(preds[i]) for i in ids}
    ready = [i for i in ids if waiting[i] == 0]
    layer = dict.fromkeys(ids, 0)
    while ready:
        node = ready.pop()
        for t in succs[node]:
            layer[t] = max(layer[t], layer[node] + 1)
            waiting[t] -= 1
            if waiting[t] == 0:
                ready.append(t)
    return layer


def _order_columns(ids: list[str], layer: dict[str, int], preds: dict[str, list[str]],
                   succs: dict[str, list[str]], sweeps: int) -> list[list[str]]:
    """Columns of node ids, each ordered top to bottom to keep edges from crossing."""
    columns: list[list[str]] = [[] for _ in range(max(layer.values()) + 1)]
    for node_id in _depth_first_order(ids, preds, succs):
        columns[layer[node_id]].append(node_id)
    rank = {node_id: i for column in columns for i, node_id in enumerate(column)}
    for _ in range(sweeps):
        for order in (range(1, len(columns)), range(len(columns) - 2, -1, -1)):
            neighbours = preds if order.step == 1 else succs
            for c in order:
                column = columns[c]
                column.sort(key=lambda n, nb=neighbours: _barycentre(n, nb, rank))
                for i, node_id in enumerate(column):
                    rank[node_id] = i
    return columns


def _depth_first_order(ids: list[str], preds: dict[str, list[str]], succs: dict[str, list[str]]) -> list[str]:
    """Sources first, each followed by what it leads to: a connected part stays together."""
    seen: set[str] = set()
    out: list[str] = []
    for root in [i for i in ids if not preds[i]] + ids:
        stack = [root]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            out.append(node)
            stack.extend(reversed(succs[node]))
    return out


def _barycentre(node_id: str, neighbours: dict[str, list[str]], rank: dict[str, int]) -> float:
    near = neighbours[node_id]
    return sum(rank[n] for n in near) / len(near) if near else float(rank[node_id])


def _assign_rows(columns: list[list[str]], preds: dict[str, list[str]], gap: float,
                 fixed_rows: dict[str, float]) -> dict[str, float]:
    """Rows relative to the layout's top; pinned nodes keep theirs and only pull on others."""
    rows: dict[str, float] = dict(fixed_rows)
    for column in columns:
        placed = [n for n in column if n not in fixed_rows]
        wanted = [sum(rows[p] for p in preds[n]) / len(preds[n]) if preds[n] else i * gap
                  for i, n in enumerate(placed)]
        for node_id, y in zip(placed, _spread(wanted, gap)):
            rows[node_id] = y
    return rows


def _spread(wanted: list[float], gap: float) -> list[float]:
    """Closest rows (least squares) to ``wanted`` that keep order and at least ``gap`` apart:
    with z_i = y_i − i·gap the constraint is "z non-decreasing", solved by pooling adjacent
    violators."""
    blocks: list[list[float]] = []  # [sum, count]
    for i, y in enumerate(wanted):
        blocks.append([y - i * gap, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    out: list[float] = []
    for total, count in blocks:
        out.extend([total / count] * int(count))
    return [z + i * gap for i, z in enumerate(out)]


def _avoid(columns: list[list[str]], out: dict[str, Point], obstacles: list[Rect], gap: float,
           grid: float) -> None:
    """Move placed nodes down, in column order, off any pinned node they would cover."""
    for column in columns:
        last_y: float | None = None
        for node_id in column:
            if node_id not in out:
                continue
            x, y = out[node_id]
            if last_y is not None:
                y = max(y, last_y + gap)
            moved = True
            while moved:
                moved = False
                for rect in obstacles:
                    if Rect(x, y, NODE_W, NODE_H).intersects(rect):
                        y = snap(rect.bottom + grid, grid) if grid else rect.bottom
                        moved = True
            out[node_id] = (x, y)
            last_y = y
