"""The data directory is private to its owner: folders 0700, files 0600.

It holds the workspace (every node's data), the execution log, connection metadata, the
engine's IPC key and log. Nothing in it is for other users, whatever the umask.

* :func:`create_private_file` makes a file 0600 before a library opens it (SQLite gives
  its ``-wal``/``-shm``/``-journal`` files the main database's mode, so they follow).
* :func:`secure_data_dir` creates the folder 0700 and, at every start, takes group and
  other permissions off everything DagFlux keeps in it (an existing too-open data dir is
  fixed and the caller logs what changed). Other entries someone put in the folder keep
  their modes (the folder being 0700 already keeps them from other users); a data dir that
  is the user's home folder (or holds it) is never changed.
* :func:`inside_data_dir` tells a writer that a path is in the data dir, where a new export
  is 0600 and a new folder 0700 (outside it, the user's umask decides as usual).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_OPEN_BITS = 0o077

#: Everything DagFlux keeps at the top of a data dir (SQLite side files included).
OWN_NAMES = frozenset({
    "workspace.sqlite", "workspace.sqlite-wal", "workspace.sqlite-shm", "workspace.sqlite-journal",
    "workspace.sqlite.lease",
    "try-samples.sqlite", "try-samples.sqlite-wal", "try-samples.sqlite-shm", "try-samples.sqlite-journal",
    "try-samples.sqlite.lease",
    "history.sqlite", "history.sqlite-wal", "history.sqlite-shm", "history.sqlite-journal",
    "workflows", "chats", "plugins", "connections.json", "webhooks.json", "app-settings.json",
    "app-settings.json.broken", "engine.lock", "engine.key", "engine.log", "pending",
})


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist (never truncates)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
    os.close(fd)


def open_private_append(path: Path):
    """``open(path, "ab")`` for a file that must be 0600 when created (a log)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE), "ab")


def secure_data_dir(root: Path) -> list[Path]:
    """Create ``root`` (0700) if needed and make what DagFlux keeps in it private.
    Returns the paths whose modes were too open and were fixed."""
    root.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    fixed: list[Path] = []
    home = Path.home().resolve()
    if root.resolve() != home and root.resolve() not in home.parents:
        _tighten(root, fixed)
    for entry in root.iterdir():
        if entry.name in OWN_NAMES or _is_own_temp(entry.name):
            _tighten_tree(entry, fixed)
    return fixed


def inside_data_dir(path: Path) -> bool:
    """True when ``path`` lies in this process's data dir (``DAGFLUX_HOME`` or the default)."""
    from engine.paths import data_dir

    try:
        Path(path).resolve().relative_to(data_dir())
    except ValueError:
        return False
    return True


def _is_own_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def _tighten_tree(path: Path, fixed: list[Path]) -> None:
    _tighten(path, fixed)
    if path.is_dir() and not path.is_symlink():
        for dirpath, dirnames, filenames in os.walk(path):
            for name in dirnames + filenames:
                _tighten(Path(dirpath) / name, fixed)


def _tighten(path: Path, fixed: list[Path]) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & _OPEN_BITS == 0:
        return
    os.chmod(path, stat.S_IMODE(st.st_mode) & ~_OPEN_BITS)
    fixed.append(path)
