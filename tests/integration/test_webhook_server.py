"""The webhook server on a real loopback socket, driven by real HTTP requests."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from engine.service.webhook import WebhookServer, WebhookServerError, new_token


class Recorder:
    """An ``on_webhook`` callback that records its calls and answers as told."""

    def __init__(self, answer: Callable[[str], tuple[str, Any]] | None = None, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, list[dict], dict]] = []
        self.threads: set[str] = set()
        self.answer = answer or (lambda wf: ("started", f"run-{wf}"))
        self.delay = delay
        self._lock = threading.Lock()

    def __call__(self, workflow_id: str, rows: list[dict], meta: dict) -> tuple[str, Any]:
        with self._lock:
            self.calls.append((workflow_id, rows, meta))
            self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        return self.answer(workflow_id)


def post(server: WebhookServer, token: str, body: bytes | Iterable[bytes],
         content_type: str | None = "application/json", method: str = "POST") -> tuple[int, dict]:
    """One request on its own connection; returns (status, JSON reply)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        headers = {"Content-Type": content_type} if content_type else {}
        chunked = not isinstance(body, bytes)
        conn.request(method, f"/hooks/{token}", body=body, headers=headers, encode_chunked=chunked)
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        conn.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def server(recorder: Recorder) -> Iterator[WebhookServer]:
    with WebhookServer(recorder) as srv:
        yield srv


@pytest.fixture
def token(server: WebhookServer) -> str:
    token = new_token()
    server.add(token, "orders")
    return token


# --- starting a run ------------------------------------------------------------------
def test_post_starts_a_run_and_replies_202_with_its_id(server, token, recorder):
    status, reply = post(server, token, b'{"id": 1}')
    assert (status, reply) == (202, {"status": "started", "run_id": "run-orders"})
    workflow_id, rows, meta = recorder.calls[0]
    assert workflow_id == "orders" and rows == [{"id": 1}]
    assert meta["content_type"] == "application/json" and meta["bytes"] == 9
    assert meta["remote"] == "127.0.0.1"


def test_a_json_array_of_objects_gives_one_row_per_item_with_nested_values_kept(server, token, recorder):
    body = [{"id": 1, "tags": ["a", "b"]}, {"id": 2, "address": {"city": "Oslo"}}]
    assert post(server, token, json.dumps(body).encode())[0] == 202
    assert recorder.calls[0][1] == body


def test_csv_rows_reach_the_callback_as_dicts(server, token, recorder):
    body = b'id,name\r\n1,"Smith, Ann"\r\n2,Bo\r\n'
    assert post(server, token, body, "text/csv; charset=utf-8")[0] == 202
    assert recorder.calls[0][1] == [{"id": "1", "name": "Smith, Ann"}, {"id": "2", "name": "Bo"}]
    assert recorder.calls[0][2]["content_type"] == "text/csv"


def test_url_for_is_the_address_that_reaches_the_route(server, token):
    assert server.url_for(token) == f"http://127.0.0.1:{server.port}/hooks/{token}"


# --- refusals --------------------------------------------------------------------------
def test_unknown_tokens_get_the_same_404_for_every_method(server, token, recorder):
    replies = [post(server, new_token(), b"{}") for _ in range(2)]
    replies += [post(server, new_token(), b"", None, method="GET")]
    replies += [post(server, token + "x", b"{}"), post(server, "", b"{}")]
    assert replies == [(404, {"status": "error", "error": "not found"})] * 5
    assert recorder.calls == []


def test_a_known_token_accepts_only_post(server, token):
    assert post(server, token, b"", None, method="GET")[0] == 405


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_beyond_the_limit_is_refused_with_413(recorder, chunked):
    with WebhookServer(recorder, max_body_bytes=100) as server:
        token = new_token()
        server.add(token, "orders")
        big = json.dumps([{"n": i} for i in range(50)]).encode()
        body = iter([big[:60], big[60:]]) if chunked else big
        status, reply = post(server, token, body)
        assert status == 413 and "100 bytes" in reply["error"]
        assert post(server, token, b'{"n": 1}')[0] == 202      # exactly the limit is fine too
        assert len(recorder.calls) == 1


def test_malformed_json_is_a_400_naming_line_and_column(server, token, recorder):
    status, reply = post(server, token, b'[{"id": 1},\n {"id": 2,}]')
    assert status == 400
    assert "line 2, column 11" in reply["error"] and (reply["line"], reply["column"]) == (2, 11)
    assert recorder.calls == []


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,                                     # past what a parser can recurse
    b'{"a": ' + b"[" * 70 + b"1" + b"]" * 70 + b"}",                    # parses, but deeper than allowed
])
def test_json_nested_too_deep_is_a_400_saying_so(server, token, recorder, caplog, body):
    status, reply = post(server, token, body)
    assert status == 400 and reply["error"] == "the JSON body is nested more than 64 levels deep"
    assert recorder.calls == [] and "Traceback" not in caplog.text
    assert post(server, token, b'{"a": ' + b"[" * 60 + b"1" + b"]" * 60 + b"}")[0] == 202  # deep but allowed


