"""The Settings screen against a real engine: theme, engine start/stop, autostart, keychain, data dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kivy.metrics import dp

from app import datadir
from app.main import build_app_class
from app.settings_store import AppSettings
from engine.client import EngineCallError, EngineClient, EngineUnavailable
from engine.paths import DataPaths, pointer_file
from engine.procutil import pid_alive
from engine.service import autostart
from tests import keychain
from tests.app.kivyrun import non_blank, pump, running, screenshot, tap_widget, wait_until


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Free webhook port, and a throw-away XDG config dir (autostart entry, data-dir pointer)."""
    monkeypatch.setenv("DAGFLUX_WEBHOOK_PORT", "0")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("DAGFLUX_SYSTEM_THEME", "dark")
    return tmp_path / "config"


@pytest.fixture
def settings_app(app_env: Path):
    """The app with a running engine, showing the Settings screen; every engine it used is stopped."""
    app = build_app_class()()
    with running(app):
        try:
            wait_until(lambda: app.engine_ok, 30, "the engine link")
            screen = app.open_screen("settings")
            wait_until(lambda: screen.engine_state == "running", 45, "the engine status")
            yield app, screen
        finally:
            _shutdown(app)


def _shutdown(app) -> None:
    """Stop the engine (the bridge must not start another), then the bridge, while frames still run."""
    bridge = app.bridge
    bridge.start_engine = False
    try:
        pid = bridge.call_blocking("status", timeout=5)["pid"]
        bridge.call_blocking("shutdown", timeout=10)
    except (EngineUnavailable, EngineCallError):
        pid = None
    if pid is not None:
        wait_until(lambda: not pid_alive(pid), 45, "the engine to exit")
    bridge.stop()
    bridge._thread.join(10)  # its last state report is queued before the app stops
    pump(3)


def _button_with_text(root, text: str):
    for widget in root.walk(restrict=True):
        texts = {getattr(child, "text", None) for child in widget.walk(restrict=True)}
        if type(widget).__name__ == "MDButton" and text in texts:
            return widget
    raise AssertionError(f"no button '{text}' under {root}")


def test_theme_choice_applies_at_once_and_is_saved(settings_app) -> None:
    app, screen = settings_app
    assert app.theme_cls.theme_style == "Light" and screen.ids.theme_light.active
    wait_until(lambda: screen.keychain_state != "checking", 30, "the keychain status")
    shot = screenshot("settings_light")
    assert non_blank(shot)

    tap_widget(screen.ids.theme_dark)
    wait_until(lambda: app.theme_cls.theme_style == "Dark", 45, "the dark theme")
    assert AppSettings(app.paths.root).get("theme") == "dark"
    assert screen.ids.theme_dark.active and not screen.ids.theme_light.active
    pump(30)  # let the segment's check-mark animation finish before the picture
    shot = screenshot("settings_dark")
    assert non_blank(shot)

    tap_widget(screen.ids.theme_light)
    wait_until(lambda: app.theme_cls.theme_style == "Light", 45, "the light theme")
    tap_widget(screen.ids.theme_system)  # DAGFLUX_SYSTEM_THEME=dark stands in for the desktop
    wait_until(lambda: app.theme_cls.theme_style == "Dark", 45, "the system (dark) theme")
    saved = json.loads((app.paths.root / "app-settings.json").read_text())
    assert saved["theme"] == "system"


