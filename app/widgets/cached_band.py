"""A band of chrome (a toolbar, the palette) drawn from a cached picture.

Kivy redraws every instruction of every widget on every frame while anything on screen
moves; on a software GL a toolbar of KivyMD buttons and labels costs as much as the whole
canvas beside it (measured with ``bench/canvas.py``). A :class:`CachedBand` draws its
children into an offscreen texture (``Fbo``) which Kivy re-renders only when one of their
instructions changed (a label's text, a hover, a ripple), and otherwise paints the band
as one opaque textured rectangle (no blending: the band covers what is below).

The children stay ordinary widgets in the widget tree — touches, focus and layout are
untouched; only where their canvases are drawn changes (the ``EffectWidget`` technique of
swapping ``self.canvas`` while Kivy attaches a child's canvas).
"""

from __future__ import annotations

from typing import Any

from kivy.graphics import Callback, ClearBuffers, ClearColor, Color, Fbo, PopMatrix, PushMatrix, Rectangle, Translate
from kivy.graphics import opengl as gl
from kivy.properties import ColorProperty
from kivy.uix.boxlayout import BoxLayout


class CachedBand(BoxLayout):
    bg = ColorProperty([0, 0, 0, 1])
    """The band's (opaque) background colour."""

    def __init__(self, **kwargs: Any) -> None:
        self._fbo = Fbo(size=(1, 1), with_stencilbuffer=True)
        with self._fbo.before:
            self._clear = ClearColor(0, 0, 0, 1)
            ClearBuffers()
            PushMatrix()
            self._shift = Translate(0, 0)
        with self._fbo.after:
            PopMatrix()
        super().__init__(**kwargs)
        self.canvas.before.add(self._fbo)   # re-rendered only when something inside changed
        with self.canvas.before:
            Callback(lambda _instr: gl.glDisable(gl.GL_BLEND))
            Color(1, 1, 1, 1)
            self._picture = Rectangle(texture=self._fbo.texture)
            Callback(lambda _instr: gl.glEnable(gl.GL_BLEND))
        self.bind(pos=self._placed, size=self._placed, bg=self._painted)
        self._painted()
        self._placed()

    def _painted(self, *_args: Any) -> None:
        self._clear.rgba = list(self.bg[:3]) + [1]
        self._fbo.ask_update()

    def _placed(self, *_args: Any) -> None:
        w, h = max(int(round(self.width)), 1), max(int(round(self.height)), 1)
        if tuple(self._fbo.size) != (w, h):
            self._fbo.size = (w, h)
            self._picture.texture = self._fbo.texture
        self._shift.xy = (-self.x, -self.y)
        self._picture.pos = (self.x, self.y)
        self._picture.size = (w, h)
        self._fbo.ask_update()

    # Children draw into the Fbo: Kivy attaches a child's canvas to ``self.canvas``.
    def add_widget(self, widget: Any, *args: Any, **kwargs: Any) -> None:
        canvas, self.canvas = self.canvas, self._fbo
        try:
            super().add_widget(widget, *args, **kwargs)
        finally:
            self.canvas = canvas

    def remove_widget(self, widget: Any, *args: Any, **kwargs: Any) -> None:
        canvas, self.canvas = self.canvas, self._fbo
        try:
            super().remove_widget(widget, *args, **kwargs)
        finally:
            self.canvas = canvas
