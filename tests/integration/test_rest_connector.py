"""The REST connector against a real aiohttp server (tests/integration/restserver.py):
pagination, auth, rate limits, retries, bounds, errors without secrets, and records
landing in a workspace table."""

from __future__ import annotations

import base64
import email.utils
import json
import secrets
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from engine import workspace
from engine.connectors.base import ConnectorError
from engine.io.rows import write_rows
from plugins.connectors.rest import RestConnector
from tests.integration.restserver import TOTAL, RestServer

TOKEN = secrets.token_urlsafe(24)        # 32 random characters
USER = "alice"
PLACEHOLDER = "{{ secret.api.token }}"
FAST = {"max_retry_wait_s": 2, "retry_backoff_s": 0.01}


@pytest.fixture(scope="module")
def server() -> Iterator[RestServer]:
    with RestServer(token=TOKEN, username=USER) as srv:
        yield srv


def connector(server: RestServer, auth: str = "none", token: str | None = TOKEN, path: str = "",
              **settings: Any) -> RestConnector:
    values = {"base_url": server.url + path, "auth": auth, "username": USER, "token": token, **settings}
    return RestConnector("api", "My API", values)


def fetch_all(conn: RestConnector, **spec: Any) -> list[dict[str, Any]]:
    return [record for page in conn.fetch(spec) for record in page]


def key() -> str:
    return uuid.uuid4().hex


# --- pagination -------------------------------------------------------------------------

@pytest.mark.parametrize("spec", [
    {"path": "/items", "records_path": "data.items", "pagination": {"type": "page", "size": 100}},
    {"path": "/offset", "records_path": "results", "pagination": {"type": "offset", "size": 100}},
    {"path": "/cursor", "records_path": "items", "params": {"limit": 40}, "pagination": "cursor"},
    {"path": "/linked", "params": {"per_page": 60}, "pagination": "link"},
], ids=["page", "offset", "cursor", "link"])
def test_every_pagination_type_gives_all_records_in_order(server: RestServer, spec: dict) -> None:
    records = fetch_all(connector(server), **spec)
    assert [r["id"] for r in records] == list(range(1, TOTAL + 1))


def test_pages_are_yielded_as_they_arrive(server: RestServer) -> None:
    pages = connector(server).fetch({"path": "/items", "records_path": "data.items",
                                     "pagination": {"type": "page", "size": 100}})
    assert [len(page) for page in pages] == [100, 100, 50]


def test_nested_values_survive_as_dicts_and_lists(server: RestServer) -> None:
    first = fetch_all(connector(server), path="/linked", max_records=1)[0]
    assert first["owner"] == {"id": 1, "name": "owner 1", "address": {"city": "Ghent"}}
    assert first["tags"] == ["t1", "t1"]


def test_max_records_cuts_the_last_page_and_stops_asking(server: RestServer) -> None:
    k = key()
    pages = list(connector(server).fetch({"path": "/items", "params": {"key": k}, "records_path": "data.items",
                                          "pagination": {"type": "page", "size": 100}, "max_records": 150}))
    assert [len(p) for p in pages] == [100, 50]
    assert server.hits[("/items", k)] == 2


def test_max_pages_bounds_a_pagination_that_goes_on(server: RestServer) -> None:
    spec = {"path": "/items", "records_path": "data.items", "pagination": {"type": "page", "size": 10},
            "max_pages": 3}
    with pytest.raises(ConnectorError, match=r"connection 'My API': GET /items still returned records "
                                             r"after max_pages=3 pages"):
        fetch_all(connector(server), **spec)


def test_max_pages_is_no_error_when_the_next_page_is_empty(server: RestServer) -> None:
    spec = {"path": "/items", "records_path": "data.items", "pagination": {"type": "page", "size": 125},
            "max_pages": 2}
    assert len(fetch_all(connector(server), **spec)) == TOTAL


def test_a_repeating_cursor_is_a_clear_error(server: RestServer) -> None:
    pages: list[list[dict]] = []
    with pytest.raises(ConnectorError, match=r"GET /loop returned the same cursor 'again' twice: "
                                             r"an endless pagination loop"):
        pages.extend(connector(server).fetch({"path": "/loop", "records_path": "items", "pagination": "cursor"}))
    assert len(pages) == 2


def test_a_next_link_to_another_host_is_refused(server: RestServer) -> None:
    with pytest.raises(ConnectorError, match=r"links its next page to http://elsewhere.example; this "
                                             r"connection's credentials are only sent to its own host"):
        fetch_all(connector(server, auth="bearer"), path="/foreign", pagination="link")


def test_redirects_are_followed_only_on_the_same_host(server: RestServer) -> None:
    assert fetch_all(connector(server, auth="bearer"), path="/moved")[0]["id"] == 1
    with pytest.raises(ConnectorError, match=r"GET /away was redirected to http://elsewhere.example; this "
                                             r"connection's credentials are only sent to its own host"):
        fetch_all(connector(server, auth="bearer"), path="/away")


