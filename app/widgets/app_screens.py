"""The app's screen stack and window background, painted once per pixel where possible.

On a software GL (llvmpipe, what a machine without a GPU driver gets) every full-window
layer costs about a whole frame of an empty canvas (~12 ms on two cores at 1280×800),
whether it is opaque or fully transparent, and Kivy redraws every layer on every frame.
The Editor used to stack ten such layers under its canvas: the root's and each container's
background rectangle (KivyMD draws one even when its colour is transparent) and the
ScreenManager's stencil clip (a full rectangle drawn into the stencil buffer on push and
again on pop). So:

* the window itself is cleared with the theme's surface colour (:func:`paint_window`),
  which is what the root's background used to paint;
* :class:`AppScreens` is the KivyMD screen manager (its transitions) without Kivy's
  stencil clip and without a background. Its shared-axis transition moves a screen by a
  few dp while fading it, so nothing needs clipping; and no scissor either, which would
  also clip what the screens draw into offscreen textures (:mod:`app.widgets.cached_band`).
"""

from __future__ import annotations

from typing import Any

from kivy.core.window import Window
from kivy.lang import Builder
from kivymd.uix.screenmanager import MDScreenManager

Builder.load_string("""
<-AppScreens>:
""", filename="app_screens.kv")


class AppScreens(MDScreenManager):
    """An ``MDScreenManager`` that paints nothing itself (see the module docstring)."""


def paint_window(theme_cls: Any) -> None:
    """Clear the window with ``theme_cls.surfaceColor``, now and whenever the theme changes."""

    def apply(*_args: Any) -> None:
        Window.clearcolor = list(theme_cls.surfaceColor)

    theme_cls.bind(surfaceColor=apply, theme_style=apply)
    apply()
