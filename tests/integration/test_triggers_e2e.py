"""Triggers end to end: a schedule (injectable clock), a slowly copied file, a webhook burst."""

from __future__ import annotations

import asyncio
import datetime
import json
import socket
import sqlite3
import time
from pathlib import Path

import aiohttp
import pytest

from engine.model import fileformat
from engine.paths import DataPaths
from engine.service.clock import FakeClock
from engine.service.engine import Engine
from tests.integration.engine_harness import EngineProcess
from tests.integration.helpers import node, source, sql, write_csv, write_workflow


def _doc(wf_id: str, trigger: dict, nodes: list[dict], edges: list[tuple]) -> dict:
    start = node("start", "start", {"trigger": trigger})
    all_nodes = [start, *nodes]
    return {"format": "dagflux-workflow", "version": 2, "id": wf_id, "name": wf_id, "nodes": all_nodes,
            "edges": [{"from": e[0], "to": e[1]} for e in edges]}


def _wait_for(predicate, timeout: float = 30.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


@pytest.fixture
def inprocess_engine(dagflux_home):
    clock = FakeClock()
    engine = Engine(DataPaths(dagflux_home), pool_size=2, webhook_port=0, clock=clock, notifications=False)
    engine.start()
    yield engine, clock
    engine.stop()


def test_a_schedule_fires_through_the_engine_and_registration_leaves_no_orphans(inprocess_engine, tmp_path):
    engine, clock = inprocess_engine
    write_csv(tmp_path / "in.csv", ["x"], [[1], [2]])
    doc = _doc("every_quarter", {"kind": "interval", "minutes": 15},
               [source("src", str(tmp_path / "in.csv")), sql("double", "SELECT x * 2 AS y FROM {{ input }}")],
               [("start", "src"), ("src", "double")])
    saved = engine.handle("workflows.save", {"doc": doc}, None)
    assert saved["trigger_description"] == "every 15 minutes"
    assert list(engine.triggers.scheduler.registered()) == ["every_quarter"]

    clock.advance(15 * 60 + 1)
    runs = _wait_for(lambda: engine.history.list_runs(workflow_id="every_quarter"))
    run = _wait_for(lambda: engine.history.get_run(runs[0]["run_id"])["status"] != "running" and
                    engine.history.get_run(runs[0]["run_id"]))
    assert (run["trigger"], run["status"]) == ("schedule", "succeeded")
    assert [n["records_out"] for n in run["nodes"]] == [None, 2, 2]

    doc["nodes"][0]["config"]["trigger"] = {"kind": "webhook"}   # changing the trigger replaces it
    engine.handle("workflows.save", {"doc": doc}, None)
    assert engine.triggers.scheduler.registered() == {}
    assert len(engine.triggers.webhooks.tokens()) == 1
    engine.handle("workflows.set_enabled", {"id": "every_quarter", "enabled": False}, None)
    assert engine.triggers.webhooks.tokens() == frozenset() and engine.triggers.listing() == []
    engine.handle("workflows.set_enabled", {"id": "every_quarter", "enabled": True}, None)
    assert len(engine.triggers.webhooks.tokens()) == 1
    engine.handle("workflows.delete", {"id": "every_quarter"}, None)
    assert engine.triggers.webhooks.tokens() == frozenset()
    assert engine.triggers.scheduler.registered() == {} and engine.triggers.watcher.registered() == {}


def test_missed_schedule_runs_after_a_sleep_are_logged_by_policy(inprocess_engine, tmp_path):
    engine, clock = inprocess_engine
    write_csv(tmp_path / "in.csv", ["x"], [[1]])
    doc = _doc("hourly", {"kind": "interval", "minutes": 60},
               [source("src", str(tmp_path / "in.csv"))], [("start", "src")])
    engine.handle("workflows.save", {"doc": doc}, None)
    clock.jump(clock.now() + datetime.timedelta(hours=3, minutes=5))
    skipped = _wait_for(lambda: engine.history.list_runs(workflow_id="hourly", status="skipped"))
    assert "missed" in skipped[0]["error"] and "policy: skip" in skipped[0]["error"]
    assert engine.history.list_runs(workflow_id="hourly", status="succeeded") == []


def test_a_file_copied_slowly_into_a_watched_folder_fires_exactly_once(dagflux_home, tmp_path, cli):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    flow = write_workflow(tmp_path, "inbox_watch", [
        node("start", "start", {"trigger": {"kind": "file_watch", "path": "inbox", "events": ["add", "change"],
                                            "settle_seconds": 0.6}}),
        sql("arrived", "SELECT path, event, size FROM {{ input }}")], [("start", "arrived")])
    assert cli("workflows", "import", flow, "--yes").returncode == 0
    assert cli("workflows", "enable", "inbox_watch").returncode == 0   # imported triggers start off
    engine = EngineProcess(dagflux_home)
    try:
        with engine.client() as client:
            _wait_for(lambda: [t for t in client.call("triggers.list") if t.get("state") == "watching"])
        target = inbox / "orders.csv"
        with target.open("w") as fh:  # ~1.5 s of slow copying, each pause shorter than the settle window
            for i in range(15):
                fh.write(f"{i},{'x' * 1000}\n")
                fh.flush()
                time.sleep(0.1)
        runs = _wait_for(lambda: json.loads(cli("history", "--json", "--workflow", "inbox_watch").stdout))
        time.sleep(2.0)  # long enough for a second (wrong) firing to show up
        runs = json.loads(cli("history", "--json", "--workflow", "inbox_watch").stdout)
        assert len(runs) == 1 and runs[0]["trigger"] == "file_watch"
        _wait_for(lambda: json.loads(cli("history", runs[0]["run_id"], "--json").stdout)["status"] == "succeeded")
    finally:
        engine.stop()
    conn = sqlite3.connect(dagflux_home / "workspace.sqlite")
    try:
        rows = conn.execute('SELECT path, event, size FROM "inbox_watch__arrived"').fetchall()
    finally:
        conn.close()
    assert rows == [(str(target), "add", target.stat().st_size)]


BURST = 1000  # run ids once collided in bursts like this (a 500 and a lost row)


def test_a_webhook_burst_runs_one_at_a_time_and_logs_every_skip(dagflux_home, tmp_path, cli):
    slow = ("SELECT count(*) AS n, (SELECT count(*) FROM {{ input }}) AS posted FROM "
            "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) SELECT x FROM c)")
    flow = write_workflow(tmp_path, "hooked", [node("start", "start", {"trigger": {"kind": "webhook"}}),
                                               sql("work", slow)], [("start", "work")])
    assert cli("workflows", "import", flow, "--yes").returncode == 0
    assert cli("workflows", "enable", "hooked").returncode == 0   # imported triggers start off
    engine = EngineProcess(dagflux_home)
    try:
        with engine.client() as client:
            url = next(t["url"] for t in client.call("triggers.list") if t["workflow_id"] == "hooked")
        statuses = asyncio.run(_burst(url, BURST))
        assert set(statuses) <= {202, 409} and len(statuses) == BURST  # never a 5xx
        started = statuses.count(202)
        assert started >= 1
        with engine.client() as client:
            _wait_for(lambda: not client.call("runs.active"))
            runs = client.call("history.list", limit=BURST + 10, workflow_id="hooked")
            wrong_token = asyncio.run(_post(url.rsplit("/", 1)[0] + "/not-a-token", b"{}"))
    finally:
        engine.stop()
    assert wrong_token == 404
    by_status = {}
    for run in runs:
        by_status.setdefault(run["status"], []).append(run)
    assert len(by_status["succeeded"]) == started
    assert len(by_status["skipped"]) == BURST - started   # every request is one history row
    assert all(r["error"].startswith("already running") for r in by_status["skipped"])
    spans = sorted((r["started_at"], r["ended_at"]) for r in by_status["succeeded"])
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "two runs of one workflow overlapped"


async def _burst(url: str, count: int) -> list[int]:
    async with aiohttp.ClientSession() as session:
        sem = asyncio.Semaphore(25)

        async def one(i: int) -> int:
            async with sem, session.post(url, json=[{"n": i}]) as resp:
                await resp.read()
                return resp.status

        return await asyncio.gather(*(one(i) for i in range(count)))


async def _post(url: str, body: bytes) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
            await resp.read()
            return resp.status


def test_saved_workflows_keep_resolving_relative_paths_after_import(dagflux_home, cli):
    example = Path(__file__).resolve().parents[2] / "examples" / "orders_report" / "orders_report.json"
    assert cli("workflows", "import", example, "--yes").returncode == 0
    saved = fileformat.load(dagflux_home / "workflows" / "orders_report.json")
    assert saved.settings["base_dir"] == str(example.parent)
    listing = cli("workflows", "list")
    assert "orders_report" in listing.stdout and "run by hand" in listing.stdout


def test_a_taken_webhook_port_is_explained_by_dagflux_triggers(dagflux_home, tmp_path, cli):
    flow = write_workflow(tmp_path, "hooked", [node("start", "start", {"trigger": {"kind": "webhook"}}),
                                               sql("work", "SELECT 1 AS one")], [("start", "work")])
    assert cli("workflows", "import", flow, "--yes").returncode == 0
    assert cli("workflows", "enable", "hooked").returncode == 0   # imported triggers start off
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        engine = EngineProcess(dagflux_home, "--webhook-port", str(port))
        try:
            listing = cli("triggers")
        finally:
            engine.stop()
    line = next(x for x in listing.stdout.splitlines() if "hooked" in x)
    assert " error " in line and f"cannot listen for webhooks on 127.0.0.1:{port}" in line
    assert "address already in use" in line


def test_webhooks_on_a_non_loopback_host_warn_that_they_are_exposed(dagflux_home):
    # No webhook trigger is registered, so the server never binds: nothing is exposed by this test.
    quiet = EngineProcess(dagflux_home)   # the default, 127.0.0.1: no warning
    try:
        assert "warning: webhooks" not in quiet.log_text()
    finally:
        quiet.stop()
    engine = EngineProcess(dagflux_home, "--webhook-host", "0.0.0.0")
    try:
        log = engine.log_text()
    finally:
        engine.stop()
    assert "warning: webhooks listen on 0.0.0.0" in log and "unauthenticated" in log and "unencrypted" in log
