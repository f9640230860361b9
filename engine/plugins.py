"""Plugin discovery and loading — one mechanism for built-in and installed plugins.

A plugin is a folder holding ``plugin.json``::

    {"name": "core", "version": "1.0.0", "api_version": 1,
     "provides": {"node_types": {"transformer": "transformer:TransformerNode"},
                  "connectors": {}, "skills": {}, "ai_providers": {}}}

Each entry is ``"<module>:<attribute>"``; modules are loaded from the folder through
``pluginbase``. ``api_version`` (default 1) is the plugin API the plugin needs; one above
:data:`engine.plugin_api.PLUGIN_API_VERSION` is refused. Built-ins live in the top-level
``plugins/`` package and installed plugins in ``<data dir>/plugins/``; both are loaded the
same way. An installed plugin managed by the catalog (:mod:`engine.catalog`) is a folder
``<name>/`` holding ``active.json`` (``{"active": VERSION, ...}``) and
``versions/<VERSION>/``: the active version's folder is the one loaded. A plugin that
fails (bad manifest, import error, missing attribute, clashing name) is recorded
with its error in :attr:`PluginRegistry.plugins` and the rest still load.
Importing this module loads nothing; :func:`load_registry` does the work.
"""

from __future__ import annotations

import itertools
import json
import threading
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import PluginError
from engine.plugin_api import PLUGIN_API_VERSION, NodeType
from engine.plugin_source import PluginSource

MANIFEST = "plugin.json"
KINDS = ("node_types", "connectors", "skills", "ai_providers")
_PLUGIN_PACKAGE = "engine.plugin_space"
_base_lock = threading.Lock()
_base: Any = None
_source_ids = itertools.count(1)


@dataclass
class PluginInfo:
    name: str
    version: str
    path: Path
    builtin: bool
    provides: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None


@dataclass
class PluginRegistry:
    """Loaded plugins. Plugins that provide only connectors or skills are imported on
    first use of :attr:`connectors` / :attr:`skills`: a worker that never touches a
    database does not pay for importing its driver (tens of MiB and most of a worker's
    start-up). :meth:`load_deferred` imports them now (``dagflux plugins`` does)."""

    node_types: dict[str, NodeType] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)
    _connectors: dict[str, Any] = field(default_factory=dict, repr=False)
    _skills: dict[str, Any] = field(default_factory=dict, repr=False)
    _ai_providers: dict[str, Any] = field(default_factory=dict, repr=False)
    _sources: list[Any] = field(default_factory=list, repr=False)
    _deferred: list[tuple[PluginInfo, Path, dict]] = field(default_factory=list, repr=False)
    _defer_lock: Any = field(default_factory=threading.Lock, repr=False)

    @property
    def connectors(self) -> dict[str, Any]:
        self.load_deferred()
        return self._connectors

    @property
    def skills(self) -> dict[str, Any]:
        self.load_deferred()
        return self._skills

    @property
    def ai_providers(self) -> dict[str, Any]:
        self.load_deferred()
        return self._ai_providers

    @property
    def connection_types(self) -> dict[str, Any]:
        """Every kind of connection: connectors and AI providers (a provider is a connection
        whose key lives in the keychain)."""
        self.load_deferred()
        return {**self._connectors, **self._ai_providers}

    def load_deferred(self) -> None:
        with self._defer_lock:
            deferred, self._deferred = self._deferred, []
            for info, folder, provides in deferred:
                _import_plugin(self, info, folder, provides)

    def node_type(self, name: str) -> NodeType:
        try:
            return self.node_types[name]
        except KeyError:
            known = ", ".join(sorted(self.node_types)) or "none"
            raise PluginError(f"unknown node type '{name}' (known: {known})") from None

    @property
    def errors(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.error]


def builtin_dir() -> Path:
    import plugins

    return Path(plugins.__file__).resolve().parent


ACTIVE = "active.json"


def plugin_folders(root: Path) -> list[Path]:
    """The plugin folders under ``root``: each folder with a manifest, and for each folder
    the catalog manages (``active.json``) its active version's folder."""
    if not root.is_dir():
        return []
    found = []
    for p in sorted(root.iterdir()):
        if (p / MANIFEST).is_file():
            found.append(p)
        elif (p / ACTIVE).is_file():
            found.append(active_folder(p))
    return found


