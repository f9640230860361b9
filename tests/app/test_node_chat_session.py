"""Node chat history and Stop, in a real window with a real engine, its workers, the keychain,
a slow loopback AI server (tests/integration/aislow.py) and the scripted one (aifakes.py).

A Transformer is asked on the slow server: the answer streams in, **Stop** (shown only while
asking) ends it — the provider's stream is closed, nothing can be accepted, the partial text
stays. Asked again on the scripted server, the verified proposal is accepted: the node's
provenance links the node's chat session, the same one both asks were recorded in, and
**Open chat** opens it on the Assistant screen with the request, the stopped answer (marked
cancelled) and the proposal. No frame this process decodes holds either key.
Screenshots light and dark."""

from __future__ import annotations

import pytest

from tests.app.kivyrun import pump, tap, themed_shots, wait_until
from tests.app.test_connections_screen import _encodings, incoming  # noqa: F401  (a fixture)
from tests.app.test_node_chat import RIGHT, chat, fake, open_section, scripted, shots, tap_in_panel, type_into  # noqa: F401
from tests.integration.aislow import SlowAiServer

SLOW_KEY = "sk-slow-4c1e9b7a20d35f86"


@pytest.fixture
def slow():
    with SlowAiServer(count=5000, interval_s=0.02) as server:
        yield server


def test_stop_a_node_chat_then_accept_and_open_its_session(incoming, chat, fake, slow):  # noqa: F811
    editor = chat
    app, doc = editor.app, editor.document
    app.bridge.call_blocking("connections.add", id="slow", type="openai", name="Slow AI",
                             settings={"base_url": slow.url + "/v1", "model": "slow", "max_retries": 0},
                             secrets={"api_key": SLOW_KEY})
    node = doc.workflow.node("revenue_by_country")
    before = dict(node.config)
    section = open_section(editor, "revenue_by_country")
    section._load_connections()
    wait_until(lambda: "slow" in dict(section.connection.options), 30, "the slow connection in the picker")
    assert section.stop_button.parent is None and section.open_chat_button.parent is None

    # ask on the slow server; Stop is there while the answer streams
    section.connection.value = "slow"
    type_into(section.model, "")
    type_into(section.prompt, "revenue per country")
    tap_in_panel(section.ask_button)
    wait_until(lambda: "tok3 " in section.streamed, 60, "the answer to stream")
    assert section.stop_button.parent is section.ask_row and not section.stop_button.disabled
    assert section.ask_button.disabled
    wait_until(lambda: section.open_chat_button.parent is not None, 30, "Open chat for the node's session")
    shots(editor, "streaming_stop", section.stop_button)
    tap_in_panel(section.stop_button)
    wait_until(lambda: section.record is not None, 60, "the stopped call's end")
    record = section.record
    assert record["status"] == "cancelled" and record["proposal"] is None
    assert slow.hung_up.wait(30), "the provider's stream was not closed"
    assert section.stop_button.parent is None and not section.ask_button.disabled
    assert section.answer.text.startswith("tok0 tok1 tok2 tok3 ") and section.actions.parent is None
    assert "Stopped" in section.busy.text
    assert node.config == before and node.ai is None
    session = section.chat_session()
    assert session

    # ask again on the scripted server: verified, accepted; the provenance links the same session
    section.connection.value = "fake"
    type_into(section.model, scripted(RIGHT))
    tap_in_panel(section.ask_button)
    wait_until(lambda: section.record is not None and section.record.get("status") != "cancelled", 180,
               "the proposal")
    assert section.record["status"] == "verified", section.record
    assert section.record["session"] == session
    tap_in_panel(section.accept_button)
    assert node.config["sql"] == RIGHT and node.ai["session"] == session
    doc.undo()
    pump(2)
    assert node.ai is None and section.chat_session() == session      # asked from here: still linked
    doc.redo()
    pump(2)
    shots(editor, "open_chat", section.open_chat_button)

    # Open chat: the Assistant screen, the node's session with every exchange
    tap(*section.open_chat_button.to_window(*section.open_chat_button.center))
    assistant = app.screen("assistant")
    wait_until(lambda: app.current_screen == "assistant" and assistant.session_id == session, 30,
               "the node's chat on the Assistant screen")
    wait_until(lambda: len(assistant.conversation.data) == 4, 30, "the node chat's messages")
    rows = assistant.conversation.data
    assert [r["role"] for r in rows] == ["user", "assistant", "user", "assistant"]
    assert "cancelled" in rows[1]["meta"] and rows[1]["text"].startswith("tok0 tok1 ")
    assert RIGHT in rows[3]["text"] and "Ran on the sample" in rows[3]["text"]
    name = doc.workflow.name
    assert assistant.session_title.startswith(f"{name} · ")
    themed_shots(app, "node_chat_session_{theme}")

    received = b"\n".join(incoming)
    assert b"tok0 tok1" in received                                    # the recording is live
    assert not any(needle in received for key in (fake.key, SLOW_KEY) for needle in _encodings(key))
