"""Real worker processes: crash, hang, cancel, parallel writers, code isolation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from engine.history import History
from engine.local_run import run_file
from engine.messages import NodeStarted
from engine.paths import default_paths
from tests.integration.helpers import SLOW_SQL, node, source, sql, start, write_csv, write_workflow

REPO = Path(__file__).resolve().parents[2]


def _slow_workflow(folder: Path, wf_id: str = "slow_flow", timeout_s: float | None = None) -> Path:
    write_csv(folder / "one.csv", ["x"], [[1]])
    slow = sql("slow", SLOW_SQL, title="slow step")
    if timeout_s:
        slow["timeout_s"] = timeout_s
    return write_workflow(folder, wf_id, [start(), source("one", "one.csv"), slow],
                          [("start", "one"), ("one", "slow")])


def test_a_worker_killed_mid_node_fails_the_node_with_the_signal_and_the_next_run_works(tmp_path):
    path = _slow_workflow(tmp_path)
    runs, killed = [], threading.Event()

    def on_event(msg):
        if isinstance(msg, NodeStarted) and msg.node_id == "slow":
            def kill_it():
                for _ in range(100):
                    pids = runs[0].executor.worker_pids()
                    if pids:
                        os.kill(pids[0], signal.SIGKILL)
                        killed.set()
                        return
                    time.sleep(0.05)
            threading.Thread(target=kill_it).start()

    result = run_file(path, on_event=on_event, on_run=runs.append)
    assert killed.is_set()
    assert result.status == "failed"
    slow = result.node("slow")
    assert slow.status == "failed"
    assert slow.error == "worker exited with signal 9 while running node 'slow step'"

    fast = write_workflow(tmp_path, "after_crash", [start(), source("one", "one.csv"),
                                                    sql("plus", "SELECT x + 1 AS y FROM {{ input }}")],
                          [("start", "one"), ("one", "plus")])
    again = run_file(fast)
    assert again.status == "succeeded" and again.node("plus").records == 1


def test_a_node_past_its_timeout_is_stopped_with_a_clear_reason(tmp_path):
    result = run_file(_slow_workflow(tmp_path, timeout_s=0.5))
    assert result.status == "failed"
    assert result.node("slow").error == "node 'slow step' timed out after 0.5 s; its worker was stopped"


def _busy_children(parent: psutil.Process) -> list[psutil.Process]:
    busy = []
    for child in parent.children(recursive=True):
        try:
            if child.cpu_percent(0.05) > 20:
                busy.append(child)
        except psutil.NoSuchProcess:
            continue
    return busy


def test_ctrl_c_on_dagflux_run_cancels_cleanly(tmp_path, dagflux_home):
    path = _slow_workflow(tmp_path, "cancel_me")
    env = dict(os.environ, DAGFLUX_HOME=str(dagflux_home))
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", "--json", str(path)], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(proc.pid)
    for line in proc.stderr:  # progress: the node before the slow one has finished
        if "✓ one" in line:
            break
    else:
        pytest.fail("the run never got to the slow node")
    deadline = time.time() + 30
    while not _busy_children(parent) and time.time() < deadline:
        pass
    descendants = parent.children(recursive=True)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    summary = json.loads(out)
    assert summary["status"] == "cancelled"
    statuses = {n["id"]: n["status"] for n in summary["nodes"]}
    assert statuses == {"start": "succeeded", "one": "succeeded", "slow": "cancelled"}
    gone, alive = psutil.wait_procs(descendants, timeout=10)
    assert alive == [], "worker processes outlived the cancelled run"
    with History(default_paths().history) as history:
        assert history.list_runs(limit=1)[0]["status"] == "cancelled"


def test_parallel_branches_write_the_workspace_at_once_without_lock_errors(tmp_path):
    rows = [[i, i * 0.5, f"name {i}"] for i in range(20000)]
    nodes, edges = [start()], []
    for b in range(6):
        write_csv(tmp_path / f"part{b}.csv", ["id", "value", "name"], rows)
        nodes.append(source(f"src{b}", f"part{b}.csv"))
        nodes.append(sql(f"agg{b}", "SELECT count(*) AS n, sum(value) AS total FROM {{ input }}"))
        edges += [("start", f"src{b}"), (f"src{b}", f"agg{b}")]
    result = run_file(write_workflow(tmp_path, "wide_flow", nodes, edges), pool_size=3)
    assert result.status == "succeeded", result.error
    assert all(result.node(f"agg{b}").records == 1 for b in range(6))
    assert all(result.node(f"src{b}").records == 20000 for b in range(6))
    starts = sorted((result.node(f"src{b}").duration_ms or 0) for b in range(6))
    assert starts, "sources ran"


def test_python_code_runs_in_a_fresh_worker_without_keychain_session(tmp_path, monkeypatch):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/tmp/not-a-real-bus")
    write_csv(tmp_path / "people.csv", ["name"], [["ada"], ["bob"]])
    code = ("import os\n"
            "def transform(rows):\n"
            "    for row in rows:\n"
            "        yield {'name': row['name'].upper(), 'bus': os.environ.get('DBUS_SESSION_BUS_ADDRESS'),\n"
            "               'pid': os.getpid()}\n")
    nodes = [start(), source("people", "people.csv"),
             node("shout", "transformer", {"language": "python", "code": code})]
    path = write_workflow(tmp_path, "code_flow", nodes, [("start", "people"), ("people", "shout")])
    result = run_file(path)
    assert result.status == "succeeded", result.error
    import sqlite3
    conn = sqlite3.connect(default_paths().workspace)
    try:
        rows = conn.execute('SELECT name, bus, pid FROM "code_flow__shout"').fetchall()
    finally:
        conn.close()
    assert [r[0] for r in rows] == ["ADA", "BOB"]
    assert {r[1] for r in rows} == {None}
    assert not psutil.pid_exists(rows[0][2]) or psutil.Process(rows[0][2]).status() == "zombie"
