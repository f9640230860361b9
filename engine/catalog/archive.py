"""Safe unpacking of a plugin archive (a zip), and the hash check that comes first.

:func:`verify_file` checks length and SHA-256 against the index before anything reads the
archive as a zip. :func:`safe_extract` then inspects every entry before writing any:
refused are absolute paths (``/x``, ``\\x``, ``C:x``), ``..`` components, entries whose
mode is a symlink, device, fifo or anything but a regular file or folder (zip has no hard
links; a "link" can only be such a mode), names that collide after case folding (they
would overwrite each other on a case-insensitive file system), more than ``max_files``
entries, and a total declared size above ``max_bytes`` (a zip bomb). While writing, the
actual bytes are counted too (zipfile stops at the declared size and checks the CRC).
Files are written with mode 0600, folders 0700; nothing is executable.
"""

from __future__ import annotations

import hashlib
import re
import stat
import zipfile
from pathlib import Path, PurePosixPath

from engine.catalog import ArchiveError

MAX_FILES = 2000
MAX_BYTES = 256 * 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


def verify_file(path: Path, length: int, sha256: str, what: str) -> None:
    size = path.stat().st_size
    if size != length:
        raise ArchiveError(f"{what}: downloaded {size} bytes, the index says {length} (truncated or "
                           f"altered) — nothing was installed")
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise ArchiveError(f"{what}: SHA-256 {digest.hexdigest()} does not match the index's {sha256} "
                           f"(tampered) — nothing was installed")


def safe_extract(archive: Path, dest: Path, what: str, max_files: int = MAX_FILES,
                 max_bytes: int = MAX_BYTES) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            names = _check_entries(infos, what, max_files, max_bytes)
            dest.mkdir(mode=0o700, parents=True, exist_ok=True)
            written = 0
            for info, parts in zip(infos, names):
                written += _write_entry(zf, info, dest.joinpath(*parts), max_bytes - written, what)
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"{what}: not a valid zip archive ({exc})") from None


def _check_entries(infos: list[zipfile.ZipInfo], what: str, max_files: int,
                   max_bytes: int) -> list[tuple[str, ...]]:
    if len(infos) > max_files:
        raise ArchiveError(f"{what}: {len(infos)} entries, more than the {max_files} allowed (a zip bomb?)")
    declared = sum(i.file_size for i in infos)
    if declared > max_bytes:
        raise ArchiveError(f"{what}: unpacks to {declared} bytes, more than the {max_bytes} allowed (a zip bomb?)")
    seen: dict[str, str] = {}
    result = []
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or _DRIVE.match(name):
            raise ArchiveError(f"{what}: entry {name!r} has an absolute path")
        parts = tuple(p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", "."))
        if ".." in parts:
            raise ArchiveError(f"{what}: entry {name!r} leads outside the plugin folder ('..')")
        if not parts:
            raise ArchiveError(f"{what}: entry {name!r} has no name")
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if stat.S_ISLNK(mode):
            raise ArchiveError(f"{what}: entry {name!r} is a symbolic link")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise ArchiveError(f"{what}: entry {name!r} is not a regular file or folder (mode {oct(mode)})")
        folded = "/".join(parts).casefold()
        if folded in seen and not info.is_dir():
            raise ArchiveError(f"{what}: entries {seen[folded]!r} and {name!r} collide when case is ignored")
        seen[folded] = name
        result.append(parts)
    return result


def _write_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int, what: str) -> int:
    if info.is_dir():
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        return 0
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    written = 0
    with zf.open(info) as src, open(target, "xb") as out:
        target.chmod(0o600)
        for block in iter(lambda: src.read(1 << 20), b""):
            written += len(block)
            if written > budget:
                raise ArchiveError(f"{what}: unpacks to more bytes than allowed (a zip bomb?)")
            out.write(block)
    return written
