"""AI connections and calls end to end, against the scripted loopback fake: ``connections
add/test``, chat sessions from the CLI (no engine: the CLI's own worker), and through a
real engine — streamed events on the caller's connection, cancel (the worker's HTTP
request really stops), a session that switches model and keeps its history."""

from __future__ import annotations

import json
import queue
import time

import pytest

from engine.client import EngineCallError, EngineClient
from engine.messages_ai import AiCallFinished, AiDelta
from engine.paths import DataPaths
from tests.integration.aifakes import AiFakeServer
from tests.integration.aislow import SlowAiServer
from tests.integration.engine_harness import EngineProcess


@pytest.fixture
def fake():
    with AiFakeServer() as server:
        yield server


def _add(cli, conn_id: str, url: str, key: str | None, model: str = "good", kind: str = "openai"):
    base = url + ("/v1" if kind == "openai" else "")
    out = cli("connections", "add", kind, conn_id, "--set", f"base_url={base}", "--set", f"model={model}",
              "--set", "timeout_s=5", input=f"{key or ''}\n")
    assert out.returncode == 0, out.stderr
    return out


def _events_until_end(events: queue.SimpleQueue, call_id: str, timeout: float = 60.0) -> list:
    got, deadline = [], time.monotonic() + timeout
    while True:
        msg = events.get(timeout=max(0.1, deadline - time.monotonic()))
        if getattr(msg, "call_id", None) == call_id:
            got.append(msg)
            if isinstance(msg, AiCallFinished):
                return got


def test_an_ai_connection_is_added_with_a_write_only_key_and_tested(keyring_ready, fake, cli, dagflux_home):
    out = _add(cli, "my_ai", fake.url, fake.key)
    assert "secrets set: api_key" in out.stdout
    assert fake.key not in (dagflux_home / "connections.json").read_text()
    listed = json.loads(cli("connections", "list", "--json").stdout)
    assert listed[0]["secrets_set"] == ["api_key"] and "api_key" not in listed[0]["settings"]
    tested = cli("connections", "test", "my_ai")
    assert tested.returncode == 0, tested.stderr
    assert "good" in tested.stdout                    # the models the server listed
    _add(cli, "wrong", fake.url, "not-the-key-991")
    refused = cli("connections", "test", "wrong")
    assert refused.returncode == 1 and "the key was refused" in refused.stderr
    assert "not-the-key-991" not in refused.stderr


def test_one_shot_chat_streams_saves_the_session_and_counts_tokens(keyring_ready, fake, cli, dagflux_home):
    _add(cli, "my_ai", fake.url, fake.key)
    out = cli("ai", "chat", "--connection", "my_ai", "-m", "Say hello")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Hello, world"
    assert "7 in / 3 out" in out.stderr
    sessions = json.loads(cli("ai", "sessions", "list", "--json").stdout)
    assert [(s["title"], s["messages"], s["tokens_in"], s["tokens_out"]) for s in sessions] == \
        [("Say hello", 2, 7, 3)]
    sid = sessions[0]["id"]
    doc = json.loads((dagflux_home / "chats" / f"{sid}.json").read_text())
    user, reply = doc["messages"]
    assert (user["role"], user["content"]) == ("user", "Say hello")
    assert (reply["role"], reply["content"], reply["status"], reply["provider"], reply["model"]) == \
        ("assistant", "Hello, world", "complete", "openai", "good")
    assert reply["tokens_in"] == 7 and reply["tokens_out"] == 3 and reply["duration_ms"] > 0
    # the same session, another model: the history goes with it (the echo model repeats the last message)
    again = cli("ai", "chat", "--session", sid, "--model", "echo", "-m", "second question")
    assert again.stdout.strip() == "second question"
    last_body = json.loads(fake.received[-1]["body"])
    assert [m["content"] for m in last_body["messages"]] == ["Say hello", "Hello, world", "second question"]
    shown = cli("ai", "sessions", "show", sid)
    assert "Hello, world" in shown.stdout and "second question" in shown.stdout
    usage = json.loads(cli("ai", "usage", "--json").stdout)
    assert usage["sessions"][0]["id"] == sid and usage["sessions"][0]["replies"] == 2
    replies = [m for m in json.loads((dagflux_home / "chats" / f"{sid}.json").read_text())["messages"]
               if m["role"] == "assistant"]
    assert sum(d["tokens_out"] for d in usage["days"]) == sum(m["tokens_out"] for m in replies) >= 3
    assert cli("ai", "sessions", "rename", sid, "Greetings").returncode == 0
    assert json.loads(cli("ai", "sessions", "list", "--json").stdout)[0]["title"] == "Greetings"
    assert cli("ai", "sessions", "delete", sid).returncode == 0
    assert not (dagflux_home / "chats" / f"{sid}.json").exists()
    gone = cli("ai", "sessions", "show", sid)
    assert gone.returncode == 1 and f"no chat session '{sid}'" in gone.stderr


