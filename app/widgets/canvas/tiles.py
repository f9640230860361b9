"""The canvas's tiles: nodes filed into square tiles by their top-left corner, and what
each tile holds on the canvas (built instruction groups per level of detail, which of
them are stale or attached). :mod:`scene` builds, culls and attaches them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from kivy.graphics import InstructionGroup

from app.widgets.canvas.geometry import Point, Rect


@dataclass
class Tile:
    nodes: set[str] = field(default_factory=set)
    boxes: tuple[Rect, Rect | None, Rect | None] | None = None  # around its nodes, edges, edge labels
    built: dict[str, dict[str, InstructionGroup]] = field(default_factory=dict)  # rep -> layer -> group
    stale: set[str] = field(default_factory=set)  # reps to rebuild before they are shown again
    attached: set[tuple[str, str]] = field(default_factory=set)  # (rep, layer) on the canvas


class TileGrid:
    """Nodes filed into square tiles by their top-left corner."""

    def __init__(self, size: float, layers: tuple[str, ...]) -> None:
        self.size = size
        self.layers = layers
        self.tiles: dict[tuple[int, int], Tile] = {}
        self.of: dict[str, tuple[int, int]] = {}

    def key(self, pos: Point) -> tuple[int, int]:
        return (math.floor(pos[0] / self.size), math.floor(pos[1] / self.size))

    def place(self, node_id: str, pos: Point) -> None:
        new = self.key(pos)
        old = self.of.get(node_id)
        if old == new:
            self.mark_key(new)
            return
        if old is not None:
            self.drop(node_id)
        self.of[node_id] = new
        self.tiles.setdefault(new, Tile()).nodes.add(node_id)
        self.mark_key(new)

    def drop(self, node_id: str) -> None:
        key = self.of.pop(node_id, None)
        if key is not None:
            self.tiles[key].nodes.discard(node_id)
            self.mark_key(key)

    def mark(self, node_id: str) -> None:
        key = self.of.get(node_id)
        if key is not None:
            self.mark_key(key)

    def mark_key(self, key: tuple[int, int]) -> None:
        tile = self.tiles.get(key)
        if tile is not None:
            tile.stale.update(self.layers)
            tile.boxes = None
