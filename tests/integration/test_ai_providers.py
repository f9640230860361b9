"""The three AI wire protocols against the scripted loopback server (tests/integration/aifakes.py):
streaming, usage, model listing, retries, and every error shape with its kind — the key never
in an error, even when the server echoes it."""

from __future__ import annotations

import asyncio

import pytest

from engine.ai.anthropic import AnthropicProvider
from engine.ai.gemini import GeminiProvider
from engine.ai.openai_compat import OpenAIProvider
from engine.ai.provider import AiError, collect
from tests.integration.aifakes import AiFakeServer

PROTOCOLS = [(OpenAIProvider, "/v1"), (AnthropicProvider, ""), (GeminiProvider, "")]
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def fake():
    with AiFakeServer() as server:
        yield server


def _provider(cls, suffix, server, key=None, **settings):
    return cls("c", "c", {"base_url": server.url + suffix, "api_key": key or server.key, "timeout_s": 3,
                          "max_retries": 2, "max_retry_wait_s": 30, **settings})


def _chat(provider, model):
    return asyncio.run(collect(provider.stream_chat(HI, model)))


@pytest.mark.parametrize(("cls", "suffix"), PROTOCOLS)
@pytest.mark.parametrize("model", ["good", "busy", "flaky"])
def test_streams_text_and_usage_after_retries(fake, cls, suffix, model):
    assert _chat(_provider(cls, suffix, fake), model) == ("Hello, world", {"input_tokens": 7, "output_tokens": 3})


@pytest.mark.parametrize(("cls", "suffix"), PROTOCOLS)
@pytest.mark.parametrize(("model", "kind", "text"), [
    ("busy-long", "rate_limited", "asked to wait 120 s, longer than the limit of 30 s"),
    ("down", "server", "HTTP 503"), ("drop", "dropped", "dropped"),
    ("bad-request", "bad_request", "max_tokens is too large")])
def test_error_shapes(fake, cls, suffix, model, kind, text):
    with pytest.raises(AiError, match=text) as info:
        _chat(_provider(cls, suffix, fake), model)
    assert info.value.kind == kind


@pytest.mark.parametrize(("cls", "suffix"), PROTOCOLS)
def test_refused_key_is_scrubbed_even_when_the_server_echoes_it(fake, cls, suffix):
    wrong = "wrong-key-Zq81xVt02"
    with pytest.raises(AiError, match="the key was refused") as info:
        _chat(_provider(cls, suffix, fake, key=wrong), "good")
    assert info.value.kind == "refused"
    assert wrong in fake.everything_received()      # positive control: the server got (and echoed) it
    assert wrong not in str(info.value)


@pytest.mark.parametrize(("cls", "suffix"), PROTOCOLS)
def test_model_listing(fake, cls, suffix):
    assert "good" in asyncio.run(_provider(cls, suffix, fake).list_models())


def test_stalled_stream_times_out(fake):
    with pytest.raises(AiError, match="stalled") as info:
        _chat(_provider(OpenAIProvider, "/v1", fake, timeout_s=1), "stall")
    assert info.value.kind == "timeout"


def test_anthropic_error_event_mid_stream(fake):
    with pytest.raises(AiError, match="overloaded") as info:
        _chat(_provider(AnthropicProvider, "", fake), "error-event")
    assert info.value.kind == "overloaded"


def test_bad_messages_are_refused_clearly(fake):
    with pytest.raises(AiError, match="message 1 must be"):
        asyncio.run(collect(_provider(OpenAIProvider, "/v1", fake).stream_chat([{"role": "bot", "content": 1}])))
