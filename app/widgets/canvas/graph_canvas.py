"""The workflow canvas: draws a :class:`~app.document.WorkflowDocument` and edits it by touch,
pen, mouse and keyboard.

Contract (the Editor screen embeds it with id ``canvas``):

* ``attach(document)`` / ``detach()``. The canvas listens to ``doc.workflow.subscribe``
  and ``doc.subscribe_run``; when the document is replaced (reload), attach again.
* View state lives here: ``scale`` (1 = one world unit per dp), ``offset`` (where the
  world origin is, in widget pixels), ``selection`` (node ids; assign a new set),
  ``snap_to_grid`` and ``grid`` (world units). Graph truth never does: every edit is a
  command pushed on the document (see :mod:`editing`, :mod:`interactions`).
* Events: ``on_node_open(node_id)`` (tap on an already selected node, or double tap),
  ``on_open_output(node_id)``, ``on_selection_changed(ids)``, ``on_message(text)``
  (explanations for the user, e.g. why an edge cannot be drawn) and
  ``on_context_menu(target, actions)`` (before the menu opens; append to ``actions``).
* Mouse: wheel zooms at the cursor (``scrolldown``, the wheel turned away from you, zooms
  in, as Kivy's Scatter does); dragging empty canvas pans, Shift+drag box-selects;
  right-click opens the context menu; hovering a failed or invalid node shows why.
* Touch and pen: see :mod:`interactions` (pinch, two-finger pan, long press, …). Hit
  targets are at least 48 dp: ports answer within 24 dp of their centre.

Drawing is :class:`~app.widgets.canvas.scene.Scene`'s job; this widget turns view state
into its transform once per frame and tells it which parts of the model changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kivy.clock import Clock
from kivy.graphics.scissor_instructions import ScissorPop, ScissorPush
from kivy.metrics import dp
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, ObjectProperty
from kivy.uix.widget import Widget

from app.widgets.canvas import context_menu
from app.widgets.canvas.building import BuildingMixin
from app.widgets.canvas.canvas_view import ViewMixin
from app.widgets.canvas.editing import EditingMixin
from app.widgets.canvas.geometry import DEFAULT_GRID, Point, Rect
from app.widgets.canvas.interactions import (
    Hit,
    Interaction,
    PanInteraction,
    PinchInteraction,
    PressInteraction,
    toggle_held,
)
from app.widgets.canvas.labels import shared_atlas
from app.widgets.canvas.palette import current_palette
from app.widgets.canvas.scene import Scene
from app.widgets.canvas.tooltip import HoverTooltip

WHEEL_STEP = 1.15
PROBLEMS_DELAY_S = 0.3


class _At:
    """A touch's identity at another position (where a promoted gesture really began)."""

    def __init__(self, touch: Any, pos: Point) -> None:
        self.uid, self.profile = touch.uid, getattr(touch, "profile", ())
        self.pos = pos
        self.x, self.y = pos