def test_stop_and_start_buttons_control_the_real_engine(settings_app) -> None:
    app, screen = settings_app
    first_pid = int(screen.engine_info["pid"])
    assert screen.ids.engine_start.disabled and not screen.ids.engine_stop.disabled

    tap_widget(screen.ids.engine_stop)
    wait_until(lambda: screen.engine_state == "stopped", 45, "the stopped state")
    wait_until(lambda: not pid_alive(first_pid), 45, "the engine process to exit")
    assert screen.ids.engine_pid.text == "—"
    assert not screen.ids.engine_start.disabled
    # the bridge keeps trying to attach, but no longer starts an engine behind our back
    wait_until(lambda: app.bridge.detail.startswith("no engine is running"), 45, "the bridge's next attempt")
    with pytest.raises(EngineUnavailable):
        EngineClient.connect(app.paths, timeout=2).close()
    assert screen.engine_state == "stopped" and not app.engine_ok

    tap_widget(screen.ids.engine_start)
    # "starting" until the new engine answers status — which it now does before it has warmed
    # up, so by the time the tap's release has been delivered it may already say "running"
    assert screen.engine_state in ("starting", "running")
    wait_until(lambda: screen.engine_state == "running", 40, "the engine to run again")
    second_pid = int(screen.engine_info["pid"])
    assert second_pid != first_pid and pid_alive(second_pid)
    assert screen.ids.engine_pid.text == str(second_pid)
    assert app.bridge.call_blocking("status")["pid"] == second_pid


def test_autostart_switch_writes_and_removes_the_desktop_entry(settings_app, app_env: Path) -> None:
    app, screen = settings_app
    entry = app_env / "autostart" / autostart.ENTRY_NAME
    assert not screen.ids.autostart.active and not entry.exists()

    tap_widget(screen.ids.autostart)
    wait_until(lambda: entry.exists(), 45, "the autostart entry")
    assert autostart.is_enabled() and screen.autostart_on
    assert "engine.cli engine" in entry.read_text()

    tap_widget(screen.ids.autostart)
    wait_until(lambda: not entry.exists(), 45, "the entry to be removed")
    assert not screen.autostart_on

    autostart.enable(["dagflux", "engine"])  # switched on elsewhere: the screen reads the file
    app.open_screen("workflows")
    app.open_screen("settings")
    wait_until(lambda: screen.ids.autostart.active, 45, "the switch to show the entry")


def test_keychain_card_shows_the_unlocked_test_keyring(settings_app, keyring_ready) -> None:
    _app, screen = settings_app
    wait_until(lambda: screen.keychain_state not in ("checking", "unknown"), 30, "the keychain probe")
    assert screen.keychain_state == "ok"
    assert "Secret Service" in screen.ids.keychain_backend.text
    assert screen.ids.keychain_headline.text.startswith("Working")
    assert screen.ids.keychain_fix.text == ""


