"""Python dependencies of catalog plugins: exact pins, installed only as hash-pinned wheels
into the plugin's own folder.

A plugin's manifest may list ``"dependencies": ["name==1.2.3", …]`` (exact versions only).
The publisher tool (``build --wheels DIR``) finds each one's wheel in DIR, copies it into the
catalog's ``wheels/`` folder and lists it in the signed index with its length and SHA-256.
The manager downloads each wheel with the index's length as a cap, checks length and hash,
refuses a wheel whose tags this Python cannot run, and unpacks it (with the archive rules:
no absolute paths, ``..``, links, devices or bombs) into ``<plugin>/versions/<v>/deps/`` —
never into DagFlux's own environment. The loader adds that ``deps/`` folder to the end of
the import path (:mod:`engine.plugin_deps`), so the plugin's modules import their
dependencies as usual while DagFlux's own packages always come first; a pin of a
distribution DagFlux already has at another version is therefore refused. (A dependency
that reads its own installed metadata through ``importlib.metadata`` will not find it.)
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.catalog import CatalogError

DEPS_DIR = "deps"
PIN_RE = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)==([0-9A-Za-z.!+_-]+)$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Dependency:
    name: str
    version: str
    url: str        # relative to the catalog, like the archives
    length: int
    sha256: str
    wheel: str      # the wheel's file name (its tags say where it runs)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "url": self.url, "length": self.length,
                "sha256": self.sha256, "wheel": self.wheel}


def manifest_pins(manifest: dict[str, Any], where: str) -> list[tuple[str, str]]:
    """The manifest's ``dependencies`` as (name, version) pairs; anything but exact pins is refused."""
    pins = manifest.get("dependencies", [])
    if not isinstance(pins, list) or not all(isinstance(p, str) for p in pins):
        raise CatalogError(f"{where}: 'dependencies' must be a list like [\"name==1.2.3\"]")
    out = []
    for pin in pins:
        match = PIN_RE.match(pin.strip())
        if match is None:
            raise CatalogError(f"{where}: dependency {pin!r} must name one exact version, like \"name==1.2.3\"")
        out.append((match.group(1), match.group(2)))
    return out


def find_wheel(wheels: Path | None, name: str, version: str, where: str) -> Path:
    """The wheel in ``wheels`` for ``name==version`` (any platform tag; the manager checks it)."""
    from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
    from packaging.version import InvalidVersion, Version

    if wheels is None:
        raise CatalogError(f"{where}: needs {name}=={version}; give the folder holding its wheel with --wheels")
    try:
        wanted = Version(version)
    except InvalidVersion:
        raise CatalogError(f"{where}: dependency {name}=={version} is not a valid version") from None
    for path in sorted(Path(wheels).glob("*.whl")):
        try:
            wheel_name, wheel_version, _build, _tags = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            continue
        if wheel_name == canonicalize_name(name) and wheel_version == wanted:
            return path
    raise CatalogError(f"{where}: no wheel for {name}=={version} in {wheels}")


def parse_dependency(where: str, body: Any) -> Dependency:
    """One entry of a release's ``dependencies`` in the index, checked."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    if not isinstance(body, dict):
        raise CatalogError(f"{where}: each dependency must be an object")
    name, version, url = body.get("name"), body.get("version"), body.get("url")
    length, sha, wheel = body.get("length"), body.get("sha256"), body.get("wheel")
    if not all(isinstance(v, str) and v for v in (name, version, url, wheel)):
        raise CatalogError(f"{where}: a dependency needs 'name', 'version', 'url' and 'wheel'")
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise CatalogError(f"{where}: dependency {name}: 'length' must be a positive whole number of bytes")
    if not isinstance(sha, str) or not _SHA256_RE.match(sha):
        raise CatalogError(f"{where}: dependency {name}: 'sha256' must be 64 lower-case hex digits")
    try:
        parse_wheel_filename(wheel)
    except InvalidWheelFilename:
        raise CatalogError(f"{where}: dependency {name}: {wheel!r} is not a wheel's file name") from None
    return Dependency(name, version, url, length, sha, wheel)


def check_runs_here(dep: Dependency, what: str) -> None:
    """Refuse a wheel none of whose tags this interpreter and platform support."""
    from packaging.tags import sys_tags
    from packaging.utils import parse_wheel_filename

    tags = parse_wheel_filename(dep.wheel)[3]
    if not tags & set(sys_tags()):
        raise CatalogError(f"{what}: needs {dep.name} {dep.version}, whose wheel ({dep.wheel}) does not run on "
                           "this Python and platform — nothing was installed")
    try:
        have = importlib.metadata.version(dep.name)
    except importlib.metadata.PackageNotFoundError:
        return
    from packaging.version import InvalidVersion, Version

    try:
        same = Version(have) == Version(dep.version)
    except InvalidVersion:
        same = have == dep.version
    if not same:
        raise CatalogError(f"{what}: needs {dep.name} {dep.version}, but DagFlux already has {dep.name} {have} "
                           "(its own packages come first) — nothing was installed")