# --- records_path, POST, sample --------------------------------------------------------------

def test_records_path_navigates_objects_and_list_indexes(server: RestServer) -> None:
    conn = connector(server)
    assert fetch_all(conn, path="/items", records_path="meta") == [{"page": 1, "total": TOTAL}]
    assert [r["id"] for r in fetch_all(conn, path="/items", records_path="data.items.2")] == [3]
    assert fetch_all(conn, path="/single") == [{"id": 1, "profile": {"langs": ["nl", "en"]}}]


def test_a_missing_records_path_names_what_is_there(server: RestServer) -> None:
    with pytest.raises(ConnectorError, match=r"GET /items reply has no records at records_path 'data.rows': "
                                             r"no 'rows' in 'data' \(keys: items\)"):
        fetch_all(connector(server), path="/items", records_path="data.rows")


def test_post_sends_the_json_body(server: RestServer) -> None:
    records = fetch_all(connector(server), path="/search", method="POST", body={"ids": [3, 1]},
                        records_path="hits")
    assert [r["id"] for r in records] == [1, 3]


def test_sample_and_list_fields(server: RestServer) -> None:
    conn = connector(server)
    columns, rows = conn.sample(json.dumps({"path": "/items", "records_path": "data.items"}), 3)
    assert columns == ["id", "name", "price", "active", "owner", "tags"]
    assert [row[0] for row in rows] == [1, 2, 3]
    assert json.loads(rows[0][4]) == {"id": 1, "name": "owner 1", "address": {"city": "Ghent"}}
    assert dict(conn.list_fields("/linked")) == {"id": "INTEGER", "name": "TEXT", "price": "REAL",
                                                 "active": "INTEGER", "owner": "TEXT", "tags": "TEXT"}


def test_connection_test_and_catalog(server: RestServer) -> None:
    conn = connector(server)
    assert conn.test() == f"HTTP 200 from 127.0.0.1:{server.port}"
    assert conn.list_objects() == []
    with pytest.raises(ConnectorError, match="REST connections are read-only"):
        conn.write("t", [("a", "TEXT")], [])
    with pytest.raises(ConnectorError, match="no identifiers to quote"):
        conn.quote_ident("a")


def test_a_spec_with_a_typo_is_refused_before_any_request(server: RestServer) -> None:
    with pytest.raises(ConnectorError, match=r"REST spec: unknown key\(s\) pagenation"):
        connector(server).fetch({"path": "/items", "pagenation": "page"})
    with pytest.raises(ConnectorError, match=r"pagination.type must be one of"):
        connector(server).fetch({"path": "/items", "pagination": "pages"})


# --- auth -----------------------------------------------------------------------------------

AUTH_PATHS = {"bearer": "/secure/bearer", "basic": "/secure/basic", "api_key_header": "/secure/header",
              "api_key_query": "/secure/query"}


@pytest.mark.parametrize("auth", list(AUTH_PATHS))
def test_each_auth_type_is_accepted(server: RestServer, auth: str) -> None:
    records = fetch_all(connector(server, auth=auth), path=AUTH_PATHS[auth], records_path="data")
    assert [r["id"] for r in records] == [1, 2, 3]


@pytest.mark.parametrize("auth", list(AUTH_PATHS))
def test_a_wrong_token_is_a_401_error_naming_the_connection(server: RestServer, auth: str) -> None:
    path = AUTH_PATHS[auth]
    with pytest.raises(ConnectorError, match=rf"connection 'My API': GET {path} failed with HTTP 401 "
                                             rf"Unauthorized: .*bad credentials"):
        fetch_all(connector(server, auth=auth, token="wrong-token-value"), path=path)


def test_connection_test_reports_rejected_credentials(server: RestServer) -> None:
    with pytest.raises(ConnectorError, match=r"GET /secure/bearer failed with HTTP 401"):
        connector(server, auth="bearer", token="wrong-token-value", path="/secure/bearer").test()


def test_header_placeholders_are_resolved_just_before_sending(server: RestServer) -> None:
    def resolve(connection: str, field: str) -> str | None:
        return {("vault", "key"): TOKEN}.get((connection, field))

    conn = RestConnector("api", "My API", {"base_url": server.url}, resolve_secret=resolve)
    records = fetch_all(conn, path="/secure/header", records_path="data",
                        headers={"X-API-Key": "{{ secret.vault.key }}"})
    assert len(records) == 3
    echoed = fetch_all(conn, path="/echo", headers={"X-Other": "{{ secret.vault.key }}"})
    assert echoed[0]["headers"]["X-Other"] == "{{ secret.vault.key }}"      # records are scrubbed too


def test_only_the_connections_own_token_resolves_by_default(server: RestServer) -> None:
    with pytest.raises(ConnectorError, match=r"\{\{ secret.other.token \}\} cannot be resolved here"):
        connector(server).fetch({"path": "/echo", "headers": {"X-Key": "{{ secret.other.token }}"}})
    echoed = fetch_all(connector(server), path="/echo", headers={"X-Key": "{{ secret.api.token }}"})
    assert echoed[0]["headers"]["X-Key"] == PLACEHOLDER


