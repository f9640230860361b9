"""The Connections screen against a real engine, a real keychain and a real PostgreSQL.

Through the form widgets: add a PostgreSQL connection, test it (progress, then success);
change the role's password in PostgreSQL, replace the stored password through Edit →
Replace and see the test succeed; replace it with a wrong one and see a clear failure;
a form the engine refuses shows why, next to the fields it names; a connection is
removed after a confirmation. Throughout, every frame this (UI) process
receives from the engine is recorded — and none of them, nor anything logged, contains
a secret (host, user, passwords) in any common encoding, while the same recording does
contain the non-secret values we sent.
"""

from __future__ import annotations

import base64
import logging
import os
import sqlite3
import time
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from kivy.uix.scrollview import ScrollView

from app.main import build_app_class
from engine import frametap, messages
from engine.client import EngineClient, EngineUnavailable
from tests.app.kivyrun import non_blank, pump, running, screenshot, tap, touch, wait_until
from tests.integration.dbservers import add_login, postgres_admin, postgres_server, random_password  # noqa: F401

# 127.0.0.1 spelled as one hex number: it reaches the same server, and unlike "127.0.0.1"
# it cannot turn up in a frame by coincidence, so searching for it proves something.
HOST = "0x7f000001"
SECRET_FIELDS = ("host", "user", "password")


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No fixed webhook port; the engine's audit tap on (the bridge's engine inherits it)."""
    monkeypatch.setenv("DAGFLUX_WEBHOOK_PORT", "0")
    frame_log = tmp_path / "engine-frames.bin"
    monkeypatch.setenv(frametap.ENV, str(frame_log))
    return frame_log


@pytest.fixture
def incoming(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every frame this process receives from the engine, raw: ``ipc.recv`` decodes each one
    with ``messages.decode`` (the client's reader thread and its handshake both use it)."""
    frames: list[bytes] = []
    real_decode = messages.decode

    def recording(frame: bytes) -> messages.Message:
        frames.append(bytes(frame))
        return real_decode(frame)

    monkeypatch.setattr(messages, "decode", recording)
    return frames


# --- driving widgets -----------------------------------------------------------------------

def _centre(widget) -> tuple[float, float]:
    return widget.to_window(*widget.center)


def _scroll_into_view(widget) -> None:
    parent = widget.parent
    while parent is not None and not isinstance(parent, ScrollView) and parent is not parent.parent:
        parent = parent.parent
    if isinstance(parent, ScrollView):
        parent.scroll_to(widget, padding=20, animate=False)
        pump(2)


def tap_widget(widget) -> None:
    _scroll_into_view(widget)
    tap(*_centre(widget))


def release_on(widget) -> None:
    """Press and release ``widget`` without running a frame after the release, so the test
    sees the state the handler left before any engine reply can arrive (replies come only
    through the Kivy clock)."""
    _scroll_into_view(widget)
    t = touch(*_centre(widget))
    t.touch_down()
    pump(1)
    t.touch_up()


def type_into(text_input, text: str) -> None:
    """What the keyboard does: focus the input and insert the text (filters apply)."""
    text_input.focus = True
    text_input.insert_text(text)
    text_input.focus = False
    pump(1)


def _set_role_password(login, password: str) -> None:
    admin = postgres_admin(login)
    try:
        admin.execute(f"ALTER ROLE \"{login.user}\" PASSWORD '{password}'")
    finally:
        admin.close()


def _wait_tested(screen, conn_id: str) -> str:
    wait_until(lambda: screen.rows[conn_id].test_status in ("ok", "failed"), 90, f"the test of {conn_id}")
    return screen.rows[conn_id].test_status


def _test(screen, conn_id: str) -> tuple[str, str]:
    """Press Test: the row shows progress at once; then wait for the outcome."""
    row = screen.rows[conn_id]
    release_on(row.ids.test_button)
    assert row.test_status == "running"
    assert row.ids.progress.active and row.ids.progress.opacity == 1 and row.ids.result.opacity == 1
    assert row.ids.test_button.disabled  # no second test while one runs
    status = _wait_tested(screen, conn_id)
    row = screen.rows[conn_id]
    assert not row.ids.progress.active and row.ids.result_icon.opacity == 1
    return status, row.test_text


