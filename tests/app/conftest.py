"""App tests: a real Kivy window (run the suite under ``xvfb-run -a``; without a display
SDL2 falls back to offscreen EGL). Kivy reads its environment when first imported, so it
is prepared here, before any test module imports Kivy."""

from __future__ import annotations

import os
import tempfile

os.environ["KIVY_HOME"] = tempfile.mkdtemp(prefix="dagflux-kivy-home-")
os.environ["KIVY_NO_ARGS"] = "1"
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")

from app import kivyconfig  # noqa: E402  (after the environment above)

kivyconfig.configure(width=1280, height=800)
