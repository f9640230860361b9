"""``ai.assist_start`` and ``ai.cancel`` through a real engine and workers: the node's chat.

Against a loopback server that streams slowly (tests/integration/aislow.py), a node's
assistant call is stopped mid-answer: the provider's stream is closed, no proposal comes
back (status ``cancelled``), and the node's chat session keeps the request and the partial
answer marked cancelled. The next ask on the same node (the scripted server, a verified
proposal) lands in the same session; accepting it links that session in the node's
provenance; a second call on a node that is busy is refused."""

from __future__ import annotations

import queue

import pytest

from engine.client import EngineCallError, EngineClient
from engine.messages_ai import AiDelta, AiProposalFinished
from engine.paths import DataPaths
from tests.integration.aislow import SlowAiServer
from tests.integration.test_ai_assist import _flow, engine, fake, scripted  # noqa: F401  (fixtures)


def _next(events: queue.SimpleQueue, kind: type, call_id: str, timeout: float = 120):
    while True:
        msg = events.get(timeout=timeout)
        if isinstance(msg, kind) and msg.call_id == call_id:
            return msg


def test_a_node_call_is_stopped_and_its_chat_keeps_the_partial_answer(engine, fake, tmp_path,  # noqa: F811
                                                                      dagflux_home):
    events: queue.SimpleQueue = queue.SimpleQueue()
    with SlowAiServer(count=5000, interval_s=0.02) as slow, \
            EngineClient.connect(DataPaths(dagflux_home), timeout=60, on_event=events.put) as client:
        wf_id = _flow(client, fake, tmp_path / "c")
        client.call("connections.add", id="slow", type="openai", name="slow",
                    settings={"base_url": slow.url + "/v1", "model": "slow", "max_retries": 0},
                    secrets={"api_key": "slow-key-987654"})
        with pytest.raises(EngineCallError, match="request is empty"):
            client.call("ai.assist_start", workflow_id=wf_id, node_id="shape", request="  ", call_id="a-0")
        with pytest.raises(EngineCallError, match="call_id must be a short id"):
            client.call("ai.assist_start", workflow_id=wf_id, node_id="shape", request="x", call_id="no way!")
        assert client.call("chats.list") == []                 # a refused call leaves no session behind

        started = client.call("ai.assist_start", workflow_id=wf_id, node_id="shape", request="sum per customer",
                              call_id="a-1", connection="slow")
        session = started["session_id"]
        assert started["call_id"] == "a-1"
        seen = "".join(_next(events, AiDelta, "a-1").text for _ in range(3))   # the answer is streaming
        with pytest.raises(EngineCallError, match="already working on node 'shape'"):
            client.call("ai.assist_start", workflow_id=wf_id, node_id="shape", request="again", call_id="a-2",
                        connection="slow")
        assert client.call("ai.cancel", call_id="a-1") is True
        end = _next(events, AiProposalFinished, "a-1")
        assert end.status == "cancelled" and end.session_id == session
        record = end.record
        assert record["status"] == "cancelled" and record["proposal"] is None and record["sample"] is None
        partial = record["attempts"][-1]["reply"]
        assert seen.startswith("tok0 tok1 ") and partial.startswith(seen)
        assert slow.hung_up.wait(30), "the provider's stream was not closed"
        assert slow.sent < slow.count
        assert client.call("ai.cancel", call_id="a-1") is False   # it has ended
        with pytest.raises(EngineCallError, match="did not run cleanly"):
            client.call("ai.accept_proposal", workflow_id=wf_id, proposal_id=record["id"])

        chat = client.call("chats.messages", id=session)
        assert chat["kind"] == "node" and chat["node"] == {"workflow_id": wf_id, "node_id": "shape"}
        name = client.call("workflows.get", id=wf_id)["name"]
        assert chat["title"].startswith(f"{name} · ")
        user, answer = chat["messages"]
        assert user["role"] == "user" and user["content"] == "sum per customer"
        assert answer["status"] == "cancelled" and answer["content"] == partial and answer["proposal"] == record["id"]

        # the next ask on the node: the same session; accepted, the provenance links it
        code = "SELECT customer, sum(total) AS total FROM {{ input }} GROUP BY customer"
        again = client.call("ai.assist_start", workflow_id=wf_id, node_id="shape", request="sum per customer",
                            call_id="a-3", connection="fake", model=scripted(code))
        assert again["session_id"] == session
        end = _next(events, AiProposalFinished, "a-3")
        assert end.status == "verified" and end.message_id == "m4"
        client.call("ai.accept_proposal", workflow_id=wf_id, proposal_id=end.record["id"])
        saved = next(n for n in client.call("workflows.get", id=wf_id)["nodes"] if n["id"] == "shape")
        assert saved["ai"]["session"] == session
        messages = client.call("chats.messages", id=session)["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
        assert code in messages[3]["content"] and messages[3]["proposal_status"] == "verified"
        # another node gets its own session
        other = client.call("ai.assist_start", workflow_id=wf_id, node_id="check", request="any rows",
                            call_id="a-4", connection="fake",
                            model=scripted("count(*) > 0", mode="condition"))
        assert other["session_id"] != session
        assert _next(events, AiProposalFinished, "a-4").status == "verified"
