"""AI connections and calls against a REAL local model server: llama.cpp (xllamacpp) running
SmolLM2-135M, through both protocols it speaks (OpenAI Chat Completions and Anthropic
Messages). Temperature 0 and a few tokens: these prove protocol, streaming, usage and
cancel on a real server, not the quality of the answers."""

from __future__ import annotations

import json
import queue

import pytest

from engine.client import EngineClient
from engine.messages_ai import AiCallFinished, AiDelta
from engine.paths import DataPaths
from tests.integration.engine_harness import EngineProcess
from tests.integration.llamaserver import MODEL_ALIAS


def _add_local(cli, conn_id: str, url: str, kind: str = "openai"):
    base = f"{url}/v1" if kind == "openai" else url
    out = cli("connections", "add", kind, conn_id, "--set", f"base_url={base}", "--set", f"model={MODEL_ALIAS}",
              "--set", "timeout_s=60", input="\n")          # a local server needs no key: Enter skips it
    assert out.returncode == 0, out.stderr


def test_connection_test_lists_the_local_model(llama_server, cli):
    _add_local(cli, "local", llama_server.url)
    out = cli("connections", "test", "local")
    assert out.returncode == 0, out.stderr
    assert MODEL_ALIAS in out.stdout


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_one_shot_chat_streams_from_the_local_model(llama_server, cli, kind):
    _add_local(cli, "local", llama_server.url, kind)
    out = cli("ai", "chat", "--connection", "local", "-m", "Say hello.", "--max-tokens", "8", "--temperature", "0",
              "--json")
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    assert reply["status"] == "succeeded" and reply["text"].strip()
    assert reply["provider"] == kind and 0 < reply["output_tokens"] <= 8 and reply["input_tokens"] > 0
    saved = json.loads(cli("ai", "sessions", "show", reply["session_id"], "--json").stdout)["messages"][-1]
    assert (saved["content"], saved["tokens_out"]) == (reply["text"], reply["output_tokens"])


def test_cancel_through_the_engine_on_the_local_model(llama_server, cli, dagflux_home):
    _add_local(cli, "local", llama_server.url)
    engine = EngineProcess(dagflux_home)
    try:
        events: queue.SimpleQueue = queue.SimpleQueue()
        with EngineClient.connect(DataPaths(dagflux_home), timeout=10, on_event=events.put) as client:
            started = client.call("ai.call", connection="local", options={"max_tokens": 32, "temperature": 0},
                                  messages=[{"role": "user", "content": "Count from one to fifty in words."}])
            first = events.get(timeout=60)
            assert isinstance(first, AiDelta) and first.call_id == started["call_id"]
            assert client.call("ai.cancel", call_id=started["call_id"]) is True
            while not isinstance(end := events.get(timeout=60), AiCallFinished):
                pass
            assert end.status == "cancelled" and end.text.startswith(first.text)
            # a complete call right after (a fresh worker took the killed one's place)
            again = client.call("ai.call", connection="local", options={"max_tokens": 4, "temperature": 0},
                                messages=[{"role": "user", "content": "Hi"}])
            while not isinstance(end := events.get(timeout=60), AiCallFinished):
                pass
            assert end.call_id == again["call_id"] and end.status == "succeeded", end.error
            assert 0 < end.output_tokens <= 4
    finally:
        engine.stop()
