"""The catalog index format and its structural checks.

A signed index document is ``{"signed": INDEX, "signatures": [{"keyid": …, "sig": …}]}``
where INDEX is::

    {"type": "dagflux-catalog-index", "version": 7, "expires": "2027-01-01T00:00:00Z",
     "plugins": {"csv_tools": {"description": "…", "publisher": "…",
                 "versions": {"1.2.0": {"url": "archives/csv_tools-1.2.0.zip",
                                        "length": 4123, "sha256": "…64 hex…",
                                        "api_version": 1, "description": "…",
                                        "dependencies": [{"name": "tinydep", "version": "1.0",
                                                          "url": "wheels/tinydep-1.0-py3-none-any.whl",
                                                          "wheel": "tinydep-1.0-py3-none-any.whl",
                                                          "length": 1234, "sha256": "…"}]}}}}}

``url`` is relative to the catalog's base URL (or absolute). ``dependencies`` (optional) are
the plugin's Python dependencies as hash-pinned wheels (:mod:`engine.catalog.wheels`). Plugin names are lower-case
identifiers (they become folder names); versions are dotted numbers (they compare as
numbers). :func:`parse_index` refuses anything else with the offending field named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.catalog import CatalogError
from engine.catalog.wheels import Dependency, parse_dependency

INDEX_TYPE = "dagflux-catalog-index"
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
VERSION_RE = re.compile(r"^\d{1,6}(\.\d{1,6}){0,3}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Release:
    name: str
    version: str
    url: str
    length: int
    sha256: str
    api_version: int
    description: str
    provides: dict[str, list[str]] = field(default_factory=dict)   # kind → names, shown before an install
    dependencies: tuple[Dependency, ...] = ()                        # wheels (engine.catalog.wheels)


@dataclass(frozen=True)
class PluginEntry:
    name: str
    description: str
    publisher: str
    releases: dict[str, Release]

    def latest(self) -> Release:
        return self.releases[max(self.releases, key=version_key)]


@dataclass(frozen=True)
class Index:
    version: int
    expires: datetime
    plugins: dict[str, PluginEntry]


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any, field: str) -> datetime:
    if not isinstance(text, str):
        raise CatalogError(f"index: '{field}' must be a time like 2027-01-01T00:00:00Z")
    try:
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise CatalogError(f"index: '{field}' must be a time like 2027-01-01T00:00:00Z, not {text!r}") from None
    return moment.replace(tzinfo=UTC)


def parse_index(signed: Any) -> Index:
    """Check the structure of an index's signed part (after its signatures verified)."""
    if not isinstance(signed, dict) or signed.get("type") != INDEX_TYPE:
        raise CatalogError(f"index: not a DagFlux catalog index (type must be '{INDEX_TYPE}')")
    version = signed.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CatalogError("index: 'version' must be a whole number of at least 1")
    plugins = signed.get("plugins")
    if not isinstance(plugins, dict):
        raise CatalogError("index: 'plugins' must be an object")
    entries = {name: _parse_plugin(name, body) for name, body in plugins.items()}
    return Index(version, parse_time(signed.get("expires"), "expires"), entries)


def _parse_plugin(name: Any, body: Any) -> PluginEntry:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise CatalogError(f"index: plugin name {name!r} is not a lower-case identifier")
    if not isinstance(body, dict) or not isinstance(body.get("versions"), dict) or not body["versions"]:
        raise CatalogError(f"index: plugin '{name}' needs a non-empty 'versions' object")
    releases = {v: _parse_release(name, v, r) for v, r in body["versions"].items()}
    return PluginEntry(name, _text(body, "description", name), _text(body, "publisher", name), releases)


def _parse_release(name: str, version: Any, body: Any) -> Release:
    where = f"index: plugin '{name}' version {version!r}"
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise CatalogError(f"{where}: a version is dotted numbers, like 1.2.0")
    if not isinstance(body, dict):
        raise CatalogError(f"{where}: must be an object")
    url, length, sha, api = body.get("url"), body.get("length"), body.get("sha256"), body.get("api_version", 1)
    if not isinstance(url, str) or not url:
        raise CatalogError(f"{where}: 'url' is missing")
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise CatalogError(f"{where}: 'length' must be a positive whole number of bytes")
    if not isinstance(sha, str) or not SHA256_RE.match(sha):
        raise CatalogError(f"{where}: 'sha256' must be 64 lower-case hex digits")
    if not isinstance(api, int) or isinstance(api, bool) or api < 1:
        raise CatalogError(f"{where}: 'api_version' must be a whole number of at least 1")
    provides = body.get("provides", {})
    if not isinstance(provides, dict) or not all(
            isinstance(v, list) and all(isinstance(n, str) for n in v) for v in provides.values()):
        raise CatalogError(f"{where}: 'provides' must map a kind to a list of names")
    deps = body.get("dependencies", [])
    if not isinstance(deps, list):
        raise CatalogError(f"{where}: 'dependencies' must be a list")
    return Release(name, version, url, length, sha, api, _text(body, "description", name, optional=True),
                   {k: list(v) for k, v in provides.items()}, tuple(parse_dependency(where, d) for d in deps))


def _text(body: dict, key: str, name: str, optional: bool = False) -> str:
    value = body.get(key, "" if optional else None)
    if not isinstance(value, str):
        raise CatalogError(f"index: plugin '{name}' needs a text '{key}'")
    return value