@pytest.mark.parametrize("body, message", [
    (b"42", "an object or an array of objects, not a number"),
    (b'[{"a": 1}, "x"]', "item 1 of the JSON array is a string"),
    (b"\xff\xfe", "not valid UTF-8"),
])
def test_json_that_is_not_rows_is_a_400(server, token, body, message):
    status, reply = post(server, token, body)
    assert status == 400 and message in reply["error"]


@pytest.mark.parametrize("body, message", [
    (b"", "needs a header row"),
    (b'a,b\n1,"2\n', "malformed CSV at line 2: unexpected end of data"),
    (b'a,b\n1,"2"x\n', "malformed CSV at line 2"),
    (b"a,b\n1,2\n3,4,5\n", "line 3: 3 fields, the header has 2"),
    (b"a,b\n1\n", "line 2: 1 fields, the header has 2"),
    (b"a,a\n1,2\n", "duplicate column"),
])
def test_malformed_csv_is_a_400_naming_the_line(server, token, recorder, body, message):
    status, reply = post(server, token, body, "text/csv")
    assert status == 400 and message in reply["error"], reply
    assert recorder.calls == []


def test_an_unsupported_content_type_is_a_415(server, token):
    assert post(server, token, b"<a/>", "application/xml")[0] == 415
    assert post(server, token, b"{}", None)[0] == 415


def test_a_format_the_workflow_does_not_accept_is_a_415(server, recorder):
    token = new_token()
    server.add(token, "csv_only", formats=("csv",))
    status, reply = post(server, token, b"{}")
    assert status == 415 and "does not accept JSON" in reply["error"]
    assert post(server, token, b"a\n1\n", "text/csv")[0] == 202


def test_a_skipped_run_is_a_409_with_the_reason():
    with WebhookServer(Recorder(lambda wf: ("skipped", "already running"))) as server:
        token = new_token()
        server.add(token, "orders")
        assert post(server, token, b"{}") == (409, {"status": "skipped", "reason": "already running"})


def test_a_failing_callback_is_a_generic_500_and_the_cause_is_logged(caplog):
    def broken(workflow_id, rows, meta):
        raise RuntimeError("history.sqlite is locked")

    with WebhookServer(broken) as server:
        token = new_token()
        server.add(token, "orders")
        status, reply = post(server, token, b"{}")
    assert status == 500 and "locked" not in json.dumps(reply)
    assert "history.sqlite is locked" in caplog.text and token not in caplog.text


# --- concurrency -------------------------------------------------------------------------
def test_a_slow_callback_does_not_hold_up_other_requests():
    both_inside = threading.Barrier(2, timeout=3)     # breaks (→ 500) if the callbacks ran one by one

    def slow(workflow_id: str) -> tuple[str, str]:
        both_inside.wait()
        time.sleep(0.5)
        return "started", workflow_id

    recorder = Recorder(slow)
    with WebhookServer(recorder) as server:
        tokens = [new_token(), new_token()]
        server.add(tokens[0], "a")
        server.add(tokens[1], "b")
        with ThreadPoolExecutor(2) as pool:
            statuses = list(pool.map(lambda t: post(server, t, b"{}")[0], tokens))
    assert statuses == [202, 202]  # the barrier: both callbacks were inside at the same moment
    assert not recorder.threads & {"dagflux-webhook", "MainThread"}     # never on the loop's thread


# --- routes and lifecycle ------------------------------------------------------------------
def test_routes_follow_their_workflows_and_none_is_orphaned(server):
    first, second, other = new_token(), new_token(), new_token()
    server.add(first, "orders")
    server.add(other, "stock")
    server.add(second, "orders")            # saving again: the new token replaces the old
    assert server.tokens() == {second, other} and server.token_of("orders") == second
    assert post(server, first, b"{}")[0] == 404
    assert server.remove_workflow("orders") is True
    assert server.remove_workflow("orders") is False
    assert server.tokens() == {other}
    assert post(server, second, b"{}")[0] == 404
    with pytest.raises(ValueError, match="another workflow"):
        server.add(other, "orders")
    with pytest.raises(ValueError, match="formats"):
        server.add(new_token(), "orders", formats=("xml",))


def test_stop_closes_the_socket_and_leaves_no_thread(recorder):
    before = set(threading.enumerate())
    server = WebhookServer(recorder)
    server.start()
    token = new_token()
    server.add(token, "orders")
    assert post(server, token, b"{}")[0] == 202
    port = server.port
    server.stop()
    server.stop()                           # idempotent
    assert set(threading.enumerate()) == before
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    with pytest.raises(WebhookServerError, match="not running"):
        server.url_for(token)


def test_a_port_in_use_is_a_clear_error(recorder):
    with WebhookServer(recorder) as first:
        second = WebhookServer(recorder, port=first.port)
        with pytest.raises(WebhookServerError, match=f"cannot listen for webhooks on 127.0.0.1:{first.port}"):
            second.start()
        assert not second.running
