"""Where DagFlux keeps its data.

The user data directory comes from ``platformdirs``; the environment variable
``DAGFLUX_HOME`` overrides it (tests and benchmarks always set it to a temp dir).
Between the two sits the data dir the user chose in the app: an absolute path in the
pointer file ``<user config dir>/dagflux/data-dir`` (:func:`pointer_file`). Order:
``DAGFLUX_HOME``, then a readable absolute pointer, then the platform default; a missing,
empty, unreadable or relative pointer is ignored.
Nothing here creates a folder until :func:`ensure_data_dir` is called.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "DAGFLUX_HOME"
POINTER_NAME = "data-dir"


def data_dir() -> Path:
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser().resolve()
    chosen = _pointed_dir()
    if chosen is not None:
        return chosen
    import platformdirs

    return Path(platformdirs.user_data_dir("dagflux", appauthor=False))


def pointer_file() -> Path:
    """The file naming the data dir chosen in the app (honoured when DAGFLUX_HOME is unset)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("dagflux", appauthor=False)) / POINTER_NAME


def _pointed_dir() -> Path | None:
    try:
        text = pointer_file().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    path = Path(text).expanduser() if text else None
    return path.resolve() if path is not None and path.is_absolute() else None


@dataclass(frozen=True)
class DataPaths:
    """Every file location inside one data directory."""

    root: Path

    @property
    def workflows(self) -> Path:
        return self.root / "workflows"

    @property
    def connections(self) -> Path:
        return self.root / "connections.json"

    @property
    def workspace(self) -> Path:
        return self.root / "workspace.sqlite"

    @property
    def history(self) -> Path:
        return self.root / "history.sqlite"

    @property
    def chats(self) -> Path:
        return self.root / "chats"

    @property
    def plugins(self) -> Path:
        return self.root / "plugins"

    @property
    def lock(self) -> Path:
        return self.root / "engine.lock"


def default_paths() -> DataPaths:
    return DataPaths(data_dir())


def ensure_data_dir(paths: DataPaths) -> DataPaths:
    """Create the data dir and its folders, private to the user (0700 / 0600 files); a data
    dir left readable by others (an older version, a umask of 022, a copy) is fixed, and
    the fix is logged."""
    from engine.private import PRIVATE_DIR, secure_data_dir

    fixed = secure_data_dir(paths.root)
    for folder in (paths.workflows, paths.chats, paths.plugins):
        folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    if fixed:
        shown = ", ".join(str(p.relative_to(paths.root)) if p != paths.root else "." for p in fixed[:8])
        more = f" and {len(fixed) - 8} more" if len(fixed) > 8 else ""
        logging.getLogger("dagflux.paths").warning(
            "made %d path(s) in %s private (they were readable by other users): %s%s",
            len(fixed), paths.root, shown, more)
    return paths
