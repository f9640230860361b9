"""S3-compatible object storage through ``pyarrow.fs.S3FileSystem`` (the AWS SDK for C++).

A connection names an endpoint (blank for AWS itself; ``http://host:9000`` for MinIO,
``https://<account>.r2.cloudflarestorage.com`` for R2, ``https://storage.googleapis.com``
for GCS's interoperability mode), a region, an optional bucket and the access key pair —
both halves of the key live in the keychain. With a bucket, object paths are keys in it
(``sales/2026/orders.parquet``); without one they start with the bucket
(``reports/sales/2026/orders.parquet``) and the browser lists every bucket's objects.

Bytes are streamed in :data:`CHUNK` pieces both ways; an upload goes out as a multipart
upload in parts of several MiB (the SDK's output stream), so a large file never sits in
memory. The tables themselves are made by :mod:`engine.connectors.objects`.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from engine.connectors.base import Connector, ConnectorError, FieldSpec
from engine.connectors.objects import sample_object

CHUNK = 1024 * 1024
LIST_LIMIT = 1000
_TRANSIENT = ("NETWORK_CONNECTION", "timed out", "Timeout", "SLOW_DOWN", "SERVICE_UNAVAILABLE", "Connection refused",
              "INTERNAL_FAILURE", "THROTTLING")


class S3Connector(Connector):
    type_name = "s3"
    label = "S3-compatible storage"
    dialect = "object"
    relational = False
    object_store = True
    fields = (
        FieldSpec("endpoint", "Endpoint URL", required=False, kind="url",
                  help="Blank for AWS S3; e.g. http://127.0.0.1:9000 for MinIO"),
        FieldSpec("region", "Region", default="us-east-1"),
        FieldSpec("bucket", "Bucket", required=False,
                  help="Blank: object paths start with the bucket and every bucket is browsed"),
        FieldSpec("access_key_id", "Access key id", secret=True),
        FieldSpec("secret_key", "Secret access key", secret=True),
    )

    def __init__(self, connection_id, name, settings) -> None:
        super().__init__(connection_id, name, settings)
        self._fs = None
        self.bucket = str(self.settings.get("bucket") or "").strip("/")

    # --- the file system ------------------------------------------------------------------
    def _filesystem(self):
        if self._fs is None:
            from pyarrow import fs

            options = {"access_key": str(self.settings.get("access_key_id") or ""),
                       "secret_key": str(self.settings.get("secret_key") or ""),
                       "region": str(self.settings.get("region") or "us-east-1"),
                       "connect_timeout": 10, "request_timeout": 60,
                       "retry_strategy": fs.AwsStandardS3RetryStrategy(max_attempts=3)}
            endpoint = str(self.settings.get("endpoint") or "").strip()
            if endpoint:
                parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    raise ConnectorError(f"S3 connection '{self.name}': endpoint '{endpoint}' is not an "
                                         f"http(s) URL")
                options.update(scheme=parts.scheme, endpoint_override=parts.netloc)
            self._fs = fs.S3FileSystem(**options)
        return self._fs

    def close(self) -> None:
        self._fs = None

    def _error(self, exc: OSError, what: str) -> ConnectorError:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return ConnectorError(f"S3 connection '{self.name}': {what}: {text}",
                              transient=any(mark in text for mark in _TRANSIENT))

    def _full(self, key: str) -> str:
        key = key.strip().lstrip("/")
        if self.bucket:
            return f"{self.bucket}/{key}"
        if "/" not in key.rstrip("/"):
            raise ConnectorError(f"S3 connection '{self.name}' has no bucket set: '{key}' must start with "
                                 f"the bucket ('bucket/key')")
        return key

    def _relative(self, full: str) -> str:
        return full[len(self.bucket) + 1:] if self.bucket else full

    # --- operations -------------------------------------------------------------------------
    def test(self) -> str:
        from pyarrow import fs

        where = str(self.settings.get("endpoint") or "AWS S3")
        try:
            if self.bucket:
                info = self._filesystem().get_file_info(self.bucket)
                if info.type == fs.FileType.NotFound:
                    raise ConnectorError(f"S3 connection '{self.name}': bucket '{self.bucket}' does not exist "
                                         f"at {where}")
                return f"S3 at {where}: bucket '{self.bucket}' is reachable"
            buckets = self._buckets()
        except OSError as exc:
            raise self._error(exc, "cannot reach the storage") from None
        return f"S3 at {where}: {len(buckets)} bucket(s) — {', '.join(buckets[:10])}"

    def _buckets(self) -> list[str]:
        from pyarrow import fs

        return sorted(i.path for i in self._filesystem().get_file_info(fs.FileSelector("", recursive=False))
                      if i.type == fs.FileType.Directory)

    def list_objects(self) -> list[str]:
        """The bucket's objects (every bucket's, as ``bucket/key``, without a bucket), up to
        :data:`LIST_LIMIT`."""
        try:
            roots = [self.bucket] if self.bucket else self._buckets()
            found: list[str] = []
            for root in roots:
                found += self._files(root, recursive=True)
                if len(found) >= LIST_LIMIT:
                    break
        except OSError as exc:
            raise self._error(exc, "cannot list objects") from None
        return found[:LIST_LIMIT]

    def _files(self, full: str, recursive: bool) -> list[str]:
        from pyarrow import fs

        selector = fs.FileSelector(full, recursive=recursive, allow_not_found=True)
        return sorted(self._relative(i.path) for i in self._filesystem().get_file_info(selector)
                      if i.type == fs.FileType.File)

    def object_keys(self, path: str) -> list[str]:
        from pyarrow import fs

        full = self._full(path).rstrip("/")
        try:
            if not path.endswith("/"):
                info = self._filesystem().get_file_info(full)
                if info.type == fs.FileType.File:
                    return [self._relative(full)]
                if info.type == fs.FileType.NotFound:
                    return []
            return self._files(full, recursive=True)
        except OSError as exc:
            raise self._error(exc, f"cannot list '{path}'") from None

    def download(self, key: str, target: Path, max_bytes: int | None = None) -> int:
        done = 0
        try:
            with self._filesystem().open_input_stream(self._full(key)) as src, open(target, "wb") as dst:
                while max_bytes is None or done < max_bytes:
                    chunk = src.read(CHUNK if max_bytes is None else min(CHUNK, max_bytes - done))
                    if not chunk:
                        break
                    dst.write(chunk)
                    done += len(chunk)
        except FileNotFoundError:
            raise ConnectorError(f"S3 connection '{self.name}' has no object '{key}'") from None
        except OSError as exc:
            raise self._error(exc, f"cannot read '{key}'") from None
        return done

    def upload(self, source: Path, key: str) -> int:
        sent = 0
        try:
            with open(source, "rb") as src, self._filesystem().open_output_stream(self._full(key)) as dst:
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
                    sent += len(chunk)
        except OSError as exc:
            raise self._error(exc, f"cannot write '{key}'") from None
        return sent

    def sample(self, obj: str, limit: int = 5):
        return sample_object(self, obj, limit)

    def list_fields(self, obj: str):
        names, _ = self.sample(obj, 1)
        return [(n, "") for n in names]

    def table_exists(self, obj: str) -> bool:
        return bool(self.object_keys(obj))
