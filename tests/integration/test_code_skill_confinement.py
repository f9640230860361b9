"""A Python code skill is contained: no process it starts outlives its node (success,
failure, timeout, cancel — a double-forked daemon included), a CPU-limit kill says so in
words, and where the kernel has Landlock it cannot read the data dir's key or anything
outside what it needs."""

from __future__ import annotations

import secrets
import sqlite3
import time
from pathlib import Path

import psutil
import pytest

from engine.messages import RunNode
from engine.skills import landlock
from engine.workers.pool import WorkerPool

SPAWN = """
import os, subprocess, sys
def _spawn(marker):
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)", marker])
    if os.fork() == 0:                      # a daemon: double fork, a session of its own
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(1000)", marker])
        os._exit(0)
    os.wait()
"""


@pytest.fixture
def pool(dagflux_home: Path):
    ws = dagflux_home / "workspace.sqlite"
    conn = sqlite3.connect(ws)
    conn.execute("CREATE TABLE src (x INTEGER)")
    conn.executemany("INSERT INTO src VALUES (?)", [(1,), (2,)])
    conn.commit()
    conn.close()
    the_pool = WorkerPool(ws, size=1)
    yield the_pool
    the_pool.close()


def _task(code: str, timeout_s: float | None = None, limits: dict | None = None) -> RunNode:
    config = {"language": "python", "code": code, **({"limits": limits} if limits else {})}
    return RunNode(id=1, run_id="r", workflow_id="wf", node_id="code", node_type="transformer", title="code",
                   config=config, inputs=[{"node_id": "src", "table": "src", "records": 2}],
                   output_table="wf__code", timeout_s=timeout_s, isolated=True)


def _with_marker(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:    # a process listed a moment ago may be gone by now: it is not one of ours still running
            if marker in (proc.info.get("cmdline") or []) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.mark.parametrize("ending", ["succeeds", "fails", "times_out", "is_cancelled"])
def test_no_process_the_code_started_outlives_the_node(pool: WorkerPool, ending: str) -> None:
    marker = f"dagflux-test-{secrets.token_hex(6)}"
    body = {"succeeds": "    return rows",
            "fails": "    raise ValueError('on purpose')",
            "times_out": "    while True:\n        pass",
            "is_cancelled": "    import time\n    time.sleep(1000)"}[ending]
    code = SPAWN + f"def transform(rows):\n    _spawn({marker!r})\n{body}\n"
    future = pool.submit(_task(code, timeout_s=20 if ending == "times_out" else None))
    deadline = time.monotonic() + 120
    while len(_with_marker(marker)) < 2 and not future.done():   # both children are up
        assert time.monotonic() < deadline, "the code's children never started"
        time.sleep(0.02)
    if ending == "is_cancelled":
        pool.cancel(future)
    result = future.result(timeout=120)
    expected = {"succeeds": "succeeded", "fails": "failed", "times_out": "failed", "is_cancelled": "cancelled"}
    assert result.status == expected[ending], result.error
    survivors = _with_marker(marker)
    psutil.wait_procs(survivors, timeout=5)
    assert [p for p in survivors if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []


def test_a_cpu_limit_kill_is_reported_in_words(pool: WorkerPool) -> None:
    result = pool.submit(_task("def transform(rows):\n    while True:\n        pass\n",
                               limits={"cpu_seconds": 1})).result(timeout=120)
    assert result.status == "failed"
    assert result.error == "node 'code' exceeded its CPU time limit of 1 s; it was stopped"


@pytest.mark.skipif(not landlock.abi(), reason="this kernel has no Landlock: code skills run unsandboxed")
def test_with_landlock_the_code_cannot_read_the_engine_key_or_the_home_folder(pool: WorkerPool,
                                                                             dagflux_home: Path) -> None:
    (dagflux_home / "engine.key").write_bytes(b"not for user code")
    probe = ("import os, tempfile\n"
             "def _try(path):\n"
             "    try:\n"
             "        with open(path, 'rb') as fh:\n"
             "            fh.read(1)\n"
             "        return 'read'\n"
             "    except PermissionError:\n"
             "        return 'denied'\n"
             "def transform(rows):\n"
             f"    home = {str(dagflux_home)!r}\n"
             "    with tempfile.NamedTemporaryFile() as scratch:\n"
             "        scratch.write(b'ok')\n"
             "    for row in rows:\n"
             "        yield {'x': row['x'], 'key': _try(home + '/engine.key'),\n"
             "               'history': _try(home + '/history.sqlite'),\n"
             "               'home': _try(os.path.expanduser('~/.bashrc')),\n"
             "               'etc': _try('/etc/hostname')}\n")
    (dagflux_home / "history.sqlite").write_bytes(b"")
    result = pool.submit(_task(probe)).result(timeout=120)
    assert result.status == "succeeded", result.error
    conn = sqlite3.connect(dagflux_home / "workspace.sqlite")
    rows = conn.execute("SELECT x, key, history, home, etc FROM wf__code ORDER BY x").fetchall()
    conn.close()
    assert rows == [(1, "denied", "denied", "denied", "read"), (2, "denied", "denied", "denied", "read")]


def test_engine_status_says_how_code_skills_are_confined(cli, dagflux_home: Path) -> None:
    from tests.integration.engine_harness import EngineProcess

    engine = EngineProcess(dagflux_home)
    try:
        shown = cli("engine", "status")
    finally:
        engine.stop()
    expected = f"code skills confined by landlock (ABI {landlock.abi()})" if landlock.abi() \
        else "code skills run unsandboxed"
    assert expected in shown.stdout