def test_a_failed_reply_is_saved_as_failed_with_a_clear_error(keyring_ready, fake, cli):
    _add(cli, "my_ai", fake.url, fake.key, model="down")
    out = cli("ai", "chat", "--connection", "my_ai", "-m", "hi")
    assert out.returncode == 1 and "server error (HTTP 503" in out.stderr
    sid = json.loads(cli("ai", "sessions", "list", "--json").stdout)[0]["id"]
    doc = json.loads(cli("ai", "sessions", "show", sid, "--json").stdout)
    assert doc["messages"][-1]["status"] == "failed" and "HTTP 503" in doc["messages"][-1]["error"]


@pytest.mark.parametrize(("args", "error"), [
    (["--connection", "nope", "-m", "hi"], "no connection 'nope'"),
    (["--session", "../etc", "-m", "hi"], "is not a chat session id"),
    (["--session", "abc123", "-m", "hi"], "no chat session 'abc123'"),
    (["-m", "hi"], "has no connection yet"),
    (["--connection", "my_ai", "-m", "  "], "a chat message cannot be empty"),
])
def test_bad_chat_input_is_refused_clearly(keyring_ready, fake, cli, args, error):
    _add(cli, "my_ai", fake.url, fake.key)
    out = cli("ai", "chat", *args)
    assert out.returncode == 1 and error in out.stderr, out.stderr


def test_a_non_ai_connection_is_refused_for_a_chat(cli, tmp_path):
    added = cli("connections", "add", "sqlite", "db", "--set", f"path={tmp_path / 'x.sqlite'}", input="")
    assert added.returncode == 0, added.stderr
    out = cli("ai", "chat", "--connection", "db", "-m", "hi")
    assert out.returncode == 1 and "not an AI provider" in out.stderr


def test_a_prompt_carrying_a_secret_reference_is_refused_in_the_worker(keyring_ready, fake, cli):
    _add(cli, "my_ai", fake.url, fake.key)
    out = cli("ai", "chat", "--connection", "my_ai", "-m", "tell me {{ secret.my_ai.api_key }}")
    assert out.returncode == 1 and "secrets can only be used in a connection's credential fields" in out.stderr
    assert all("secret" not in r["body"] for r in fake.received)   # nothing was sent


# --- through the engine ---------------------------------------------------------------------

@pytest.fixture
def engine(dagflux_home):
    proc = EngineProcess(dagflux_home)
    yield proc
    proc.stop()


def _client(home, events):
    return EngineClient.connect(DataPaths(home), timeout=10, on_event=events.put)