def _save_and_check_cleared(screen, secret_inputs: list) -> None:
    """Press Save; right after the request leaves, every secret input is empty."""
    form = screen.form
    release_on(form.ids.save)
    assert form.busy, form.error_text
    assert all(text_input.text == "" for text_input in secret_inputs)
    wait_until(lambda: not form.busy or form.error_text, 30, "the engine's answer to the form")


def _edit_replace_password(screen, conn_id: str, password: str) -> None:
    form = screen.form
    tap_widget(screen.rows[conn_id].ids.edit_button)
    assert form.mode == "edit" and form.stage == "fill" and screen.form_open
    secret = form.field("password")
    state = secret.children[-1]
    assert secret.input is None and state.ids.state.text == "Password: set"
    for name in ("host", "user"):  # untouched secrets stay untouched: no input, nothing sent
        assert form.field(name).input is None and form.field(name).is_set
    tap_widget(state.ids.replace)
    assert secret.replacing and secret.input is not None and secret.input.text == ""  # never pre-filled
    assert secret.input.password
    type_into(secret.input, password)
    _save_and_check_cleared(screen, [secret.input])
    assert not form.error_text
    wait_until(lambda: not screen.form_open and not screen.loading, 45, "the form to close and the list")


# --- the test ----------------------------------------------------------------------------------

