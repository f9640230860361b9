"""The Assistant's model picker and its recycled sessions list, with a real engine, its workers,
the keychain and the loopback AI servers (tests/integration/aifakes.py lists models;
aislow.py has no model list).

The Model field is a picker filled from the provider's model list (``connections.objects``,
what the Connections form gets after a good test): tapping a model sets it and the next
message uses it; where the list cannot be read the field stays free text and says why, and
a typed name is used. The sessions list is a RecycleView: with three hundred sessions only
the rows on screen exist, and open (a tap), search, rename and delete still work.
Screenshots light and dark."""

from __future__ import annotations

import json

from tests.app.kivyrun import pump, settle, tap_widget, themed_shots, wait_until
from tests.app.test_assistant_screen import KEY, _add_ai, _connected, _reply_done, _rows, _send, assistant, fake  # noqa: F401
from tests.app.test_canvas import menu_item
from tests.app.test_connections_screen import app_env, incoming, type_into  # noqa: F401
from tests.integration.aislow import SlowAiServer

SESSIONS = 300


def test_the_model_picker_lists_the_providers_models_and_falls_back_to_free_text(assistant, app, fake):  # noqa: F811
    screen = assistant
    with SlowAiServer(count=3, interval_s=0.01) as slow:
        _add_ai(app, "fake", fake.url + "/v1", "echo", KEY)
        _add_ai(app, "slow", slow.url + "/v1", "slow-default", "slow-key-1234567")
        _connected(screen, "fake")
        wait_until(lambda: screen.models == ["good"], 30, "the provider's model list")
        assert screen.model == "echo" and not screen.ids.model_menu_button.disabled and screen.models_note == ""
        tap_widget(screen.ids.model_menu_button)
        wait_until(lambda: screen._menu is not None and screen._menu.parent is not None, 10, "the model menu")
        assert [i["text"] for i in screen._menu.items] == ["good"]
        themed_shots(app, "assistant_model_menu_{theme}")
        tap_widget(menu_item("good"))
        assert screen.model == "good" and screen.ids.model_input.text == "good"
        settle()
        _send(screen, "hello")
        _reply_done(screen)
        asked = [json.loads(r["body"]) for r in fake.received if r["path"].endswith("/chat/completions")]
        assert asked[-1]["model"] == "good"

        # a provider whose model list cannot be read: free text, and the field says why
        _connected(screen, "slow")
        wait_until(lambda: screen.models_note.startswith("No model list"), 30, "the failed model list")
        assert screen.models == [] and screen.ids.model_menu_button.disabled and screen.model == "slow-default"
        screen.ids.model_input.text = ""
        type_into(screen.ids.model_input, "my-local-model")
        assert screen.model == "my-local-model"
        themed_shots(app, "assistant_model_free_text_{theme}")
        _send(screen, "hi")
        _reply_done(screen)
        assert json.loads(slow.received[-1])["model"] == "my-local-model"
        # back to the first provider: its list is kept, not asked again
        calls = len([r for r in fake.received if r["path"].endswith("/models")])
        _connected(screen, "fake")
        assert screen.models == ["good"]
        assert len([r for r in fake.received if r["path"].endswith("/models")]) == calls


def test_three_hundred_sessions_are_a_recycled_list_that_opens_searches_renames_and_deletes(assistant, app):  # noqa: F811
    screen = assistant
    for n in range(SESSIONS):
        app.bridge.call_blocking("chats.create", title=f"session {n:03d}")
    screen.refresh()
    view = screen.ids.sessions_list
    wait_until(lambda: len(view.data) == SESSIONS, 30, "every session in the list")
    settle()
    rows = _rows(screen)
    assert 3 <= len(rows) < 40, len(rows)                  # only the rows on screen are widgets
    assert rows[0].title == "session 299"                  # newest first

    view.scroll_y = 0                                      # to the oldest
    pump(4)
    rows = _rows(screen)
    assert rows[-1].title == "session 000" and len(rows) < 40
    tap_widget(rows[-1])
    wait_until(lambda: screen.session_title == "session 000", 20, "the oldest session open")
    pump(2)
    assert next(r for r in _rows(screen) if r.title == "session 000").selected
    themed_shots(app, "assistant_many_sessions_{theme}")

    type_into(screen.ids.search, "session 25")
    settle()
    expected = [f"session {n:03d}" for n in range(SESSIONS - 1, -1, -1) if "25" in f"{n:03d}"]
    assert [r["title"] for r in view.data] == expected and len(expected) == 13
    assert {r.title for r in _rows(screen)} <= set(expected)
    screen.ids.search.text = ""
    settle()

    tap_widget(screen.ids.rename_button)
    screen.ids.title_input.text = "renamed oldest"
    screen.ids.title_input.dispatch("on_text_validate")
    wait_until(lambda: view.data and view.data[0]["title"] == "renamed oldest", 20, "the renamed session on top")
    view.scroll_y = 1
    pump(4)
    assert _rows(screen)[0].title == "renamed oldest"
    tap_widget(screen.ids.delete_button)
    tap_widget(screen.ids.confirm_delete_button)
    wait_until(lambda: len(view.data) == SESSIONS - 1, 20, "the session gone")
    assert "renamed oldest" not in {r["title"] for r in view.data}
    assert len(app.bridge.call_blocking("chats.list")) == SESSIONS - 1

