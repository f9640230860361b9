"""The plugin catalog: a signed index of plugin archives, and the manager that installs them.

A catalog is a static folder any HTTP server can host: ``index.json`` plus the archives
it names. Modules, each with one concern:

* :mod:`engine.catalog.index` — the index format and its checks (names, versions, hashes).
* :mod:`engine.catalog.trust` — ed25519 signatures, the pinned root (key ids + threshold),
  and the refusals: bad or unknown signature, rollback (a lower version than the last one
  accepted), freeze (an expired index).
* :mod:`engine.catalog.fetch` — HTTP GET over aiohttp with timeouts and a size cap.
* :mod:`engine.catalog.archive` — safe unpacking of a plugin zip.
* :mod:`engine.catalog.manager` — install / update / remove / rollback in the data dir.
* :mod:`engine.catalog.smoke` — the smoke test run in a subprocess before a switch.
* :mod:`engine.catalog.publish` — the publisher tool (``python -m engine.catalog.publish``).

Every refusal is a :class:`CatalogError` whose message says what was refused and why.
"""

from __future__ import annotations

from engine.errors import DagfluxError


class CatalogError(DagfluxError):
    """The catalog, an index or an archive was refused; nothing was installed."""


class TrustError(CatalogError):
    """The index's signatures, version or expiry were refused."""


class FetchError(CatalogError):
    """A download failed: HTTP error, timeout, or a body longer than allowed."""


class ArchiveError(CatalogError):
    """A plugin archive is unsafe or does not match the index."""


__all__ = ["ArchiveError", "CatalogError", "FetchError", "TrustError"]