def test_connections_add_test_replace_remove_and_no_secret_reaches_the_ui(
        app_env: Path, keyring_ready, postgres_server, incoming: list[bytes],  # noqa: F811
        caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    login = add_login(postgres_server)            # a role of our own: we change its password
    first, second, wrong = random_password(), random_password(), random_password()
    _set_role_password(login, first)
    sqlite_file = tmp_path / "local.sqlite"
    sqlite3.connect(sqlite_file).close()

    app = build_app_class()()
    try:
        with running(app):
            wait_until(lambda: app.engine_ok, 60, "the engine link")
            screen = app.open_screen("connections")
            wait_until(lambda: not app.root.ids.screens.transition.is_active, 45, "the screen transition")
            wait_until(lambda: screen.types and not screen.loading, 30, "the connector types and the list")
            assert screen.rows == {} and "No connections yet" in screen.ids.empty.text
            _add_postgres(screen, login, first)
            _check_postgres_row(screen, login)

            status, text = _test(screen, "sales_db")
            assert status == "ok", text
            assert "Connected" in text and "PostgreSQL" in text

            _set_role_password(login, second)      # the server's password changes: replace ours
            _edit_replace_password(screen, "sales_db", second)
            assert screen.rows["sales_db"].test_status == ""  # an old result says nothing about new secrets
            status, text = _test(screen, "sales_db")
            assert status == "ok", text

            _edit_replace_password(screen, "sales_db", wrong)
            status, text = _test(screen, "sales_db")
            assert status == "failed", text
            assert "Test failed" in text and "authentication failed" in text
            row = screen.rows["sales_db"]
            assert row.ids.result_label.text_color == app.theme_cls.errorColor

            _refused_form_shows_why(screen)
            _add_sqlite(screen, sqlite_file)
            status, text = _test(screen, "local_file")
            assert status == "ok", text
            _screenshots(app, screen)
            _remove(app, screen, "local_file")
    finally:
        _stop_engine(app.paths)  # after the app (and its bridge, which would restart it) has stopped

    _assert_no_secret_anywhere(incoming, app_env, caplog, login, [first, second, wrong])


def _stop_engine(paths) -> None:
    try:
        client = EngineClient.connect(paths, timeout=5)
    except EngineUnavailable:
        return
    pid = client.welcome.pid
    with client:
        try:
            client.call("shutdown", timeout=15)
        except EngineUnavailable:
            pass  # the engine may close the link before its answer is out: the exit below is the proof
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:  # the app is stopped: no frames to run
        time.sleep(0.05)
    assert not _alive(pid), "the engine did not exit after shutdown"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _add_postgres(screen, login, password: str) -> None:
    tap_widget(screen.ids.add)
    form = screen.form
    assert screen.form_open and form.stage == "choose"
    buttons = {b.type_name: b for b in form.ids.types.children}
    assert set(buttons) >= {"postgresql", "mariadb", "sqlite", "rest"}
    tap_widget(buttons["postgresql"])
    assert form.stage == "fill" and form.mode == "add" and form.type_spec["type"] == "postgresql"
    secret_inputs = [form.field(name).input for name in SECRET_FIELDS]
    assert all(i.password and i.text == "" for i in secret_inputs)  # password inputs, never pre-filled
    assert form.field("port").input.text == "5432" and form.field("sslmode").current == "prefer"
    type_into(form.field("_name").input, "Sales DB")
    assert form.field("_id").input.text == "sales_db"   # the id follows the name
    type_into(form.field("host").input, HOST)
    type_into(form.field("port").input, "x")            # a whole-number field takes digits only
    assert form.field("port").input.text == "5432"
    form.field("port").input.text = ""
    type_into(form.field("port").input, str(login.port))
    type_into(form.field("database").input, login.database)
    type_into(form.field("user").input, login.user)
    type_into(form.field("password").input, password)
    tap_widget(form.field("sslmode").ids.button)
    menu = form.field("sslmode")._menu
    wait_until(lambda: menu.parent is not None, 45, "the drop-down menu")
    form.field("sslmode").choose("disable")
    assert form.field("sslmode").ids.value.text == "disable"
    wait_until(lambda: menu.parent is None, 45, "the drop-down menu to close")
    _save_and_check_cleared(screen, secret_inputs)
    assert not form.error_text
    wait_until(lambda: "sales_db" in screen.rows and not screen.loading, 45, "the new connection in the list")
    assert not screen.form_open


def _check_postgres_row(screen, login) -> None:
    row = screen.rows["sales_db"]
    assert row.title == "Sales DB" and row.subtitle == "sales_db · PostgreSQL" and row.icon == "elephant"
    assert f"Port {login.port}" in row.summary and f"Database {login.database}" in row.summary
    assert "SSL mode disable" in row.summary
    assert HOST not in row.summary and login.user not in row.summary
    assert row.secrets_text == "host set · password set · user set"
    assert row.ids.test_button.height >= 48 and row.ids.edit_button.height >= 48 and row.ids.remove_button.width >= 48


def _refused_form_shows_why(screen) -> None:
    """The engine refuses a PostgreSQL connection without a database: the form says so."""
    form = screen.form
    tap_widget(screen.ids.add)
    tap_widget(next(b for b in form.ids.types.children if b.type_name == "postgresql"))
    type_into(form.field("_name").input, "Broken")
    type_into(form.field("host").input, HOST)
    type_into(form.field("user").input, "nobody")
    _save_and_check_cleared(screen, [form.field(n).input for n in SECRET_FIELDS])
    assert "Database" in form.error_text and "enter them again" in form.error_text
    assert form.field("database").error and not form.field("port").error
    assert form.ids.error.opacity == 1 and form.ids.error.height > 0 and screen.form_open
    assert "broken" not in screen.rows
    shot = screenshot("connections_add_form")
    assert non_blank(shot)
    tap_widget(form.ids.cancel)
    assert not screen.form_open


def _add_sqlite(screen, path: Path) -> None:
    form = screen.form
    tap_widget(screen.ids.add)
    tap_widget(next(b for b in form.ids.types.children if b.type_name == "sqlite"))
    type_into(form.field("_name").input, "Local file")
    type_into(form.field("path").input, str(path))
    _save_and_check_cleared(screen, [])
    wait_until(lambda: "local_file" in screen.rows and not screen.loading, 45, "the SQLite connection")
    row = screen.rows["local_file"]
    assert row.secrets_text == "no secret fields" and str(path) in row.summary


def _screenshots(app, screen) -> None:
    for theme in ("light", "dark"):
        app.apply_theme(theme)
        pump(3)
        shot = screenshot(f"connections_{theme}")
        assert non_blank(shot)
    tap_widget(screen.rows["sales_db"].ids.edit_button)
    shot = screenshot("connections_edit_form_dark")
    assert non_blank(shot)
    tap_widget(screen.form.ids.cancel)
    app.apply_theme("light")
    pump(2)


def _remove(app, screen, conn_id: str) -> None:
    tap_widget(screen.rows[conn_id].ids.remove_button)
    dialog = screen._dialog
    assert dialog is not None
    wait_until(lambda: dialog.opacity == 1, 45, "the confirmation dialog")
    tap_widget(dialog.cancel_button)                   # cancelling keeps it
    wait_until(lambda: screen._dialog is None, 45, "the dialog to close")
    assert conn_id in screen.rows
    tap_widget(screen.rows[conn_id].ids.remove_button)
    dialog = screen._dialog
    wait_until(lambda: dialog.opacity == 1, 45, "the confirmation dialog")
    tap_widget(dialog.remove_button)
    wait_until(lambda: conn_id not in screen.rows, 45, "the removed connection to leave the list")
    assert [c["id"] for c in app.bridge.call_blocking("connections.list")] == ["sales_db"]


# --- the leak check ----------------------------------------------------------------------------

def _encodings(value: str) -> set[bytes]:
    """The value raw, URL-encoded, and base64-encoded at each of the three alignments it can
    have inside a longer text (only the characters that depend on the value alone)."""
    forms = {value, quote(value, safe=""), quote_plus(value)}
    raw = value.encode()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw).decode().rstrip("=")
        start = (pad * 4 + 2) // 3               # leading characters that mix in the bytes before
        end = len(encoded) - (1 if (pad + len(raw)) % 3 else 0)   # … and the bytes after
        forms.add(encoded[start:end])
    return {f.encode() for f in forms if f}


