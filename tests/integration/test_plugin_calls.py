"""The engine's ``plugins.*`` calls over the real IPC socket, with a real engine process and a
signed catalog on loopback: search, install with progress events, the new node type usable
at once (reloaded without a restart), update, rollback, remove; a refused index installs
nothing; while a run is active the reload is deferred with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.catalog import publish
from engine.messages import PluginProgress
from tests.engine.catalog_server import CatalogServer
from tests.engine.test_catalog import make_key, plugin_folder
from tests.integration.engine_harness import EngineProcess
from tests.integration.helpers import SLOW_SQL, node, source, sql, start, write_csv, write_workflow


@pytest.fixture
def served(tmp_path: Path, monkeypatch):
    key, root = make_key(tmp_path)
    root_file = tmp_path / "root.json"
    root_file.write_text(json.dumps(root.to_json()), encoding="utf-8")
    with CatalogServer(tmp_path / "catalog") as server:
        monkeypatch.setenv("DAGFLUX_CATALOG_URL", server.url)
        monkeypatch.setenv("DAGFLUX_CATALOG_ROOT", str(root_file))

        def release(version: str, sign_with: Path | None = None) -> None:
            extra = "PADDING = " + repr("x" * 300_000)   # big enough for several progress events
            publish.build_catalog(tmp_path / "catalog", [plugin_folder(tmp_path / "src", version, extra=extra)],
                                  "Test Publisher")
            publish.sign_catalog(tmp_path / "catalog", sign_with or key)

        release("1.0.0")
        yield release, tmp_path


def _greet_flow(folder: Path) -> dict:
    data = write_csv(folder / "names.csv", ["name"], [["ada"]])
    return {"format": "dagflux-workflow", "version": 2, "id": "greets", "name": "greets", "description": "",
            "nodes": [start(), source("src", str(data)), node("hi", "greet", {})],
            "edges": [{"from": "start", "to": "src"}, {"from": "src", "to": "hi"}]}


def test_plugin_calls_install_with_progress_reload_update_rollback_remove(served, dagflux_home):
    release, tmp_path = served
    engine = EngineProcess(dagflux_home)
    try:
        with engine.client(timeout=60) as client, engine.client(timeout=60) as watcher:
            [found] = client.call("plugins.search", text="hello")
            assert found | {"versions": None} == {
                "name": "greeter", "description": "Says hello", "publisher": "Test Publisher", "latest": "1.0.0",
                "versions": None, "installed": None, "verified": True, "compatible": True, "update": False,
                "provides": {"node_types": ["greet"]}, "size": found["size"]}
            client.call("workflows.save", doc=_greet_flow(tmp_path))
            with pytest.raises(Exception, match="has unknown type 'greet'"):
                client.call("runs.start", workflow_id="greets")

            watcher.subscribe()
            done = client.call("plugins.install", name="greeter")
            assert done == {"name": "greeter", "version": "1.0.0", "reloaded": True, "reason": "", "quarantined": []}
            stages = []
            for msg in watcher.events(timeout=30):
                if isinstance(msg, PluginProgress):
                    stages.append((msg.stage, msg.done, msg.total))
                    if msg.stage == "done":
                        break
            downloads = [s for s in stages if s[0] == "download"]
            assert downloads[-1][1] == downloads[-1][2] == found["size"] and len(downloads) >= 1
            assert [s[0] for s in stages][-2:] == ["verify", "done"]

            # the node type is there without a restart: the workflow runs
            run_id = client.call("runs.start", workflow_id="greets")["run_id"]
            assert client.call("runs.wait", run_id=run_id, timeout=60)["status"] == "succeeded"
            listed = {p["name"]: p for p in client.call("plugins.list")}
            assert listed["greeter"] | {"error": None} == {
                "name": "greeter", "version": "1.0.0", "builtin": False, "status": "ok", "error": None,
                "provides": {"node_types": ["greet"]}, "previous": []}
            assert listed["core"]["builtin"] is True

            release("1.1.0")
            assert client.call("plugins.search")[0]["update"] is True
            updated = client.call("plugins.update")
            assert updated["updated"] == [{"name": "greeter", "from": "1.0.0", "to": "1.1.0"}] and updated["reloaded"]
            assert {p["name"]: p["previous"] for p in client.call("plugins.list")}["greeter"] == ["1.0.0"]
            assert client.call("plugins.rollback", name="greeter")["version"] == "1.0.0"

            # an index signed by an unknown key: refused with the reason, nothing changes
            (tmp_path / "stranger").mkdir()
            stranger, _ = make_key(tmp_path / "stranger")
            release("1.2.0", sign_with=stranger)
            with pytest.raises(Exception, match="signature"):
                client.call("plugins.install", name="greeter", version="1.2.0")
            assert {p["name"]: p["version"] for p in client.call("plugins.list")}["greeter"] == "1.0.0"

            assert client.call("plugins.remove", name="greeter")["reloaded"] is True
            assert "greeter" not in {p["name"] for p in client.call("plugins.list")}
            with pytest.raises(Exception, match="has unknown type 'greet'"):
                client.call("runs.start", workflow_id="greets")
    finally:
        engine.stop()


def test_reload_waits_while_a_run_is_active(served, dagflux_home):
    _, tmp_path = served
    write_csv(tmp_path / "in.csv", ["x"], [[1]])
    flow = write_workflow(tmp_path, "slow", [start(), source("src", "in.csv"), sql("step", SLOW_SQL)],
                          [("start", "src"), ("src", "step")])
    engine = EngineProcess(dagflux_home)
    try:
        with engine.client(timeout=60) as client:
            run_id = client.call("runs.start", path=str(flow))["run_id"]
            done = client.call("plugins.install", name="greeter")
            assert done["version"] == "1.0.0" and done["reloaded"] is False
            assert "1 run(s) active" in done["reason"] and "plugins.reload" in done["reason"]
            assert "greeter" not in {p["name"] for p in client.call("plugins.list")}
            client.call("runs.cancel", run_id=run_id)
            assert client.call("runs.wait", run_id=run_id, timeout=60)["status"] == "cancelled"
            assert client.call("plugins.reload")["reloaded"] is True
            assert "greeter" in {p["name"] for p in client.call("plugins.list")}
    finally:
        engine.stop()
