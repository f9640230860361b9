"""Install, update, remove and roll back catalog plugins in the data dir.

Layout under ``<data dir>/plugins/`` (the built-ins live in the product, never here)::

    <name>/active.json          {"active": "1.2.0", "history": ["1.1.0", "1.0.0"]}
    <name>/versions/<version>/  one unpacked archive per kept version
    .staging/<random>/          one install in progress (removed when it ends; one left by a
                                killed process is swept by an install a day later)

Install: fetch and verify the index (:mod:`engine.catalog.trust`) → refuse a built-in's
name or a newer plugin API → download the archive into staging, cut off at the index's
length → check length and SHA-256 → unpack safely → check the manifest names this plugin
and version → smoke-test it in a subprocess → move it into ``versions/`` and rewrite
``active.json`` atomically. Until that last rename nothing the loader reads has changed,
so any failure leaves the previous version active. The two versions active before are
kept; :meth:`PluginManager.rollback` switches back to the last one without the network
(the version rolled back from is deleted).

The catalog URL: ``$DAGFLUX_CATALOG_URL``, else ``url`` in ``<data dir>/catalog/settings.json``,
else :data:`DEFAULT_URL`. The index is ``<url>/index.json``; archive URLs are relative to it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urljoin

from engine.atomic import atomic_path
from engine.catalog import CatalogError, archive, fetch, wheels
from engine.catalog.index import Index, PluginEntry, Release, version_key
from engine.catalog.smoke import smoke_test
from engine.catalog.trust import Root, TrustState, load_root, verify_index
from engine.errors import PluginError
from engine.paths import DataPaths
from engine.plugin_api import PLUGIN_API_VERSION
from engine.plugins import ACTIVE, builtin_dir, plugin_folders, read_manifest

URL_ENV = "DAGFLUX_CATALOG_URL"
DEFAULT_URL = "https://catalog.dagflux.org/v1/"
INDEX_LIMIT = 8 * 1024 * 1024
KEEP_PREVIOUS = 2
STALE_STAGING_S = 24 * 3600  # staging left by a killed install is swept after a day


@dataclass(frozen=True)
class Installed:
    name: str
    active: str
    previous: list[str]


@dataclass
class Limits:
    max_files: int = archive.MAX_FILES
    max_bytes: int = archive.MAX_BYTES
    read_timeout: float = fetch.READ_TIMEOUT


def catalog_url(paths: DataPaths) -> str:
    url = os.environ.get(URL_ENV)
    if not url:
        try:
            url = json.loads((paths.root / "catalog" / "settings.json").read_text(encoding="utf-8")).get("url")
        except (OSError, ValueError, AttributeError):
            url = None
    url = url or DEFAULT_URL
    return url if url.endswith("/") else url + "/"


def builtin_names() -> set[str]:
    names = set()
    for folder in plugin_folders(builtin_dir()):
        names.add(folder.name)
        try:
            names.add(read_manifest(folder)["name"])
        except PluginError:
            pass
    return names


class PluginManager:
    def __init__(self, paths: DataPaths, url: str | None = None, root: Root | None = None,
                 now: Callable[[], datetime] | None = None, limits: Limits | None = None,
                 progress: fetch.Progress | None = None) -> None:
        self.paths, self.plugins_dir = paths, paths.plugins
        self.url = url or catalog_url(paths)
        self._root, self._now = root, now
        self.limits, self.progress = limits or Limits(), progress

    # --- the index -------------------------------------------------------------------
    def fetch_index(self) -> Index:
        body = fetch.fetch_bytes(urljoin(self.url, "index.json"), INDEX_LIMIT, self.limits.read_timeout)
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise CatalogError(f"{self.url}index.json: not JSON ({exc})") from None
        root = self._root or load_root()
        return verify_index(document, root, TrustState(self.paths.root / "catalog"),
                            self._now() if self._now else None)

    def search(self, text: str) -> list[PluginEntry]:
        needle = text.casefold()
        return [e for e in self.fetch_index().plugins.values()
                if needle in f"{e.name} {e.description} {e.publisher}".casefold()]

    # --- what is installed -----------------------------------------------------------
    def installed(self) -> list[Installed]:
        if not self.plugins_dir.is_dir():
            return []
        found = []
        for folder in sorted(self.plugins_dir.iterdir()):
            state = self._state(folder.name)
            if state is not None:
                found.append(Installed(folder.name, state["active"], list(state.get("history", []))))
        return found

    def _state(self, name: str) -> dict | None:
        try:
            state = json.loads((self.plugins_dir / name / ACTIVE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) and isinstance(state.get("active"), str) else None

    # --- install / update --------------------------------------------------------------
    def install(self, name: str, version: str | None = None, index: Index | None = None) -> Release:
        index = index or self.fetch_index()
        entry = index.plugins.get(name)
        if entry is None:
            raise CatalogError(f"the catalog has no plugin named '{name}'")
        if version is not None and version not in entry.releases:
            known = ", ".join(sorted(entry.releases, key=version_key))
            raise CatalogError(f"plugin '{name}' has no version {version} in the catalog (it has {known})")
        release = entry.releases[version] if version else entry.latest()
        self._check_installable(release)
        self._sweep_staging()
        staging = self.plugins_dir / ".staging" / secrets.token_hex(8)
        staging.mkdir(mode=0o700, parents=True)
        try:
            unpacked = self._stage(release, staging)
            smoke_test(staging / "root", name)
            self._activate(release, unpacked)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return release

    def update(self, name: str | None = None) -> list[tuple[str, str, str]]:
        """Install the newest version of ``name`` (or of every installed plugin) when it is
        newer than the active one; return ``(name, old, new)`` for each plugin updated."""
        targets = [i for i in self.installed() if name is None or i.name == name]
        if name is not None and not targets:
            raise CatalogError(f"plugin '{name}' is not installed from the catalog")
        index = self.fetch_index()
        done = []
        for item in targets:
            entry = index.plugins.get(item.name)
            if entry is None or version_key(entry.latest().version) <= version_key(item.active):
                continue
            release = self.install(item.name, index=index)
            done.append((item.name, item.active, release.version))
        return done

    def _sweep_staging(self) -> None:
        folder = self.plugins_dir / ".staging"
        if not folder.is_dir():
            return
        for old in folder.iterdir():
            try:
                if time.time() - old.lstat().st_mtime > STALE_STAGING_S:
                    shutil.rmtree(old, ignore_errors=True)
            except FileNotFoundError:
                pass

    def _check_installable(self, release: Release) -> None:
        if release.name in builtin_names():
            raise CatalogError(f"'{release.name}' is the name of a built-in plugin; a catalog plugin cannot replace it")
        if release.api_version > PLUGIN_API_VERSION:
            raise CatalogError(f"plugin '{release.name}' {release.version} needs plugin API {release.api_version}; "
                               f"this DagFlux provides {PLUGIN_API_VERSION} — update DagFlux first")
        folder = self.plugins_dir / release.name
        if folder.exists() and self._state(release.name) is None:
            raise CatalogError(f"{folder} exists and is not managed by the catalog; move it away first")
        state = self._state(release.name)
        if state is not None and state["active"] == release.version:
            raise CatalogError(f"plugin '{release.name}' {release.version} is already installed and active")

    def _stage(self, release: Release, staging: Path) -> Path:
        what = f"plugin '{release.name}' {release.version}"
        target = staging / "archive.zip"
        fetch.download(urljoin(self.url, release.url), target, release.length, self.progress,
                       self.limits.read_timeout)
        archive.verify_file(target, release.length, release.sha256, what)
        unpacked = staging / "root" / release.name
        try:
            archive.safe_extract(target, unpacked, what, self.limits.max_files, self.limits.max_bytes)
        except OSError as exc:
            raise CatalogError(f"{what}: cannot unpack ({exc}) — nothing was installed") from None
        try:
            manifest = read_manifest(unpacked)
        except PluginError as exc:
            raise CatalogError(f"{what}: {exc} — nothing was installed") from None
        if manifest["name"] != release.name or str(manifest.get("version")) != release.version:
            raise CatalogError(f"{what}: the archive's manifest says '{manifest['name']}' "
                               f"{manifest.get('version')} — nothing was installed")
        for dep in release.dependencies:
            self._stage_wheel(dep, staging, unpacked / wheels.DEPS_DIR, what)
        return unpacked

    def _stage_wheel(self, dep: wheels.Dependency, staging: Path, deps: Path, what: str) -> None:
        """Download, verify and unpack one dependency's wheel into the plugin's own ``deps/``."""
        wheels.check_runs_here(dep, what)
        target = staging / "wheels" / dep.wheel
        target.parent.mkdir(mode=0o700, exist_ok=True)
        fetch.download(urljoin(self.url, dep.url), target, dep.length, self.progress, self.limits.read_timeout)
        archive.verify_file(target, dep.length, dep.sha256, f"{what}: dependency {dep.name} {dep.version}")
        try:
            archive.safe_extract(target, deps, f"{what}: dependency {dep.name} {dep.version}",
                                 self.limits.max_files, self.limits.max_bytes)
        except OSError as exc:
            raise CatalogError(f"{what}: cannot unpack dependency {dep.name} ({exc}) — nothing was installed") \
                from None

    def _activate(self, release: Release, unpacked: Path) -> None:
        folder = self.plugins_dir / release.name
        versions = folder / "versions"
        versions.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = versions / release.version
        if target.exists():  # an older version kept in history, installed again
            shutil.rmtree(target)
        os.rename(unpacked, target)
        state = self._state(release.name)
        history = [] if state is None else [state["active"], *state.get("history", [])]
        self._write_state(release.name, release.version, [v for v in history if v != release.version])

    def _write_state(self, name: str, active: str, history: list[str]) -> None:
        history = history[:KEEP_PREVIOUS]
        with atomic_path(self.plugins_dir / name / ACTIVE) as tmp:
            tmp.write_text(json.dumps({"active": active, "history": history}), encoding="utf-8")
        keep = {active, *history}
        for old in (self.plugins_dir / name / "versions").iterdir():
            if old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)

    # --- remove / rollback (offline) ----------------------------------------------------
    def remove(self, name: str) -> None:
        if self._state(name) is None:
            raise CatalogError(f"plugin '{name}' is not installed from the catalog")
        trash = self.plugins_dir / ".staging" / f"removed-{secrets.token_hex(8)}"
        trash.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.rename(self.plugins_dir / name, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def rollback(self, name: str) -> str:
        state = self._state(name)
        if state is None:
            raise CatalogError(f"plugin '{name}' is not installed from the catalog")
        history = [v for v in state.get("history", []) if (self.plugins_dir / name / "versions" / v).is_dir()]
        if not history:
            raise CatalogError(f"plugin '{name}' has no earlier version to roll back to")
        self._write_state(name, history[0], history[1:])
        return history[0]
