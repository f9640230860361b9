"""The Assistant screen against a real engine, its workers, the real keychain and the scripted
loopback AI servers (tests/integration/aifakes.py: the model name scripts the reply;
aislow.py: a slow stream that notices a hang-up).

Through the widgets: the empty state leads to Connections; a session is created by sending
a message, the reply streams in and is rendered as Markdown (heading, list, table, code with
Copy) with its tokens; a slow reply is stopped with Stop and saved as cancelled while the
earlier messages are never re-rendered; sessions are renamed, searched and deleted; a
workflow is built from a request, applied as one undo step and removed by one undo; an
invalid proposal is refused with its reason. No frame this process decodes holds the key.
"""

from __future__ import annotations

import json

import pytest
from kivy.core.clipboard import Clipboard

from app.widgets.markdown_view import MdCode, MdTable, MdText
from tests.app.kivyrun import settle, tap, tap_widget, themed_shots, wait_until
from tests.app.test_connections_screen import _encodings, app_env, incoming, type_into  # noqa: F401
from tests.integration.aifakes import AiFakeServer
from tests.integration.aislow import SlowAiServer

KEY = "sk-assistant-7f3a9c41d2e8b605"
MARKDOWN = ("# Totals~~Steps:~~- load the file~- keep **paid** orders~~| country | total |~|---|---|~| FR | 12 |~"
            "| DE | 7 |~~```sql~SELECT country, sum(total) FROM orders GROUP BY 1~```")
GRAPH = {"name": "Paid totals", "explanation": "Reads orders, keeps paid ones, totals them, writes a file.",
         "nodes": [{"id": "start", "type": "start", "config": {"trigger": {"kind": "manual"}}},
                   {"id": "orders", "type": "data_source", "config": {"source": "file", "path": "orders.csv"}},
                   {"id": "paid", "type": "transformer",
                    "config": {"sql": "SELECT country, sum(total) AS total FROM {{ input }} WHERE paid GROUP BY 1"}},
                   {"id": "report", "type": "output", "config": {"path": "out/totals.xlsx"}}],
         "edges": [{"from": "start", "to": "orders"}, {"from": "orders", "to": "paid"},
                   {"from": "paid", "to": "report"}]}


@pytest.fixture
def fake():
    with AiFakeServer(key=KEY) as server:
        yield server


@pytest.fixture
def assistant(app_env, incoming, keyring_ready, app):  # noqa: F811  (fixtures imported above)
    return app.open_screen("assistant")


def _add_ai(app, conn_id: str, base_url: str, model: str, key: str | None) -> None:
    """What the Connections form sends: the key goes in (UI → engine → keychain), never out."""
    app.bridge.call_blocking("connections.add", id=conn_id, type="openai", name=conn_id.title(),
                             settings={"base_url": base_url, "model": model, "max_retries": 0},
                             secrets={"api_key": key} if key else None)


def _connected(screen, conn_id: str) -> None:
    screen.refresh()
    wait_until(lambda: conn_id in {c["id"] for c in screen.ai_connections}, 20, f"the connection {conn_id}")
    screen.pick_connection(conn_id)


def _send(screen, text: str) -> None:
    type_into(screen.ids.message_input, text)
    tap_widget(screen.ids.send_button)


def _reply_done(screen) -> None:
    wait_until(lambda: (not screen.sending and not screen.streaming and screen.conversation.data
                        and screen.conversation.data[-1]["role"] == "assistant") or screen.error_text, 90,
               "the reply")
    assert screen.error_text == ""
    settle()


def _rows(screen) -> list:
    """The session rows on screen (the list is recycled), top first."""
    settle()
    return sorted(screen.ids.sessions_list.layout_manager.children, key=lambda row: -row.y)


