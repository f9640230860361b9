"""``ai.assist_node(..., stream=ID)`` through a real engine and workers against the scripted
loopback AI server: each round's reply reaches the caller as it is written, as ``AiDelta``
events carrying the caller's id — and only the caller (a subscribed bystander gets none); a
malformed stream id is refused before any model call."""

from __future__ import annotations

import json
import queue

import pytest

from engine.client import EngineCallError, EngineClient
from engine.messages_ai import AiDelta
from engine.paths import DataPaths
from tests.integration.test_ai_assist import _flow, engine, fake, scripted  # noqa: F401  (fixtures)


def _drain(events: queue.SimpleQueue) -> list:
    out = []
    while True:
        try:
            out.append(events.get_nowait())
        except queue.Empty:
            return out


def test_the_assistant_streams_each_round_to_the_caller_only(engine, fake, tmp_path, dagflux_home):  # noqa: F811
    mine, other = queue.SimpleQueue(), queue.SimpleQueue()
    with EngineClient.connect(DataPaths(dagflux_home), timeout=60, on_event=mine.put) as client, \
            EngineClient.connect(DataPaths(dagflux_home), timeout=10, on_event=other.put) as bystander:
        bystander.subscribe()
        wf_id = _flow(client, fake, tmp_path / "s")
        wrong = "SELECT no_such_column FROM {{ input }}"
        calls = len(fake.received)
        with pytest.raises(EngineCallError, match="stream must be a short id"):
            client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="x", stream="bad id!",
                        model=scripted(wrong), timeout=60)
        assert len(fake.received) == calls
        result = client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="a bad idea",
                             model=scripted(wrong), stream="s-1", timeout=180)
        assert result["status"] == "failed" and len(result["attempts"]) == 3
        deltas = [m for m in _drain(mine) if isinstance(m, AiDelta)]
        assert {d.call_id for d in deltas} == {"s-1"}
        assert "".join(d.text for d in deltas) == "".join(a["reply"] for a in result["attempts"])
        assert json.dumps(wrong) in deltas[0].text
        assert not [m for m in _drain(other) if isinstance(m, AiDelta)]
        quiet = client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="no stream",
                            model=scripted("SELECT id FROM {{ input }}"), timeout=180)
        assert quiet["status"] == "verified" and not [m for m in _drain(mine) if isinstance(m, AiDelta)]
