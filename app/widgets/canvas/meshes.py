"""Batched geometry: many shapes, lines and glyphs in a few ``Mesh`` instructions.

Every vertex is ``x, y, u, v, r, g, b, a`` (world position, atlas texture coordinate,
colour). Text is drawn with a shader that multiplies the atlas sample by the vertex
colour; shapes and lines with one that uses the vertex colour alone (their texture
coordinates point at the atlas's white block, so either shader draws them right). A Kivy
mesh indexes its vertices with 16-bit numbers, so a builder starts a new chunk before one
would pass 65,535 vertices. Builders only collect numbers (``array('f')``);
:meth:`MeshBuilder.meshes` turns them into instructions.

The shaders (:func:`install_shader`) are installed on the canvas's ``RenderContext`` pair
and on the minimap's ``Fbo``.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import Any

from app.widgets.canvas.labels import GlyphAtlas

RGBA = tuple[float, float, float, float]
Point = tuple[float, float]
FORMAT = [(b"vPosition", 2, "float"), (b"vTexCoords0", 2, "float"), (b"vColor", 4, "float")]
MAX_VERTICES = 65000

VERTEX_SHADER = """
#ifdef GL_ES
    precision highp float;
#endif
attribute vec2 vPosition;
attribute vec2 vTexCoords0;
attribute vec4 vColor;
uniform mat4 modelview_mat;
uniform mat4 projection_mat;
uniform float opacity;
varying vec4 frag_color;
varying vec2 tex_coord0;
void main() {
    frag_color = vec4(vColor.rgb, vColor.a * opacity);
    tex_coord0 = vTexCoords0;
    gl_Position = projection_mat * modelview_mat * vec4(vPosition, 0.0, 1.0);
}
"""

TEXT_FRAGMENT_SHADER = """
#ifdef GL_ES
    precision highp float;
#endif
varying vec4 frag_color;
varying vec2 tex_coord0;
uniform sampler2D texture0;
void main() {
    gl_FragColor = frag_color * texture2D(texture0, tex_coord0);
}
"""

# Shapes never sample the atlas: a trilinear texture fetch per pixel is what software GL
# spends most on when nodes cover much of the screen (~20 % of a frame here).
SOLID_FRAGMENT_SHADER = """
#ifdef GL_ES
    precision highp float;
