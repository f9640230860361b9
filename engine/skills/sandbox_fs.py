"""What a code skill may touch on disk, applied with Landlock where the kernel has it.

A Python skill runs in a fresh worker (:mod:`engine.skills.python_skill`). Before its code
runs, :func:`confine` allows, for that process and everything it starts:

* read (and execute): the system (``/usr``, ``/lib*``, ``/bin``, ``/sbin``, ``/etc``),
  ``/proc`` and ``/sys``, the Python installation, the virtualenv and every import path;
* read and write: ``/dev`` (``/dev/null``, ``/dev/urandom``) and a private temp folder made
  for this one task (``TMPDIR`` points at it);
* the workspace database files — only them — read and write (the worker writes the
  skill's output there; a "try on sample" works on a scratch copy inside the private temp
  folder).

The private temp folder is made by the pool for each isolated worker and removed by the
pool when the worker has ended (:data:`PRIVATE_TMP`, set before the task): a confined
process could empty it but not remove it.

Nothing else: not the data dir's other files (the engine's IPC key, the history,
connections), not the user's home (the keychain's files live there), not other users'
homes, not ``/tmp``. A folder granted above that holds the data dir (a checkout with
``.dagflux-example`` in it) is granted around it. :func:`status` says which protection
this machine gives, for ``dagflux engine status``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from engine.private import create_private_file
from engine.skills import landlock

SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc", "/proc", "/sys")
WORKSPACE_SUFFIXES = ("", "-wal", "-shm", "-journal", ".lease")
_DB_RIGHTS = landlock.READ_FILE | landlock.WRITE_FILE | landlock.TRUNCATE
PRIVATE_TMP: Path | None = None
"""This worker's temp folder, made and removed by the pool (see :func:`use_private_tmp`)."""


def use_private_tmp(folder: str) -> None:
    """In an isolated worker, before any task: temp files go to ``folder``."""
    global PRIVATE_TMP
    PRIVATE_TMP = Path(folder)
    os.environ["TMPDIR"] = folder
    tempfile.tempdir = folder


def status() -> str:
    """``landlock (ABI n)`` where code skills are confined, else ``unsandboxed``."""
    version = landlock.abi()
    return f"landlock (ABI {version})" if version else "unsandboxed"


def confine(workspace_path: Path | None) -> bool:
    """Confine this process (see module doc); False where Landlock is not available
    (nothing is changed then). Without :data:`PRIVATE_TMP` no temp folder is writable."""
    if not landlock.abi():
        return False
    rules = _read_rules(workspace_path)
    rules.append((Path("/dev"), landlock.READ | landlock.WRITE_FILE | landlock.IOCTL_DEV))
    private_tmp = PRIVATE_TMP.resolve() if PRIVATE_TMP is not None else None
    if private_tmp is not None:
        rules.append((private_tmp, landlock.READ_WRITE))
    if workspace_path is not None and (private_tmp is None
                                       or private_tmp not in Path(workspace_path).resolve().parents):
        create_private_file(Path(f"{workspace_path}.lease"))  # made on first use: the rule needs it now
        rules += [(Path(f"{workspace_path}{suffix}"), _DB_RIGHTS) for suffix in WORKSPACE_SUFFIXES]
    return landlock.restrict(rules)


def _read_rules(workspace_path: Path | None) -> list[tuple[Path, int]]:
    from engine.paths import data_dir

    hidden = {Path.home().resolve(), data_dir()}
    if workspace_path is not None:
        hidden.add(Path(workspace_path).resolve().parent)
    roots = {Path(p) for p in SYSTEM_READ}
    roots |= {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    roots |= {Path(p) for p in sys.path if p and p != "."}
    rules: list[tuple[Path, int]] = []
    for root in sorted(roots):
        rules += [(p, landlock.READ) for p in _around(root.resolve() if root.exists() else root, hidden)]
    return rules


def _around(root: Path, hidden: set[Path]) -> list[Path]:
    """``root``, or when a hidden folder lies inside it (or is it), everything in ``root``
    except the way to that folder — recursively, so only the hidden folder is left out."""
    inside = [h for h in hidden if h == root or root in h.parents]
    if not inside:
        return [root]
    if root in inside:
        return []
    try:
        children = list(root.iterdir())
    except OSError:
        return []
    return [p for child in children for p in _around(child, hidden)]
