"""AI providers on the Connections screen, against a real engine, the keychain and the scripted
loopback AI server (tests/integration/aifakes.py).

The three AI types are offered in the add form with their fields; an OpenAI-compatible
provider is added through the form (base URL, the key in a write-only password input that is
empty once sent), tested (the model list comes back), and its Model then becomes a picker
filled from that list; the node panel offers it. Every frame this (UI) process receives —
and what the engine sent (audit tap), and the logs — is searched for the key in its common
encodings: it is never there, while the same recording holds the non-secret values."""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path

import pytest
from kivy.uix.scrollview import ScrollView

from app.main import build_app_class
from engine import frametap
from tests.app.kivyrun import pump, running, tap_widget, themed_shots, wait_until
from tests.app.test_connections_screen import (  # noqa: F401  (fixtures)
    _encodings,
    _save_and_check_cleared,
    _stop_engine,
    _test,
    app_env,
    incoming,
    type_into,
)
from tests.integration.aifakes import AiFakeServer


def test_an_ai_provider_is_added_tested_and_its_models_picked_and_the_key_never_reaches_the_ui(
        app_env: Path, keyring_ready, incoming: list[bytes], caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    caplog.set_level(logging.DEBUG)
    key = "sk-" + secrets.token_hex(16)
    app = build_app_class()()
    with AiFakeServer(key=key) as fake:
        try:
            with running(app):
                wait_until(lambda: app.engine_ok, 60, "the engine link")
                screen = app.open_screen("connections")
                wait_until(lambda: not app.root.ids.screens.transition.is_active, 45, "the screen transition")
                wait_until(lambda: screen.types and not screen.loading, 30, "the connector types and the list")

                tap_widget(screen.ids.add)
                form = screen.form
                buttons = {b.type_name: b for b in form.ids.types.children}
                assert {"openai", "anthropic", "gemini"} <= set(buttons)
                tap_widget(buttons["openai"])
                assert form.stage == "fill" and form.type_spec["type"] == "openai"
                assert {"base_url", "model", "api_key"} <= set(form.field_widgets)
                secret_input = form.field("api_key").input
                assert secret_input.password and secret_input.text == ""
                type_into(form.field("_name").input, "Local AI")
                assert form.field("_id").input.text == "local_ai"
                form.field("base_url").input.text = ""
                type_into(form.field("base_url").input, fake.url + "/v1")
                type_into(secret_input, key)
                _save_and_check_cleared(screen, [secret_input])
                assert not form.error_text
                wait_until(lambda: "local_ai" in screen.rows and not screen.loading, 45, "the new connection")
                assert screen.rows["local_ai"].secrets_text == "api_key set"

                status, text = _test(screen, "local_ai")
                assert status == "ok" and "good" in text, text
                wait_until(lambda: screen.ai_models.get("local_ai") == ["good"], 30, "the model list")

                tap_widget(screen.rows["local_ai"].ids.edit_button)
                picker = form.field("model")
                assert picker.choices == ["good"] and picker.current == ""
                tap_widget(picker.ids.button)
                wait_until(lambda: picker._menu is not None and picker._menu.parent is not None, 30, "the models")
                picker.choose("good")
                pump(2)
                themed_shots(app, "connections_ai_models_{theme}")
                release = form.ids.save
                tap_widget(release)
                wait_until(lambda: not screen.form_open and not screen.loading, 45, "the form to close")
                saved = next(c for c in screen.connections if c["id"] == "local_ai")
                assert saved["settings"]["model"] == "good" and saved["type"] == "openai"

                # Settings: the default AI connection and model for new sessions (app preferences)
                settings = app.open_screen("settings")
                wait_until(lambda: not app.root.ids.screens.transition.is_active, 45, "the screen transition")
                card = settings.ids.ai_defaults
                wait_until(lambda: card.connection.options == [("local_ai", "Local AI (openai)")], 30,
                           "the AI connections in Settings")
                assert card.connection.value is None and "Used when a workflow names" in card.note.text
                card.connection.choose("local_ai")
                type_into(card.model.ids.field, "good")
                assert card.model.ids.field.focus is False
                card.model.commit()
                stored = json.loads((app.paths.root / "app-settings.json").read_text())
                assert stored["ai_connection"] == "local_ai" and stored["ai_model"] == "good"
                assert not any(needle in json.dumps(stored).encode() for needle in _encodings(key))
                scroller = card.parent
                while scroller is not None and not isinstance(scroller, ScrollView):
                    scroller = scroller.parent
                scroller.scroll_to(card, animate=False)
                themed_shots(app, "settings_ai_defaults_{theme}")
        finally:
            _stop_engine(app.paths)

    received = b"\n".join(incoming)
    tapped = b"\n".join(frametap.read_all(str(app_env)))
    logged = "\n".join([caplog.text, *(r.getMessage() for r in caplog.records)]).encode()
    # positive controls: the non-secret values went through the same recording
    assert b"local_ai" in received and fake.url.encode() in received and b"good" in received
    assert b"local_ai" in tapped and b"connections.test answered" in logged   # the log capture is live
    assert any(r["headers"].get("Authorization") == f"Bearer {key}" for r in fake.received)  # it was used
    needles = _encodings(key)
    hits = [where for where, data in (("frames the UI received", received), ("audit tap", tapped),
                                      ("logs", logged)) if any(n in data for n in needles)]
    assert hits == []
