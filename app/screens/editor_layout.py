"""How the Editor screen arranges itself: what is in the widget tree, where the node panel
goes, the minimap, and Fit (a mixin of :class:`~app.screens.editor.EditorScreen`).

* Hidden parts are out of the widget tree, not merely transparent: the reload banner
  until the file changes on disk, the node panel until a node is opened, the minimap
  while switched off. A transparent widget is still drawn on every frame (on a software
  GL that is most of a frame's cost; see :mod:`app.widgets.app_screens`).
* The node panel sits right of the canvas when that leaves the canvas at least
  :data:`MIN_CANVAS_DP` wide, else it is a sheet below the canvas (a small window, a
  convertible laptop held upright). Either way the selected node is panned into what is
  left of the canvas.
* The minimap can be switched off from the toolbar; the choice is remembered in the app
  settings (``minimap``). Fit keeps the graph out from under it.
"""

from __future__ import annotations

from typing import Any

from kivy.clock import Clock
from kivy.metrics import dp
from kivy.properties import BooleanProperty, NumericProperty

PANEL_DP = 380        # the node panel's width beside the canvas
MIN_CANVAS_DP = 520   # narrower than this beside the panel: the panel goes below instead
MINIMAP_GAP_DP = 12   # the minimap's distance from the canvas corner


class EditorLayoutMixin:
    """Needs ``ids`` (column, reload_banner, work, canvas_area, canvas, minimap,
    inspector_sheet), ``inspector_open``, ``disk_changed`` and ``app``."""

    panel_below = BooleanProperty(False)     # the node panel is a sheet under the canvas
    sheet_fraction = NumericProperty(0.45)   # of the work area's height, when below
    minimap_shown = BooleanProperty(True)

    def on_kv_post(self, base_widget: Any) -> None:
        super().on_kv_post(base_widget)
        self._parked: dict[str, tuple[Any, Any, int]] = {}
        for name in ("reload_banner", "inspector_sheet"):
            self._park(name)
        self._keep_visible_ev = Clock.create_trigger(self._keep_selected_visible, 0)
        self.ids.canvas.bind(size=self._canvas_resized)
        self.ids.minimap.bind(size=self._canvas_resized)
        Clock.schedule_once(self._restore_minimap, 0)

    # --- in the tree or not -------------------------------------------------------------
    def _park(self, name: str) -> None:
        parent = self.ids[name].parent
        if parent is None:
            return
        index = parent.children.index(self.ids[name])
        widget = parent.children[index]   # the widget itself: ids hold only weak proxies
        self._parked[name] = (widget, parent, index)
        parent.remove_widget(widget)

    def _unpark(self, name: str) -> None:
        entry = self._parked.pop(name, None)
        if entry is not None:
            widget, parent, index = entry
            parent.add_widget(widget, index=min(index, len(parent.children)))

    def shown(self, name: str) -> bool:
        """Whether the part ``name`` (an id) is in the widget tree."""
        return name not in self._parked

    def on_inspector_open(self, _screen: Any, is_open: bool) -> None:
        if is_open:
            self._unpark("inspector_sheet")
            self._keep_visible_ev()
        else:
            self._park("inspector_sheet")

    def on_disk_changed(self, _screen: Any, changed: bool) -> None:
        if changed:
            self._unpark("reload_banner")
        else:
            self._park("reload_banner")

    # --- the node panel -----------------------------------------------------------------
    def work_resized(self, width: float, height: float) -> None:
        """Beside the canvas when the canvas keeps :data:`MIN_CANVAS_DP`, else below it."""
        self.panel_below = width - dp(PANEL_DP) < dp(MIN_CANVAS_DP) or height > width * 1.1

    def _canvas_resized(self, *_args: Any) -> None:
        canvas = self.ids.canvas
        if self.shown("minimap"):
            mm = self.ids.minimap
            canvas.covered_corner = [mm.width + 2 * dp(MINIMAP_GAP_DP), mm.height + 2 * dp(MINIMAP_GAP_DP)]
        else:
            canvas.covered_corner = [0, 0]
        if self.inspector_open:
            self._keep_visible_ev()

    def _keep_selected_visible(self, _dt: float = 0) -> None:
        canvas = self.ids.canvas
        if len(canvas.selected) == 1:
            canvas.ensure_visible(next(iter(canvas.selected)))

    # --- minimap and Fit ----------------------------------------------------------------
    def _restore_minimap(self, _dt: float = 0) -> None:
        self.set_minimap_shown(bool(self.app.settings_store.get("minimap")), remember=False)

    def toggle_minimap(self) -> None:
        self.set_minimap_shown(not self.minimap_shown)

    def set_minimap_shown(self, shown: bool, remember: bool = True) -> None:
        self.minimap_shown = shown
        if shown:
            self._unpark("minimap")
        else:
            self._park("minimap")
        self._canvas_resized()
        if remember:
            self.app.settings_store.set("minimap", shown)

    def fit(self) -> None:
        self.ids.canvas.fit_to_view()
