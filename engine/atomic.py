"""Atomic file writes: temp file in the same folder, fsync, rename.

A crash at any moment leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from engine.debris import journalled


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``.

    The caller writes the temp file by any means (a library that wants a path).
    On an exception the temp file is removed and ``target`` is untouched. The temp file
    (``.<name>.<random><suffix>.tmp``, mode 0600) is journalled before it exists, so if the
    process is killed, the next start removes it (:mod:`engine.debris`).
    """
    target = Path(target)
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}{suffix}.tmp"
    with journalled(tmp):
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            yield tmp
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise


@contextlib.contextmanager
def atomic_open(target: str | os.PathLike[str], mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temp file for writing; it atomically replaces ``target`` on success."""
    if "w" not in mode:
        raise ValueError("atomic_open is for writing")
    with atomic_path(target) as tmp:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()


def atomic_write_text(target: str | os.PathLike[str], text: str) -> None:
    with atomic_open(target, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
