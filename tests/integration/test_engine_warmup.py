"""The engine answers ``status`` while it warms up (workers, plugins, triggers); every other
call waits for the warm-up instead of failing. A plugin that loads only once a gate file
exists holds the warm-up open for as long as the test wants."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from tests.integration.engine_harness import EngineProcess

GATE_PLUGIN = """\
import os
import time

while not os.path.exists({gate!r}):
    time.sleep(0.02)
NODE = None
"""


def _gated_plugin(home: Path, gate: Path) -> None:
    folder = home / "plugins" / "gate"
    folder.mkdir(parents=True)
    (folder / "plugin.json").write_text(json.dumps({"name": "gate", "provides": {"node_types": {"gate": "gate:NODE"}}}))
    (folder / "gate.py").write_text(GATE_PLUGIN.format(gate=str(gate)))


def test_status_answers_while_warming_and_other_calls_wait_for_it(dagflux_home: Path, tmp_path: Path, cli) -> None:
    gate = tmp_path / "gate-open"
    _gated_plugin(dagflux_home, gate)
    engine = EngineProcess(dagflux_home)        # ready: it answers status
    try:
        with engine.client() as client:
            status = client.call("status")
        assert status["warming"] == ["workers", "triggers"] and status["active_runs"] == []
        assert status["csv_import"] is None                  # found during the warm-up

        listed: dict[str, object] = {}

        def list_workflows() -> None:
            with engine.client() as other:
                listed["workflows"] = other.call("workflows.list", timeout=120)

        caller = threading.Thread(target=list_workflows)
        caller.start()
        caller.join(0.5)
        assert caller.is_alive() and not listed      # waiting for the warm-up, not refused
        gate.write_text("")
        caller.join(120)
        assert listed == {"workflows": []}
        with engine.client() as client:
            warm = client.call("status")
        assert warm["warming"] == [] and warm["csv_import"] == "native loader"
        assert "CSV import: native loader" in cli("engine", "status").stdout
        assert "listening" in engine.log_text() and "ready" in engine.log_text()
    finally:
        gate.write_text("")
        engine.stop()