#endif
varying vec4 frag_color;
varying vec2 tex_coord0;
void main() {
    gl_FragColor = frag_color;
}
"""


def install_shader(render_context: Any, textured: bool = False) -> None:
    """Give a RenderContext (or Fbo) the per-vertex-colour shader; ``textured`` multiplies
    the colour by the atlas (text), else the atlas is ignored (solid shapes, lines)."""
    shader = render_context.shader
    # The fragment shader first: it links with Kivy's default vertex shader, then ours.
    shader.fs = TEXT_FRAGMENT_SHADER if textured else SOLID_FRAGMENT_SHADER
    shader.vs = VERTEX_SHADER
    if not shader.success:
        raise RuntimeError("the canvas shader did not compile (see the Kivy log)")


class MeshBuilder:
    """Collects triangles (or lines, ``mode='lines'``) in chunks of at most 65,000 vertices."""

    def __init__(self, atlas: GlyphAtlas, mode: str = "triangles") -> None:
        self.atlas = atlas
        self.mode = mode
        self.wu, self.wv = atlas.white_uv
        self._chunks: list[tuple[array, array]] = []
        self._verts = array("f")
        self._indices = array("H")
        self._count = 0

    @property
    def empty(self) -> bool:
        return self._count == 0 and not self._chunks

    def _reserve(self, n: int) -> int:
        if self._count + n > MAX_VERTICES:
            self._chunks.append((self._verts, self._indices))
            self._verts, self._indices, self._count = array("f"), array("H"), 0
        base = self._count
        self._count += n
        return base

    def _vertex(self, x: float, y: float, c: RGBA, u: float | None = None, v: float | None = None) -> None:
        self._verts.extend((x, y, self.wu if u is None else u, self.wv if v is None else v, *c))

    # --- solid shapes --------------------------------------------------------------------
    def rect(self, x0: float, y0: float, x1: float, y1: float, c: RGBA) -> None:
        base = self._reserve(4)
        wu, wv = self.wu, self.wv
        r, g, b, a = c
        self._verts.extend((x0, y0, wu, wv, r, g, b, a, x1, y0, wu, wv, r, g, b, a,
                            x1, y1, wu, wv, r, g, b, a, x0, y1, wu, wv, r, g, b, a))
        self._indices.extend((base, base + 1, base + 2, base + 2, base + 3, base))

    def polygon(self, points: Sequence[Point], c: RGBA) -> None:
        """A convex polygon, as a fan from its first point."""
        base = self._reserve(len(points))
        for x, y in points:
            self._vertex(x, y, c)
        for i in range(1, len(points) - 1):
            self._indices.extend((base, base + i, base + i + 1))

    def ring(self, outer: Sequence[Point], inner: Sequence[Point], c: RGBA) -> None:
        """The band between two closed outlines with the same number of points."""
        n = len(outer)
        base = self._reserve(2 * n)
        for (ox, oy), (ix, iy) in zip(outer, inner):
            self._vertex(ox, oy, c)
            self._vertex(ix, iy, c)
        for i in range(n):
            a, b = base + 2 * i, base + 2 * ((i + 1) % n)
            self._indices.extend((a, b, a + 1, a + 1, b, b + 1))

    def disc(self, cx: float, cy: float, radius: float, c: RGBA, sides: int = 12) -> None:
        self.polygon(circle(cx, cy, radius, sides), c)

    def stroke(self, pts: Sequence[Point], width: float, c: RGBA) -> None:
        """A polyline ``width`` thick (a triangle strip with mitred joints)."""
        n = len(pts)
        if n < 2:
            return
        base = self._reserve(2 * n)
        half = width / 2
        for i, (x, y) in enumerate(pts):
            ax, ay = pts[max(i - 1, 0)]
            bx, by = pts[min(i + 1, n - 1)]
            dx, dy = bx - ax, by - ay
            length = math.hypot(dx, dy) or 1.0
            nx, ny = -dy / length * half, dx / length * half
            self._vertex(x + nx, y + ny, c)
            self._vertex(x - nx, y - ny, c)
        for i in range(n - 1):
            a = base + 2 * i
            self._indices.extend((a, a + 2, a + 1, a + 1, a + 2, a + 3))

    # --- lines (mode='lines') ------------------------------------------------------------
    def polyline(self, pts: Sequence[Point], c: RGBA) -> None:
        """One-pixel line segments joining ``pts`` (for a builder in ``lines`` mode)."""
        base = self._reserve(len(pts))
        for x, y in pts:
            self._vertex(x, y, c)
        for i in range(len(pts) - 1):
            self._indices.extend((base + i, base + i + 1))

    # --- text ----------------------------------------------------------------------------
    def text(self, text: str, x: float, y_top: float, size: float, c: RGBA, font: str = "text") -> float:
        """Glyph quads for ``text`` with its line's top-left at (x, y_top), ``size`` world
        units per raster em; returns the pen position after the last glyph."""
        atlas = self.atlas
        for char in text:
            g = atlas.glyph(char, font)
            k = size / g.px
            if g.w:
                gx, gy = x + g.ox * k, y_top + g.oy * k
                self._glyph_quad(gx, gy, gx + g.w * k, gy + g.h * k, g, c)
            x += g.advance * k
        return x

    def icon(self, char: str, x: float, y_top: float, size: float, c: RGBA) -> None:
        if char:
            g = self.atlas.glyph(char, "icon")
            k = size / g.px
            if g.w:
                gx, gy = x + g.ox * k, y_top + g.oy * k
                self._glyph_quad(gx, gy, gx + g.w * k, gy + g.h * k, g, c)

    def _glyph_quad(self, x0: float, y0: float, x1: float, y1: float, g: Any, c: RGBA) -> None:
        base = self._reserve(4)
        r, gg, b, a = c
        # World y grows down and the atlas stores bitmap rows top first: top edge -> v_top.
        self._verts.extend((x0, y0, g.u0, g.v_top, r, gg, b, a, x1, y0, g.u1, g.v_top, r, gg, b, a,
                            x1, y1, g.u1, g.v_bottom, r, gg, b, a, x0, y1, g.u0, g.v_bottom, r, gg, b, a))
        self._indices.extend((base, base + 1, base + 2, base + 2, base + 3, base))

    # --- output --------------------------------------------------------------------------
    def chunks(self) -> list[tuple[array, array]]:
        out = list(self._chunks)
        if self._count:
            out.append((self._verts, self._indices))
        return out

    def meshes(self, texture: Any) -> list[Any]:
        from kivy.graphics import Mesh

        return [Mesh(vertices=v, indices=i, fmt=FORMAT, mode=self.mode, texture=texture) for v, i in self.chunks()]


def circle(cx: float, cy: float, radius: float, sides: int = 12) -> list[Point]:
    return [(cx + radius * math.cos(2 * math.pi * i / sides), cy + radius * math.sin(2 * math.pi * i / sides))
            for i in range(sides)]


def rounded_rect(x0: float, y0: float, x1: float, y1: float, r: float,
                 corners: tuple[bool, bool, bool, bool] = (True, True, True, True), steps: int = 2) -> list[Point]:
    """A convex outline with rounded (top-left, top-right, bottom-right, bottom-left) corners
    (y grows down), ``steps`` segments per corner; clockwise on screen from the top-left."""
    out: list[Point] = []
    spec = ((x0 + r, y0 + r, math.pi, corners[0]), (x1 - r, y0 + r, 1.5 * math.pi, corners[1]),
            (x1 - r, y1 - r, 0.0, corners[2]), (x0 + r, y1 - r, 0.5 * math.pi, corners[3]))
    sharp = ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
    for (cx, cy, start, rounded), corner in zip(spec, sharp):
        if not rounded or r <= 0:
            out.append(corner)
            continue
        for k in range(steps + 1):
            angle = start + (math.pi / 2) * k / steps
            out.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return out

