"""The scripted AI servers (tests/integration/aifakes.py) are only worth what they mimic: here
the vendors' own SDKs (`openai`, `anthropic`, `google-genai`, test-only dependencies) drive
them — whole replies, streams, the SDK's own retries on 429/5xx, every error shape mapped
to the SDK's exception with its status and body, a stream cut mid-way, model listing — so a
fake that drifted from the real wire format fails here, not silently in the product's tests.

Found this way and fixed in the fake: the Anthropic SDK sends an API key as
``Authorization: Bearer`` (not only ``x-api-key``); the OpenAI and Anthropic SDKs ask for a
whole JSON reply when they do not stream. google-genai defaults to ``/v1``; the product
speaks ``/v1beta``, so the SDK is pointed there (``HttpOptions.api_version``).
"""

from __future__ import annotations

import asyncio
import json

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from engine.ai.anthropic import AnthropicProvider
from engine.ai.gemini import GeminiProvider
from engine.ai.openai_compat import OpenAIProvider
from engine.ai.provider import collect
from tests.integration.aifakes import AiFakeServer

HI = [{"role": "user", "content": "hi"}]


# Every SDK client made here, closed when the module's fake server stops: a client dropped
# while a stream broke off would otherwise leave its socket to the garbage collector, and the
# ResourceWarning that raises (turned into an error by the suite) lands in whatever test runs then.
_CLIENTS: list = []


@pytest.fixture(scope="module")
def fake():
    with AiFakeServer() as server:
        try:
            yield server
        finally:
            for client in _CLIENTS:
                client.close()
            _CLIENTS.clear()


def _kept(client):
    _CLIENTS.append(client)
    return client


def _openai(fake, retries=0, key=None):
    return _kept(openai.OpenAI(base_url=fake.url + "/v1", api_key=key or fake.key, max_retries=retries))


def _anthropic(fake, retries=0, key=None):
    return _kept(anthropic.Anthropic(base_url=fake.url, api_key=key or fake.key, max_retries=retries))


_GEMINI_CLIENTS: dict = {}


def _gemini(fake, attempts=1, key=None):
    """One client per setting, kept alive (a google-genai client closes its HTTP client when
    it is garbage-collected, even while its ``models`` is still in use)."""
    wanted = (fake.url, attempts, key or fake.key)
    if wanted not in _GEMINI_CLIENTS:
        retry = genai_types.HttpRetryOptions(attempts=attempts, initial_delay=0.01, max_delay=0.05)
        _GEMINI_CLIENTS[wanted] = genai.Client(api_key=key or fake.key, http_options=genai_types.HttpOptions(
            base_url=fake.url, api_version="v1beta", retry_options=retry))
    return _GEMINI_CLIENTS[wanted]


