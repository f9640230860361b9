"""The engine's ``plugins.*`` calls: list, search the catalog, install / update / remove /
roll back catalog plugins, and reload the plugin registry (mixed into
:class:`engine.service.engine.Engine`, like :mod:`engine.service.history_calls`).

One catalog operation runs at a time (a lock); an install publishes
:class:`~engine.messages.PluginProgress` events to subscribers — the download's bytes,
then the stages (verify, smoke test, switch) — so a screen can show a progress bar.

After a change the engine **reloads its plugins without a restart** when no run is active:
a fresh registry replaces the old one everywhere the engine holds it (validation, runs,
connections, node previews) and idle workers are replaced, so the next task loads the new
code. While a run is active nothing is swapped under it: the reply says
``{"reloaded": false, "reason": …}`` and the change takes effect at the next reload
(``plugins.reload``, or any later plugin change with no run active) or engine restart.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from engine.catalog.index import PluginEntry, version_key
from engine.messages import PluginProgress
from engine.paths import DataPaths
from engine.plugin_api import PLUGIN_API_VERSION
from engine.plugins import load_registry

PROGRESS_INTERVAL_S = 0.1      # download progress events at most this often (and the last one)


class PluginCalls:
    paths: DataPaths
    registry: Any
    bus: Any

    _plugin_lock = threading.Lock()

    def _plugin_manager(self, progress: Any = None) -> Any:
        from engine.catalog.manager import PluginManager

        return PluginManager(self.paths, progress=progress)

    # --- reading ----------------------------------------------------------------------
    def _call_plugins_list(self) -> list[dict[str, Any]]:
        """Every loaded plugin (built-in and installed): version, status, what it adds, and
        the kept earlier versions of a catalog plugin."""
        self.registry.load_deferred()
        kept = {i.name: i.previous for i in self._plugin_manager().installed()}
        return [{"name": p.name, "version": p.version, "builtin": p.builtin,
                 "status": "ok" if not p.error else ("failed" if p.builtin else "quarantined"),
                 "error": p.error, "provides": {k: list(v) for k, v in p.provides.items() if v},
                 "previous": kept.get(p.name, [])}
                for p in self.registry.plugins]

    def _call_plugins_search(self, text: str = "") -> list[dict[str, Any]]:
        """Catalog plugins matching ``text`` (all when empty), from the verified index:
        a signature, version or expiry the manager refuses fails the call with its reason."""
        installed = {i.name: i.active for i in self._plugin_manager().installed()}
        found = self._plugin_manager().search(text)
        return [_entry(e, installed.get(e.name)) for e in sorted(found, key=lambda e: e.name)]

    # --- changing -----------------------------------------------------------------------
    def _call_plugins_install(self, name: str, version: str | None = None) -> dict[str, Any]:
        with self._plugin_lock:
            release = self._plugin_manager(self._progress_sender(name)).install(name, version or None)
            self._stage(name, "done", f"installed {name} {release.version}")
            return {"name": name, "version": release.version, **self._reload()}

    def _call_plugins_update(self, name: str | None = None) -> dict[str, Any]:
        with self._plugin_lock:
            done = self._plugin_manager(self._progress_sender(name or "")).update(name or None)
            result = {"updated": [{"name": n, "from": old, "to": new} for n, old, new in done]}
            return {**result, **(self._reload() if done else {"reloaded": False, "reason": "nothing changed"})}

    def _call_plugins_remove(self, name: str) -> dict[str, Any]:
        with self._plugin_lock:
            self._plugin_manager().remove(name)
            return {"name": name, **self._reload()}

    def _call_plugins_rollback(self, name: str) -> dict[str, Any]:
        with self._plugin_lock:
            version = self._plugin_manager().rollback(name)
            return {"name": name, "version": version, **self._reload()}

    def _call_plugins_reload(self) -> dict[str, Any]:
        with self._plugin_lock:
            return self._reload()

    # --- internals ----------------------------------------------------------------------
    def _reload(self) -> dict[str, Any]:
        runs = getattr(self, "runs", None)
        active = runs.active() if runs is not None else []
        if active:
            return {"reloaded": False, "reason": f"{len(active)} run(s) active: the change takes effect when the "
                                                 f"engine reloads its plugins with no run active (plugins.reload) "
                                                 f"or restarts"}
        registry = load_registry([self.paths.plugins])
        registry.load_deferred()
        self.registry = registry
        for holder in ("runs", "connections", "_node_panel_service"):
            target = getattr(self, holder, None)
            if target is not None and hasattr(target, "registry"):
                target.registry = registry
        pool = getattr(self, "pool", None)
        if pool is not None:
            pool.recycle_idle()
        return {"reloaded": True, "reason": "",
                "quarantined": [{"name": p.name, "error": p.error} for p in registry.errors if not p.builtin]}

    def _stage(self, name: str, stage: str, detail: str = "", done: int = 0, total: int = 0) -> None:
        bus = getattr(self, "bus", None)
        if bus is not None:
            bus.publish(PluginProgress(plugin=name, stage=stage, done=done, total=total, detail=detail))

    def _progress_sender(self, name: str) -> Any:
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if done >= total or now - last[0] >= PROGRESS_INTERVAL_S:
                last[0] = now
                self._stage(name, "download", "", done, total)
                if done >= total:
                    self._stage(name, "verify", "checking the archive, then a smoke test in a fresh process")

        return progress


def _entry(entry: PluginEntry, installed: str | None) -> dict[str, Any]:
    latest = entry.latest()
    return {"name": entry.name, "description": entry.description, "publisher": entry.publisher,
            "latest": latest.version, "versions": sorted(entry.releases, key=version_key),
            "installed": installed, "verified": True, "provides": latest.provides,
            "size": latest.length, "compatible": latest.api_version <= PLUGIN_API_VERSION,
            "update": installed is not None and version_key(latest.version) > version_key(installed)}
