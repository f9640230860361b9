"""Editing commands of the graph canvas: selection, clipboard, keys, layout.

A mixin of :class:`~app.widgets.canvas.graph_canvas.GraphCanvas`. Every edit is one
command pushed on the document (so it is one undo step); the canvas keeps only view
state (selection, zoom). The clipboard holds workflow JSON fragments
(``{"nodes": [...], "edges": [...]}``, :func:`engine.model.commands.copy_fragment`), so
nodes paste between workflows and into a text editor.

Keys (``handle_key``, forwarded by the editor from ``Window.on_key_down``): Delete or
Backspace deletes the selection; Ctrl+A selects all; Ctrl+C / Ctrl+X / Ctrl+V copy, cut,
paste; Ctrl+D duplicates; Ctrl+Z undoes, Ctrl+Shift+Z or Ctrl+Y redoes; F or Home fits
the graph to the view; + and − zoom; arrows nudge the selection by one grid step (ten
with Shift); Escape closes the open menu, else cancels a gesture (a palette drag too), else
clears the selection. Delete also removes a selected edge. Cmd works as Ctrl.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from kivy.core.clipboard import Clipboard

from app.node_defaults import initial_config
from app.widgets.canvas.autolayout import layered_layout
from app.widgets.canvas.geometry import NODE_H, NODE_W, Rect, snap
from engine.errors import ModelError
from engine.model.commands import (
    AddNodeCommand,
    DeleteSelectionCommand,
    MoveNodesCommand,
    PasteFragmentCommand,
    copy_fragment,
)
from engine.model.workflow import Node

KEY_BACKSPACE, KEY_DELETE, KEY_ESCAPE, KEY_HOME = 8, 127, 27, 278
ARROWS = {273: (0, -1), 274: (0, 1), 275: (1, 0), 276: (-1, 0)}  # up, down, right, left (y grows down)
ZOOM_IN_KEYS, ZOOM_OUT_KEYS = {ord("="), ord("+"), 270}, {ord("-"), 269}
ZOOM_STEP = 1.25


class EditingMixin:
    """Needs from the widget: ``document``, ``selected``, ``select()``, ``scene``,
    ``snap_to_grid``, ``grid``, ``view_center_world()``, ``zoom_at()``, ``fit_to_view()``,
    ``cancel_gestures()``, ``dispatch()``."""

    # --- selection -----------------------------------------------------------------------
    def select_all(self) -> None:
        if self.document is not None:
            self.select(n.id for n in self.document.workflow)

    def delete_selection(self) -> bool:
        doc = self.document
        ids = [n.id for n in doc.workflow if n.id in self.selected] if doc else []
        if not ids:
            return False
        doc.push(DeleteSelectionCommand(doc.workflow, ids))
        self.select(())
        return True

    # --- clipboard -----------------------------------------------------------------------
    def copy_selection(self) -> str:
        """The selected nodes (and the edges between them) as JSON, also on the clipboard."""
        doc = self.document
        ids = [n.id for n in doc.workflow if n.id in self.selected] if doc else []
        if not ids:
            return ""
        text = json.dumps(copy_fragment(doc.workflow, ids), indent=1)
        Clipboard.copy(text)
        return text

    def cut_selection(self) -> str:
        text = self.copy_selection()
        if text:
            self.delete_selection()
        return text

    def paste(self, text: str | None = None, at: tuple[float, float] | None = None) -> list[str]:
        """Paste a fragment (from ``text`` or the clipboard) centred on ``at`` (world) or on
        the middle of the view; the pasted nodes become the selection. Returns their ids."""
        doc = self.document
        if doc is None:
            return []
        text = Clipboard.paste() if text is None else text
        try:
            fragment = json.loads(text) if text else None
        except ValueError:
            fragment = None
        if not isinstance(fragment, dict) or not isinstance(fragment.get("nodes"), list) or not fragment["nodes"]:
            self.dispatch("on_message", "The clipboard holds no nodes to paste (copy some nodes first).")
            return []
        command = PasteFragmentCommand(doc.workflow, fragment, self._paste_offset(fragment, at), types=doc.types)
        try:
            doc.push(command)
        except ModelError as exc:
            self.dispatch("on_message", f"Cannot paste: {exc}")
            return []
        self.select(command.new_ids)
        return command.new_ids

    def duplicate_selection(self) -> list[str]:
        text = self.copy_selection()
        if not text:
            return []
        box = self._fragment_box(json.loads(text))
        return self.paste(text, at=(box.center[0] + 2 * self.grid, box.center[1] + NODE_H + 2 * self.grid))

    def _fragment_box(self, fragment: dict) -> Rect:
        points = []
        for node in fragment["nodes"]:
            position = node.get("position", (0, 0)) if isinstance(node, dict) else (0, 0)
            try:
                x, y = float(position[0]), float(position[1])
            except (TypeError, ValueError, IndexError):
                x, y = 0.0, 0.0
            points += [(x, y), (x + NODE_W, y + NODE_H)]
        return Rect.bounding(points)

    def _paste_offset(self, fragment: dict, at: tuple[float, float] | None) -> tuple[float, float]:
        cx, cy = at if at is not None else self.view_center_world()
        box = self._fragment_box(fragment)
        dx, dy = cx - box.center[0], cy - box.center[1]
        if self.snap_to_grid:
            dx, dy = snap(dx, self.grid), snap(dy, self.grid)
        return (dx, dy)

    # --- nodes ---------------------------------------------------------------------------
    def add_node(self, type_name: str, world_pos: tuple[float, float] | None = None,
                 centred: bool = False) -> str:
        """Add a node of ``type_name`` at ``world_pos`` (its top-left, or its centre with
        ``centred``; default: the middle of the view, on a free spot). Returns its id."""
        doc = self.document
        if doc is None:
            raise RuntimeError("no document is attached to the canvas")
        spec = doc.types.get(type_name)
        label = spec.label if spec is not None and spec.label else type_name
        node_id = doc.workflow.unique_node_id(type_name)
        if world_pos is None:
            cx, cy = self.view_center_world()
            world_pos, centred = self._free_spot(cx - NODE_W / 2, cy - NODE_H / 2), False
        x, y = world_pos
        if centred:
            x, y = x - NODE_W / 2, y - NODE_H / 2
        if self.snap_to_grid:
            x, y = snap(x, self.grid), snap(y, self.grid)
        config = initial_config(type_name, doc.workflow.id, node_id)
        doc.push(AddNodeCommand(doc.workflow, Node(node_id, type_name, label, (x, y), config)))
        self.select([node_id])
        return node_id

    def _free_spot(self, x: float, y: float) -> tuple[float, float]:
        """The first place at or below (x, y) where a new node covers no other one."""
        for _ in range(200):
            if not self.scene.nodes.query(Rect(x, y, NODE_W, NODE_H).inflate(8)):
                break
            y += NODE_H + 2 * self.grid
        return (x, y)

    def auto_layout(self) -> bool:
        """Lay the graph out left to right, leaving pinned nodes; one undo step."""
        doc = self.document
        if doc is None or not len(doc.workflow):
            return False
        positions = layered_layout(doc.workflow, grid=self.grid if self.snap_to_grid else 0.0)
        moved = {n: p for n, p in positions.items() if doc.workflow.node(n).position != p}
        if not moved:
            return False
        doc.push(MoveNodesCommand(doc.workflow, moved))
        doc.stack.end_merge()
        self.fit_to_view()
        return True

    def nudge(self, dx: float, dy: float) -> bool:
        doc = self.document
        ids = [n for n in self.selected if doc.workflow.has_node(n)]
        if not ids:
            return False
        positions = {n: (doc.workflow.node(n).position[0] + dx, doc.workflow.node(n).position[1] + dy) for n in ids}
        doc.push(MoveNodesCommand(doc.workflow, positions))  # consecutive nudges merge into one step
        return True

    # --- history -------------------------------------------------------------------------
    def undo(self) -> None:
        if self.document is not None:
            self.cancel_gestures()
            self.document.undo()

    def redo(self) -> None:
        if self.document is not None:
            self.cancel_gestures()
            self.document.redo()

    # --- keys ----------------------------------------------------------------------------
    def handle_key(self, key: int, modifiers: Iterable[str]) -> bool:
        """Act on a key press; True when the canvas used it."""
        if self.document is None:
            return False
        mods = set(modifiers)
        command = bool({"ctrl", "meta"} & mods)
        shift = "shift" in mods
        if command:
            return self._command_key(key, shift)
        if key in (KEY_DELETE, KEY_BACKSPACE):
            return self.delete_selection() or self.delete_selected_edge()
        if key == KEY_ESCAPE:
            return self.escape()
        if key in (ord("f"), KEY_HOME):
            self.fit_to_view()
            return True
        if key in ZOOM_IN_KEYS or key in ZOOM_OUT_KEYS:
            self.zoom_at(self.to_parent_center(), ZOOM_STEP if key in ZOOM_IN_KEYS else 1 / ZOOM_STEP)
            return True
        if key in ARROWS:
            step = self.grid * (10 if shift else 1)
            return self.nudge(ARROWS[key][0] * step, ARROWS[key][1] * step)
        return False

    def escape(self) -> bool:
        """Escape: close the open menu, else cancel gestures in progress, else clear the
        selection (nodes and edge); True when it did something."""
        if self.menu.is_open:
            self.menu.dismiss()
            return True
        if self.cancel_gestures():
            return True
        if self.selected or self.selected_edge is not None:
            self.select(())
            self.select_edge(None)
            return True
        return False

    def _command_key(self, key: int, shift: bool) -> bool:
        actions: dict[int, Any] = {
            ord("a"): self.select_all, ord("c"): self.copy_selection, ord("x"): self.cut_selection,
            ord("v"): self.paste, ord("d"): self.duplicate_selection, ord("y"): self.redo,
            ord("z"): self.redo if shift else self.undo, ord("0"): self.fit_to_view,
        }
        action = actions.get(key)
        if action is None:
            return False
        action()
        return True
