"""The Plugins screen: installed and available plugins, install / update / remove / roll back.

Everything goes through the engine (``plugins.*`` calls via the bridge): the list of loaded
plugins (built-in and installed, with a quarantined one's error) and the catalog, read from
its **verified** index — an index whose signature, version or expiry is refused never gets
listed; the reason is shown instead ("the catalog's signature did not verify — nothing was
installed"). Each row says what the plugin adds (node types, connection types …), its
publisher and version, and offers the actions its state allows. While an install or update
runs, the engine's ``PluginProgress`` events drive a progress bar (the download's bytes,
then verification and the smoke test). After a change the engine reloads its plugins when
no run is active; otherwise the screen says why the change waits.
"""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import BooleanProperty, DictProperty, ListProperty, NumericProperty, ObjectProperty, StringProperty
from kivymd.uix.boxlayout import MDBoxLayout
from kivymd.uix.button import MDButton, MDButtonIcon, MDButtonText
from kivymd.uix.screen import MDScreen

from app.kvload import load_kv
from engine.messages import PluginProgress

CHANGE_TIMEOUT_S = 300.0    # a download, a smoke test in a fresh process and a reload
KIND_LABELS = {"node_types": "Node types", "connectors": "Connection types", "skills": "Skills",
               "ai_providers": "AI providers"}


def adds_text(provides: dict[str, list[str]]) -> str:
    """"Node types: greet · Connection types: s3" — what a plugin adds."""
    parts = [f"{KIND_LABELS.get(kind, kind)}: {', '.join(names)}" for kind, names in sorted(provides.items()) if names]
    return " · ".join(parts) or "adds nothing the catalog lists"


