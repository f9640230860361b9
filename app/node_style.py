"""How each node type looks in the palette (and anywhere outside the canvas): colour,
icon (a Material Design icon name) and a one-line hint. Unknown plugin types get a neutral look."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeStyle:
    colour: tuple[float, float, float, float]
    icon: str
    hint: str


STYLES = {
    "start": NodeStyle((0.22, 0.62, 0.36, 1), "play-circle-outline", "When the workflow runs"),
    "data_source": NodeStyle((0.20, 0.47, 0.80, 1), "database-import-outline", "Read a file, table or API"),
    "transformer": NodeStyle((0.49, 0.34, 0.76, 1), "function-variant", "Reshape one input with SQL or Python"),
    "join": NodeStyle((0.10, 0.56, 0.56, 1), "set-merge", "Merge two or more inputs"),
    "branch": NodeStyle((0.85, 0.60, 0.10, 1), "source-branch", "Route by a condition"),
    "output": NodeStyle((0.86, 0.38, 0.20, 1), "export", "Write a file or a table"),
}
DEFAULT = NodeStyle((0.45, 0.47, 0.50, 1), "puzzle-outline", "A plugin node")
PALETTE_ORDER = ("start", "data_source", "transformer", "join", "branch", "output")


def style_of(type_name: str) -> NodeStyle:
    return STYLES.get(type_name, DEFAULT)


def palette_types(available: list[str]) -> list[str]:
    """Built-in types first in their usual order, then plugin types alphabetically."""
    known = [t for t in PALETTE_ORDER if t in available]
    return known + sorted(t for t in available if t not in PALETTE_ORDER)
