"""Table rows painted straight onto the canvas, for long RecycleView lists.

A row built from KivyMD widgets (labels, icons, pills, boxes) costs ~280 canvas
instructions; on a software GL every one is paid on every frame. :class:`PaintedRow`
draws the same row — background, divider, text cells with an optional second line and
icon, a status pill — in ~20 instructions. Text is rendered once per distinct string
into a cached white texture and tinted by colour, so a theme switch re-tints without
re-rendering. Subclasses describe their row as a list of :class:`Cell`; the row repaints
when its size, position, theme, pressed state or any property named in ``repaint_on``
changes. Cells are laid out left to right: fixed widths first, the rest shared by the
flexible ones (``width=0``). Tapping reports which cell was hit (:meth:`cell_at`), so a
row can carry an action (e.g. an icon at its end) without child widgets.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.graphics import Color, Rectangle, RoundedRectangle
from kivy.metrics import dp, sp
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.widget import Widget
from kivymd.icon_definitions import md_icons
from kivymd.theming import ThemableBehavior

Rgba = Sequence[float]
_TEXTURES: OrderedDict[tuple, Any] = OrderedDict()
_SHORTENED: dict[tuple, str] = {}
_TEXTURES_KEPT = 3000


@dataclass(frozen=True)
class Cell:
    width: float = 0                 # px; 0: shares the width the fixed cells leave
    text: str = ""
    sub: str = ""                    # a smaller, muted second line
    icon: str = ""                   # a Material Design icon name, drawn before the text
    colour: Rgba | None = None       # None: the theme's onSurface
    sub_colour: Rgba | None = None   # None: the theme's onSurfaceVariant
    icon_colour: Rgba | None = None  # None: onSurfaceVariant (or the pill colour)
    pill: bool = False               # icon + text on a tinted rounded pill (a status)
    align: str = "left"              # left | right | center
    bold: bool = False
    size: float = 14                 # text size in sp
    name: str = ""                   # what :meth:`PaintedRow.cell_at` reports


def text_texture(text: str, size: float = 14, bold: bool = False, max_width: float | None = None,
                 font_name: str = "Roboto") -> Any:
    """A white texture of ``text`` on one line, as wide as the text (so it can be aligned);
    cut at the end with … when wider than ``max_width`` (Kivy's own shortening keeps the last
    word, which hides what matters in an error message). Cached."""
    text = text.replace("\n", " ")
    texture = _render(text, size, bold, font_name)
    if max_width is None or texture.width <= max_width:
        return texture
    key = (text, size, bold, font_name, int(max_width))
    if key not in _SHORTENED:
        _SHORTENED[key] = _shorten(text, size, bold, font_name, max_width)
    return _render(_SHORTENED[key], size, bold, font_name)


def _shorten(text: str, size: float, bold: bool, font_name: str, max_width: float) -> str:
    """The longest start of ``text`` that fits in ``max_width`` followed by an ellipsis."""
    measure = CoreLabel(font_size=sp(size), bold=bold, font_name=font_name).get_extents
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle].rstrip() + "…")[0] <= max_width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "…"


def _render(text: str, size: float, bold: bool, font_name: str) -> Any:
    key = (text, size, bold, font_name)
    texture = _TEXTURES.get(key)
    if texture is not None:
        _TEXTURES.move_to_end(key)
        return texture
    label = CoreLabel(text=text, font_size=sp(size), bold=bold, font_name=font_name, color=(1, 1, 1, 1))
    label.refresh()
    texture = _TEXTURES[key] = label.texture
    if len(_TEXTURES) > _TEXTURES_KEPT:
        _TEXTURES.popitem(last=False)
        _SHORTENED.clear()
    return texture


def icon_texture(name: str, size: float = 20) -> Any:
    return text_texture(md_icons.get(name, md_icons["help-circle-outline"]), size, font_name="Icons")


class PaintedRow(ButtonBehavior, ThemableBehavior, Widget):
    """Subclasses implement :meth:`cells` (and may override :meth:`background`)."""

    repaint_on: tuple[str, ...] = ()
    padding = (dp(16), dp(8))        # left, right
    spacing = dp(16)
    divider = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._repaint = Clock.create_trigger(self._paint, -1)
        self.bind(pos=self._repaint, size=self._repaint, state=self._repaint)
        self.bind(**{name: self._repaint for name in self.repaint_on})
        self.theme_cls.bind(onSurfaceColor=self._repaint)
        self._spans: list[tuple[Cell, float, float]] = []

    def cells(self) -> list[Cell]:
        raise NotImplementedError

    def background(self) -> Rgba | None:
        return None

    def cell_at(self, x: float) -> str:
        """The ``name`` of the cell under ``x`` (in the row's own coordinates, like a touch it
        receives); "" between cells."""
        return next((cell.name for cell, left, width in self._spans if left <= x <= left + width), "")

    def cell_center(self, name: str) -> tuple[float, float]:
        """Window coordinates of the middle of the cell called ``name``."""
        left, width = next((left, width) for cell, left, width in self._spans if cell.name == name)
        return self.to_window(left + width / 2, self.center_y)

    # --- painting ----------------------------------------------------------------------------
    def _layout(self, cells: list[Cell]) -> list[tuple[Cell, float, float]]:
        fixed = sum(c.width for c in cells)
        flexible = [c for c in cells if not c.width]
        free = self.width - self.padding[0] - self.padding[1] - self.spacing * (len(cells) - 1) - fixed
        share = max(0.0, free / len(flexible)) if flexible else 0.0
        x, spans = self.x + self.padding[0], []
        for cell in cells:
            width = cell.width or share
            spans.append((cell, x, width))
            x += width + self.spacing
        return spans

    def _paint(self, *_args: Any) -> None:
        theme = self.theme_cls
        self.canvas.clear()
        self._spans = self._layout(self.cells())
        with self.canvas:
            back = self.background()
            if back is not None:
                Color(*back)
                Rectangle(pos=self.pos, size=self.size)
            if self.state == "down":
                Color(*theme.onSurfaceColor[:3], 0.08)
                Rectangle(pos=self.pos, size=self.size)
            if self.divider:
                Color(*theme.outlineVariantColor[:3], 0.7)
                Rectangle(pos=(self.x + self.padding[0], self.y), size=(self.width - sum(self.padding), 1))
            for cell, left, width in self._spans:
                if cell.pill:
                    self._pill(cell, left)
                else:
                    self._cell(cell, left, width)

    def _cell(self, cell: Cell, left: float, width: float) -> None:
        theme, mid = self.theme_cls, self.center_y
        x, room = left, width
        if cell.icon:
            icon = icon_texture(cell.icon, 20)
            self._blit(icon, x if cell.text or cell.align == "left" else left + (width - icon.width) / 2, mid,
                       cell.icon_colour or theme.onSurfaceVariantColor)
            x, room = x + dp(28), room - dp(28)
        if not cell.text or room <= 0:
            return
        text = text_texture(cell.text, cell.size, cell.bold, room)
        lines = [(text, cell.colour or theme.onSurfaceColor)]
        if cell.sub:
            lines.append((text_texture(cell.sub, 12, False, room), cell.sub_colour or theme.onSurfaceVariantColor))
        heights = [t.height for t, _c in lines]
        top = mid + sum(heights) / 2
        for texture, colour in lines:
            tx = x if cell.align == "left" else (x + room - texture.width if cell.align == "right"
                                                 else x + (room - texture.width) / 2)
            top -= texture.height
            self._blit(texture, tx, top + texture.height / 2, colour)

    def _pill(self, cell: Cell, left: float) -> None:
        colour = cell.colour or self.theme_cls.onSurfaceVariantColor
        icon = icon_texture(cell.icon, 18) if cell.icon else None
        text = text_texture(cell.text, cell.size)
        inner = (icon.width + dp(6) if icon else 0) + text.width
        height = dp(32)
        Color(*colour[:3], 0.14)
        RoundedRectangle(pos=(left, self.center_y - height / 2), size=(inner + dp(22), height), radius=[height / 2])
        x = left + dp(10)
        if icon is not None:
            self._blit(icon, x, self.center_y, colour)
            x += icon.width + dp(6)
        self._blit(text, x, self.center_y, colour)

    @staticmethod
    def _blit(texture: Any, x: float, mid_y: float, colour: Rgba) -> None:
        Color(*colour)
        Rectangle(texture=texture, pos=(round(x), round(mid_y - texture.height / 2)), size=texture.size)