def test_empty_state_then_a_streamed_markdown_reply_with_tokens_and_no_key_in_any_frame(
        assistant, app, fake, incoming):  # noqa: F811
    screen = assistant
    wait_until(lambda: screen.loaded, 20, "the connections list")
    settle()
    assert screen.ids.empty_state.opacity == 1 and screen.ids.send_button.disabled
    tap_widget(screen.ids.to_connections)
    assert app.current_screen == "connections"

    _add_ai(app, "fake", fake.url + "/v1", "echo", KEY)
    app.open_screen("assistant")
    _connected(screen, "fake")
    settle()
    assert screen.ids.empty_state.opacity == 0 and screen.provider_text == "Fake (openai)"
    _send(screen, MARKDOWN.replace("~", "\n"))
    _reply_done(screen)
    reply = screen.conversation.data[-1]
    assert reply["text"] == MARKDOWN.replace("~", "\n") and "tokens" in reply["meta"]
    assert screen.session_id and len(_rows(screen)) == 1 and _rows(screen)[0].title.startswith("# Totals Steps:")
    assert screen.ids.title.text == _rows(screen)[0].title
    assert _rows(screen)[0].subtitle == "openai · echo" and _rows(screen)[0].selected

    # the reply rendered as Markdown: heading, list, table, code with a working Copy
    row = next(v for v in screen.conversation.view_adapter.views.values() if v.role == "assistant")
    view = row.ids.holder.children[0]
    kinds = [type(w).__name__ for w in reversed(view.children)]
    assert kinds == ["MdText", "MdText", "MdText", "MdTable", "MdCode"]
    heading, table, code = list(reversed(view.children))[0], view.children[1], view.children[0]
    assert isinstance(heading, MdText) and heading.text == "[b]Totals[/b]"
    assert isinstance(table, MdTable) and [c.text for c in reversed(table.children)][2:4] == ["FR", "12"]
    assert isinstance(code, MdCode) and code.language == "sql"
    screen.conversation.scroll_y = 0          # the reply's end, Copy included, in view
    settle()
    assert screen.conversation.collide_point(*screen.conversation.to_widget(
        *code.ids.copy_button.to_window(*code.ids.copy_button.center)))
    tap_widget(code.ids.copy_button)
    assert code.copied and Clipboard.paste() == "SELECT country, sum(total) FROM orders GROUP BY 1"

    # the model switch keeps the history: the next reply comes from another model, same session
    screen.ids.model_input.text = "good"
    _send(screen, "and now?")
    _reply_done(screen)
    assert screen.conversation.data[-1]["text"] == "Hello, world"
    assert "7 in / 3 out tokens" in screen.conversation.data[-1]["meta"]
    saved = app.bridge.call_blocking("chats.messages", id=screen.session_id)
    assert [m["model"] for m in saved["messages"]] == ["echo", "echo", "good", "good"]
    assert screen.ids.session_tokens.text.endswith(f"{screen.tokens_out} out tokens") and screen.tokens_in >= 7
    themed_shots(app, "assistant_chat_{theme}")

    received = b"\n".join(incoming)
    assert b"AiDelta" in received and b"Hello" in received      # positive control: the stream was recorded
    assert not any(form in received for form in _encodings(KEY))
    assert fake.received and all(KEY in r["headers"].get("Authorization", "") for r in fake.received
                                 if r["path"].startswith("/v1/chat"))


def test_stop_cancels_a_streaming_reply_and_earlier_messages_are_never_rebuilt(assistant, app, fake):
    screen = assistant
    _add_ai(app, "fake", fake.url + "/v1", "good", KEY)
    with SlowAiServer(count=100_000, interval_s=0.01) as slow:
        _add_ai(app, "slow", slow.url + "/v1", "slow", None)
        _connected(screen, "fake")
        for text in ("one", "two"):
            _send(screen, text)
            _reply_done(screen)
        earlier = {row["key"]: screen.conversation.renders[row["key"]] for row in screen.conversation.data}
        screen.pick_connection("slow")
        _send(screen, "count slowly")
        wait_until(lambda: screen.streaming and "tok20 " in screen.conversation.data[-1]["text"], 60,
                   "the reply to stream")
        streamed_key = screen.conversation.data[-1]["key"]
        # it re-renders as tokens come; how many arrive per frame depends on the machine's speed,
        # so wait on the renders themselves (the stream goes on for 1,000 s)
        wait_until(lambda: screen.conversation.renders.get(streamed_key, 0) > 3, 60, "the reply to re-render")
        assert not screen.ids.stop_button.disabled and screen.ids.send_button.disabled
        tap(*screen.ids.stop_button.to_window(*screen.ids.stop_button.center))  # no settling: it streams
        assert slow.hung_up.wait(30)
        wait_until(lambda: not screen.streaming, 30, "the reply to end")
        settle()
        assert {k: screen.conversation.renders[k] for k in earlier} == earlier
        last = screen.conversation.data[-1]
        assert last["meta"].endswith("cancelled") and last["text"].startswith("tok0 tok1 ")
        saved = app.bridge.call_blocking("chats.messages", id=screen.session_id)["messages"][-1]
        assert saved["status"] == "cancelled" and saved["content"] == last["text"]