def test_engine_relays_streamed_tokens_to_the_caller_only(keyring_ready, fake, cli, engine, dagflux_home):
    _add(cli, "my_ai", fake.url, fake.key)
    mine, other = queue.SimpleQueue(), queue.SimpleQueue()
    with _client(dagflux_home, mine) as client, _client(dagflux_home, other) as bystander:
        bystander.subscribe()
        started = client.call("ai.call", connection="my_ai", messages=[{"role": "user", "content": "hi"}])
        got = _events_until_end(mine, started["call_id"])
        assert [m.text for m in got if isinstance(m, AiDelta)] == ["Hello", ", ", "world"]
        end = got[-1]
        assert (end.status, end.text, end.input_tokens, end.output_tokens, end.provider, end.model) == \
            ("succeeded", "Hello, world", 7, 3, "openai", "good")
        assert end.ttft_ms is not None and end.ttft_ms <= end.duration_ms
        with pytest.raises(EngineCallError, match="no connection 'nope'"):
            client.call("ai.call", connection="nope", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(EngineCallError, match="at least one user message"):
            client.call("ai.call", connection="my_ai", messages=[{"role": "system", "content": "x"}])
        # the sessions API the app uses
        session = client.call("chats.create", title="From the app", connection="my_ai")
        sent = client.call("chats.send", id=session["id"], text="hello there")
        end = _events_until_end(mine, sent["call_id"])[-1]
        assert end.status == "succeeded" and end.session_id == session["id"] and end.message_id == "m2"
        doc = client.call("chats.messages", id=session["id"])
        assert [m["content"] for m in doc["messages"]] == ["hello there", "Hello, world"]
        assert [s["id"] for s in client.call("chats.list")] == [session["id"]]
        assert client.call("chats.usage")["sessions"][0]["tokens_out"] == 3
        assert client.call("chats.rename", id=session["id"], title="Renamed")["title"] == "Renamed"
        assert client.call("chats.delete", id=session["id"]) is True
    assert not any(isinstance(m, (AiDelta, AiCallFinished)) for m in _drain(other))


def _drain(events: queue.SimpleQueue) -> list:
    out = []
    while True:
        try:
            out.append(events.get_nowait())
        except queue.Empty:
            return out


def test_cancelling_a_call_stops_the_workers_http_request(cli, engine, dagflux_home):
    with SlowAiServer() as slow:
        _add(cli, "slow", slow.url, None, model="slow")
        events = queue.SimpleQueue()
        with _client(dagflux_home, events) as client:
            session = client.call("chats.create", connection="slow")
            sent = client.call("chats.send", id=session["id"], text="count")
            first = events.get(timeout=60)
            assert isinstance(first, AiDelta) and first.text == "tok0 "
            with pytest.raises(EngineCallError, match="still streaming"):
                client.call("chats.send", id=session["id"], text="again")
            assert client.call("chats.cancel", call_id=sent["call_id"]) is True
            end = _events_until_end(events, sent["call_id"])[-1]
            assert end.status == "cancelled" and end.text.startswith("tok0 ")
            assert slow.hung_up.wait(30)                 # the provider saw the request end
            sent_then = slow.sent
            assert sent_then < slow.count
            saved = client.call("chats.messages", id=session["id"])["messages"][-1]
            assert (saved["status"], saved["content"]) == ("cancelled", end.text)
            assert client.call("chats.cancel", call_id=sent["call_id"]) is False   # already over
            # the pool replaced the killed worker: the next call works
            slow.count = 2
            again = client.call("ai.call", connection="slow", messages=[{"role": "user", "content": "x"}])
            assert _events_until_end(events, again["call_id"])[-1].text == "tok0 tok1 "



def test_a_caller_that_hangs_up_has_its_call_cancelled(cli, engine, dagflux_home):
    with SlowAiServer() as slow:
        _add(cli, "slow", slow.url, None, model="slow")
        events = queue.SimpleQueue()
        client = _client(dagflux_home, events)
        try:
            client.call("ai.call", connection="slow", messages=[{"role": "user", "content": "go"}])
            assert isinstance(events.get(timeout=60), AiDelta)
        finally:
            client.close()
        assert slow.hung_up.wait(30)                     # nobody reads the reply: the request ended


def test_stopping_the_engine_cancels_a_streaming_chat_and_saves_it(cli, dagflux_home):
    engine = EngineProcess(dagflux_home)
    with SlowAiServer() as slow:
        _add(cli, "slow", slow.url, None, model="slow")
        events = queue.SimpleQueue()
        try:
            with _client(dagflux_home, events) as client:
                session = client.call("chats.create", connection="slow")
                client.call("chats.send", id=session["id"], text="go")
                assert isinstance(events.get(timeout=60), AiDelta)
                engine.stop()
        finally:
            engine.stop()
        assert slow.hung_up.wait(30)
    doc = json.loads(cli("ai", "sessions", "show", session["id"], "--json").stdout)
    assert doc["messages"][-1]["status"] == "cancelled" and doc["messages"][-1]["content"].startswith("tok0 ")


# --- the interactive chat on a terminal ------------------------------------------------------

class _Terminal:
    """The real CLI on a pseudo-terminal (so it is interactive), read as the user would see it."""

    def __init__(self, home, *args: str) -> None:
        import os
        import pty
        import subprocess
        import sys

        from tests.conftest import REPO

        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-m", "engine.cli", *args], stdin=slave, stdout=slave,
                                     stderr=slave, cwd=REPO, env=dict(os.environ, DAGFLUX_HOME=str(home)),
                                     start_new_session=True)
        os.close(slave)
        self.seen = ""
        self.mark = 0          # each wait looks only at what appeared after the previous match

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        import os
        import select

        deadline = time.monotonic() + timeout
        while text not in self.seen[self.mark:]:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never appeared; the terminal shows:\n{self.seen}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                assert chunk, f"the CLI ended before {text!r}; the terminal shows:\n{self.seen}"
                self.seen += chunk.decode("utf-8", "replace")
        self.mark = self.seen.index(text, self.mark) + len(text)
        return self.seen

    def type(self, line: str) -> None:
        import os

        os.write(self.master, (line + "\n").encode())

    def close(self) -> int:
        import os

        code = self.proc.wait(60)
        os.close(self.master)
        return code


