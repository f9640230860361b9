"""App tests: a real Kivy window (run the suite under ``xvfb-run -a``; without a display
SDL2 falls back to offscreen EGL). Kivy reads its environment when first imported, so it
is prepared here, before any test module imports Kivy."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ["KIVY_HOME"] = tempfile.mkdtemp(prefix="dagflux-kivy-home-")
os.environ["KIVY_NO_ARGS"] = "1"
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")

from app import kivyconfig  # noqa: E402  (after the environment above)

kivyconfig.configure(width=1280, height=800)


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, dagflux_home: Path):
    """The whole app with its own engine on a temporary data dir (``DAGFLUX_HOME``), built
    into the window; its engine is shut down afterwards and the bridge starts no other. A
    test module may define an ``app`` of its own instead."""
    from app.main import build_app_class
    from tests.app.kivyrun import running, wait_until

    monkeypatch.setenv("DAGFLUX_WEBHOOK_PORT", "0")
    application = build_app_class()()
    with running(application):
        wait_until(lambda: application.engine_ok, 30, "the engine link")
        try:
            yield application
        finally:
            try:
                application.bridge.start_engine = False  # no new engine after this one
                application.bridge.call_blocking("shutdown", timeout=10)
            except Exception:  # noqa: BLE001 - already gone
                pass


EXAMPLE_WF = "orders_report"


@pytest.fixture
def editor(app, tmp_path: Path):
    """The Editor screen with the example workflow (copied to ``tmp_path``, imported) open
    and laid out. A test module may extend it with an ``editor(editor)`` fixture of its own."""
    from tests.app.kivyrun import REPO, settle, sliding, wait_until

    folder = tmp_path / EXAMPLE_WF
    shutil.copytree(REPO / "examples" / EXAMPLE_WF, folder, ignore=shutil.ignore_patterns("out"))
    (folder / "out").mkdir()
    app.bridge.call_blocking("workflows.import", path=str(folder / f"{EXAMPLE_WF}.json"))
    screen = app.open_workflow(EXAMPLE_WF)
    wait_until(lambda: screen.document is not None and screen.document.workflow.id == EXAMPLE_WF, 15,
               "the workflow")
    # The Editor slides in: until it is in place, positions read from it are stale and its
    # ScreenManager ignores touches (settle() does not wait for animations).
    wait_until(lambda: not sliding(), 15, "the Editor to slide in")
    settle()
    return screen
