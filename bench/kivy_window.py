"""Set-up shared by the benchmarks that draw with Kivy: a private Kivy home and data dir, the app's
window configuration, and no frame-rate cap (so a frame's time is the work it does).

Import it before anything imports Kivy's window or graphics."""

from __future__ import annotations

import os
import tempfile


def configure_window(width: int, height: int) -> None:
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="dagflux-bench-kivy-"))
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ["DAGFLUX_HOME"] = tempfile.mkdtemp(prefix="dagflux-bench-home-")
    from app import kivyconfig

    kivyconfig.configure(width, height)
    from kivy.config import Config

    Config.set("graphics", "maxfps", "0")
