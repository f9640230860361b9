"""S3-compatible object storage through ``pyarrow.fs.S3FileSystem`` (the AWS SDK for C++).

A connection names an endpoint (blank for AWS itself; ``http://host:9000`` for MinIO,
``https://<account>.r2.cloudflarestorage.com`` for R2, ``https://storage.googleapis.com``
for GCS's interoperability mode), a region, an optional bucket and the access key pair —
both halves of the key live in the keychain. Listing, streaming reads and multipart
uploads come from :class:`engine.connectors.arrowfs.ArrowFsConnector` (plugin API 2).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from engine.connectors.arrowfs import ArrowFsConnector
from engine.connectors.base import ConnectorError, FieldSpec


class S3Connector(ArrowFsConnector):
    type_name = "s3"
    label = "S3-compatible storage"
    storage_word = "S3"
    fields = (
        FieldSpec("endpoint", "Endpoint URL", required=False, kind="url",
                  help="Blank for AWS S3; e.g. http://127.0.0.1:9000 for MinIO"),
        FieldSpec("region", "Region", default="us-east-1"),
        FieldSpec("bucket", "Bucket", required=False,
                  help="Blank: object paths start with the bucket and every bucket is browsed"),
        FieldSpec("access_key_id", "Access key id", secret=True),
        FieldSpec("secret_key", "Secret access key", secret=True),
    )

    def where(self) -> str:
        return str(self.settings.get("endpoint") or "AWS S3")

    def make_filesystem(self) -> Any:
        from pyarrow import fs

        options: dict[str, Any] = {"access_key": str(self.settings.get("access_key_id") or ""),
                                   "secret_key": str(self.settings.get("secret_key") or ""),
                                   "region": str(self.settings.get("region") or "us-east-1"),
                                   "connect_timeout": 10, "request_timeout": 60,
                                   "retry_strategy": fs.AwsStandardS3RetryStrategy(max_attempts=3)}
        endpoint = str(self.settings.get("endpoint") or "").strip()
        if endpoint:
            parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConnectorError(f"S3 connection '{self.name}': endpoint '{endpoint}' is not an http(s) URL")
            options.update(scheme=parts.scheme, endpoint_override=parts.netloc)
        return fs.S3FileSystem(**options)