@pytest.fixture(params=["missing", "locked"])
def broken_keychain(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """No Secret Service on the session bus ("missing"), or one whose keyring is locked ("locked")."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    if request.param == "missing":
        monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
        monkeypatch.delenv("GNOME_KEYRING_CONTROL", raising=False)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))  # no default bus socket there either
        yield "missing"
        return
    if not keychain.available():
        pytest.skip("dbus-daemon and gnome-keyring-daemon are not installed")
    service = keychain.SecretService(tmp_path / "locked_keyring")
    for key, value in service.start(unlock=False).items():
        monkeypatch.setenv(key, value)
    try:
        yield "locked"
    finally:
        service.stop()


def test_keychain_card_says_how_to_fix_a_missing_or_locked_keychain(broken_keychain: str, settings_app) -> None:
    _app, screen = settings_app
    wait_until(lambda: screen.keychain_state not in ("checking", "unknown"), 30, "the keychain probe")
    assert screen.keychain_state == broken_keychain
    fix = screen.ids.keychain_fix.text
    if broken_keychain == "missing":
        assert screen.ids.keychain_headline.text == "No keychain found"
        assert "gnome-keyring" in fix and "Secret Service" in fix
    else:
        assert screen.ids.keychain_headline.text == "The keychain is locked"
        assert "unlock your login keyring" in fix
    assert non_blank(screenshot(f"settings_keychain_{broken_keychain}"))


def test_a_new_data_dir_restarts_the_engine_there(settings_app, tmp_path: Path) -> None:
    app, screen = settings_app
    old_root, old_pid = app.paths.root, int(screen.engine_info["pid"])
    old_workflows = app.screen("workflows")  # built on the old dir, holding the old bridge
    target = tmp_path / "moved data"
    screen.ids.new_dir.text = str(target)
    tap_widget(screen.ids.change_dir)
    wait_until(lambda: screen._dialog is not None and screen._dialog.parent is not None, 45, "the dialog")
    dialog = screen._dialog
    wait_until(lambda: dialog.opacity == 1 and dialog.scale_value_y == 1
               and dialog.ids.button_container.y == dp(24), 5, "the dialog's opening animation")
    assert "restarts" in " ".join(getattr(w, "text", "") for w in dialog.walk(restrict=True))
    assert non_blank(screenshot("settings_change_dir_dialog"))
    tap_widget(_button_with_text(dialog, "Restart the engine there"))

    wait_until(lambda: screen.engine_info.get("data_dir") == str(target), 40, "an engine on the new dir")
    assert screen.engine_state == "running"
    assert screen.ids.data_dir_label.text == str(target)
    assert app.paths.root == target and (target / "workflows").is_dir()
    assert app.bridge.call_blocking("status")["data_dir"] == str(target)
    assert pointer_file().read_text().strip() == str(target)
    wait_until(lambda: not pid_alive(old_pid), 45, "the old engine to exit")
    assert old_root.is_dir()  # the old folder is left as it was
    assert old_workflows.parent is None
    fresh = app.open_screen("workflows")
    assert fresh is not old_workflows and app.root.ids.screens.current == "workflows"


def test_a_status_call_lost_with_the_old_bridge_does_not_silence_the_new_one(settings_app, tmp_path: Path) -> None:
    """A stopped bridge drops the answers still owed to the screen. The Settings screen's
    periodic status call may be out on the old bridge at the moment the app moves to a new
    data dir; that lost answer must not keep the screen from asking the new engine (seen on
    a loaded CI run: "timed out waiting for an engine on the new dir")."""
    app, screen = settings_app
    old_paths = app.paths
    old_pid = int(screen.engine_info["pid"])
    target = tmp_path / "other data"
    screen.refresh_status()                    # out on the old bridge…
    datadir.attach(app, datadir.ensure_data_dir(DataPaths(target)))   # …which stops before it answers
    try:
        wait_until(lambda: screen.engine_info.get("data_dir") == str(target), 40, "the new engine's status")
        assert screen.engine_state == "running"
    finally:
        with EngineClient.connect(old_paths, timeout=10) as client:   # the old engine was left running
            client.call("shutdown", timeout=10)
        wait_until(lambda: not pid_alive(old_pid), 45, "the old engine to exit")


def test_the_history_budget_card_shows_and_saves_the_budget(settings_app, dagflux_home: Path) -> None:
    from engine import history_budget

    app, screen = settings_app
    card = screen.ids.history_budget
    wait_until(lambda: card.ids.budget_days.text == "30", 30, "the budget shown")
    assert card.ids.budget_size.text == "1 GB" and "kept 30 days" in card.note
    card.ids.budget_days.text, card.ids.budget_size.text = "7", "500 MB"
    tap_widget(card.ids.budget_save)
    wait_until(lambda: "kept 7 days" in card.note, 30, "the budget saved")
    saved = history_budget.load_budget(dagflux_home)
    assert (saved.days, saved.size) == (7.0, 500 << 20)
    assert non_blank(screenshot("settings_history_budget"))
    card.ids.budget_size.text = "lots"
    tap_widget(card.ids.budget_save)
    wait_until(lambda: "size 'lots'" in card.error, 30, "the refusal")
    assert history_budget.load_budget(dagflux_home).size == 500 << 20     # nothing saved
    card.ids.budget_days.text, card.ids.budget_size.text = "off", "off"
    tap_widget(card.ids.budget_save)
    wait_until(lambda: "no age limit" in card.note, 30, "the limits switched off")
    assert history_budget.load_budget(dagflux_home) == history_budget.Budget(days=None, size=None)
