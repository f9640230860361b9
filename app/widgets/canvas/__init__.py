"""The workflow canvas: :class:`GraphCanvas` (draw and edit a workflow document by touch,
pen, mouse and keyboard) and :class:`Minimap` (an overview that moves the view).

The widgets are imported on first use, so the pure modules of this package (geometry,
edge rules, auto-layout) import without Kivy.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GraphCanvas", "Minimap"]


def __getattr__(name: str) -> Any:
    if name == "GraphCanvas":
        from app.widgets.canvas.graph_canvas import GraphCanvas

        return GraphCanvas
    if name == "Minimap":
        from app.widgets.canvas.minimap import Minimap

        return Minimap
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
