"""Text for the canvas: one glyph atlas texture shared by every title, count and icon.

Drawing each title as its own textured rectangle costs one draw call per label; with a
few hundred on screen that alone would eat the frame. Instead each *character* (and each
Material Design icon) is rasterised once, at a fixed pixel size, into one RGBA atlas, and
a string becomes a row of quads in the same mesh as the node shapes. New strings (record
counts, renamed titles) then cost nothing to render; only a character never seen before
is rasterised (~0.3 ms). The atlas has mipmaps, so text stays smooth when zoomed out.

The atlas also holds a solid white block: untextured shapes sample it, so shapes and text
share one texture and one shader. When the atlas is full it doubles in size and bumps
:attr:`GlyphAtlas.generation`; anything built with older texture coordinates must be
rebuilt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

FONT_PX = 32  # text glyphs are rasterised at this size; quads scale them to the world size
ICON_PX = 64
PAD = 4  # transparent pixels around each glyph, so mipmaps do not bleed neighbours together
WHITE = 8  # side of the solid white block at the atlas origin
MAX_SIZE = 4096
ELLIPSIS = "…"


def _fonts() -> dict[str, tuple[str, int]]:
    import kivymd

    folder = os.path.join(os.path.dirname(kivymd.__file__), "fonts")
    return {"text": (os.path.join(folder, "Roboto-Medium.ttf"), FONT_PX),
            "icon": (os.path.join(folder, "materialdesignicons-webfont.ttf"), ICON_PX)}


def icon_char(name: str) -> str:
    """The glyph of a Material Design icon name ('' when KivyMD does not know it)."""
    from kivymd.icon_definitions import md_icons

    return md_icons.get(name, md_icons.get("puzzle-outline", ""))


@dataclass(frozen=True, slots=True)
class Glyph:
    """Where a glyph's inked box is in the atlas, and where it sits in its line (all sizes
    in pixels at the raster size ``px``)."""

    u0: float
    v_top: float
    u1: float
    v_bottom: float
    w: float  # the inked box (transparent margins cropped: fewer pixels to draw)
    h: float
    advance: float  # pen advance
    px: int  # the raster size
    ox: float = 0.0  # the inked box's offset from the pen position and the line's top
    oy: float = 0.0
    line_h: float = 0.0  # the height of a whole line


@dataclass(frozen=True, slots=True)
class Bitmap:
    w: int
    h: int
    data: bytes  # RGBA rows, top first
    advance: float
    ox: int = 0
    oy: int = 0
    line_h: int = 0


def crop(w: int, h: int, data: bytes, advance: float) -> Bitmap:
    """The inked part of a ``w`` × ``h`` RGBA bitmap (alpha > 0), with its offset."""
    alpha = data[3::4]
    rows = [r for r in range(h) if any(alpha[r * w:(r + 1) * w])]
    cols = [c for c in range(w) if any(alpha[c::w])]
    if not rows or not cols:
        return Bitmap(0, 0, b"", advance, 0, 0, h)
    x0, x1, y0, y1 = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
    inked = b"".join(data[(r * w + x0) * 4:(r * w + x1) * 4] for r in range(y0, y1))
    return Bitmap(x1 - x0, y1 - y0, inked, advance, x0, y0, h)


class _ImageSink:
    """Stands in for a texture so a core label hands over its pixels without a GL upload."""

    data: Any = None

    def blit_data(self, data: Any) -> None:
        self.data = data


def rasterise(char: str, font_path: str, px: int) -> Bitmap:
    """One character in white, cropped to its ink."""
    from kivy.core.text import Label as CoreLabel

    label = CoreLabel(text=char, font_size=px, font_name=font_path, color=(1, 1, 1, 1))
    label.resolve_font_name()
    advance = float(label.get_extents(char)[0])
    size = label.render()  # the layout pass, as LabelBase.refresh() does it
    if size[0] <= 1 or size[1] <= 1:
        return Bitmap(0, 0, b"", advance, 0, 0, size[1])
    label._size = size  # refresh() records the size before the real pass, and so do we
    sink = _ImageSink()
    label.texture = sink
    label.render(real=True)
    data = sink.data
    return crop(data.width, data.height, bytes(data.data), advance)


class GlyphAtlas:
    """Glyph bitmaps packed on shelves in one texture (created on first :meth:`flush`)."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.generation = 0
        self.texture: Any = None
        self._fonts = _fonts()
        self._bitmaps: dict[tuple[str, str], Bitmap] = {}
        self._glyphs: dict[tuple[str, str], Glyph] = {}
        self._pack_all()

    # --- lookups -----------------------------------------------------------------------
    @property
    def white_uv(self) -> tuple[float, float]:
        return (WHITE / 2 / self.size, WHITE / 2 / self.size)

    def glyph(self, char: str, font: str = "text") -> Glyph:
        key = (font, char)
        found = self._glyphs.get(key)
        if found is None:
            path, px = self._fonts[font]
            self._bitmaps[key] = rasterise(char, path, px)
            if not self._place(key):
                self._grow()
            found = self._glyphs[key]
        return found

    def measure(self, text: str, size: float) -> float:
        """Width of ``text`` drawn ``size`` world units tall."""
        return sum(self.glyph(c).advance for c in text) * size / FONT_PX

    def fit(self, text: str, size: float, max_width: float) -> str:
        """``text`` cut with an ellipsis so it is at most ``max_width`` wide."""
        if self.measure(text, size) <= max_width:
            return text
        limit = max_width * FONT_PX / size - self.glyph(ELLIPSIS).advance
        used = 0.0
        for i, char in enumerate(text):
            used += self.glyph(char).advance
            if used > limit:
                return text[:i].rstrip() + ELLIPSIS
        return text

    def prewarm(self, chars: str) -> None:
        for char in chars:
            self.glyph(char)

    # --- packing -----------------------------------------------------------------------
    def _pack_all(self) -> None:
        self._pixels = bytearray(self.size * self.size * 4)
        row = b"\xff" * (WHITE * 4)
        for y in range(WHITE):
            start = y * self.size * 4
            self._pixels[start:start + WHITE * 4] = row
        self._shelf_x, self._shelf_y, self._shelf_h = WHITE + PAD, 0, WHITE + PAD
        self._glyphs = {}
        for key in self._bitmaps:
            if not self._place(key):
                raise RuntimeError("glyph atlas repacking failed")  # cannot happen: it only grows
        self._dirty = True

    def _place(self, key: tuple[str, str]) -> bool:
        bitmap = self._bitmaps[key]
        w, h = bitmap.w, bitmap.h
        cell_w, cell_h = w + PAD, h + PAD
        if self._shelf_x + cell_w > self.size:
            self._shelf_x, self._shelf_y, self._shelf_h = 0, self._shelf_y + self._shelf_h, 0
        if self._shelf_y + cell_h > self.size or cell_w > self.size:
            return False
        x, y = self._shelf_x, self._shelf_y
        stride = self.size * 4
        for row in range(h):
            start = (y + row) * stride + x * 4
            self._pixels[start:start + w * 4] = bitmap.data[row * w * 4:(row + 1) * w * 4]
        s = float(self.size)
        px = self._fonts[key[0]][1]
        self._glyphs[key] = Glyph(x / s, y / s, (x + w) / s, (y + h) / s, w, h, bitmap.advance, px,
                                  bitmap.ox, bitmap.oy, bitmap.line_h)
        self._shelf_x += cell_w
        self._shelf_h = max(self._shelf_h, cell_h)
        self._dirty = True
        return True

    def _grow(self) -> None:
        if self.size >= MAX_SIZE:
            raise RuntimeError(f"the canvas glyph atlas is full ({MAX_SIZE} px square)")
        self.size *= 2
        self.generation += 1
        if self.texture is not None:
            self.texture = None
        self._pack_all()

    def flush(self) -> Any:
        """Upload new glyphs (with mipmaps); returns the texture. Needs a GL context."""
        if self.texture is None:
            from kivy.graphics.texture import Texture

            self.texture = Texture.create(size=(self.size, self.size), colorfmt="rgba", mipmap=True)
            self.texture.min_filter = "linear_mipmap_linear"
            self.texture.mag_filter = "linear"
            self._dirty = True
        if self._dirty:
            self.texture.blit_buffer(bytes(self._pixels), colorfmt="rgba", bufferfmt="ubyte")
            self._dirty = False
        return self.texture


_shared: GlyphAtlas | None = None


def shared_atlas() -> GlyphAtlas:
    """The one atlas every canvas and minimap in the process draws with."""
    global _shared
    if _shared is None:
        _shared = GlyphAtlas()
        _shared.prewarm("".join(chr(c) for c in range(32, 127)) + ELLIPSIS + "·…")
    return _shared
