"""An audit tap: with ``DAGFLUX_FRAME_LOG=<file>`` set, every msgpack frame a worker
sends to its coordinator and every frame the engine sends to a client is appended to
that file (4-byte big-endian length + frame). It exists so that a test — or a
security review — can prove what crossed a process boundary; it is off by default.
"""

from __future__ import annotations

import os
import struct
import threading

ENV = "DAGFLUX_FRAME_LOG"
_lock = threading.Lock()


def record(frame: bytes) -> None:
    path = os.environ.get(ENV)
    if not path:
        return
    with _lock, open(path, "ab") as fh:
        fh.write(struct.pack(">I", len(frame)) + frame)


def read_all(path: str) -> list[bytes]:
    frames = []
    with open(path, "rb") as fh:
        data = fh.read()
    pos = 0
    while pos + 4 <= len(data):
        (size,) = struct.unpack(">I", data[pos:pos + 4])
        frames.append(data[pos + 4:pos + 4 + size])
        pos += 4 + size
    return frames
