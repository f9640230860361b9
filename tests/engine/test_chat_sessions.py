"""Chat session files (engine.ai.sessions): one JSON file per session, written atomically,
provider-neutral messages, usage per session and per day; bad ids and damaged files refused
by name and never overwritten."""

from __future__ import annotations

import datetime
import json
import time

import pytest

from engine.ai.sessions import ChatSessionError, ChatStore


@pytest.fixture
def store(tmp_path):
    return ChatStore(tmp_path / "chats")


def test_a_session_round_trips_through_its_file(store, tmp_path):
    doc = store.create(connection="local", model="smollm2")
    store.append(doc["id"], "user", "Say   hello\nplease", connection="local", provider="openai", model="smollm2")
    store.append(doc["id"], "assistant", "Hello!", connection="local", provider="openai", model="smollm2",
                 status="complete", tokens_in=12, tokens_out=3, duration_ms=80.5, error=None)
    on_disk = json.loads((tmp_path / "chats" / f"{doc['id']}.json").read_text())
    assert on_disk == store.get(doc["id"])
    assert on_disk["title"] == "Say hello please"                 # from the first user message
    assert [m["id"] for m in on_disk["messages"]] == ["m1", "m2"]
    assert "error" not in on_disk["messages"][1]                   # None values are not written
    listed = store.list()
    assert [(s["id"], s["messages"], s["tokens_in"], s["tokens_out"]) for s in listed] == [(doc["id"], 2, 12, 3)]
    assert not list((tmp_path / "chats").glob(".*.tmp"))           # no temp file left behind


def test_rename_update_and_delete(store):
    doc = store.create("First")
    assert store.rename(doc["id"], "  Second   title ")["title"] == "Second title"
    assert store.update(doc["id"], connection="other", model="m2", title="ignored")["connection"] == "other"
    assert store.get(doc["id"])["title"] == "Second title"
    assert store.delete(doc["id"]) is True
    with pytest.raises(ChatSessionError, match=f"no chat session '{doc['id']}'"):
        store.get(doc["id"])


@pytest.mark.parametrize("bad", ["../x", "A", "", "a/b", "x" * 65])
def test_a_bad_id_is_refused_before_any_file_is_touched(store, bad):
    with pytest.raises(ChatSessionError, match="is not a chat session id"):
        store.get(bad)


@pytest.mark.parametrize(("title", "error"), [("   ", "cannot be empty"), ("x" * 201, "at most 200 characters")])
def test_bad_titles(store, title, error):
    doc = store.create()
    with pytest.raises(ChatSessionError, match=error):
        store.rename(doc["id"], title)


def test_a_damaged_file_is_listed_with_its_error_and_left_as_it_is(store, tmp_path):
    good = store.create("fine")
    broken = tmp_path / "chats" / "broken1.json"
    broken.write_text("{not json")
    listed = {s["id"]: s for s in store.list()}
    assert listed[good["id"]]["title"] == "fine"
    assert "is not valid JSON" in listed["broken1"]["error"] and "left as it is" in listed["broken1"]["error"]
    with pytest.raises(ChatSessionError, match="not valid JSON"):
        store.append("broken1", "user", "hi")
    assert broken.read_text() == "{not json"
    (tmp_path / "chats" / "old1.json").write_text(json.dumps({"format": 99, "messages": []}))
    with pytest.raises(ChatSessionError, match="not a format-1 session"):
        store.get("old1")


def test_usage_per_session_and_per_day(store, monkeypatch):
    a, b = store.create("a"), store.create("b")
    today = datetime.date.today()
    long_ago = time.time() - 10 * 86400
    store.append(a["id"], "assistant", "x", tokens_in=5, tokens_out=2)
    store.append(b["id"], "assistant", "y", tokens_in=7, tokens_out=3)
    monkeypatch.setattr(time, "time", lambda: long_ago)
    store.append(b["id"], "assistant", "z", tokens_in=100, tokens_out=50)
    monkeypatch.undo()
    store.append(b["id"], "user", "not counted")
    usage = store.usage()
    old_day = datetime.date.fromtimestamp(long_ago).isoformat()
    assert usage["days"] == [{"day": old_day, "replies": 1, "tokens_in": 100, "tokens_out": 50},
                             {"day": today.isoformat(), "replies": 2, "tokens_in": 12, "tokens_out": 5}]
    assert {s["id"]: (s["replies"], s["tokens_in"], s["tokens_out"]) for s in usage["sessions"]} == \
        {a["id"]: (1, 5, 2), b["id"]: (2, 107, 53)}
    recent = store.usage(days=7)
    assert [d["day"] for d in recent["days"]] == [today.isoformat()]
    assert {s["id"]: s["tokens_in"] for s in recent["sessions"]} == {a["id"]: 5, b["id"]: 7}
