"""Object-storage connectors over a ``pyarrow.fs`` file system (S3, Azure Blob …).

:class:`ArrowFsConnector` implements the object-store side of the connector interface
(``object_store = True``: :meth:`object_keys`, :meth:`download`, :meth:`upload`, listing,
samples) once, for any ``pyarrow.fs.FileSystem``; a subclass (in a catalog plugin) says how
to build its file system from the connection's settings, which setting names the
bucket/container (``root_field``) and what its storage is called in messages. Plugin API 2.

Paths: with a bucket/container set, object paths are keys inside it; without one they
start with it (``bucket/key``) and the browser lists every bucket's objects. Bytes are
streamed in :data:`CHUNK` pieces both ways (an upload goes out in blocks/parts, so a large
file never sits in memory); the tables are made by :mod:`engine.connectors.objects`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from engine.connectors.base import Columns, Connector, ConnectorError, Row
from engine.connectors.objects import sample_object

CHUNK = 1024 * 1024
LIST_LIMIT = 1000
_TRANSIENT = ("NETWORK_CONNECTION", "timed out", "Timeout", "SLOW_DOWN", "SERVICE_UNAVAILABLE", "Connection refused",
              "INTERNAL_FAILURE", "THROTTLING", "ServerBusy", "Fail to get a new connection")


class ArrowFsConnector(Connector):
    dialect = "object"
    relational = False
    object_store = True
    root_field: ClassVar[str] = "bucket"        # the setting naming the bucket / container
    root_word: ClassVar[str] = "bucket"
    storage_word: ClassVar[str] = "storage"    # "S3", "Azure Blob" in messages

    def __init__(self, connection_id: str, name: str, settings: Any) -> None:
        super().__init__(connection_id, name, settings)
        self._fs: Any = None
        self.root = str(self.settings.get(self.root_field) or "").strip("/")

    # --- for subclasses -------------------------------------------------------------------
    def make_filesystem(self) -> Any:
        raise NotImplementedError

    def where(self) -> str:
        """The service's address for messages (never a credential)."""
        return self.storage_word

    # --- the file system ----------------------------------------------------------------------
    def filesystem(self) -> Any:
        if self._fs is None:
            self._fs = self.make_filesystem()
        return self._fs

    def close(self) -> None:
        self._fs = None

    def error(self, exc: OSError, what: str) -> ConnectorError:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return ConnectorError(f"{self.storage_word} connection '{self.name}': {what}: {text}",
                              transient=any(mark in text for mark in _TRANSIENT))

    def full(self, key: str) -> str:
        key = key.strip().lstrip("/")
        if self.root:
            return f"{self.root}/{key}"
        if "/" not in key.rstrip("/"):
            raise ConnectorError(f"{self.storage_word} connection '{self.name}' has no {self.root_word} set: '{key}' "
                                 f"must start with the {self.root_word} ('{self.root_word}/key')")
        return key

    def relative(self, full: str) -> str:
        return full[len(self.root) + 1:] if self.root else full

    # --- operations -----------------------------------------------------------------------------
    def test(self) -> str:
        from pyarrow import fs

        try:
            if self.root:
                if self.filesystem().get_file_info(self.root).type == fs.FileType.NotFound:
                    raise ConnectorError(f"{self.storage_word} connection '{self.name}': {self.root_word} "
                                         f"'{self.root}' does not exist at {self.where()}")
                return f"{self.storage_word} at {self.where()}: {self.root_word} '{self.root}' is reachable"
            roots = self.roots()
        except OSError as exc:
            raise self.error(exc, "cannot reach the storage") from None
        return f"{self.storage_word} at {self.where()}: {len(roots)} {self.root_word}(s) — {', '.join(roots[:10])}"

    def roots(self) -> list[str]:
        """Every bucket / container the credentials can see."""
        from pyarrow import fs

        return sorted(i.path for i in self.filesystem().get_file_info(fs.FileSelector("", recursive=False))
                      if i.type == fs.FileType.Directory)

    def list_objects(self) -> list[str]:
        """The objects of the bucket (of every bucket, as ``bucket/key``, without one), up to
        :data:`LIST_LIMIT`."""
        try:
            found: list[str] = []
            for root in [self.root] if self.root else self.roots():
                found += self._files(root)
                if len(found) >= LIST_LIMIT:
                    break
        except OSError as exc:
            raise self.error(exc, "cannot list objects") from None
        return found[:LIST_LIMIT]

    def _files(self, full: str) -> list[str]:
        from pyarrow import fs

        selector = fs.FileSelector(full, recursive=True, allow_not_found=True)
        return sorted(self.relative(i.path) for i in self.filesystem().get_file_info(selector)
                      if i.type == fs.FileType.File)

    def object_keys(self, path: str) -> list[str]:
        from pyarrow import fs

        full = self.full(path).rstrip("/")
        try:
            if not path.endswith("/"):
                info = self.filesystem().get_file_info(full)
                if info.type == fs.FileType.File:
                    return [self.relative(full)]
                if info.type == fs.FileType.NotFound:
                    return []
            return self._files(full)
        except OSError as exc:
            raise self.error(exc, f"cannot list '{path}'") from None

    def download(self, key: str, target: Path, max_bytes: int | None = None) -> int:
        done = 0
        try:
            with self.filesystem().open_input_stream(self.full(key)) as src, open(target, "wb") as dst:
                while max_bytes is None or done < max_bytes:
                    chunk = src.read(CHUNK if max_bytes is None else min(CHUNK, max_bytes - done))
                    if not chunk:
                        break
                    dst.write(chunk)
                    done += len(chunk)
        except FileNotFoundError:
            raise ConnectorError(f"{self.storage_word} connection '{self.name}' has no object '{key}'") from None
        except OSError as exc:
            raise self.error(exc, f"cannot read '{key}'") from None
        return done

    def open_ranged(self, key: str) -> Any:
        try:
            return self.filesystem().open_input_file(self.full(key))
        except FileNotFoundError:
            raise ConnectorError(f"{self.storage_word} connection '{self.name}' has no object '{key}'") from None
        except OSError as exc:
            raise self.error(exc, f"cannot read '{key}'") from None

    def upload(self, source: Path, key: str) -> int:
        sent = 0
        try:
            with open(source, "rb") as src, self.filesystem().open_output_stream(self.full(key)) as dst:
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
                    sent += len(chunk)
        except OSError as exc:
            raise self.error(exc, f"cannot write '{key}'") from None
        return sent

    def sample(self, obj: str, limit: int = 5) -> tuple[list[str], list[Row]]:
        return sample_object(self, obj, limit)

    def list_fields(self, obj: str) -> Columns:
        names, _ = self.sample(obj, 1)
        return [(n, "") for n in names]

    def table_exists(self, obj: str) -> bool:
        return bool(self.object_keys(obj))
