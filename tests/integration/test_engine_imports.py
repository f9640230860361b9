"""The engine is importable on a headless server: no Kivy, no app, no side effects."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent("""
    import json, os, pkgutil, importlib, sys, threading, multiprocessing
    home = os.environ["DAGFLUX_HOME"]
    before_threads = threading.active_count()
    import engine
    names = []
    for info in pkgutil.walk_packages(engine.__path__, "engine."):
        importlib.import_module(info.name)
        names.append(info.name)
    forbidden = sorted(m for m in sys.modules if m.split(".")[0] in ("kivy", "kivymd", "app"))
    print(json.dumps({
        "modules": names,
        "forbidden": forbidden,
        "files": sorted(os.listdir(home)),
        "threads": threading.active_count() - before_threads,
        "children": len(multiprocessing.active_children()),
    }))
""")


def test_importing_every_engine_module_loads_no_kivy_and_has_no_side_effects(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=REPO,
                         env={"DAGFLUX_HOME": str(home), "PATH": "/usr/bin:/bin",
                              "PYTHONPATH": str(REPO)}, timeout=120, check=True)
    report = json.loads(out.stdout)
    assert "engine.cli" in report["modules"] and "engine.workers.pool" in report["modules"]
    assert report["forbidden"] == []
    assert report["files"] == [], "importing the engine must not create files in the data dir"
    assert report["threads"] == 0 and report["children"] == 0
