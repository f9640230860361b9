"""Per-node retries against a real loopback HTTP server, and workflow parameters given on the
command line and in a webhook's query string — real worker processes, real CLI, real sockets."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from engine.connectors.store import ConnectionStore
from engine.history import History
from engine.messages import NodeRetrying
from engine.paths import DataPaths
from tests.integration.helpers import node, source, sql, start, write_csv, write_workflow
from tests.integration.restserver import RestServer

FAST = {"count": 3, "delay_s": 0.05, "backoff": 2}


@pytest.fixture
def server() -> Iterator[RestServer]:
    with RestServer() as srv:
        yield srv


@pytest.fixture
def api(server: RestServer, dagflux_home: Path) -> RestServer:
    """A REST connection 'api' to the server (no credentials, so no keychain is involved)."""
    ConnectionStore(dagflux_home / "connections.json").save(
        "api", "API", "rest", {"base_url": server.url, "auth": "none", "timeout_s": 5}, ["token"], [], True)
    return server


def _rest_flow(folder: Path, wf_id: str, path: str, key: str, retry: dict | None) -> Path:
    config = {"source": "rest", "connection": "api", "path": path, "params": {"key": key},
              "max_retries": 0}       # the connector's own per-request retries off: the node retries
    fetch = node("fetch", "data_source", config, **({"retry": retry} if retry else {}))
    return write_workflow(folder, wf_id, [start(), fetch], [("start", "fetch")])


def _run_json(cli, flow: Path, *extra: str) -> tuple[int, dict]:
    done = cli("run", flow, "--json", *extra)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {"stderr": done.stderr}


# --- retries -------------------------------------------------------------------------------------
def test_a_node_that_fails_twice_then_succeeds_is_retried_and_each_attempt_is_logged(api, cli, tmp_path):
    key = secrets.token_hex(4)
    code, result = _run_json(cli, _rest_flow(tmp_path, "flaky_api", "/broken", key, FAST))
    assert code == 0, result
    fetch = next(n for n in result["nodes"] if n["id"] == "fetch")
    assert (fetch["status"], fetch["attempts"]) == ("succeeded", 3)
    assert api.hits[("/broken", key)] == 3
    shown = cli("history", result["run_id"])
    assert "succeeded after 3 attempts" in shown.stdout
    assert shown.stdout.count("HTTP 500") == 2
    logged = json.loads(cli("history", result["run_id"], "--json").stdout)
    attempts = next(n for n in logged["nodes"] if n["node_id"] == "fetch")["attempts"]
    assert [a["status"] for a in attempts] == ["failed", "failed", "succeeded"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert all(a["started_at"] for a in attempts) and "HTTP 500" in attempts[0]["error"]
    assert attempts[0]["started_at"] < attempts[1]["started_at"] < attempts[2]["started_at"]


def test_a_node_that_stays_down_gives_up_after_its_retries(api, cli, tmp_path):
    key = secrets.token_hex(4)
    code, result = _run_json(cli, _rest_flow(tmp_path, "down_api", "/down", key,
                                             {"count": 2, "delay_s": 0.05}))
    assert code == 1
    assert api.hits[("/down", key)] == 3
    logged = json.loads(cli("history", result["run_id"], "--json").stdout)
    fetch = next(n for n in logged["nodes"] if n["node_id"] == "fetch")
    assert fetch["status"] == "failed" and [a["status"] for a in fetch["attempts"]] == ["failed"] * 3
    assert "gave up after 3 attempts" in cli("history", result["run_id"]).stdout


def test_errors_that_cannot_be_transient_are_not_retried(api, cli, tmp_path):
    key = secrets.token_hex(4)
    code, result = _run_json(cli, _rest_flow(tmp_path, "not_json", "/notjson", key, FAST))
    assert code == 1 and api.hits[("/notjson", key)] == 1
    bad_sql = sql("broken", "SELEC nothing FROM {{ input }}", retry=FAST)
    rows = node("rows", "data_source", {"source": "rest", "connection": "api", "path": "/single",
                                        "params": {"key": key}})
    flow = write_workflow(tmp_path, "bad_sql", [start(), rows, bad_sql], [("start", "rows"), ("rows", "broken")])
    code, result = _run_json(cli, flow)
    assert code == 1
    broken = next(n for n in result["nodes"] if n["id"] == "broken")
    assert (broken["status"], broken["attempts"]) == ("failed", 1) and "syntax error" in broken["error"]


def test_a_refused_connection_is_transient(dagflux_home, cli, tmp_path):
    with RestServer() as gone:
        url = gone.url            # a port that refuses connections once the server is stopped
    ConnectionStore(dagflux_home / "connections.json").save(
        "api", "API", "rest", {"base_url": url, "auth": "none", "timeout_s": 5}, ["token"], [], True)
    code, result = _run_json(cli, _rest_flow(tmp_path, "refused", "/single", "k", {"count": 1, "delay_s": 0}))
    fetch = next(n for n in result["nodes"] if n["id"] == "fetch")
    assert code == 1 and fetch["attempts"] == 2 and "could not connect" in fetch["error"]


def test_cancel_during_a_retry_delay_stops_the_run_at_once(api, dagflux_home, tmp_path):
    from engine.local_run import run_file

    flow = _rest_flow(tmp_path, "slow_retry", "/down", secrets.token_hex(4), {"count": 5, "delay_s": 60})
    runs, waiting = [], threading.Event()

    def on_event(msg) -> None:
        if isinstance(msg, NodeRetrying):
            waiting.set()
            runs[0].cancel()          # the runner is now in the 60 s wait

    result = run_file(flow, DataPaths(dagflux_home), pool_size=1, on_event=on_event, on_run=runs.append)
    took = result.ended_at - result.started_at
    assert waiting.is_set() and result.status == "cancelled"
    assert took < 5, f"the cancel waited out the retry delay ({took:.1f} s)"
    with History(dagflux_home / "history.sqlite") as history:
        fetch = next(n for n in history.get_run(result.run_id)["nodes"] if n["node_id"] == "fetch")
    assert fetch["status"] == "cancelled" and [a["status"] for a in fetch["attempts"]] == ["failed"]


# --- parameters ----------------------------------------------------------------------------------
def _param_flow(folder: Path, trigger: dict | None = None) -> Path:
    first = node("start", "start", {"trigger": trigger or {"kind": "manual"}})
    write_csv(folder / "one.csv", ["x"], [[1]])
    rows = sql("rows", "SELECT {{ param.who }} AS who, {{ param.n }} * 2 AS twice, "
                       "{{ param.n }} > 5 AS big FROM {{ input }}")
    flow = write_workflow(folder, "with_params", [first, source("one", "one.csv"), rows],
                          [("start", "one"), ("one", "rows")])
    doc = json.loads(flow.read_text())
    doc["parameters"] = [{"name": "who", "type": "text", "default": "nobody"},
                         {"name": "n", "type": "integer", "default": 1}]
    flow.write_text(json.dumps(doc), encoding="utf-8")
    return flow


def _table(home: Path, name: str) -> list[tuple]:
    import sqlite3

    conn = sqlite3.connect(home / "workspace.sqlite")
    try:
        return conn.execute(f'SELECT * FROM "{name}"').fetchall()
    finally:
        conn.close()


def test_cli_params_are_converted_bound_and_recorded(dagflux_home, cli, tmp_path):
    flow = _param_flow(tmp_path)
    evil = "x'; DROP TABLE with_params__rows; --"
    code, result = _run_json(cli, flow, "--param", f"who={evil}", "--param", "n=21")
    assert code == 0, result
    assert result["params"] == {"who": evil, "n": 21}
    assert _table(dagflux_home, "with_params__rows") == [(evil, 42, 1)]
    assert json.loads(cli("history", result["run_id"], "--json").stdout)["params"] == {"who": evil, "n": 21}
    assert "n=21" in cli("history", result["run_id"]).stdout

    bad = cli("run", flow, "--param", "n=many")
    assert bad.returncode == 2 and "parameter 'n' is an integer: a whole number like 42, not 'many'" in bad.stderr
    unknown = cli("run", flow, "--param", "m=1")
    assert unknown.returncode == 2 and "unknown parameter(s) m (this workflow declares: who, n)" in unknown.stderr
    malformed = cli("run", flow, "--param", "n")
    assert malformed.returncode == 2 and "write it as NAME=VALUE" in malformed.stderr


def test_a_webhook_query_string_gives_the_parameters(dagflux_home, tmp_path):
    from engine.service.engine import Engine

    doc = json.loads(_param_flow(tmp_path, {"kind": "webhook"}).read_text())
    rows = next(n for n in doc["nodes"] if n["id"] == "rows")
    rows["config"]["sql"] = "SELECT count(*) AS posted, {{ param.who }} AS who, {{ param.n }} AS n FROM {{ input }}"
    doc["nodes"] = [n for n in doc["nodes"] if n["id"] != "one"]
    doc["edges"] = [{"from": "start", "to": "rows"}]
    engine = Engine(DataPaths(dagflux_home), pool_size=1, webhook_port=0, notifications=False)
    engine.start()
    try:
        engine.handle("workflows.save", {"doc": doc}, None)
        url = next(t["url"] for t in engine.handle("triggers.list", {}, None) if t["workflow_id"] == "with_params")
        status, reply = asyncio.run(_post(f"{url}?who=ann&n=7", [{"a": 1}, {"a": 2}]))
        assert status == 202, reply
        summary = engine.runs.wait(reply["run_id"], timeout=60)
        assert summary["status"] == "succeeded", summary
        status, refused = asyncio.run(_post(f"{url}?n=seven", [{"a": 1}]))
        defaults_status, defaults = asyncio.run(_post(url, [{"a": 1}]))
        assert defaults_status == 202
        engine.runs.wait(defaults["run_id"], timeout=60)
    finally:
        engine.stop()
    assert status == 400 and "parameter 'n' is an integer" in refused["error"]
    with History(dagflux_home / "history.sqlite") as history:
        assert history.get_run(reply["run_id"])["params"] == {"who": "ann", "n": 7}
        assert history.get_run(defaults["run_id"])["params"] == {"who": "nobody", "n": 1}
    assert _table(dagflux_home, "with_params__rows") == [(1, "nobody", 1)]


async def _post(url: str, rows: list[dict]) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=rows) as resp:
            return resp.status, await resp.json()



def test_runs_start_takes_params_and_try_on_sample_binds_the_defaults(dagflux_home, tmp_path):
    from engine.client import EngineCallError
    from tests.integration.engine_harness import EngineProcess

    flow = _param_flow(tmp_path)
    engine = EngineProcess(dagflux_home)
    try:
        with engine.client() as client:
            wf_id = client.call("workflows.import", path=str(flow))["id"]
            with pytest.raises(EngineCallError, match="parameter 'n' is an integer"):
                client.call("runs.start", workflow_id=wf_id, params={"n": "x"})
            run = client.call("runs.start", workflow_id=wf_id, params={"n": "6", "who": "zoe"})
            assert client.call("runs.wait", run_id=run["run_id"], timeout=60)["status"] == "succeeded"
            assert client.call("history.get", run_id=run["run_id"])["params"] == {"who": "zoe", "n": 6}
            rows = {"id": "rows", "type": "transformer",
                    "config": {"language": "sql", "mode": "new_table",
                               "sql": "SELECT {{ param.who }} AS who, {{ param.n }} + x AS m FROM {{ input }}"}}
            reply = client.call("nodes.try", workflow_id=wf_id, node=rows, inputs=["one"])
    finally:
        engine.stop()
    assert reply["rows"] == [["nobody", 2]]


def test_parameters_are_bound_in_sql_that_reads_from_postgresql(keyring_ready, postgres_server, cli,
                                                                 dagflux_home, tmp_path):
    from tests.integration.dbservers import add_login
    from tests.integration.test_secrets_and_connections import _add_pg, _seed_pg

    server = add_login(postgres_server)
    _seed_pg(server)                       # orders: ids 0..11, customer 'customer <id % 4>', placed 2026-01-<id+1>
    assert _add_pg(cli, server).returncode == 0
    pick = sql("pick", "SELECT id, {{ param.who }} AS who FROM {{ input }} WHERE customer LIKE 'cust%' "
                       "AND placed >= CAST({{ param.since }} AS date) AND total > {{ param.min }} "
                       "AND customer <> {{ param.who }} ORDER BY id")
    check = node("check", "branch", {"condition": "count(*) > {{ param.min }} AND bool_and({{ param.flag }})"})
    nodes = [start(), node("orders", "data_source", {"source": "connection", "connection": "sales",
                                                     "table": "orders"}),
             pick, check, sql("yes", "SELECT * FROM {{ input }}"), sql("no", "SELECT * FROM {{ input }}")]
    flow = write_workflow(tmp_path, "pg_params", nodes, [("start", "orders"), ("orders", "pick"),
                                                         ("orders", "check"), ("check", "yes", "true"),
                                                         ("check", "no", "false")])
    doc = json.loads(flow.read_text())
    doc["parameters"] = [{"name": "who", "type": "text", "default": "nobody"},
                         {"name": "since", "type": "date", "default": "2026-01-01"},
                         {"name": "min", "type": "number", "default": 0},
                         {"name": "flag", "type": "boolean", "default": True}]
    flow.write_text(json.dumps(doc), encoding="utf-8")
    evil = "customer 1'; DROP TABLE orders; --"
    code, result = _run_json(cli, flow, "--param", f"who={evil}", "--param", "since=2026-01-09",
                             "--param", "min=90", "--param", "flag=no")
    assert code == 0, result
    assert _table(dagflux_home, "pg_params__pick") == [(9, evil), (10, evil), (11, evil)]
    status = {n["id"]: n["status"] for n in result["nodes"]}
    assert (status["yes"], status["no"]) == ("skipped", "succeeded")     # bool_and(false)
    code, result = _run_json(cli, flow, "--param", "min=5")
    status = {n["id"]: n["status"] for n in result["nodes"]}
    assert code == 0 and (status["yes"], status["no"]) == ("succeeded", "skipped")


def test_a_scheduled_run_uses_the_defaults(dagflux_home, tmp_path):
    from engine.service.clock import FakeClock
    from engine.service.engine import Engine

    doc = json.loads(_param_flow(tmp_path, {"kind": "interval", "minutes": 15}).read_text())
    next(n for n in doc["nodes"] if n["id"] == "one")["config"]["path"] = str(tmp_path / "one.csv")
    clock = FakeClock()
    engine = Engine(DataPaths(dagflux_home), pool_size=1, webhook_port=0, clock=clock, notifications=False)
    engine.start()
    try:
        engine.handle("workflows.save", {"doc": doc}, None)
        done = threading.Event()
        engine.bus.subscribe(lambda msg: done.set() if type(msg).__name__ == "RunFinished" else None,
                             lambda: None, "test")
        clock.advance(15 * 60 + 1)
        assert done.wait(60), "the scheduled run did not finish"
        run = engine.history.list_runs(workflow_id="with_params")[0]
    finally:
        engine.stop()
    assert (run["trigger"], run["status"], run["params"]) == ("schedule", "succeeded", {"who": "nobody", "n": 1})
    assert _table(dagflux_home, "with_params__rows") == [("nobody", 2, 0)]