def active_folder(folder: Path) -> Path:
    """The active version's folder of a catalog-managed plugin (a missing or unreadable
    ``active.json`` names a folder without a manifest, which then fails to load)."""
    try:
        version = str(json.loads((folder / ACTIVE).read_text(encoding="utf-8"))["active"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return folder / "versions" / "?"
    return folder / "versions" / version


def load_registry(extra_roots: Iterable[Path] = ()) -> PluginRegistry:
    """Load the built-in plugins, then every plugin under ``extra_roots``."""
    registry = PluginRegistry()
    for folder in plugin_folders(builtin_dir()):
        _load_plugin(registry, folder, builtin=True)
    for root in extra_roots:
        for folder in plugin_folders(Path(root)):
            _load_plugin(registry, folder, builtin=False)
    return registry


def _plugin_base() -> Any:
    global _base
    with _base_lock:
        if _base is None:
            from pluginbase import PluginBase

            _base = PluginBase(package=_PLUGIN_PACKAGE)
        return _base


def read_manifest(folder: Path, check_api: bool = True) -> dict[str, Any]:
    """Read and check a manifest; ``check_api=False`` accepts a newer plugin API (the
    publisher tool lists such plugins; this DagFlux does not load them)."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PluginError(f"{path}: cannot read the manifest ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("name"), str):
        raise PluginError(f"{path}: the manifest needs a 'name'")
    api = manifest.get("api_version", 1)
    if not isinstance(api, int) or isinstance(api, bool) or api < 1:
        raise PluginError(f"{path}: 'api_version' must be a whole number of at least 1")
    if check_api and api > PLUGIN_API_VERSION:
        raise PluginError(f"{path}: needs plugin API {api}; this DagFlux provides {PLUGIN_API_VERSION}")
    provides = manifest.get("provides", {})
    if not isinstance(provides, dict) or any(k not in KINDS for k in provides):
        raise PluginError(f"{path}: 'provides' may only list {', '.join(KINDS)}")
    for kind, entries in provides.items():
        if not isinstance(entries, dict) or not all(
                isinstance(v, str) and ":" in v for v in entries.values()):
            raise PluginError(f"{path}: provides.{kind} must map names to 'module:attribute'")
    return manifest


def _load_plugin(registry: PluginRegistry, folder: Path, builtin: bool) -> None:
    managed = folder.parent.name == "versions" and (folder.parent.parent / ACTIVE).is_file()
    info = PluginInfo(folder.parent.parent.name if managed else folder.name, "?", folder, builtin)
    registry.plugins.append(info)
    try:
        manifest = read_manifest(folder)
        info.name, info.version = manifest["name"], str(manifest.get("version", "0"))
        if any(p.name == info.name and p is not info and not p.error for p in registry.plugins):
            raise PluginError(f"a plugin named '{info.name}' is already loaded")
        provides = manifest.get("provides", {})
        info.provides = {k: sorted(v) for k, v in provides.items()}
    except PluginError as exc:
        info.error = str(exc)
        return
    if not provides.get("node_types"):
        registry._deferred.append((info, folder, provides))
        return
    _import_plugin(registry, info, folder, provides)


def _import_plugin(registry: PluginRegistry, info: PluginInfo, folder: Path, provides: dict) -> None:
    try:
        loaded = _load_entries(registry, folder, info.name, provides)
    except PluginError as exc:
        info.error = str(exc)
        return
    except Exception as exc:  # noqa: BLE001 - a broken plugin must never stop the others
        info.error = _describe_import_error(exc, folder)
        return
    store = _stores(registry)
    for kind, entries in loaded.items():
        store[kind].update(entries)


def _load_entries(registry: PluginRegistry, folder: Path, name: str,
                  provides: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    # A unique identifier per load, so that several registries can live in one process.
    deps = folder / "deps"      # a catalog plugin's dependencies (engine.catalog.wheels, engine.plugin_deps)
    if deps.is_dir():
        from engine.plugin_deps import add_deps_folder

        add_deps_folder(deps)
    source = PluginSource(_plugin_base(), searchpath=[str(folder)],
                          identifier=f"dagflux_{name}_{next(_source_ids)}")
    registry._sources.append(source)
    loaded: dict[str, dict[str, Any]] = {k: {} for k in KINDS}
    for kind, entries in provides.items():
        for key, target in entries.items():
            if key in _stores(registry)[kind] or (kind in ("connectors", "ai_providers")
                                                  and key in registry._connectors | registry._ai_providers):
                raise PluginError(f"{kind[:-1].replace('_', ' ')} '{key}' is already provided by "
                                  f"another plugin")
            module_name, attr = target.split(":", 1)
            module = source.load_plugin(module_name)
            obj = getattr(module, attr, None)
            if obj is None:
                raise PluginError(f"{folder / (module_name + '.py')} has no '{attr}'")
            loaded[kind][key] = _instantiate(kind, key, obj, folder, source)
    return loaded


def _stores(registry: PluginRegistry) -> dict[str, dict[str, Any]]:
    return {"node_types": registry.node_types, "connectors": registry._connectors, "skills": registry._skills,
            "ai_providers": registry._ai_providers}


def _instantiate(kind: str, key: str, obj: Any, folder: Path, source: Any) -> Any:
    if kind != "node_types":
        return obj
    if not (isinstance(obj, type) and issubclass(obj, NodeType)):
        raise PluginError(f"{folder}: node type '{key}' is not a NodeType subclass")
    instance = obj()
    if instance.type_name != key:
        raise PluginError(f"{folder}: node type '{key}' declares type_name '{instance.type_name}'")
    # pluginbase clears a plugin's module globals when its source is collected: a node
    # type keeps its source alive for as long as anyone holds the node type.
    instance._plugin_source = source
    return instance


def _describe_import_error(exc: BaseException, folder: Path) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if str(folder) in (f.filename or "")]
    where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"
