"""The data dir is private whatever the umask: folders 0700, files 0600 (SQLite side files,
the engine log and exports inside it included); a too-open data dir is fixed at start."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.integration.helpers import node, source, sql, start, write_csv, write_workflow

REPO = Path(__file__).resolve().parents[2]


def dagflux(home: Path, *args: str, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DAGFLUX_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120, preexec_fn=lambda: os.umask(umask))


def modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def too_open(root: Path) -> dict[str, str]:
    return {name: oct(mode) for name, mode in modes(root).items() if mode & 0o077}


def _flow(folder: Path, home: Path) -> Path:
    csv = write_csv(folder / "orders.csv", ["id", "amount"], [[1, 10], [2, 20]])
    return write_workflow(folder, "private", [
        start(), source("src", str(csv)), sql("double", "SELECT id, amount * 2 AS amount FROM {{ input }}"),
        node("out", "output", {"path": str(home / "exports" / "doubled.csv"), "options": {"create_dirs": True}})],
        [("start", "src"), ("src", "double"), ("double", "out")])


def test_a_cli_run_and_an_engine_under_umask_022_leave_nothing_readable_by_others(tmp_path: Path) -> None:
    home = tmp_path / "home"           # does not exist yet: DagFlux creates it
    flow = _flow(tmp_path, home)
    ran = dagflux(home, "run", str(flow))
    assert ran.returncode == 0, ran.stderr
    assert (home / "exports" / "doubled.csv").read_text().startswith("id,amount")
    assert {"workspace.sqlite", "history.sqlite"} <= set(os.listdir(home))
    assert too_open(home) == {}

    assert dagflux(home, "engine", "--detach").returncode == 0
    try:
        assert dagflux(home, "workflows", "import", str(flow), "--yes").returncode == 0
        assert dagflux(home, "run", str(flow)).returncode == 0       # through the engine
    finally:
        assert dagflux(home, "engine", "stop").returncode == 0
    assert (home / "engine.log").exists() and (home / "workflows" / "private.json").exists()
    assert too_open(home) == {}
    outside = tmp_path / "report.csv"                                 # the user's own folder keeps the umask
    out_flow = write_workflow(tmp_path, "outside", [start(), source("src", str(tmp_path / "orders.csv")),
                                                    node("out", "output", {"path": str(outside)})],
                              [("start", "src"), ("src", "out")])
    assert dagflux(home, "run", str(out_flow)).returncode == 0
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644


def test_a_data_dir_left_open_is_made_private_at_start_and_said_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    flow = _flow(tmp_path, home)
    assert dagflux(home, "run", str(flow), umask=0o022).returncode == 0
    for path in [home, *home.rglob("*")]:             # as an older DagFlux (or a copy) left it
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert too_open(home)
    (home / "exports" / "doubled.csv").unlink()           # the run writes it anew: 0600 again
    rerun = dagflux(home, "run", str(flow))               # the lock holder's start fixes it
    assert rerun.returncode == 0, rerun.stderr
    assert too_open(home) == {"exports": "0o755"}         # a folder the user made there is theirs; "." is 0700
    assert "private (they were readable by other users)" in rerun.stderr and "workspace.sqlite" in rerun.stderr
    again = dagflux(home, "run", str(flow))
    assert "readable by other users" not in again.stderr  # said when something was fixed, not every time


def test_a_shared_folder_used_as_data_dir_keeps_other_files_as_they_are(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    notes = shared / "notes.txt"
    notes.write_text("someone else's")
    notes.chmod(0o644)
    assert dagflux(shared, "run", str(_flow(tmp_path, shared))).returncode == 0
    assert stat.S_IMODE(notes.stat().st_mode) == 0o644                # someone else's file: as it was
    assert stat.S_IMODE(shared.stat().st_mode) == 0o700               # the data dir itself is private
    assert too_open(shared) == {"notes.txt": "0o644"}
