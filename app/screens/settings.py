"""The Settings screen: theme, data directory, the engine, autostart and the keychain.

What it guarantees:

* The theme choice (light / dark / system) is applied at once (``app.apply_theme``) and saved
  in the app settings of the data directory.
* The data directory is shown; moving to another one asks first, because the engine is
  stopped and restarted there (:mod:`app.datadir` does the move).
* The engine card shows what the engine's ``status`` call says (pid, socket, version, uptime,
  active runs, data dir), refreshed every :data:`REFRESH_S` seconds while the screen is shown.
  *Stop* sends ``shutdown`` and keeps the app's bridge from starting a new engine; *Start*
  runs ``dagflux engine --detach`` on a background thread (only the subprocess result comes
  back through Kivy's ``mainthread``: engine results still arrive only through the bridge).
* The autostart switch shows whether the XDG autostart entry exists and is enabled, read from
  the file each time the screen is shown; toggling it writes or removes the entry.
* The history budget card (:mod:`app.screens.settings_budget`) shows and sets how much of past
  runs' data is kept (``history.budget``), read again each time the screen is shown.
* The keychain card shows the engine's ``secrets.status`` probe: state, backend, and what to do
  when the keychain is missing or locked.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock, mainthread
from kivy.properties import BooleanProperty, DictProperty, OptionProperty, StringProperty
from kivy.uix.widget import Widget
from kivymd.uix.button import MDButton, MDButtonText
from kivymd.uix.dialog import (
    MDDialogButtonContainer,
    MDDialogHeadlineText,
    MDDialogIcon,
    MDDialogSupportingText,
)
from kivymd.uix.screen import MDScreen

from app import datadir
from app.kvload import load_kv
from app.screens.settings_ai import AiDefaultsCard  # noqa: F401  (settings.kv places it)
from app.screens.settings_budget import HistoryBudgetCard  # noqa: F401  (settings.kv places it)
from app.widgets.dialog import AppDialog
from engine.paths import ENV_VAR
from engine.service import autostart

load_kv(__file__)

REFRESH_S = 3.0
START_TIMEOUT_S = 60.0
STATE_TEXT = {"running": "Running", "stopped": "Stopped", "connecting": "Connecting…", "starting": "Starting…",
              "stopping": "Stopping…", "switching": "Moving to the new data directory…"}
KEYCHAIN_HEADLINE = {"ok": "Working: secrets can be stored", "missing": "No keychain found",
                     "locked": "The keychain is locked", "checking": "Checking…",
                     "unknown": "Not checked: the engine is not running"}
KEYCHAIN_FIX = {
    "missing": ("To fix: install and run a Secret Service — on Debian/Ubuntu `sudo apt install gnome-keyring`, "
                "then log in to a desktop session (or run `gnome-keyring-daemon --start --components=secrets` "
                "inside your D-Bus session) — and press Check again. DagFlux never stores secrets in plain text."),
    "locked": ("To fix: unlock your login keyring — open Passwords and Keys (Seahorse) and unlock \"Login\", "
               "or log out and back in — then press Check again."),
}


def engine_command(*args: str) -> list[str]:
    """The argv running the ``dagflux`` CLI: the bundled executable when frozen, else this Python."""
    if getattr(sys, "frozen", False):
        return [str(Path(sys.executable).with_name("dagflux")), *args]
    return [sys.executable, "-m", "engine.cli", *args]


def format_uptime(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 3600:
        return f"{minutes} min {seconds % 60} s"
    if seconds < 86400:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


def backend_label(backend: str) -> str:
    """A readable name for a keyring backend class path (the path itself stays visible)."""
    names = {"SecretService": "Secret Service", "kwallet": "KWallet", "macOS": "macOS Keychain",
             "Windows": "Windows Credential Locker", "fail.Keyring": "none", "chainer": "chained backends"}
    for marker, name in names.items():
        if marker in backend:
            return f"{name} ({backend})"
    return backend


class SettingsScreen(MDScreen):
    theme = StringProperty("light")
    data_dir = StringProperty("")
    dir_error = StringProperty("")
    dir_note = StringProperty("")
    engine_state = OptionProperty("connecting", options=list(STATE_TEXT))
    engine_state_text = StringProperty(STATE_TEXT["connecting"])
    engine_info = DictProperty({})
    engine_detail = StringProperty("")
    autostart_on = BooleanProperty(False)
    autostart_supported = BooleanProperty(True)
    autostart_note = StringProperty("")
    keychain_state = StringProperty("checking")
    keychain_headline = StringProperty(KEYCHAIN_HEADLINE["checking"])
    keychain_backend = StringProperty("")
    keychain_fix = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app = App.get_running_app()
        self._pending: str | None = None       # starting | stopping | switching
        # the bridge a status call is out on: a stopped bridge never answers (its callbacks are
        # dropped), so a call out on an old bridge must not hold back asking the new one
        self._status_in_flight: Any = None
        self._ticker: Any = None
        self._dialog: AppDialog | None = None
        self._bridge: Any = None
        self.app.bind(bridge=self._bridge_changed)
        self._bridge_changed(self.app, self.app.bridge)
        self.bind(engine_state=lambda _s, state: setattr(self, "engine_state_text", STATE_TEXT[state]))

    # --- showing ------------------------------------------------------------------------
    def on_enter(self, *_args: Any) -> None:
        self.sync()
        if self._ticker is None:
            self._ticker = Clock.schedule_interval(lambda _dt: self.refresh_status(), REFRESH_S)

    def on_leave(self, *_args: Any) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def on_app_stop(self) -> None:
        self.on_leave()

    def sync(self) -> None:
        """Read everything again: theme, data dir, autostart file, engine status, keychain."""
        self.theme = self.app.settings_store.get("theme")
        self._mark_theme(self.theme)
        self.data_dir = str(self.app.paths.root)
        self.dir_note = (f"{ENV_VAR} is set for this session, so it decides the folder at the next start."
                         if os.environ.get(ENV_VAR) else "")
        self.refresh_autostart()
        self.refresh_status()
        self.check_keychain()
        self.ids.history_budget.load()
        self.ids.ai_defaults.load()

    # --- theme --------------------------------------------------------------------------
    def choose_theme(self, theme: str) -> None:
        self.app.apply_theme(theme)
        if self.app.settings_store.get("theme") != theme:
            self.app.settings_store.set("theme", theme)
        self.theme = theme

    def _mark_theme(self, theme: str) -> None:
        # the real item, not the weak proxy in ids: mark_item compares items by identity
        choice = self.ids.theme_choice
        for item in choice.get_items():
            if item.theme_name == theme and not item.active:
                choice.mark_item(item)

    # --- data directory -----------------------------------------------------------------
    def ask_change_dir(self) -> None:
        try:
            target = datadir.check_choice(self.ids.new_dir.text, self.app.paths.root)
        except datadir.DataDirError as exc:
            self.dir_error = str(exc)
            return
        self.dir_error = ""
        self._dialog = AppDialog(
            MDDialogIcon(icon="folder-swap-outline"),
            MDDialogHeadlineText(text="Move to another data directory?"),
            MDDialogSupportingText(text=f"The engine stops and restarts on\n{target}\n\nRuns in progress are "
                                        f"cancelled. Everything in {self.app.paths.root} stays there."),
            MDDialogButtonContainer(
                Widget(),
                MDButton(MDButtonText(text="Cancel"), style="text", on_release=lambda _b: self._close_dialog()),
                MDButton(MDButtonText(text="Restart the engine there"), style="text",
                         on_release=lambda _b: self.change_dir(target)),
                spacing="8dp",
            ),
        )
        self._dialog.open()

    def _close_dialog(self) -> None:
        if self._dialog is not None:
            self._dialog.dismiss()
            self._dialog = None

    def change_dir(self, target: Path) -> None:
        """Confirmed: stop the old engine, attach the app to ``target``."""
        self._close_dialog()
        self._pending = "switching"
        self.engine_state = "switching"
        try:
            datadir.switch_data_dir(self.app, target, on_done=self._switched)
        except datadir.DataDirError as exc:
            self._pending = None
            self.dir_error = str(exc)
            self.refresh_status()

    def _switched(self, _paths: Any) -> None:
        self._pending = None
        self.ids.new_dir.text = ""
        self.engine_info = {}
        self.sync()
        self.app.notify(f"Data directory: {self.app.paths.root}")

    # --- engine status ------------------------------------------------------------------
    def _bridge_changed(self, _app: Any, bridge: Any) -> None:
        if self._bridge is not None:
            self._bridge.unbind(state=self._bridge_state)
        self._bridge = bridge
        if bridge is not None:
            bridge.bind(state=self._bridge_state)

    def _bridge_state(self, _bridge: Any, state: str) -> None:
        self.refresh_status()
        if state == "connected" and self.keychain_state == "unknown":
            self.check_keychain()

    def refresh_status(self) -> None:
        bridge = self.app.bridge
        if bridge is None or not bridge.connected:
            self._show_offline(bridge)
            return
        if self._status_in_flight is bridge:
            return
        self._status_in_flight = bridge
        bridge.call("status", timeout=5,
                    on_result=lambda status: self._status_back(bridge, status, None),
                    on_error=lambda message: self._status_back(bridge, None, message))

    def _status_back(self, bridge: Any, status: dict | None, error: str | None) -> None:
        if self._status_in_flight is bridge:
            self._status_in_flight = None
        if bridge is not self.app.bridge:
            return  # an answer from before the data dir changed
        if status is None:
            self.engine_detail = error or ""
            self._show_offline(bridge)
            return
        if self._pending in ("starting", "switching"):
            self._pending = None
        self.engine_state = "stopping" if self._pending == "stopping" else "running"
        self.engine_info = {"pid": str(status["pid"]), "version": str(status["version"]),
                            "uptime": format_uptime(status["uptime_s"]),
                            "active_runs": str(len(status["active_runs"])), "socket": str(status["socket"]),
                            "data_dir": str(status["data_dir"])}
        self.engine_detail = f"Webhooks are off: {status['webhook_error']}" if status.get("webhook_error") else ""

    def _show_offline(self, bridge: Any) -> None:
        if self._pending == "stopping":
            self._pending = None
        if self._pending is not None:
            self.engine_state = self._pending
            return
        self.engine_info = {}
        if bridge is not None and bridge.start_engine and bridge.state == "connecting":
            self.engine_state = "connecting"
            self.engine_detail = ""
        else:
            self.engine_state = "stopped"
            self.engine_detail = bridge.detail if bridge is not None else ""

    # --- engine start / stop ------------------------------------------------------------
    def stop_engine(self) -> None:
        bridge = self.app.bridge
        if self._pending is not None or bridge is None or not bridge.connected:
            return
        self._pending = "stopping"
        self.engine_state = "stopping"
        bridge.start_engine = False  # a stopped engine stays stopped until Start
        bridge.call("shutdown", timeout=10, on_result=lambda _ok: None, on_error=self._stop_failed)

    def _stop_failed(self, message: str) -> None:
        self._pending = None
        self.app.notify(f"Could not stop the engine: {message}")
        self.refresh_status()

    def start_engine(self) -> None:
        if self._pending is not None:
            return
        self._pending = "starting"
        self.engine_state = "starting"
        root = self.app.paths.root
        threading.Thread(target=self._launch, args=(root,), name="dagflux-settings-start", daemon=True).start()

    def _launch(self, root: Path) -> None:
        """Background thread: ``dagflux engine --detach`` returns once the engine is ready."""
        env = dict(os.environ, **{ENV_VAR: str(root)})
        try:
            proc = subprocess.run(engine_command("engine", "--detach"), env=env, capture_output=True, text=True,
                                  timeout=START_TIMEOUT_S)
            error = None if proc.returncode == 0 else (proc.stderr.strip() or f"exit status {proc.returncode}")
        except (OSError, subprocess.SubprocessError) as exc:
            error = str(exc)
        self._launched(root, error)

    @mainthread
    def _launched(self, root: Path, error: str | None) -> None:
        bridge = self.app.bridge
        if error is not None:
            self._pending = None
            self.app.notify(f"Could not start the engine: {error.splitlines()[-1]}")
            self.refresh_status()
            return
        if bridge is not None and bridge.paths.root == root:
            bridge.start_engine = True  # it attaches on its next retry

    # --- autostart ----------------------------------------------------------------------
    def refresh_autostart(self) -> None:
        try:
            path = autostart.entry_path()
            self.autostart_on = autostart.is_enabled()
        except autostart.AutostartUnsupportedError as exc:
            self.autostart_supported, self.autostart_on, self.autostart_note = False, False, str(exc)
            return
        self.autostart_supported = True
        self.autostart_note = f"Keeps schedules, file watches and webhooks running after a reboot.\nEntry: {path}"

    def set_autostart(self, on: bool) -> None:
        if not self.autostart_supported or on == autostart.is_enabled():
            return
        try:
            if on:
                autostart.enable(engine_command("engine"))
            else:
                autostart.disable()
        except (OSError, ValueError) as exc:
            self.app.notify(f"Could not change autostart: {exc}")
        self.refresh_autostart()

    # --- keychain -----------------------------------------------------------------------
    def check_keychain(self) -> None:
        bridge = self.app.bridge
        if bridge is None or not bridge.connected:
            self._show_keychain({"state": "unknown", "backend": "", "message": ""})
            return
        self._show_keychain({"state": "checking", "backend": self.keychain_backend, "message": ""})
        bridge.call("secrets.status", timeout=30, on_result=self._show_keychain,
                    on_error=lambda message: self._show_keychain({"state": "unknown", "backend": "",
                                                                  "message": message}))

    def _show_keychain(self, status: dict) -> None:
        state = status.get("state", "unknown")
        self.keychain_state = state if state in KEYCHAIN_HEADLINE else "unknown"
        self.keychain_headline = KEYCHAIN_HEADLINE[self.keychain_state]
        self.keychain_backend = backend_label(status.get("backend") or "")
        self.keychain_fix = KEYCHAIN_FIX.get(state, status.get("message", "") if state == "unknown" else "")
