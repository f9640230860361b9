"""Killed work leaves nothing behind: kill -9 a run while it builds a staging table or
writes an export's temp file; the next lock holder's start removes both, and the log shows
the node that was running as *interrupted*, the run ending where its log ends."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.helpers import node, source, start, write_workflow

REPO = Path(__file__).resolve().parents[2]
ROWS = 1_000_000


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("debris_data") / "big.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("id,name,amount\n")
        fh.writelines(f"{i},customer {i % 977},{i * 0.25}\n" for i in range(ROWS))
    return path


def _start_run(home: Path, flow: Path) -> subprocess.Popen:
    env = dict(os.environ, DAGFLUX_HOME=str(home))
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "run", str(flow)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _kill_when(proc: subprocess.Popen, seen: Callable[[], bool], what: str) -> None:
    """kill -9 the run's whole process group (workers too) the moment ``seen()`` holds."""
    deadline = time.monotonic() + 300
    while not seen():
        assert proc.poll() is None, f"the run ended before {what} could be seen: make the input bigger"
        assert time.monotonic() < deadline, f"no {what} within 300 s"
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


def staging_tables(home: Path) -> list[str]:
    path = home / "workspace.sqlite"
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '\\_dfstage\\_%' "
                                           "ESCAPE '\\'")]
    except sqlite3.OperationalError:   # the workspace is being created right now
        return []
    finally:
        conn.close()


def temp_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp")) if folder.exists() else []


def _flow(tmp_path: Path, big_csv: Path, out_dir: Path) -> Path:
    return write_workflow(tmp_path, "big_export", [
        start(), source("src", str(big_csv)),
        node("out", "output", {"path": str(out_dir / "report.csv"), "options": {"create_dirs": True}})],
        [("start", "src"), ("src", "out")])


def _restart_and_check(cli, tmp_path: Path, home: Path, out_dir: Path) -> None:
    small = tmp_path / "small.csv"
    small.write_text("x\n1\n")
    quick = write_workflow(tmp_path, "quick", [start(), source("small", str(small))], [("start", "small")])
    ran = cli("run", str(quick))
    assert ran.returncode == 0, ran.stderr
    assert "removed what killed work left behind" in ran.stderr
    assert staging_tables(home) == [] and temp_files(out_dir) == []
    pending = home / "pending"
    assert not pending.exists() or not list(pending.iterdir())
    listed = json.loads(cli("workspace", "list", "--all", "--json").stdout)
    assert not [t for t in listed if t.get("internal")]


def test_kill_9_while_a_staging_table_is_built_leaves_nothing_after_the_next_start(
        cli, dagflux_home: Path, tmp_path: Path, big_csv: Path) -> None:
    out_dir = tmp_path / "exports"
    run = _start_run(dagflux_home, _flow(tmp_path, big_csv, out_dir))
    killed_at = None
    _kill_when(run, lambda: bool(staging_tables(dagflux_home)), "a staging table")
    killed_at = time.time()
    assert staging_tables(dagflux_home)                          # the debris is real
    hidden = json.loads(cli("workspace", "list", "--json").stdout)
    shown = json.loads(cli("workspace", "list", "--all", "--json").stdout)
    assert not [t for t in hidden if t["name"].startswith("_dfstage_")]
    assert [t["name"] for t in shown if t.get("internal")] == staging_tables(dagflux_home)

    _restart_and_check(cli, tmp_path, dagflux_home, out_dir)
    runs = json.loads(cli("history", "--json", "--workflow", "big_export").stdout)
    assert [r["status"] for r in runs] == ["interrupted"]
    detail = json.loads(cli("history", runs[0]["run_id"], "--json").stdout)
    assert {n["node_id"]: n["status"] for n in detail["nodes"]}["src"] == "interrupted"
    assert detail["ended_at"] <= killed_at                       # not the next start's time


def test_kill_9_while_an_export_is_written_leaves_no_temp_file_after_the_next_start(
        cli, dagflux_home: Path, tmp_path: Path, big_csv: Path) -> None:
    out_dir = tmp_path / "exports"
    run = _start_run(dagflux_home, _flow(tmp_path, big_csv, out_dir))
    _kill_when(run, lambda: bool(temp_files(out_dir)), "the export's temp file")
    assert temp_files(out_dir) and not (out_dir / "report.csv").exists()
    _restart_and_check(cli, tmp_path, dagflux_home, out_dir)
    assert not (out_dir / "report.csv").exists()