def merge(loaded: list[dict[str, Any]], catalog: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """One row per plugin: catalog entries (with what is installed), installed plugins the
    catalog does not list, then the built-ins."""
    by_name = {p["name"]: p for p in loaded}
    rows = []
    for entry in catalog or []:
        mine = by_name.get(entry["name"])
        rows.append({**entry, "loaded": mine, "builtin": False})
    listed = {r["name"] for r in rows}
    for p in loaded:
        if p["name"] not in listed:
            rows.append({"name": p["name"], "description": "", "publisher": "DagFlux" if p["builtin"] else "",
                         "latest": p["version"], "installed": p["version"], "verified": p["builtin"],
                         "provides": p["provides"], "compatible": True, "update": False, "loaded": p,
                         "builtin": p["builtin"]})
    return sorted(rows, key=lambda r: (r["builtin"], r["installed"] is None, r["name"]))


class PluginRowWidget(MDBoxLayout):
    plugin_name = StringProperty("")
    title = StringProperty("")
    subtitle = StringProperty("")
    description = StringProperty("")
    adds = StringProperty("")
    problem = StringProperty("")
    verified = BooleanProperty(False)
    can_install = BooleanProperty(False)
    can_update = BooleanProperty(False)
    can_remove = BooleanProperty(False)
    can_rollback = BooleanProperty(False)
    screen = ObjectProperty(None, allownone=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.buttons: dict[str, MDButton] = {}

    def add_action(self, action: str, text: str, icon: str, filled: bool = False) -> MDButton:
        """A button that calls the screen's ``action(plugin_name)``; disabled while busy."""
        button = MDButton(MDButtonIcon(icon=icon), MDButtonText(text=text), style="filled" if filled else "outlined",
                          pos_hint={"center_y": .5})
        button.bind(on_release=lambda *_a: getattr(self.screen, action)(self.plugin_name))
        self.screen.bind(busy=lambda _s, busy: setattr(button, "disabled", busy))
        button.disabled = self.screen.busy
        self.buttons[action] = button
        self.ids.actions.add_widget(button)
        return button


class PluginsScreen(MDScreen):
    loaded = ListProperty([])
    catalog = ListProperty([])
    query = StringProperty("")
    error_text = StringProperty("")
    status_text = StringProperty("")
    busy = BooleanProperty(False)
    progress = NumericProperty(0)           # 0–100 while busy
    loading = BooleanProperty(False)
    rows = DictProperty({})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stop_listening = self.app.bridge.listen(self._event)
        self.app.bridge.bind(state=self._engine_state)

    @property
    def app(self):
        return App.get_running_app()

    def on_enter(self, *args: Any) -> None:
        self.refresh()

    def on_app_stop(self) -> None:
        self._stop_listening()

    def _engine_state(self, _bridge: Any, state: str) -> None:
        if state == "connected" and self.app.current_screen == self.name:
            self.refresh()

    # --- loading -------------------------------------------------------------------------
    def refresh(self) -> None:
        bridge = self.app.bridge
        if not bridge.connected:
            self.status_text = "Waiting for the engine…"
            return
        self.loading = True
        bridge.call("plugins.list", on_result=self._got_loaded, on_error=self._list_failed)
        bridge.call("plugins.search", text="", on_result=self._got_catalog, on_error=self._catalog_failed,
                    timeout=90.0)

    def _got_loaded(self, loaded: list[dict[str, Any]]) -> None:
        self.loaded = loaded
        self._render()

    def _list_failed(self, message: str) -> None:
        self.loading = False
        self.error_text = f"The engine could not list its plugins: {message}"

    def _got_catalog(self, catalog: list[dict[str, Any]]) -> None:
        self.loading = False
        self.catalog = catalog
        if self.error_text.startswith("The catalog could not be used"):
            self.error_text = ""
        self._render()

    def _catalog_failed(self, message: str) -> None:
        self.loading = False
        self.catalog = []
        self.error_text = f"The catalog could not be used: {message}"
        self._render()

    def on_query(self, *_args: Any) -> None:
        self._render()

    def _render(self) -> None:
        box = self.ids.rows
        box.clear_widgets()
        self.rows = {}
        needle = self.query.strip().casefold()
        for row in merge(self.loaded, self.catalog):
            haystack = f"{row['name']} {row['description']} {row['publisher']}".casefold()
            if needle and needle not in haystack:
                continue
            widget = self._row_widget(row)
            self.rows[row["name"]] = widget
            box.add_widget(widget)
        if not self.rows and not self.busy:
            self.status_text = f"No plugin matches '{self.query}'" if needle else self.status_text

    def _row_widget(self, row: dict[str, Any]) -> PluginRowWidget:
        loaded = row.get("loaded") or {}
        installed = row.get("installed")
        if row["builtin"]:
            state = "built in"
        elif installed:
            state = f"installed {installed}" + (f" · {row['latest']} available" if row.get("update") else "")
        else:
            state = "not installed"
        publisher = row["publisher"] or "unknown publisher"
        widget = PluginRowWidget(screen=self, plugin_name=row["name"],
                                 verified=bool(row.get("verified")) and not row["builtin"])
        widget.title = f"{row['name']} {installed or row['latest']}"
        widget.subtitle = f"{publisher} · {state}" + (" · signature verified" if row.get("verified") and
                                                      not row["builtin"] else "")
        widget.description = row["description"]
        widget.adds = adds_text(loaded.get("provides") or row.get("provides") or {})
        if loaded.get("error"):
            widget.problem = f"{loaded['status']}: {loaded['error']}"
        elif not row.get("compatible", True):
            widget.problem = "needs a newer DagFlux (plugin API)"
        managed = not row["builtin"] and installed is not None
        widget.can_install = not row["builtin"] and installed is None and row.get("compatible", True) and bool(
            row.get("versions"))
        widget.can_update = managed and bool(row.get("update"))
        widget.can_remove = managed
        widget.can_rollback = managed and bool(loaded.get("previous"))
        for action, text, icon, shown in (("install", "Install", "download", widget.can_install),
                                          ("update", "Update", "update", widget.can_update),
                                          ("rollback", "Roll back", "undo-variant", widget.can_rollback),
                                          ("remove", "Remove", "delete-outline", widget.can_remove)):
            if shown:
                widget.add_action(action, text, icon, filled=action in ("install", "update"))
        return widget

    # --- actions -------------------------------------------------------------------------
    def install(self, name: str) -> None:
        self._change("plugins.install", name, f"Installing {name}…", name=name)

    def update(self, name: str) -> None:
        self._change("plugins.update", name, f"Updating {name}…", name=name)

    def remove(self, name: str) -> None:
        self._change("plugins.remove", name, f"Removing {name}…", name=name)

    def rollback(self, name: str) -> None:
        self._change("plugins.rollback", name, f"Rolling {name} back…", name=name)

    def _change(self, method: str, plugin: str, text: str, **params: Any) -> None:
        if self.busy:
            return
        self.busy, self.progress, self.error_text, self.status_text = True, 0, "", text
        self.app.bridge.call(method, on_result=lambda r: self._changed(method, plugin, r),
                             on_error=lambda m: self._change_failed(method, plugin, m),
                             timeout=CHANGE_TIMEOUT_S, **params)

    def _changed(self, method: str, name: str, result: dict[str, Any]) -> None:
        self.busy, self.progress = False, 100
        verb = {"plugins.install": "Installed", "plugins.update": "Updated", "plugins.remove": "Removed",
                "plugins.rollback": "Rolled back"}[method]
        version = result.get("version") or ", ".join(f"{u['to']}" for u in result.get("updated", []))
        done = f"{verb} {name}" + (f" {version}" if version and method != "plugins.rollback" else "")
        if method == "plugins.rollback":
            done += f" to {version}"
        if method == "plugins.update" and not result.get("updated"):
            done = f"{name} is up to date"
        if result.get("reloaded"):
            self.status_text = f"{done}; the engine reloaded its plugins."
            self._reload_app_registry()
        else:
            reason = result.get("reason") or ""
            self.status_text = done + (f" — not loaded yet: {reason}" if reason and reason != "nothing changed"
                                       else "")
        self.refresh()

    def _change_failed(self, method: str, name: str, message: str) -> None:
        self.busy, self.progress = False, 0
        what = {"plugins.install": "install", "plugins.update": "update", "plugins.remove": "remove",
                "plugins.rollback": "roll back"}[method]
        self.status_text = ""
        self.error_text = f"Could not {what} {name}: {message}"
        self.refresh()

    def _reload_app_registry(self) -> None:
        """The app keeps a registry of its own (node palettes, forms) and the Connections screen
        the list of connection types: load the change there too."""
        from engine.plugins import load_registry

        self.app.registry = load_registry([self.app.paths.plugins])
        connections = self.app._screens.get("connections")
        if connections is not None:
            connections.types = []      # it asks the engine for the connection types again

    def _event(self, msg: Any) -> None:
        if not isinstance(msg, PluginProgress) or not self.busy:
            return
        if msg.stage == "download" and msg.total:
            self.progress = 90 * msg.done / msg.total
            self.status_text = f"Downloading {msg.plugin}: {msg.done // 1024} of {msg.total // 1024} KiB"
        elif msg.stage == "verify":
            self.progress = 92
            self.status_text = f"Checking {msg.plugin}: {msg.detail}"
        elif msg.stage == "done":
            self.progress = 100


load_kv(__file__)