class GraphCanvas(ViewMixin, BuildingMixin, EditingMixin, Widget):
    scale = NumericProperty(1.0)
    offset = ListProperty([0.0, 0.0])
    selection = ObjectProperty(frozenset())
    snap_to_grid = BooleanProperty(True)
    grid = NumericProperty(DEFAULT_GRID)
    show_grid = BooleanProperty(True)
    document = ObjectProperty(None, allownone=True)
    covered_corner = ListProperty([0, 0])
    """``(w, h)`` px of the bottom-right corner covered by an overlay (the minimap): Fit
    keeps the graph out of it (see :meth:`~app.widgets.canvas.canvas_view.ViewMixin.fit_to_view`)."""
    revision = NumericProperty(0)
    """Bumped (at most once a frame) after the graph changed: the minimap redraws on it."""

    __events__ = ("on_node_open", "on_open_output", "on_selection_changed", "on_message", "on_context_menu")

    def __init__(self, **kwargs: Any) -> None:
        self.scene = Scene(shared_atlas(), current_palette())
        self.problems: dict[str, list[str]] = {}
        self.selected: frozenset[str] = frozenset()
        self._touches: dict[Any, Interaction] = {}
        self._fingers: dict[Any, Any] = {}  # uid -> touch, for every touch this canvas grabbed
        self._unsubscribe: list[Any] = []
        self._grid_key: tuple | None = None
        self._grid_area = Rect(0, 0, 0, 0)
        self._changed = False
        super().__init__(**kwargs)
        self.menu = context_menu.ContextMenu(self)
        self.tooltip = HoverTooltip(self)
        with self.canvas.before:
            self._scissor = ScissorPush(x=0, y=0, width=1, height=1)
        self.canvas.add(self.scene.root)
        with self.canvas.after:
            ScissorPop()
        self._redraw = Clock.create_trigger(self._update, -1)
        self._next_frame = Clock.create_trigger(self._update, 0)
        self._problems_ev = Clock.create_trigger(self._recompute_problems, PROBLEMS_DELAY_S)
        self._theme_ev = Clock.create_trigger(self._apply_palette, 0)
        self.bind(pos=self._view_changed, size=self._view_changed, scale=self._view_changed,
                  offset=self._view_changed, show_grid=self._view_changed, grid=self._view_changed,
                  selection=self._selection_set)
        self._bind_theme()

    # --- events (defaults) ---------------------------------------------------------------------
    def on_node_open(self, node_id: str) -> None: ...

    def on_open_output(self, node_id: str) -> None: ...

    def on_selection_changed(self, ids: Any) -> None: ...

    def on_message(self, text: str) -> None: ...

    def on_context_menu(self, target: Any, actions: list) -> None: ...

    # --- document ------------------------------------------------------------------------------
    def attach(self, document: Any) -> None:
        """Draw ``document`` and edit it; replaces any document attached before."""
        self.detach()
        self.document = document
        self._unsubscribe = [document.workflow.subscribe(self._model_event),
                             document.subscribe_run(self._run_event)]
        self.scene.reset(document.workflow, document.types)
        self.scene.node_states = document.node_states
        self.scene.connection_names = document.connection_names
        self.scene.stale = document.stale
        self.problems = {}
        self.scene.problems = self.problems
        self.selection = frozenset()
        self._problems_ev()
        self._graph_changed()

    def detach(self) -> None:
        self.cancel_gestures()
        self.menu.dismiss()
        self.tooltip.hide()
        for unsubscribe in self._unsubscribe:
            try:
                unsubscribe()
            except ValueError:
                pass  # the workflow was replaced and dropped its listeners already
        self._unsubscribe = []
        self.document = None
        self.scene.reset(None, {})
        self.selection = frozenset()
        self.select_edge(None)
        self._graph_changed()

    def _model_event(self, event: str, payload: Any) -> None:
        scene = self.scene
        handler = getattr(scene, event, None)
        if handler is not None:
            handler(payload)
        if event == "node_removed" and payload.id in self.selected:
            self.selection = self.selected - {payload.id}
        if event == "edge_removed" and payload == self.selected_edge:
            self.select_edge(None)
        if event != "node_moved":
            self._problems_ev()
        self._graph_changed()

    def _run_event(self, node_id: str | None) -> None:
        doc = self.document
        if doc is None:
            return
        self.scene.node_states = doc.node_states
        self.scene.connection_names = doc.connection_names
        self.scene.stale = doc.stale
        if node_id is None:
            self.scene.invalidate_all()
        else:
            self.scene.invalidate([node_id])
        self._graph_changed()

    def _recompute_problems(self, _dt: float = 0) -> None:
        if self.document is None:
            return
        new = self.document.problems_by_node()
        changed = {n for n in set(new) | set(self.problems) if new.get(n) != self.problems.get(n)}
        self.problems = new
        self.scene.problems = new
        if changed:
            self.scene.invalidate(changed)
            self._redraw()

    def _graph_changed(self) -> None:
        self._changed = True
        self._redraw()

    # --- theme ---------------------------------------------------------------------------------
    def _bind_theme(self) -> None:
        from kivy.app import App

        theme_cls = getattr(App.get_running_app(), "theme_cls", None)
        if theme_cls is not None:
            # The colour roles are recomputed after theme_style / primary_palette change:
            # read them once they are, at most once a frame.
            theme_cls.bind(theme_style=self.refresh_theme, primary_palette=self.refresh_theme,
                           surfaceColor=self.refresh_theme, primaryColor=self.refresh_theme)

    def refresh_theme(self, *_args: Any) -> None:
        self._theme_ev()

    def _apply_palette(self, _dt: float = 0) -> None:
        self.scene.set_palette(current_palette())
        self._grid_key = None
        self._graph_changed()

    # --- selection -----------------------------------------------------------------------------
    def select(self, ids: Iterable[str]) -> None:
        self.selection = frozenset(ids)

    def _selection_set(self, _widget: Any, value: Any) -> None:
        new = frozenset(value or ())
        old, self.selected = self.selected, new
        if new == old:
            return
        self.scene.selection = new
        if new:
            self.select_edge(None)  # a node selected: no edge is
        self.scene.invalidate(old ^ new)
        self._redraw()
        self.dispatch("on_selection_changed", sorted(new))

    # --- hit testing ---------------------------------------------------------------------------
    def node_at(self, pos: Point) -> str | None:
        """The node under ``pos`` (parent coordinates, like ``touch.pos``)."""
        return self.scene.node_at(*self.to_world(pos)) if self.document else None

    def hit(self, pos: Point, ports: bool = True) -> Hit:
        """What is under ``pos``: a port (when ``ports``), else a node, else an edge."""
        if self.document is None:
            return Hit("empty")
        x, y = self.to_world(pos)
        scene = self.scene
        if ports and scene.view.s >= 0.3 * dp(1):  # ports are too small to aim at further out
            port = scene.port_at(x, y, self.hit_radius())
            if port is not None:
                return Hit("port", port[0], port[1], port[2])
        node = scene.node_at(x, y)
        if node is not None:
            return Hit("node", node)
        edge = scene.edge_at(x, y, dp(12) / scene.view.s)
        return Hit("edge", edge=edge) if edge is not None else Hit("empty")

    def edge_label(self, source: str, target: str) -> str | None:
        """The record count drawn on the edge source -> target (None when nothing is drawn)."""
        wf = self.document.workflow if self.document else None
        edge = next((e for e in wf.outputs_of(source) if e.target == target), None) if wf else None
        return self.scene.edge_label(edge) if edge is not None else None

    # --- touches -------------------------------------------------------------------------------
    def on_touch_down(self, touch: Any) -> bool:
        if not self.collide_point(*touch.pos):
            return False
        if super().on_touch_down(touch):
            return True
        self.tooltip.hide()
        if self.document is None:
            return False
        if touch.is_mouse_scrolling:
            self._wheel(touch)
            return True
        button = getattr(touch, "button", "left")
        if button == "right":
            self.open_context_menu(self.hit(touch.pos, ports=False), touch.pos)
            return True
        touch.grab(self)
        self._fingers[touch.uid] = touch
        if button == "middle":
            self._begin(touch, PanInteraction(self))
            return True
        fingers = [uid for uid in self._touches if not isinstance(self._touches[uid], _Idle)]
        if len(fingers) == 1 and "button" not in getattr(touch, "profile", ()):
            self._start_pinch(fingers[0], touch)
            return True
        if fingers:
            self._touches[touch.uid] = _Idle(self)  # a third finger: ignored until it lifts
            return True
        self._begin(touch, PressInteraction(self, self.hit(touch.pos)))
        return True

    def _begin(self, touch: Any, interaction: Interaction, at: Point | None = None) -> None:
        self._touches[touch.uid] = interaction
        interaction.start(_At(touch, at) if at is not None else touch)

    def _start_pinch(self, first_uid: Any, touch: Any) -> None:
        first = self._touches.pop(first_uid)
        first.cancel()
        other = self._fingers.get(first_uid)
        if other is None:
            self._begin(touch, PressInteraction(self, self.hit(touch.pos)))
            return
        pinch = PinchInteraction(self, other, touch)
        self._touches[first_uid] = pinch
        self._touches[touch.uid] = pinch

    def replace_interaction(self, touch: Any, interaction: Interaction, origin: Point) -> None:
        """A press became a gesture: start it where the finger first came down."""
        self._begin(touch, interaction, origin)
        interaction.move(touch)

    def on_touch_move(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return super().on_touch_move(touch)
        interaction = self._touches.get(touch.uid)
        if interaction is not None:
            interaction.move(touch)
        return True

    def on_touch_up(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return super().on_touch_up(touch)
        touch.ungrab(self)
        self._fingers.pop(touch.uid, None)
        interaction = self._touches.pop(touch.uid, None)
        if interaction is not None:
            interaction.end(touch)
        return True

    def cancel_gestures(self) -> bool:
        """Cancel every gesture in progress (Escape, a second finger, undo); True if any."""
        running = list(dict.fromkeys(self._touches.values()))
        self._touches.clear()
        for interaction in running:
            interaction.cancel()
        return bool(running)

    def _wheel(self, touch: Any) -> None:
        if touch.button == "scrolldown":
            self.zoom_at(touch.pos, WHEEL_STEP)
        elif touch.button == "scrollup":
            self.zoom_at(touch.pos, 1 / WHEEL_STEP)
        elif touch.button == "scrollleft":
            self.pan_by(dp(40), 0)
        elif touch.button == "scrollright":
            self.pan_by(-dp(40), 0)

    # --- taps and menus ------------------------------------------------------------------------
    def tapped(self, hit: Hit, touch: Any) -> None:
        if hit.node is None:
            if not toggle_held():
                self.select(())
            self.select_edge(hit.edge)  # a tap on an edge selects it (Delete removes it)
            return
        node_id = hit.node
        if getattr(touch, "is_double_tap", False) or (self.selected == {node_id} and not toggle_held()):
            self.select([node_id])
            self.dispatch("on_node_open", node_id)
        elif toggle_held():
            self.select(self.selected ^ {node_id})
        else:
            self.select([node_id])

    def open_context_menu(self, hit: Hit, pos: Point) -> None:
        if self.document is None:
            return
        if hit.node is not None:
            if hit.node not in self.selected:
                self.select([hit.node])
            target: Any = hit.node
            actions = context_menu.node_actions(self, hit.node)
        elif hit.edge is not None:
            target, actions = hit.edge, context_menu.edge_actions(self, hit.edge)
        else:
            target, actions = None, context_menu.canvas_actions(self, self.to_world(pos))
        self.dispatch("on_context_menu", target, actions)
        self.menu.open(actions, pos)

    @property
    def menu_actions(self) -> list:
        """The actions of the open context menu ([] when none is open)."""
        return self.menu.actions if self.menu.is_open else []


class _Idle(Interaction):
    """A touch the canvas holds but ignores (a third finger)."""
