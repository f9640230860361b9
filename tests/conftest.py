"""Shared fixtures: every test gets its own DAGFLUX_HOME; nothing touches user data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


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
