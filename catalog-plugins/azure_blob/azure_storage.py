"""Azure Blob Storage through ``pyarrow.fs.AzureFileSystem`` (the Azure SDK for C++).

A connection names the storage account, an optional endpoint (blank for
``https://<account>.blob.core.windows.net``; ``http://127.0.0.1:10000`` for the Azurite
emulator, whose URLs carry the account in the path), an optional container, and the account
key — in the keychain. Listing, streaming reads and block uploads come from
:class:`engine.connectors.arrowfs.ArrowFsConnector` (plugin API 2).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from engine.connectors.arrowfs import ArrowFsConnector
from engine.connectors.base import ConnectorError, FieldSpec


class AzureBlobConnector(ArrowFsConnector):
    type_name = "azure_blob"
    label = "Azure Blob Storage"
    storage_word = "Azure Blob"
    root_field = "container"
    root_word = "container"
    fields = (
        FieldSpec("account_name", "Storage account"),
        FieldSpec("endpoint", "Blob endpoint URL", required=False, kind="url",
                  help="Blank for https://<account>.blob.core.windows.net; http://127.0.0.1:10000 for Azurite"),
        FieldSpec("container", "Container", required=False,
                  help="Blank: blob paths start with the container and every container is browsed"),
        FieldSpec("account_key", "Account key", secret=True),
    )

    def where(self) -> str:
        return str(self.settings.get("endpoint") or f"{self.settings.get('account_name')}.blob.core.windows.net")

    def make_filesystem(self) -> Any:
        from pyarrow import fs

        options: dict[str, Any] = {"account_key": str(self.settings.get("account_key") or "")}
        endpoint = str(self.settings.get("endpoint") or "").strip()
        if endpoint:
            parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConnectorError(f"Azure Blob connection '{self.name}': endpoint '{endpoint}' is not an "
                                     f"http(s) URL")
            # the same service answers the Data Lake (dfs) calls pyarrow makes to detect a namespace
            options.update(blob_storage_authority=parts.netloc, blob_storage_scheme=parts.scheme,
                           dfs_storage_authority=parts.netloc, dfs_storage_scheme=parts.scheme)
        return fs.AzureFileSystem(str(self.settings.get("account_name") or ""), **options)
