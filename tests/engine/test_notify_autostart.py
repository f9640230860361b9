"""Desktop notifications on a real private D-Bus, and the XDG autostart entry."""

from __future__ import annotations

import configparser
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from jeepney import HeaderFields, MessageType, message_bus, new_method_return
from jeepney.io.blocking import Proxy, open_dbus_connection

from engine.service import autostart
from engine.service.notify import notify

NOTIFICATIONS = "org.freedesktop.Notifications"
STRING_ESCAPES = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={folder}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


# --- a private session bus and a fake notification service ------------------------------
@pytest.fixture
def session_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A dbus-daemon of our own (no service files, so nothing is auto-started)."""
    if not shutil.which("dbus-daemon"):
        pytest.skip("dbus-daemon is not installed")
    with tempfile.TemporaryDirectory(prefix="dfx-bus-") as folder:      # short: socket paths max 108 bytes
        config = Path(folder, "bus.conf")
        config.write_text(BUS_CONFIG.format(folder=folder))
        with subprocess.Popen(["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
                              stdout=subprocess.PIPE, text=True) as daemon:
            assert daemon.stdout is not None
            address = daemon.stdout.readline().strip()
            monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
            try:
                yield address
            finally:
                daemon.terminate()
                daemon.wait(5)


class FakeNotifications:
    """Owns org.freedesktop.Notifications on the bus and records Notify calls."""

    def __init__(self, capabilities: list[str]) -> None:
        self.capabilities = capabilities
        self.calls: list[tuple] = []
        self._stop = threading.Event()
        self._conn = open_dbus_connection("SESSION")
        owned = Proxy(message_bus, self._conn, timeout=5).RequestName(NOTIFICATIONS, 4)  # 4: do not queue
        assert owned == (1,), "the fake service could not own its name"
        self._thread = threading.Thread(target=self._serve, name="fake-notifications")
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                message = self._conn.receive(timeout=0.05)
            except TimeoutError:
                continue
            if message.header.message_type is MessageType.method_call:
                self._answer(message)

    def _answer(self, message) -> None:
        member = message.header.fields.get(HeaderFields.member)
        if member == "GetCapabilities":
            self._conn.send(new_method_return(message, "as", (self.capabilities,)))
        elif member == "Notify":
            self.calls.append(message.body)
            self._conn.send(new_method_return(message, "u", (len(self.calls),)))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()


@pytest.fixture
def fake_service(session_bus: str) -> Iterator[FakeNotifications]:
    service = FakeNotifications(["body", "body-markup"])
    try:
        yield service
    finally:
        service.close()


# --- notify ------------------------------------------------------------------------------
def test_without_a_session_bus_notify_is_false_at_once(monkeypatch):
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    began = time.monotonic()
    assert notify("Run failed", "orders") is False
    assert time.monotonic() - began < 0.5


def test_an_unreachable_bus_is_false_at_once(monkeypatch, tmp_path):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    began = time.monotonic()
    assert notify("Run failed", "orders") is False
    assert time.monotonic() - began < 1.1


def test_a_bus_that_never_answers_cannot_hold_the_caller(monkeypatch):
    with tempfile.TemporaryDirectory(prefix="dfx-mute-") as folder, \
            socket.socket(socket.AF_UNIX) as mute:      # listens, never accepts, never speaks
        mute.bind(f"{folder}/bus")
        mute.listen()
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={folder}/bus")
        began = time.monotonic()
        assert notify("Run failed", "orders", timeout=0.3) is False
        assert time.monotonic() - began < 0.6


def test_a_bus_without_a_notification_service_is_false(session_bus):
    began = time.monotonic()
    assert notify("Run failed", "orders") is False
    assert time.monotonic() - began < 1.1


def test_the_notification_reaches_the_service(fake_service):
    assert notify("Run failed: orders", "Sales & Ops <east> failed at node load", urgency="critical") is True
    [(app, replaces, icon, summary, body, actions, hints, expire)] = fake_service.calls
    assert (app, summary, actions, expire) == ("DagFlux", "Run failed: orders", [], -1)
    assert body == "Sales &amp; Ops &lt;east&gt; failed at node load"      # the service renders markup
    assert hints["urgency"] == ("y", 2)


def test_plain_text_services_get_the_body_unescaped(session_bus):
    service = FakeNotifications(["body"])
    try:
        assert notify("Run failed", "A & B") is True
    finally:
        service.close()
    assert service.calls[0][4] == "A & B"


def test_an_unknown_urgency_is_a_caller_error():
    with pytest.raises(ValueError, match="urgency must be one of low, normal, critical"):
        notify("x", "y", urgency="urgent")


# --- autostart ---------------------------------------------------------------------------
@pytest.fixture
def xdg_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


def read_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def exec_argv(value: str) -> list[str]:
    """Split an Exec value as the Desktop Entry spec says a launcher does."""
    text = re.sub(r"\\(.)", lambda m: STRING_ESCAPES.get(m.group(1), m.group(0)), value)
    args: list[str] = []
    current: str | None = None
    chars = iter(text)
    for ch in chars:
        if ch == " ":
            if current is not None:
                args.append(current)
            current = None
        elif ch == '"':
            current = (current or "") + _quoted(chars)
        else:
            current = (current or "") + ch
    if current is not None:
        args.append(current)
    return [arg.replace("%%", "%") for arg in args]


def _quoted(chars: Iterator[str]) -> str:
    out = ""
    for ch in chars:
        if ch == '"':
            return out
        if ch == "\\":
            ch = next(chars)
            assert ch in '"`$\\', f"{ch!r} must not be escaped inside quotes"
        out += ch
    raise AssertionError("unterminated quoted argument")


def test_enable_writes_a_valid_autostart_entry(xdg_config, monkeypatch):
    monkeypatch.delenv("DAGFLUX_HOME")
    path = autostart.enable(["/usr/bin/dagflux", "engine"])
    assert path == xdg_config / "autostart" / "dagflux-engine.desktop" == autostart.entry_path()
    entry = read_entry(path)
    assert entry["Type"] == "Application" and entry["Name"] == "DagFlux engine"
    assert entry["Exec"] == "/usr/bin/dagflux engine"
    assert entry["X-GNOME-Autostart-enabled"] == "true" and entry["NoDisplay"] == "true"
    assert autostart.is_enabled()
    assert [p.name for p in path.parent.iterdir()] == ["dagflux-engine.desktop"]   # no temp file left


def test_exec_round_trips_awkward_arguments_and_carries_dagflux_home(xdg_config, monkeypatch, tmp_path):
    home = tmp_path / "My Data $HOME"
    monkeypatch.setenv("DAGFLUX_HOME", str(home))
    command = [str(tmp_path / "Program Files" / "python"), "-m", "engine.cli", "engine",
               'say "hi"', "back\\slash", "100%", "`tick`", "semi;colon", "", "tab\there", "new\nline"]
    entry = read_entry(autostart.enable(command))
    assert exec_argv(entry["Exec"]) == ["env", f"DAGFLUX_HOME={home}", *command]


def test_desktop_file_validate_accepts_the_entry(xdg_config):
    validator = shutil.which("desktop-file-validate")
    if not validator:
        pytest.skip("desktop-file-validate is not installed")
    path = autostart.enable(["/opt/Dag Flux/dagflux", "engine"])
    result = subprocess.run([validator, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_enable_twice_is_idempotent_and_disable_removes_the_entry(xdg_config):
    first = autostart.enable(["dagflux", "engine"]).read_bytes()
    assert autostart.enable(["dagflux", "engine"]).read_bytes() == first
    assert autostart.disable() is True
    assert not autostart.entry_path().exists() and not autostart.is_enabled()
    assert autostart.disable() is False


def test_is_enabled_follows_the_desktops_switch(xdg_config):
    path = autostart.enable(["dagflux", "engine"])
    path.write_text(path.read_text().replace("X-GNOME-Autostart-enabled=true", "X-GNOME-Autostart-enabled=false"))
    assert not autostart.is_enabled()
    path.write_text("not an ini file at all")
    assert not autostart.is_enabled()


def test_a_relative_xdg_config_home_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/config")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert autostart.entry_path() == tmp_path / ".config" / "autostart" / "dagflux-engine.desktop"


@pytest.mark.parametrize("command", [[], "dagflux engine", ["dagflux", "bad\0arg"]])
def test_a_bad_command_is_refused(xdg_config, command):
    with pytest.raises(ValueError, match="command|NUL"):
        autostart.enable(command)
    assert not autostart.entry_path().exists()


@pytest.mark.parametrize("platform, hint", [("darwin", "LaunchAgent"), ("win32", "Startup folder")])
def test_other_systems_get_an_honest_error(monkeypatch, platform, hint):
    monkeypatch.setattr(sys, "platform", platform)
    with pytest.raises(autostart.AutostartUnsupportedError, match=f"not supported on {platform} yet.*{hint}"):
        autostart.enable(["dagflux", "engine"])
    with pytest.raises(NotImplementedError):
        autostart.is_enabled()