def _assert_no_secret_anywhere(incoming: list[bytes], frame_log: Path, caplog: pytest.LogCaptureFixture,
                               login, passwords: list[str]) -> None:
    received = b"\n".join(incoming)
    logged = "\n".join([caplog.text, *(r.getMessage() for r in caplog.records)]).encode()
    tapped = b"\n".join(frametap.read_all(str(frame_log)))
    # positive controls: the recording holds what the engine sent back, non-secret values included
    assert len(incoming) > 20
    assert login.database.encode() in received and b"sales_db" in received and b"Sales DB" in received
    assert b"PostgreSQL" in received and b"authentication failed" in received
    assert b"secrets_set" in received and login.database.encode() in tapped and b"OpResult" in tapped
    # the log capture is live: the app logged the failed connection test (the engine's scrubbed error)
    assert b"connections.test failed" in logged and b"authentication failed" in logged
    needles = {"host": _encodings(HOST), "user": _encodings(login.user)}
    needles.update({f"password {i}": _encodings(p) for i, p in enumerate(passwords, 1)})
    haystacks = {"frames the UI received": received, "logs": logged, "frames the engine sent (audit tap)": tapped}
    hits = [f"{what} in {where}" for what, forms in needles.items() for where, data in haystacks.items()
            if any(form in data for form in forms)]
    assert hits == []


def test_the_leak_needles_find_a_secret_wherever_it_sits_in_an_encoded_text() -> None:
    """Control for the leak check: each encoding of a secret is found inside longer texts."""
    secret = random_password()
    needles = _encodings(secret)
    for prefix in ("", "u", "us", "user:", "Basic dXNlcjo="):
        for suffix in ("", "!", "@host"):
            text = f"{prefix}{secret}{suffix}".encode()
            encoded = [text, base64.b64encode(text), quote(text.decode(), safe="").encode(),
                       quote_plus(text.decode()).encode()]
            assert all(any(n in blob for n in needles) for blob in encoded), (prefix, suffix)
    assert not any(n in base64.b64encode(random_password().encode()) for n in needles)
