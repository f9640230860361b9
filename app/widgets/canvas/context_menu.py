"""The canvas's context menu (long press, or right-click with a mouse).

What the menu offers depends on what is under the finger: a node, an edge, or empty
canvas. The actions are plain :class:`MenuAction` values built here and shown with
KivyMD's dropdown menu anchored at the touch point; the canvas dispatches
``on_context_menu(target, actions)`` first, so the editor may add its own. Every action
calls a canvas method, and those edit only through the document's command stack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kivy.core.window import Window
from kivy.metrics import dp
from kivy.uix.widget import Widget

from app.node_style import palette_types, style_of
from engine.model.commands import DisconnectCommand, SetNodeFieldsCommand
from engine.model.workflow import Edge

if TYPE_CHECKING:
    from app.widgets.canvas.graph_canvas import GraphCanvas


@dataclass
class MenuAction:
    text: str
    icon: str
    run: Callable[[], Any]
    enabled: bool = True


def node_actions(canvas: GraphCanvas, node_id: str) -> list[MenuAction]:
    doc = canvas.document
    node = doc.workflow.node(node_id)
    state = doc.node_states.get(node_id)
    problems = canvas.problems.get(node_id, [])
    several = len(canvas.selected) > 1 and node_id in canvas.selected
    out = [
        MenuAction("Open settings", "tune-variant", lambda: canvas.dispatch("on_node_open", node_id)),
        MenuAction("Open output table", "table-eye", lambda: canvas.dispatch("on_open_output", node_id),
                   enabled=bool(state is not None and state.table)),
    ]
    if state is not None and state.status == "failed":
        out.append(MenuAction("Show error", "alert-circle-outline",
                              lambda: canvas.dispatch("on_message", state.error or "The node failed.")))
    if problems:
        out.append(MenuAction("Show problems", "alert-outline",
                              lambda: canvas.dispatch("on_message", "\n".join(problems))))
    out += [
        MenuAction("Unpin position" if node.pinned else "Pin position (auto-layout leaves it)",
                   "pin-off-outline" if node.pinned else "pin-outline",
                   lambda: doc.push(SetNodeFieldsCommand(doc.workflow, node_id, {"pinned": not node.pinned},
                                                         text="Unpin node" if node.pinned else "Pin node"))),
        MenuAction("Copy selection" if several else "Copy", "content-copy", canvas.copy_selection),
        MenuAction("Duplicate", "content-duplicate", canvas.duplicate_selection),
        MenuAction("Delete selection" if several else "Delete", "delete-outline", canvas.delete_selection),
    ]
    return out


def edge_actions(canvas: GraphCanvas, edge: Edge) -> list[MenuAction]:
    doc = canvas.document
    return [MenuAction("Remove connection", "link-variant-off",
                       lambda: doc.push(DisconnectCommand(doc.workflow, edge)))]


def canvas_actions(canvas: GraphCanvas, world: tuple[float, float]) -> list[MenuAction]:
    doc = canvas.document
    out = [
        MenuAction("Paste", "content-paste", lambda: canvas.paste(at=world)),
        MenuAction("Select all", "select-all", canvas.select_all, enabled=len(doc.workflow) > 0),
        MenuAction("Fit to view", "fit-to-screen-outline", canvas.fit_to_view),
        MenuAction("Auto-layout", "sitemap-outline", canvas.auto_layout, enabled=len(doc.workflow) > 0),
    ]
    for type_name in palette_types(list(doc.types)):
        spec = doc.types[type_name]
        out.append(MenuAction(f"Add {spec.label or type_name} here", style_of(type_name).icon,
                              lambda t=type_name: canvas.add_node(t, world_pos=world, centred=True)))
    return out


class ContextMenu:
    """One open dropdown at a time, anchored on a 1-pixel widget at the touch point."""

    def __init__(self, canvas: GraphCanvas) -> None:
        self.canvas = canvas
        self.menu: Any = None
        self.actions: list[MenuAction] = []
        self._anchor: Widget | None = None

    @property
    def is_open(self) -> bool:
        return self.menu is not None

    def open(self, actions: list[MenuAction], pos: tuple[float, float]) -> None:
        from app.widgets.menu import AppMenu

        self.dismiss()
        self.actions = actions
        anchor = Widget(size=(1, 1), pos=pos, size_hint=(None, None))
        self.canvas.add_widget(anchor)
        self._anchor = anchor
        items = [{"text": a.text, "leading_icon": a.icon, "disabled": not a.enabled,
                  "on_release": lambda a=a: self.choose(a)} for a in actions]
        low = self.canvas.to_window(*pos)[1] < Window.height / 2  # open towards the larger free side
        self.menu = AppMenu(caller=anchor, items=items, position="top" if low else "bottom",
                                   width=dp(280), max_height=dp(48) * min(len(items), 9))
        self.menu.bind(on_dismiss=self._dismissed)
        self.menu.open()

    def choose(self, action: MenuAction) -> None:
        self.dismiss()
        if action.enabled:
            action.run()

    def dismiss(self) -> None:
        if self.menu is not None:
            menu, self.menu = self.menu, None
            menu.dismiss()
        self._drop_anchor()

    def _dismissed(self, *_args: Any) -> None:
        self.menu = None
        self._drop_anchor()

    def _drop_anchor(self) -> None:
        if self._anchor is not None and self._anchor.parent is not None:
            self._anchor.parent.remove_widget(self._anchor)
        self._anchor = None
