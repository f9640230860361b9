"""The data-dir pointer: DAGFLUX_HOME wins, then an absolute path in the pointer file, then the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import paths


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Config and data dirs of a throw-away user; DAGFLUX_HOME unset."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("DAGFLUX_HOME", raising=False)
    return tmp_path


def _point_at(text: str) -> Path:
    pointer = paths.pointer_file()
    pointer.parent.mkdir(parents=True, exist_ok=True)
    pointer.write_text(text, encoding="utf-8")
    return pointer


def test_the_pointer_file_lives_in_the_user_config_dir(xdg: Path) -> None:
    assert paths.pointer_file() == xdg / "config" / "dagflux" / "data-dir"


def test_without_a_pointer_the_platform_data_dir_is_used(xdg: Path) -> None:
    assert paths.data_dir() == xdg / "data" / "dagflux"
    assert not (xdg / "data" / "dagflux").exists()  # nothing is created by asking


def test_an_absolute_pointer_is_honoured(xdg: Path) -> None:
    chosen = xdg / "elsewhere" / "dagflux data"
    _point_at(f"{chosen}\n")
    assert paths.data_dir() == chosen
    assert paths.default_paths().history == chosen / "history.sqlite"


def test_dagflux_home_wins_over_the_pointer(xdg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _point_at(str(xdg / "elsewhere"))
    monkeypatch.setenv("DAGFLUX_HOME", str(xdg / "from-env"))
    assert paths.data_dir() == xdg / "from-env"


@pytest.mark.parametrize("text", ["", "   \n", "relative/dir", "./here"])
def test_an_empty_or_relative_pointer_is_ignored(xdg: Path, text: str) -> None:
    _point_at(text)
    assert paths.data_dir() == xdg / "data" / "dagflux"


def test_an_unreadable_pointer_is_ignored(xdg: Path) -> None:
    pointer = _point_at(str(xdg / "elsewhere"))
    pointer.write_bytes(b"\xff\xfe not utf-8")
    assert paths.data_dir() == xdg / "data" / "dagflux"
    pointer.unlink()
    pointer.mkdir()  # reading a folder is an OSError
    assert paths.data_dir() == xdg / "data" / "dagflux"