# --- OpenAI ---------------------------------------------------------------------------------
def test_openai_sdk_whole_reply_and_stream(fake):
    whole = _openai(fake).chat.completions.create(model="good", messages=HI)
    assert whole.choices[0].message.content == "Hello, world"
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (7, 3)
    chunks = list(_openai(fake).chat.completions.create(model="good", messages=HI, stream=True,
                                                        stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello, world"
    assert chunks[-1].usage.completion_tokens == 3 and chunks[-1].choices == []
    assert chunks[-2].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("model", ["busy", "flaky"])
def test_openai_sdk_retries_what_the_fake_asks_to_retry(fake, model):
    stream = _openai(fake, retries=2).chat.completions.create(model=model, messages=HI, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello, world"


@pytest.mark.parametrize(("model", "error", "status", "message"), [
    ("busy-long", openai.RateLimitError, 429, "quota exhausted"),
    ("down", openai.InternalServerError, 503, "service unavailable"),
    ("overloaded", openai.InternalServerError, 529, "Overloaded"),
    ("bad-request", openai.BadRequestError, 400, "max_tokens is too large")])
def test_openai_sdk_error_shapes(fake, model, error, status, message):
    with pytest.raises(error) as info:
        list(_openai(fake).chat.completions.create(model=model, messages=HI, stream=True))
    assert info.value.status_code == status
    assert info.value.body["message"] == message


def test_openai_sdk_refused_key_and_dropped_stream(fake):
    with pytest.raises(openai.AuthenticationError) as info:
        _openai(fake, key="wrong-key").chat.completions.create(model="good", messages=HI)
    assert info.value.status_code == 401
    with pytest.raises(openai.APIConnectionError):
        list(_openai(fake).chat.completions.create(model="drop", messages=HI, stream=True))


def test_openai_sdk_lists_models(fake):
    assert [m.id for m in _openai(fake).models.list()] == ["good"]


# --- Anthropic ------------------------------------------------------------------------------
def test_anthropic_sdk_whole_reply_and_stream(fake):
    whole = _anthropic(fake).messages.create(model="good", max_tokens=10, messages=HI)
    assert whole.content[0].text == "Hello, world" and whole.stop_reason == "end_turn"
    with _anthropic(fake).messages.stream(model="good", max_tokens=10, messages=HI) as stream:
        assert "".join(stream.text_stream) == "Hello, world"
        final = stream.get_final_message()
    assert (final.usage.input_tokens, final.usage.output_tokens, final.stop_reason) == (7, 3, "end_turn")


@pytest.mark.parametrize("model", ["busy", "flaky"])
def test_anthropic_sdk_retries_what_the_fake_asks_to_retry(fake, model):
    with _anthropic(fake, retries=2).messages.stream(model=model, max_tokens=10, messages=HI) as stream:
        assert "".join(stream.text_stream) == "Hello, world"


@pytest.mark.parametrize(("model", "error", "status", "kind"), [
    ("busy-long", anthropic.RateLimitError, 429, "rate_limit_error"),
    ("down", anthropic.InternalServerError, 503, "api_error"),
    ("overloaded", anthropic.OverloadedError, 529, "overloaded_error"),
    ("bad-request", anthropic.BadRequestError, 400, "invalid_request_error")])
def test_anthropic_sdk_error_shapes(fake, model, error, status, kind):
    with pytest.raises(error) as info:
        with _anthropic(fake).messages.stream(model=model, max_tokens=10, messages=HI) as stream:
            list(stream.text_stream)
    assert info.value.status_code == status
    assert info.value.body["error"]["type"] == kind


def test_anthropic_sdk_error_event_refused_key_and_drop(fake):
    with pytest.raises(anthropic.APIStatusError) as info:
        with _anthropic(fake).messages.stream(model="error-event", max_tokens=10, messages=HI) as stream:
            list(stream.text_stream)
    assert info.value.body["error"]["type"] == "overloaded_error"
    with pytest.raises(anthropic.AuthenticationError):
        _anthropic(fake, key="wrong-key").messages.create(model="good", max_tokens=10, messages=HI)
    with pytest.raises(anthropic.APIConnectionError):
        with _anthropic(fake).messages.stream(model="drop", max_tokens=10, messages=HI) as stream:
            list(stream.text_stream)


def test_anthropic_sdk_lists_models(fake):
    assert [m.id for m in _anthropic(fake).models.list()] == ["good"]


# --- Gemini ---------------------------------------------------------------------------------
def test_gemini_sdk_whole_reply_and_stream(fake):
    whole = _gemini(fake).models.generate_content(model="good", contents="hi")
    assert whole.text == "Hello, world"
    assert (whole.usage_metadata.prompt_token_count, whole.usage_metadata.candidates_token_count) == (7, 3)
    chunks = list(_gemini(fake).models.generate_content_stream(model="good", contents="hi"))
    assert [c.text for c in chunks] == ["Hello", ", ", "world"]
    assert chunks[-1].candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert chunks[-1].usage_metadata.total_token_count == 10


@pytest.mark.parametrize("model", ["busy", "flaky"])
def test_gemini_sdk_retries_what_the_fake_asks_to_retry(fake, model):
    chunks = _gemini(fake, attempts=3).models.generate_content_stream(model=model, contents="hi")
    assert "".join(c.text for c in chunks) == "Hello, world"


@pytest.mark.parametrize(("model", "error", "code", "status"), [
    ("busy-long", genai_errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
    ("down", genai_errors.ServerError, 503, "UNAVAILABLE"),
    ("bad-request", genai_errors.ClientError, 400, "INVALID_ARGUMENT")])
def test_gemini_sdk_error_shapes(fake, model, error, code, status):
    with pytest.raises(error) as info:
        list(_gemini(fake).models.generate_content_stream(model=model, contents="hi"))
    assert (info.value.code, info.value.status) == (code, status)


def test_gemini_sdk_sees_the_retry_info_and_a_refused_key(fake):
    with pytest.raises(genai_errors.ClientError) as info:
        _gemini(fake).models.generate_content(model="busy-long", contents="hi")
    retry = [d for d in info.value.details["error"]["details"] if d["@type"].endswith("google.rpc.RetryInfo")]
    assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "120s"}]
    with pytest.raises(genai_errors.ClientError) as info:
        _gemini(fake, key="wrong-key").models.generate_content(model="good", contents="hi")
    assert (info.value.code, info.value.status) == (401, "UNAUTHENTICATED")


def test_gemini_sdk_dropped_stream_is_an_error(fake):
    with pytest.raises(Exception) as info:      # the SDK surfaces its HTTP library's error as is
        list(_gemini(fake).models.generate_content_stream(model="drop", contents="hi"))
    assert type(info.value).__name__ in ("RemoteProtocolError", "ReadError")


def test_gemini_sdk_lists_models(fake):
    assert [m.name for m in _gemini(fake).models.list()] == ["models/good", "models/echo"]


# --- the product speaks what the SDK speaks ------------------------------------------------------
def _last_request(fake):
    req = fake.received[-1]
    return req["path"].split("?")[0], json.loads(req["body"])


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini"])
def test_product_requests_have_the_sdk_shape(fake, protocol):
    """The same one-message request made by the SDK and by the product's client reaches the
    same endpoint with the same core fields (the product adds only what it documents)."""
    if protocol == "openai":
        list(_openai(fake).chat.completions.create(model="echo", messages=HI, stream=True))
        provider = OpenAIProvider("c", "c", {"base_url": fake.url + "/v1", "api_key": fake.key})
    elif protocol == "anthropic":
        with _anthropic(fake).messages.stream(model="echo", max_tokens=10, messages=HI) as stream:
            list(stream.text_stream)
        provider = AnthropicProvider("c", "c", {"base_url": fake.url, "api_key": fake.key})
    else:
        list(_gemini(fake).models.generate_content_stream(model="echo", contents="hi"))
        provider = GeminiProvider("c", "c", {"base_url": fake.url, "api_key": fake.key})
    sdk_path, sdk_body = _last_request(fake)
    text, _ = asyncio.run(collect(provider.stream_chat(HI, "echo", {"max_tokens": 10})))
    ours_path, ours_body = _last_request(fake)
    assert text == "hi"
    assert ours_path == sdk_path
    core = {"openai": ("model", "messages", "stream"), "anthropic": ("model", "messages", "stream"),
            "gemini": ("contents",)}[protocol]
    for key in core:
        assert _normal(ours_body[key]) == _normal(sdk_body[key]), key


def _normal(value):
    """Content as a string or as a one-part list means the same thing on these wires."""
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        out = {k: _normal(v) for k, v in value.items()}
        if isinstance(out.get("content"), list) and len(out["content"]) == 1 and "text" in out["content"][0]:
            out["content"] = out["content"][0]["text"]
        return out
    return value