def test_sessions_rename_search_and_delete(assistant, app, fake):
    screen = assistant
    _add_ai(app, "fake", fake.url + "/v1", "good", KEY)
    _connected(screen, "fake")
    for text in ("orders by country", "invoices overdue"):
        tap_widget(screen.ids.new_button)
        _send(screen, text)
        _reply_done(screen)
    wait_until(lambda: [r.title for r in _rows(screen)] == ["invoices overdue", "orders by country"], 20,
               "both sessions, newest first")
    assert all(r.when and r.subtitle == "openai · good" for r in _rows(screen))

    tap_widget(_rows(screen)[1])
    wait_until(lambda: screen.session_title == "orders by country", 20, "the older session")
    assert [r["text"] for r in screen.conversation.data] == ["orders by country", "Hello, world"]
    tap_widget(screen.ids.rename_button)
    assert screen.renaming
    screen.ids.title_input.text = "Country report"
    screen.ids.title_input.dispatch("on_text_validate")
    wait_until(lambda: [r.title for r in _rows(screen)][:1] == ["Country report"], 20, "the new title on top")

    type_into(screen.ids.search, "invoices")
    settle()
    assert [r.title for r in _rows(screen)] == ["invoices overdue"]
    screen.ids.search.text = ""
    settle()

    tap_widget(screen.ids.delete_button)
    assert screen.confirm_delete
    tap_widget(screen.ids.confirm_delete_button)
    wait_until(lambda: [r.title for r in _rows(screen)] == ["invoices overdue"], 20, "the session gone")
    assert screen.session_id == "" and screen.conversation.data == []
    assert [s["title"] for s in app.bridge.call_blocking("chats.list")] == ["invoices overdue"]


def test_build_a_workflow_applies_as_one_undo_step_and_refuses_an_invalid_proposal(assistant, app, fake):
    screen = assistant
    _add_ai(app, "fake", fake.url + "/v1", "good", KEY)
    _connected(screen, "fake")
    tap_widget(screen.ids.build_tab)
    build = screen.ids.build
    assert screen.mode == "build"

    broken = {**GRAPH, "edges": GRAPH["edges"][:1] + [{"from": "paid", "to": "orders"}, {"from": "orders",
                                                                                        "to": "paid"}]}
    screen.ids.model_input.text = "sql:" + json.dumps(broken)
    type_into(build.ids.request, "total paid orders by country")
    tap_widget(build.ids.propose)
    # (not "busy" right after the tap: a quick answer can already have come within the tap's frames)
    wait_until(lambda: not build.busy and build.proposal, 300, "the proposal")
    settle()
    assert build.proposal, build.status_text
    assert build.proposal["status"] == "invalid" and "cycle" in build.problems_text
    assert build.ids.apply_new.disabled and build.ids.apply_into.disabled
    assert build.ids.problems.opacity == 1

    screen.ids.model_input.text = "sql:" + json.dumps(GRAPH)
    tap_widget(build.ids.propose)
    wait_until(lambda: not build.busy, 300, "the proposal")
    settle()
    assert build.valid, build.status_text and not build.ids.apply_new.disabled and build.problems_text == ""
    labels = {w.node_id: w.text for w in build.ids.preview.children}
    assert set(labels) == {"start", "orders", "paid", "report"}
    assert "reads orders.csv" in labels["orders"] and "writes out/totals.xlsx" in labels["report"]
    assert "WHERE paid" in labels["paid"]
    themed_shots(app, "assistant_build_{theme}", build.ids.preview.redraw)

    tap_widget(build.ids.apply_new)
    editor = app.screen("editor")
    wait_until(lambda: editor.document is not None and editor.document.workflow.id == "paid_totals"
               and len(editor.document.workflow.nodes) == 4, 30, "the new workflow in the editor")
    wf = editor.document.workflow
    assert [n.id for n in wf] == ["start", "orders", "paid", "report"]
    assert [str(e) for e in wf.edges] == ["start -> orders", "orders -> paid", "paid -> report"]
    xs = [n.position[0] for n in wf]
    assert xs == sorted(xs) and len(set(xs)) == 4                  # laid out left to right
    assert editor.document.problems() == []
    stack = editor.document.stack
    assert (len(stack), stack.index, stack.undo_text) == (1, 1, "Add 3 nodes from the assistant")
    editor.undo()
    assert [n.id for n in wf] == ["start"] and wf.edges == []
    editor.redo()
    assert len(wf.nodes) == 4
    wait_until(lambda: len(app.bridge.call_blocking("workflows.get", id="paid_totals")["nodes"]) == 4, 30,
               "the autosave")

    # into the open workflow: the proposal's Start is the workflow's own; new ids where they clash
    app.open_screen("assistant")
    settle()
    tap_widget(build.ids.apply_into)
    wait_until(lambda: app.current_screen == "editor", 10, "the editor")
    assert [n.id for n in wf] == ["start", "orders", "paid", "report", "orders_2", "paid_2", "report_2"]
    assert "start -> orders_2" in [str(e) for e in wf.edges]
    editor.undo()
    assert len(wf.nodes) == 4


