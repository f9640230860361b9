"""Shared fixtures: every test gets its own DAGFLUX_HOME; nothing touches user data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import keychain

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def secret_service(tmp_path_factory: pytest.TempPathFactory):
    """A private unlocked Secret Service for the whole session (before any worker starts,
    so workers and engine subprocesses inherit it). None where dbus/gnome-keyring are missing."""
    if not keychain.available():
        yield None
        return
    service = keychain.SecretService(tmp_path_factory.mktemp("secret_service"))
    saved = {k: os.environ.get(k) for k in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "XDG_DATA_HOME",
                                            "GNOME_KEYRING_CONTROL")}
    os.environ.update(service.start())
    try:
        yield service
    finally:
        service.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def keyring_ready(secret_service):
    if secret_service is None:
        pytest.skip("dbus-daemon and gnome-keyring-daemon are not installed (`bash dev setup` installs them)")
    return secret_service


@pytest.fixture(autouse=True)
def dagflux_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("dagflux_home")
    monkeypatch.setenv("DAGFLUX_HOME", str(home))
    return home


@pytest.fixture
def cli(dagflux_home: Path):
    """Run the real ``dagflux`` CLI in a subprocess; returns CompletedProcess."""

    def run(*args: str, timeout: float = 120, cwd: Path | None = None,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, DAGFLUX_HOME=str(dagflux_home))
        return subprocess.run([sys.executable, "-m", "engine.cli", *map(str, args)], capture_output=True,
                              text=True, timeout=timeout, cwd=cwd or REPO, env=env, input=input)

    return run