@pytest.mark.parametrize("auth", list(AUTH_PATHS))
def test_secret_leak_none_from_a_401_that_echoes_the_credentials(server: RestServer, auth: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        fetch_all(connector(server, auth=auth), path="/echo401", params={"q": "x"})
    text = "".join(traceback.format_exception(caught.value))
    basic = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode().rstrip("=")
    for form in (TOKEN, quote(TOKEN, safe=""), basic, base64.b64encode(TOKEN.encode()).decode().rstrip("=")):
        assert form not in text
    assert "HTTP 401" in str(caught.value) and PLACEHOLDER in str(caught.value)
    assert "q=x" not in str(caught.value).split(": ")[1]      # the URL's query is never in the headline


# --- rate limits, retries, timeouts ----------------------------------------------------------

def test_retry_after_is_honoured(server: RestServer) -> None:
    k = key()
    started = time.monotonic()
    records = fetch_all(connector(server), path="/flaky", params={"key": k, "retry_after": "1"}, **FAST)
    assert len(records) == 5
    assert server.hits[("/flaky", k)] == 3
    assert time.monotonic() - started >= 0.9


def test_retry_after_as_an_http_date(server: RestServer) -> None:
    k = key()
    when = email.utils.formatdate(time.time() + 1, usegmt=True)
    assert len(fetch_all(connector(server), path="/flaky", params={"key": k, "retry_after": when}, **FAST)) == 5
    assert server.hits[("/flaky", k)] == 3


def test_a_retry_after_beyond_the_cap_fails_at_once(server: RestServer) -> None:
    k = key()
    with pytest.raises(ConnectorError, match=r"GET /limited got HTTP 429 Too Many Requests asking to wait "
                                             r"120 s, more than max_retry_wait_s=2"):
        fetch_all(connector(server), path="/limited", params={"key": k}, **FAST)
    assert server.hits[("/limited", k)] == 1


def test_a_500_is_retried_then_succeeds(server: RestServer) -> None:
    k = key()
    assert len(fetch_all(connector(server), path="/broken", params={"key": k}, **FAST)) == 5
    assert server.hits[("/broken", k)] == 3


def test_an_api_that_stays_down_fails_after_the_retry_bound(server: RestServer) -> None:
    k = key()
    with pytest.raises(ConnectorError, match=r"GET /down failed with HTTP 500 Internal Server Error after "
                                             r"4 attempts: internal error, x+…$") as caught:
        fetch_all(connector(server), path="/down", params={"key": k}, max_retries=3, **FAST)
    assert server.hits[("/down", k)] == 4
    assert len(str(caught.value)) < 320                     # a short excerpt, not the whole body


def test_a_timeout_names_the_request(server: RestServer) -> None:
    started = time.monotonic()
    with pytest.raises(ConnectorError, match=r"^connection 'My API': GET /slow timed out after 1 s$"):
        fetch_all(connector(server, timeout_s=1), path="/slow")
    assert time.monotonic() - started < 2.5


def test_a_refused_connection_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = RestConnector("api", "My API", {"base_url": f"http://127.0.0.1:{port}"})
    with pytest.raises(ConnectorError, match=rf"GET / could not connect to 127.0.0.1:{port}"):
        conn.test()


def test_a_page_that_is_not_json_is_a_clear_error(server: RestServer) -> None:
    with pytest.raises(ConnectorError, match=r"GET /notjson did not return JSON \(content type text/html\): "
                                             r"<html><body><h1>Welcome"):
        fetch_all(connector(server), path="/notjson")


def test_no_thread_is_left_when_a_fetch_is_abandoned(server: RestServer) -> None:
    pages = connector(server).fetch({"path": "/items", "records_path": "data.items", "pagination": "page"})
    next(pages)
    assert any(t.name == "dagflux-rest" for t in threading.enumerate())
    pages.close()
    assert not any(t.name == "dagflux-rest" for t in threading.enumerate())


# --- into the workspace --------------------------------------------------------------------------

def test_fetched_records_land_in_a_workspace_table_with_nested_values_as_json(server, tmp_path) -> None:
    path = tmp_path / "ws.sqlite"
    conn, lease = workspace.connect(path), workspace.WriteLease(path)
    try:
        pages = connector(server).fetch({"path": "/cursor", "records_path": "items", "pagination": "cursor"})
        count = write_rows(conn, lease, "api_items", (r for page in pages for r in page), "rest_items")
        rows = conn.execute('SELECT id, owner, tags, typeof(owner) FROM "api_items" ORDER BY id').fetchall()
    finally:
        conn.close()
        lease.close()
    assert count == TOTAL and len(rows) == TOTAL
    assert rows[6][0] == 7 and rows[6][3] == "text"
    assert json.loads(rows[6][1]) == {"id": 0, "name": "owner 0", "address": {"city": "Ghent"}}
    assert json.loads(rows[6][2]) == ["t1", "t2"]
