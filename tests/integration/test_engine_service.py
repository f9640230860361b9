"""The engine as its own process: single instance, authenticated IPC, runs, stop, recovery."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import stat
import time
from multiprocessing.connection import AuthenticationError, Client

import msgpack
import psutil
import pytest

from engine.client import EngineClient
from engine.messages import RunFinished
from engine.paths import DataPaths
from engine.service import ipc
from engine.service.ipc import EngineUnavailable
from tests.integration.engine_harness import EngineProcess
from tests.integration.helpers import SLOW_SQL, source, sql, start, write_csv, write_workflow


@pytest.fixture
def engine(dagflux_home):
    proc = EngineProcess(dagflux_home)
    yield proc
    proc.stop()


def _flow(folder, wf_id="quick", slow=False):
    write_csv(folder / "in.csv", ["x"], [[1], [2], [3]])
    step = sql("step", SLOW_SQL) if slow else sql("step", "SELECT x * 10 AS y FROM {{ input }}")
    return write_workflow(folder, wf_id, [start(), source("src", "in.csv"), step], [("start", "src"), ("src", "step")])


def test_status_start_second_engine_and_stop(cli, dagflux_home):
    assert cli("engine", "status").returncode == 3
    proc = EngineProcess(dagflux_home)
    try:
        out = cli("engine", "status", "--json")
        assert out.returncode == 0
        status = json.loads(out.stdout)
        assert set(status) == {"pid", "socket", "version", "code_sandbox", "warming", "csv_import"}
        assert status["pid"] == proc.pid
        sock = status["socket"]
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(sock)).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(dagflux_home / "engine.key").st_mode) == 0o600
        assert len(os.fsencode(sock)) < 108

        second = cli("engine", "--webhook-port", "0", timeout=30)
        assert second.returncode == 1
        assert f"process {proc.pid} (the DagFlux engine) holds the data-dir lock" in second.stderr

        started = time.monotonic()
        stopped = cli("engine", "stop")
        assert stopped.returncode == 0, stopped.stderr
        assert time.monotonic() - started < 5
        assert proc.proc.wait(1) == 0
        assert not os.path.exists(sock)
        assert cli("engine", "status").returncode == 3
    finally:
        proc.stop()


def test_dagflux_run_goes_through_the_running_engine(engine, cli, tmp_path):
    out = cli("run", "--json", _flow(tmp_path))
    assert out.returncode == 0, out.stderr
    assert f"through the engine, pid {engine.pid}" in out.stderr
    summary = json.loads(out.stdout)
    assert summary["status"] == "succeeded"
    assert {n["id"]: n["records"] for n in summary["nodes"]} == {"start": None, "src": 3, "step": 3}
    runs = json.loads(cli("history", "--json").stdout)
    assert runs[0]["run_id"] == summary["run_id"]


def test_a_client_with_the_wrong_key_is_refused_and_the_engine_keeps_serving(engine, dagflux_home):
    address = str(ipc.socket_path(DataPaths(dagflux_home)))
    with pytest.raises(AuthenticationError):
        Client(address, family="AF_UNIX", authkey=b"not the key")
    with engine.client() as client:
        assert client.call("status")["pid"] == engine.pid


def test_an_unknown_protocol_version_is_refused_with_a_clear_reason(engine, dagflux_home):
    paths = DataPaths(dagflux_home)
    conn = Client(str(ipc.socket_path(paths)), family="AF_UNIX", authkey=ipc.read_key(paths))
    try:
        conn.send_bytes(msgpack.packb({"v": 99, "type": "Hello", "id": 0}))
        reply = msgpack.unpackb(conn.recv_bytes())
    finally:
        conn.close()
    assert reply["type"] == "Refused"
    assert "protocol version 99 is not supported" in reply["reason"]


def test_events_stream_to_subscribers_and_a_vanishing_client_does_no_harm(engine, tmp_path):
    flow = _flow(tmp_path)
    quitter = engine.client()
    quitter.subscribe()
    quitter.close()  # disconnects mid-stream, without a goodbye
    with engine.client() as client:
        client.subscribe()
        run_id = client.call("runs.start", path=str(flow))["run_id"]
        seen = []
        for msg in client.events(timeout=30):
            seen.append(msg.TYPE)
            if isinstance(msg, RunFinished) and msg.run_id == run_id:
                break
        assert seen[0] == "RunStarted" and seen[-1] == "RunFinished"
        assert seen.count("NodeFinished") == 3
        assert client.call("status")["pid"] == engine.pid


def test_a_manual_run_while_the_workflow_runs_is_refused(engine, cli, tmp_path):
    flow = _flow(tmp_path, "busy", slow=True)
    with engine.client() as client:
        first = client.call("runs.start", path=str(flow))["run_id"]
        with pytest.raises(Exception, match="workflow 'busy' is already running"):
            client.call("runs.start", path=str(flow))
        assert client.call("runs.cancel", run_id=first) is True
        assert client.call("runs.wait", run_id=first, timeout=30)["status"] == "cancelled"


def test_stop_cancels_running_runs_and_leaves_no_worker(engine, cli, tmp_path):
    flow = _flow(tmp_path, "long", slow=True)
    with engine.client() as client:
        run_id = client.call("runs.start", path=str(flow))["run_id"]
        time.sleep(1.0)
    children = psutil.Process(engine.pid).children(recursive=True)
    assert children
    assert cli("engine", "stop").returncode == 0
    _, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []
    run = json.loads(cli("history", run_id, "--json").stdout)
    assert run["status"] == "cancelled"


def test_kill_9_mid_run_then_restart_marks_it_interrupted(dagflux_home, cli, tmp_path):
    proc = EngineProcess(dagflux_home)
    try:
        with proc.client() as client:
            run_id = client.call("runs.start", path=str(_flow(tmp_path, "doomed", slow=True)))["run_id"]
            time.sleep(1.0)
        children = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.proc.wait(5)
        psutil.wait_procs(children, timeout=5)
    finally:
        proc.stop()
    restarted = EngineProcess(dagflux_home)  # stale lock and stale socket are taken over
    try:
        with restarted.client() as client:
            assert client.call("history.get", run_id=run_id)["status"] == "interrupted"
    finally:
        restarted.stop()
    for name in ("workspace.sqlite", "history.sqlite"):
        conn = sqlite3.connect(dagflux_home / name)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            conn.close()


def test_a_stale_socket_file_means_no_engine(cli, dagflux_home):
    address = ipc.socket_path(DataPaths(dagflux_home))
    ipc.prepare_socket_dir(address)
    (dagflux_home / "engine.key").write_bytes(b"k" * 32)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(address))
    sock.close()  # the file stays, nobody listens
    out = cli("engine", "status")
    assert out.returncode == 3 and "stale socket" in out.stderr
    with pytest.raises(EngineUnavailable):
        EngineClient.connect(DataPaths(dagflux_home), timeout=1)
    address.unlink()


def test_detach_starts_a_background_engine_that_outlives_the_command(cli, dagflux_home):
    started = cli("engine", "--detach", "--webhook-port", "0", timeout=60)
    assert started.returncode == 0, started.stderr
    assert "engine started in the background" in started.stdout
    try:
        status = cli("engine", "status", "--json")
        assert status.returncode == 0
        pid = json.loads(status.stdout)["pid"]
        assert psutil.pid_exists(pid)
        assert (dagflux_home / "engine.log").exists()
    finally:
        assert cli("engine", "stop").returncode == 0
    assert cli("engine", "status").returncode == 3


def test_history_pages_by_cursor_through_the_engine_and_the_cli(engine, cli, tmp_path):
    flow = _flow(tmp_path)
    run_ids = [json.loads(cli("run", "--json", flow).stdout)["run_id"] for _ in range(3)]
    newest_first = list(reversed(run_ids))
    with engine.client() as client:
        first = client.call("history.list", limit=2)
        assert [r["run_id"] for r in first] == newest_first[:2]
        rest = client.call("history.list", limit=2, before=first[-1]["run_id"])
        assert [r["run_id"] for r in rest] == newest_first[2:]
        assert client.call("history.list", limit=2, before=rest[-1]["run_id"]) == []
    listed = json.loads(cli("history", "--json", "--limit", "1", "--before", newest_first[0]).stdout)
    assert [r["run_id"] for r in listed] == newest_first[1:2]
