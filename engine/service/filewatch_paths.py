"""What a file watch subscribes to, decided from the file system as it is now (pure
helpers of :mod:`engine.service.filewatch`: no threads, no watchdog)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    mode: str                   # "folder" | "file" | "waiting" | "error"
    folder: str = ""            # what to subscribe to
    recursive: bool = False
    detail: str = ""
    ident: tuple[int, int] = (0, 0)     # (device, inode) of ``folder``


def plan(target: str, recursive: bool) -> Plan:
    """What to watch for ``target`` as the file system is now."""
    kind, problem, ident = kind_of(target)
    if kind == "dir":
        refused = denied(target, os.R_OK | os.X_OK, "folder")
        return Plan("error", detail=refused) if refused else Plan("folder", target, recursive, ident=ident)
    parent = os.path.dirname(target)
    if kind == "file":
        refused = denied(parent, os.R_OK | os.X_OK, "folder") or denied(target, os.R_OK, "file")
        return Plan("error", detail=refused) if refused else Plan("file", parent, ident=kind_of(parent)[2])
    if kind == "error":
        return Plan("error", detail=problem)
    return waiting_plan(target)


def waiting_plan(target: str) -> Plan:
    """Watch the nearest existing parent folder for ``target`` to appear."""
    folder = os.path.dirname(target)
    while True:
        kind, problem, ident = kind_of(folder)
        if kind == "dir":
            refused = denied(folder, os.R_OK | os.X_OK, "folder")
            detail = f"{target} does not exist yet; watching {folder} for it to appear"
            return Plan("error", detail=refused) if refused else Plan("waiting", folder, False, detail, ident)
        if kind == "file":
            return Plan("error", detail=f"{folder} is a file, not a folder, so {target} cannot appear")
        if kind == "error":
            return Plan("error", detail=problem)
        parent = os.path.dirname(folder)
        if parent == folder:    # pragma: no cover - the root always exists
            return Plan("error", detail=f"no parent folder of {target} exists")
        folder = parent


def kind_of(path: str) -> tuple[str, str, tuple[int, int]]:
    """``("dir" | "file" | "missing" | "error", problem, (device, inode))``.

    Anything that is not a folder counts as a file.
    """
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "missing", "", (0, 0)
    except PermissionError:
        return "error", f"permission denied: DagFlux cannot look into the folder holding {path}", (0, 0)
    except OSError as exc:
        return "error", f"cannot watch {path}: {reason(exc)}", (0, 0)
    return ("dir" if stat.S_ISDIR(st.st_mode) else "file"), "", (st.st_dev, st.st_ino)


def denied(path: str, mode: int, noun: str) -> str:
    if os.access(path, mode):
        return ""
    return f"permission denied: DagFlux cannot read the {noun} {path}"


def reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def norm(path: str | bytes) -> str:
    return os.path.normpath(os.fsdecode(path))


def on_route(target: str, path: str) -> bool:
    """``path`` is the target or one of the folders on the way to it."""
    return path == target or target.startswith(path.rstrip(os.sep) + os.sep)


def files_in(folder: str, recursive: bool) -> Iterator[str]:
    if not recursive:
        try:
            with os.scandir(folder) as entries:
                yield from (e.path for e in entries if e.is_file())
        except OSError:
            return
        return
    for root, _, files in os.walk(folder):
        yield from (os.path.join(root, name) for name in files)
