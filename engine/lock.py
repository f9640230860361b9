"""The data-dir lock: whoever holds it is the engine, the only writer of workflow
files and ``history.sqlite``.

An exclusive ``flock`` on ``<data dir>/engine.lock``; the kernel drops it when the
holder dies, so a lock left by a killed process is never stale. The file records
the holder's pid and role so a refused process can say who holds it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from engine.errors import LockHeldError


class DataDirLock:
    def __init__(self, path: str | os.PathLike[str], role: str = "run") -> None:
        self.path = Path(path)
        self.role = role
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait: bool = False, on_wait=None) -> None:
        """Take the lock; raise :class:`LockHeldError` (or wait, calling ``on_wait(holder)`` once)."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if not _try_lock(fd):
                holder = read_holder(self.path)
                if not wait:
                    raise LockHeldError(_held_message(self.path, holder), holder.get("pid"))
                if on_wait is not None:
                    on_wait(holder)
                _lock(fd)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "role": self.role,
                                      "since": time.time()}).encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_holder(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _held_message(path: Path, holder: dict) -> str:
    who = f"process {holder['pid']}" if holder.get("pid") else "another process"
    role = {"engine": "the DagFlux engine", "run": "a `dagflux run`"}.get(holder.get("role", ""), "")
    return f"{who}{' (' + role + ')' if role else ''} holds the data-dir lock {path}"


def _try_lock(fd: int) -> bool:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _lock(fd: int) -> None:
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX)
