"""A retried node and a run's parameter values on the History screen: a real engine runs a
workflow whose REST Data Source fails twice (HTTP 500 from a loopback aiohttp server) and
then succeeds; the run detail says so in the timeline, the node row and the node card."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from app.main import build_app_class
from engine.connectors.store import ConnectionStore
from tests.app.kivyrun import non_blank, pump, running, screenshot, wait_until
from tests.integration.helpers import node, start, write_workflow
from tests.integration.restserver import RestServer


@pytest.fixture
def server():
    with RestServer() as srv:
        yield srv


def test_a_success_after_retries_is_shown_as_such(monkeypatch, dagflux_home: Path, tmp_path: Path, server) -> None:
    monkeypatch.setenv("DAGFLUX_WEBHOOK_PORT", "0")
    ConnectionStore(dagflux_home / "connections.json").save(
        "api", "API", "rest", {"base_url": server.url, "auth": "none", "timeout_s": 5}, ["token"], [], True)
    key = secrets.token_hex(4)
    fetch = node("fetch", "data_source", {"source": "rest", "connection": "api", "path": "/broken",
                                          "params": {"key": key}, "max_retries": 0},
                 title="Fetch items", retry={"count": 3, "delay_s": 0.05, "backoff": 2})
    flow = write_workflow(tmp_path, "flaky_api", [start(), fetch], [("start", "fetch")])
    doc = json.loads(flow.read_text())
    doc["parameters"] = [{"name": "region", "type": "text", "default": "north"}]
    flow.write_text(json.dumps(doc), encoding="utf-8")

    app = build_app_class()()
    with running(app):
        try:
            wait_until(lambda: app.engine_ok, 30, "the engine link")
            app.bridge.call_blocking("workflows.import", path=str(flow))
            started = app.bridge.call_blocking("runs.start", workflow_id="flaky_api", params={"region": "south"})
            run_id = started["run_id"]
            assert app.bridge.call_blocking("runs.wait", run_id=run_id, timeout=60)["status"] == "succeeded"
            assert server.hits[("/broken", key)] == 3

            screen = app.open_screen("history")
            screen.open_run(run_id)
            detail = screen.ids.detail
            wait_until(lambda: detail.run_loaded and detail.run_id == run_id, 45, "the run detail")
            detail.select_node("fetch")
            pump(5)
            assert detail.subtitle.endswith("· region=south")
            bar = next(b for b in detail.ids.timeline.bars if b.node_id == "fetch")
            assert bar.attempts == 3 and bar.status == "succeeded"
            row = next(r for r in detail.ids.nodes.data if r["node_id"] == "fetch")
            assert row["status_text"] == "Succeeded (3×)"
            assert row["subtitle"] == "data_source · fetch · after 3 attempts"
            assert detail.node_status == "Succeeded (3×)"
            lines = detail.node_meta.splitlines()
            assert lines[0] == "data_source · fetch · succeeded after 3 attempts:" and len(lines) == 4
            assert lines[1].startswith("Attempt 1: failed in ") and "HTTP 500" in lines[1]
            assert lines[3].startswith("Attempt 3: succeeded in ")
            assert non_blank(screenshot("history_retried_node"))
        finally:
            try:
                app.bridge.call_blocking("shutdown", timeout=10)
            except Exception:  # noqa: BLE001 - already gone
                pass