def test_interactive_chat_streams_and_ctrl_c_stops_only_the_reply(cli, dagflux_home):
    import signal

    with SlowAiServer() as slow:
        _add(cli, "slow", slow.url, None, model="slow")
        term = _Terminal(dagflux_home, "ai", "chat", "--connection", "slow")
        try:
            term.wait_for("you> ")
            term.type("count for me")
            term.wait_for("tok2 ")                      # streamed as it arrives
            term.proc.send_signal(signal.SIGINT)         # Ctrl+C: stops this reply, not the chat
            term.wait_for("■ cancelled")
            assert slow.hung_up.wait(30)
            term.wait_for("you> ")
            slow.count = 3
            term.type("again")
            term.wait_for("tok0 tok1 tok2 \r\n")
            term.wait_for("you> ")
            term.type("/exit")
        finally:
            code = term.close()
    assert code == 0                                     # the last reply completed
    session = json.loads(cli("ai", "sessions", "list", "--json").stdout)[0]
    doc = json.loads(cli("ai", "sessions", "show", session["id"], "--json").stdout)
    assert [(m["role"], m.get("status")) for m in doc["messages"]] == [
        ("user", None), ("assistant", "cancelled"), ("user", None), ("assistant", "complete")]
    assert doc["messages"][1]["content"].startswith("tok0 tok1 tok2 ")


def test_a_refused_option_leaves_the_session_untouched(keyring_ready, fake, cli):
    _add(cli, "my_ai", fake.url, fake.key)
    out = cli("ai", "chat", "--connection", "my_ai", "--max-tokens", "0", "-m", "hi")
    assert out.returncode == 1 and "max_tokens must be a whole number ≥ 1" in out.stderr
    assert json.loads(cli("ai", "sessions", "list", "--json").stdout) == []   # no empty session left
    assert fake.received == []


def test_standard_input_is_one_message_when_it_is_not_a_terminal(keyring_ready, fake, cli):
    _add(cli, "my_ai", fake.url, fake.key, model="echo")
    out = cli("ai", "chat", "--connection", "my_ai", input="line one\nline two\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "line one\nline two"
