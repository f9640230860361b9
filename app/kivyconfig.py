"""Kivy settings DagFlux needs, applied before the window exists.

Right-click must open menus instead of leaving Kivy's red multitouch-emulation dots, Escape
must not quit, and the window is resizable with a sensible minimum.
"""

from __future__ import annotations


def configure(width: int = 1280, height: int = 800) -> None:
    from kivy.config import Config

    Config.set("kivy", "exit_on_escape", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "minimum_width", "800")
    Config.set("graphics", "minimum_height", "560")
