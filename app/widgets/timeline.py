"""The per-node timeline (a Gantt chart) of one run, drawn with Kivy canvas instructions.

:class:`TimelineWidget` shows one row per node of a run — a bar from when the node started
for as long as it ran — ordered by start time (nodes that never started, e.g. skipped after
an upstream failure, come last in log order and are labelled instead of barred). Bars are
coloured by status; a time axis with 1-2-5 ticks spans the run. Tapping a row sets
``selected_node``; setting ``selected_node`` highlights that row. ``bars`` is the model the
canvas draws (tests check it, not pixels).

Inside a ScrollView only the rows in view are drawn and the axis stays pinned on top, so a
run of thousands of nodes stays cheap; text textures are shared with the painted rows' cache. Colours follow the theme.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from kivy.clock import Clock
from kivy.graphics import Color, Line, Rectangle, RoundedRectangle
from kivy.metrics import dp
from kivy.properties import ColorProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.widget import Widget
from kivymd.theming import ThemableBehavior

from app.screens.history_format import duration, status_label, tick_label
from app.widgets.painted_row import text_texture

ROW_H = dp(48)        # one node per row; the whole row is the tap target
AXIS_H = dp(32)
LABEL_W = dp(200)
VALUE_W = dp(72)      # room after the longest bar for its duration text
PAD = dp(12)
BAR_H = dp(20)

# Colours that are not theme roles (success / warning), as (light theme, dark theme).
_FIXED = {"succeeded": ((0.10, 0.50, 0.22, 1), (0.49, 0.85, 0.57, 1)),
          "interrupted": ((0.62, 0.38, 0.0, 1), (1.0, 0.74, 0.35, 1)),
          "reused": ((0.12, 0.45, 0.45, 1), (0.45, 0.80, 0.80, 1))}
_ROLES = {"failed": "errorColor", "running": "primaryColor", "cancelled": "outlineColor",
          "skipped": "outlineColor", "not_run": "outlineColor"}


def status_color(status: str, theme_cls: Any) -> tuple[float, float, float, float]:
    """The colour of a run or node status in the current theme (shared with the run list)."""
    if status in _FIXED:
        return _FIXED[status][theme_cls.theme_style == "Dark"]
    return tuple(getattr(theme_cls, _ROLES.get(status, "outlineColor")))  # type: ignore[return-value]


@dataclass(frozen=True)
class TimelineBar:
    node_id: str
    label: str
    status: str
    start_s: float | None      # seconds after the run started; None: the node never started
    end_s: float | None        # None: no duration logged (a running node is drawn to the axis end)
    row: int
    attempts: int = 1          # more than 1: the node was retried


def build_bars(run: dict[str, Any]) -> list[TimelineBar]:
    """The bars of a run as ``history.get`` returns it, ordered by node start."""
    origin = run.get("started_at") or 0.0
    nodes = list(enumerate(run.get("nodes") or []))
    nodes.sort(key=lambda item: (item[1]["started_at"] is None, item[1]["started_at"] or 0.0, item[0]))
    bars = []
    for row, (_seq, node) in enumerate(nodes):
        start = None if node["started_at"] is None else max(0.0, node["started_at"] - origin)
        end = None
        if start is not None and node.get("duration_ms") is not None:
            end = start + node["duration_ms"] / 1000.0
        bars.append(TimelineBar(node["node_id"], node.get("title") or node["node_id"], node["status"],
                                start, end, row, max(1, len(node.get("attempts") or []))))
    return bars


def run_span(run: dict[str, Any], bars: list[TimelineBar]) -> float:
    """Seconds the axis covers: the run's duration or the last bar's end, whichever is later."""
    ends = [b.end_s if b.end_s is not None else b.start_s for b in bars if b.start_s is not None]
    if run.get("status") == "running" and run.get("started_at"):
        ends.append(time.time() - run["started_at"])     # a live run: the axis reaches now
    span = max([*ends, (run.get("duration_ms") or 0) / 1000.0, 0.0])
    return span if span > 0 else 0.001


def nice_step(span: float, max_ticks: int) -> float:
    """The smallest 1, 2 or 5 × 10^k step that needs at most ``max_ticks`` ticks for ``span``."""
    raw = span / max(1, max_ticks)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


class TimelineWidget(ThemableBehavior, Widget):
    """Set :meth:`show_run` with a ``history.get`` result; bind ``selected_node``."""

    bars = ListProperty()
    span_s = NumericProperty(0.001)
    selected_node = StringProperty("", allownone=True)
    content_height = NumericProperty(AXIS_H)
    background_color = ColorProperty((0, 0, 0, 0))
    drawn_rows = ListProperty()        # the rows drawn at the last redraw (the visible ones)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._redraw_trigger = Clock.create_trigger(self._redraw, -1)
        self.bind(pos=self._redraw_trigger, size=self._redraw_trigger, bars=self._redraw_trigger,
                  selected_node=self._redraw_trigger, background_color=self._redraw_trigger)
        self.theme_cls.bind(onSurfaceColor=self._redraw_trigger)   # set after every theme switch

    # --- model ----------------------------------------------------------------------------
    def show_run(self, run: dict[str, Any] | None) -> None:
        bars = build_bars(run) if run else []
        self.span_s = run_span(run, bars) if run else 0.001
        self.content_height = AXIS_H + len(bars) * ROW_H + dp(8)
        self.bars = bars
        if self.selected_node and self.selected_node not in {b.node_id for b in bars}:
            self.selected_node = ""

    def row_of(self, node_id: str) -> int | None:
        return next((b.row for b in self.bars if b.node_id == node_id), None)

    def row_center(self, node_id: str) -> tuple[float, float]:
        """Window coordinates of the middle of a node's bar area (where a finger would tap)."""
        row = self.row_of(node_id)
        if row is None:
            raise KeyError(node_id)
        return self.to_window(self.x + PAD + LABEL_W + dp(24), self._row_top(row) - ROW_H / 2)

    def ensure_visible(self, node_id: str) -> None:
        """Scroll an enclosing ScrollView so the node's row is in view."""
        row, view = self.row_of(node_id), self.parent
        if row is None or view is None or not hasattr(view, "scroll_y"):
            return
        hidden = self.height - view.height
        if hidden <= 0:
            return
        top_offset = AXIS_H + row * ROW_H                      # from the widget's top to the row
        first_visible = (1 - view.scroll_y) * hidden
        if top_offset - AXIS_H < first_visible:
            view.scroll_y = max(0.0, 1 - (top_offset - AXIS_H) / hidden)
        elif top_offset + ROW_H > first_visible + view.height:
            view.scroll_y = max(0.0, min(1.0, 1 - (top_offset + ROW_H - view.height) / hidden))

    # --- touches --------------------------------------------------------------------------
    def on_touch_down(self, touch: Any) -> bool:
        if not self.collide_point(*touch.pos) or getattr(touch, "is_mouse_scrolling", False):
            return super().on_touch_down(touch)
        _low, high = self._visible_band()
        if touch.y > high - AXIS_H:
            return False                                        # on the pinned axis
        row = int((self.top - AXIS_H - touch.y) // ROW_H)
        if 0 <= row < len(self.bars):
            self.selected_node = self.bars[row].node_id
            return True
        return False

    # --- drawing --------------------------------------------------------------------------
    def _row_top(self, row: int) -> float:
        return self.top - AXIS_H - row * ROW_H

    def _visible_band(self) -> tuple[float, float]:
        """The part of the widget (y from, y to, in its own coordinates) an enclosing
        ScrollView shows; the ScrollView moves its child with a translation, not its pos."""
        view = self.parent
        if view is not None and hasattr(view, "scroll_y"):
            hidden = self.height - view.height       # computed from scroll_y, which is set first
            low = self.y + (view.scroll_y * hidden if hidden > 0 else hidden)
            return max(self.y, low), min(self.top, low + view.height)
        return self.y, self.top

    def on_parent(self, _widget: Any, parent: Any) -> None:
        if parent is not None and hasattr(parent, "scroll_y"):
            parent.bind(scroll_y=self._redraw_trigger, size=self._redraw_trigger, pos=self._redraw_trigger)

    def _scale(self) -> tuple[float, float, float]:
        x0 = self.x + PAD + LABEL_W + dp(12)
        x1 = max(x0 + dp(40), self.right - PAD - VALUE_W)
        return x0, x1, (x1 - x0) / self.span_s

    def _redraw(self, *_args: Any) -> None:
        self.canvas.clear()
        self.drawn_rows = []
        if not self.bars:
            return
        low, high = self._visible_band()
        first = max(0, int((self.top - AXIS_H - high) // ROW_H))
        last = min(len(self.bars) - 1, int((self.top - AXIS_H - low) // ROW_H))
        self.drawn_rows = list(range(first, last + 1))
        x0, x1, scale = self._scale()
        step = nice_step(self.span_s, max(2, int((x1 - x0) // dp(90))))
        ticks = [i * step for i in range(int(self.span_s / step + 1e-9) + 1)]
        with self.canvas:
            self._draw_grid(ticks, x0, scale, low, high)
            for bar in self.bars[first:last + 1]:
                self._draw_row(bar, x0, scale)
            self._draw_axis(ticks, step, x0, scale, high)

    def _draw_grid(self, ticks: list[float], x0: float, scale: float, low: float, high: float) -> None:
        Color(*self.theme_cls.outlineVariantColor[:3], 0.6)
        for t in ticks:
            x = round(x0 + t * scale)
            Line(points=[x, low, x, high - AXIS_H], width=1)

    def _draw_row(self, bar: TimelineBar, x0: float, scale: float) -> None:
        theme, top = self.theme_cls, self._row_top(bar.row)
        mid = top - ROW_H / 2
        if bar.node_id == self.selected_node:
            Color(*theme.secondaryContainerColor)
            RoundedRectangle(pos=(self.x + dp(4), top - ROW_H + dp(2)), size=(self.width - dp(8), ROW_H - dp(4)),
                             radius=[dp(8)])
        colour = status_color(bar.status, theme)
        Color(*colour)
        RoundedRectangle(pos=(self.x + PAD, mid - dp(5)), size=(dp(10), dp(10)), radius=[dp(5)])
        self._text(bar.label, self.x + PAD + dp(18), mid, theme.onSurfaceColor, LABEL_W - dp(18))
        if bar.start_s is None:
            why = "" if bar.status == "not_run" else f" ({status_label(bar.status).lower()})"
            self._text(f"did not run{why}", x0, mid, theme.onSurfaceVariantColor)
            return
        running = bar.end_s is None and bar.status == "running"
        end = bar.end_s if bar.end_s is not None else (self.span_s if running else bar.start_s)
        left, width = x0 + bar.start_s * scale, max(dp(3), (end - bar.start_s) * scale)
        Color(*colour[:3], 0.55 if running else 1.0)
        RoundedRectangle(pos=(left, mid - BAR_H / 2), size=(width, BAR_H), radius=[dp(4)])
        self._text(_bar_caption(bar), left + width + dp(6), mid, theme.onSurfaceVariantColor)

    def _draw_axis(self, ticks: list[float], step: float, x0: float, scale: float, high: float) -> None:
        theme = self.theme_cls
        Color(*self.background_color)
        Rectangle(pos=(self.x, high - AXIS_H), size=(self.width, AXIS_H))
        Color(*theme.outlineVariantColor)
        Line(points=[x0, high - AXIS_H + dp(2), self._scale()[1], high - AXIS_H + dp(2)], width=1)
        for t in ticks:
            x = round(x0 + t * scale)
            Line(points=[x, high - AXIS_H + dp(2), x, high - AXIS_H + dp(8)], width=1)
            self._text(tick_label(t, step), x, high - AXIS_H + dp(18), theme.onSurfaceVariantColor, center=True)
        self._text("node", self.x + PAD, high - AXIS_H + dp(18), theme.onSurfaceVariantColor)

    def _text(self, text: str, x: float, mid_y: float, colour: Any, max_w: float | None = None,
              center: bool = False) -> None:
        texture = text_texture(text, 13, max_width=max_w)
        w, h = texture.size
        Color(*colour)
        Rectangle(texture=texture, pos=(round(x - w / 2 if center else x), round(mid_y - h / 2)), size=(w, h))


def _bar_caption(bar: TimelineBar) -> str:
    if bar.end_s is None:          # no duration logged: running, or stopped before it reported
        return "running…" if bar.status == "running" else status_label(bar.status).lower()
    took = duration((bar.end_s - bar.start_s) * 1000 if bar.start_s is not None else None)
    return f"{took} ({bar.attempts}×)" if bar.attempts > 1 else took   # short: it sits after the bar
