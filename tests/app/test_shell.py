"""The app shell: attaches to (or starts) the engine, shows when it is unreachable, reconnects."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.main import build_app_class
from tests.app.kivyrun import running, screenshot, wait_until


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DAGFLUX_WEBHOOK_PORT", "0")


def _shutdown(app) -> None:
    try:
        app.bridge.start_engine = False  # the bridge must not start a new engine after this
        app.bridge.call_blocking("shutdown", timeout=10)
    except Exception:  # noqa: BLE001 - already gone is fine here
        pass


def test_the_app_starts_an_engine_and_shows_the_workflows_screen(app_env, dagflux_home: Path) -> None:
    app = build_app_class()()
    with running(app):
        try:
            wait_until(lambda: app.engine_ok, 30, "the engine link")
            assert app.root.ids.screens.current == "workflows"
            status = app.bridge.call_blocking("status")
            assert Path(status["data_dir"]) == dagflux_home
            assert screenshot("shell_workflows").stat().st_size > 0
        finally:
            _shutdown(app)


def test_an_unreachable_engine_is_shown_and_the_app_reconnects(app_env, dagflux_home: Path) -> None:
    from tests.integration.engine_harness import EngineProcess

    app = build_app_class()(start_engine=False)
    with running(app):
        wait_until(lambda: app.bridge.state == "unreachable", 45, "the unreachable state")
        assert not app.engine_ok
        assert app.root.ids.banner.opacity == 1
        engine = EngineProcess(dagflux_home)
        try:
            wait_until(lambda: app.engine_ok, 30, "reconnecting")
            assert app.root.ids.banner.opacity == 0
        finally:
            engine.stop()
        wait_until(lambda: app.bridge.state == "unreachable", 45, "losing the engine")
        assert os.environ["DAGFLUX_HOME"] == str(dagflux_home)
