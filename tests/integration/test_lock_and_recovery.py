"""The data-dir lock, crash recovery of the history, and plugin errors, via the real CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import psutil

from tests.integration.helpers import SLOW_SQL, source, sql, start, write_csv, write_workflow

REPO = Path(__file__).resolve().parents[2]


def _start_slow_run(tmp_path: Path, home: Path) -> subprocess.Popen:
    write_csv(tmp_path / "one.csv", ["x"], [[1]])
    flow = write_workflow(tmp_path, "slow_flow", [start(), source("one", "one.csv"), sql("slow", SLOW_SQL)],
                          [("start", "one"), ("one", "slow")])
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", str(flow)], cwd=REPO,
                            env=dict(os.environ, DAGFLUX_HOME=str(home)), stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if "✓ one" in line:
            return proc
    raise AssertionError("the slow run never started its slow node")


def test_kill_9_of_a_run_leaves_it_interrupted_and_everything_intact(tmp_path, cli, dagflux_home):
    proc = _start_slow_run(tmp_path, dagflux_home)
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stderr.close()
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], "workers must exit when their coordinator dies"

    write_csv(tmp_path / "two.csv", ["x"], [[2]])
    after = write_workflow(tmp_path, "after", [start(), source("two", "two.csv")], [("start", "two")])
    assert cli("run", after).returncode == 0  # takes the lock a dead process left behind
    runs = {r["workflow_id"]: r for r in json.loads(cli("history", "--json").stdout)}
    assert runs["slow_flow"]["status"] == "interrupted"
    assert runs["after"]["status"] == "succeeded"
    for name in ("workspace.sqlite", "history.sqlite"):
        conn = sqlite3.connect(dagflux_home / name)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            conn.close()


def test_a_second_run_waits_for_the_lock_holder(tmp_path, cli, dagflux_home):
    proc = _start_slow_run(tmp_path, dagflux_home)
    write_csv(tmp_path / "two.csv", ["x"], [[2]])
    after = write_workflow(tmp_path, "after", [start(), source("two", "two.csv")], [("start", "two")])
    second = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", str(after)], cwd=REPO,
                              env=dict(os.environ, DAGFLUX_HOME=str(dagflux_home)),
                              stderr=subprocess.PIPE, text=True)
    first_line = second.stderr.readline()
    assert f"waiting: process {proc.pid} holds the data-dir lock" in first_line
    assert second.poll() is None
    proc.send_signal(signal.SIGINT)
    try:
        assert proc.wait(30) == 1
        assert second.wait(60) == 0
    finally:
        proc.stderr.close()
        second.stderr.close()


def test_a_broken_plugin_is_reported_and_the_rest_still_load(cli, dagflux_home):
    broken = dagflux_home / "plugins" / "broken"
    broken.mkdir(parents=True)
    (broken / "plugin.json").write_text(json.dumps(
        {"name": "broken", "version": "0.1", "provides": {"node_types": {"boom": "boom:BoomNode"}}}))
    (broken / "boom.py").write_text("import no_such_module_anywhere\n")
    out = cli("plugins")
    assert out.returncode == 1
    assert "✓ core 1.0.0 (built-in)" in out.stdout
    assert "✗ broken" in out.stdout and "No module named 'no_such_module_anywhere'" in out.stdout
    assert "boom.py, line 1" in out.stdout
    example = REPO / "examples" / "orders_report" / "orders_report.json"
    assert cli("validate", example).returncode == 0
