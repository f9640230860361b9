"""Where an engine listens and how frames cross the socket.

* The socket path derives from the data directory: a short hash of its resolved
  path, inside a 0700 folder in the user runtime dir (``$XDG_RUNTIME_DIR/dagflux``)
  or, when there is none, ``<tmp>/dagflux-<uid>``. Each ``DAGFLUX_HOME`` therefore
  has its own engine, a test can never reach a user's engine, and the path stays
  far below the 108-byte limit of Unix socket addresses.
* The auth key lives in ``<data dir>/engine.key`` (mode 0600), written by the engine
  when it starts; only the user can read it. Clients prove they know it with
  ``multiprocessing.connection``'s HMAC challenge before any frame is read.
* Frames are :mod:`engine.messages` msgpack maps sent with ``send_bytes``.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path

from engine import messages
from engine.errors import DagfluxError
from engine.paths import DataPaths

MAX_SOCKET_PATH = 107


class EngineUnavailable(DagfluxError):
    """No engine answers for this data directory."""


def runtime_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and Path(base).is_dir() and os.access(base, os.W_OK):
        folder = Path(base) / "dagflux"
    else:
        folder = Path(tempfile.gettempdir()) / f"dagflux-{os.getuid()}"
    return folder


def socket_path(paths: DataPaths) -> Path:
    digest = hashlib.sha256(str(paths.root.resolve()).encode()).hexdigest()[:16]
    path = runtime_dir() / f"engine-{digest}.sock"
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        path = Path(tempfile.gettempdir()) / f"dagflux-{os.getuid()}" / f"e-{digest}.sock"
    return path


def prepare_socket_dir(path: Path) -> None:
    """Create the socket's folder 0700 and refuse one that others can enter."""
    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.stat()
    if info.st_uid != os.getuid():
        raise DagfluxError(f"{folder} belongs to another user; refusing to put the engine socket there")
    if info.st_mode & 0o077:
        os.chmod(folder, 0o700)


def key_path(paths: DataPaths) -> Path:
    return paths.root / "engine.key"


def write_key(paths: DataPaths) -> bytes:
    key = secrets.token_bytes(32)
    path = key_path(paths)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return key


def read_key(paths: DataPaths) -> bytes:
    try:
        return key_path(paths).read_bytes()
    except FileNotFoundError:
        raise EngineUnavailable(f"no engine is running for {paths.root}") from None
    except PermissionError:
        raise EngineUnavailable(f"cannot read {key_path(paths)}: it belongs to another user") from None


def send(conn: Connection, msg: messages.Message) -> None:
    conn.send_bytes(messages.encode(msg))


def recv(conn: Connection) -> messages.Message:
    return messages.decode(conn.recv_bytes())
