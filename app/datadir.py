"""Moving the app (and its engine) to another data directory.

:func:`check_choice` turns what the user typed into an absolute folder or raises
:class:`DataDirError` saying why not. :func:`switch_data_dir` then, on the Kivy main thread:

1. creates the new folder's layout (``ensure_data_dir``) and records the choice in the
   pointer file :func:`engine.paths.pointer_file` — both *before* anything is stopped, so a
   folder or pointer that cannot be written leaves the app as it was;
2. closes every other screen built so far (the editor saves first) and drops it: they
   show the old folder and hold the old bridge, and are built again when next opened;
3. asks the old engine to shut down (``shutdown`` through the old bridge) with the old bridge
   told not to start a new one, then stops that bridge;
4. points the app at the new folder — ``app.paths``, its settings (the theme carries over
   to a folder that has none yet), its installed plugins — and attaches a new
   :class:`~app.bridge.EngineBridge`, which starts an engine there.

``DAGFLUX_HOME`` always wins over the pointer at the next start. When this process was
started with it set, it is set to the new folder too, so everything started from here on
(the engine, an autostart entry) agrees with the app.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.bridge import EngineBridge
from app.settings_store import AppSettings
from engine.atomic import atomic_write_text
from engine.errors import DagfluxError
from engine.paths import ENV_VAR, DataPaths, ensure_data_dir, pointer_file
from engine.plugins import load_registry

SHUTDOWN_TIMEOUT_S = 10.0
KEPT_SCREENS = ("settings",)  # the screen the move is made from follows app.bridge itself


class DataDirError(DagfluxError):
    """The chosen data directory cannot be used; the message says why."""


def check_choice(text: str, current: Path) -> Path:
    """The folder the user typed, as an absolute path, or DataDirError."""
    text = text.strip()
    if not text:
        raise DataDirError("type the folder to keep DagFlux data in")
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise DataDirError(f"'{text}' is not an absolute path; start it with / or ~")
    path = path.resolve()
    if path == Path(current).resolve():
        raise DataDirError(f"{path} is already the data directory")
    if path.exists() and not path.is_dir():
        raise DataDirError(f"{path} is a file, not a folder")
    return path


def remember(root: Path) -> Path:
    """Write ``root`` into the pointer file (atomically); returns the pointer's path."""
    pointer = pointer_file()
    try:
        pointer.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(pointer, f"{root}\n")
    except OSError as exc:
        raise DataDirError(f"cannot record the data directory in {pointer}: {exc.strerror or exc}") from None
    return pointer


def switch_data_dir(app: Any, root: Path, on_done: Callable[[DataPaths], None] | None = None) -> DataPaths:
    """Move ``app`` to ``root`` (main thread); ``on_done(paths)`` runs once the new bridge started.

    Raises DataDirError, with nothing changed, when the folder or the pointer cannot be written.
    """
    try:
        paths = ensure_data_dir(DataPaths(Path(root)))
    except OSError as exc:
        raise DataDirError(f"cannot use {root} as the data directory: {exc.strerror or exc}") from None
    remember(paths.root)
    old = app.bridge
    retire_screens(app)

    def finish(_outcome: object = None) -> None:
        attach(app, paths)
        if on_done is not None:
            on_done(paths)

    def shut_down(_status: object = None) -> None:
        old.call("shutdown", on_result=finish, on_error=finish, timeout=SHUTDOWN_TIMEOUT_S)

    if old is not None and old.connected:
        old.start_engine = False  # the old link must not start again what we stop
        # one round trip first, so what the retired screens just sent (an editor's last
        # autosave) is most likely handled before the engine is told to stop
        old.call("status", on_result=shut_down, on_error=shut_down, timeout=SHUTDOWN_TIMEOUT_S)
    else:
        finish()
    return paths


def retire_screens(app: Any, keep: tuple[str, ...] = KEPT_SCREENS) -> list[str]:
    """Close and drop every built screen but ``keep``: they show the old data dir and hold
    the old bridge. ``app.open_screen`` builds them again, on the new one. Returns their names."""
    return app.forget_screens(keep=keep)


def attach(app: Any, paths: DataPaths) -> EngineBridge:
    """Stop the app's bridge and give it a new one on ``paths`` (main thread)."""
    old = app.bridge
    if old is not None:
        old.start_engine = False
        old.stop()
    if os.environ.get(ENV_VAR):
        os.environ[ENV_VAR] = str(paths.root)
    app.paths = paths
    app.settings_store = _settings_for(paths, app.settings_store)
    app.registry = load_registry([paths.plugins])
    app.apply_theme(app.settings_store.get("theme"))
    bridge = EngineBridge(paths, start_engine=True)
    app.attach_bridge(bridge)
    return bridge


def _settings_for(paths: DataPaths, previous: AppSettings | None) -> AppSettings:
    """The new folder's preferences; a folder without any keeps the current theme."""
    settings = AppSettings(paths.root)
    if previous is not None and not settings.path.exists():
        settings.set("theme", previous.get("theme"))
    return settings
