"""Shared by the engine benchmarks: stop an engine subprocess, read its CPU time."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import psutil

from engine.client import EngineClient
from engine.paths import DataPaths
from engine.service.ipc import EngineUnavailable


def cpu_seconds(pid: int) -> dict[str, float]:
    """CPU (user + system) used so far by the engine and, summed, by its descendants."""
    out = {"engine": 0.0, "descendants": 0.0}
    try:
        root = psutil.Process(pid)
        for p in [root, *root.children(recursive=True)]:
            t = p.cpu_times()
            out["engine" if p.pid == pid else "descendants"] += t.user + t.system
    except psutil.NoSuchProcess:
        pass
    return out


def stop_engine(home: Path, proc: subprocess.Popen) -> tuple[float, list[str]]:
    """Shut down through the client and wait; returns (ms to exit, descendants that outlived it)."""
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    started = time.perf_counter()
    try:
        with EngineClient.connect(DataPaths(home), timeout=5) as client:
            client.call("shutdown")
        proc.wait(15)
    except (EngineUnavailable, subprocess.TimeoutExpired):
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    stop_ms = (time.perf_counter() - started) * 1000
    _gone, alive = psutil.wait_procs(descendants, timeout=5)
    leftovers = []
    for p in alive:
        try:
            leftovers.append(f"{p.pid} ({' '.join(p.cmdline()[:4])})")
            p.kill()
        except psutil.NoSuchProcess:
            leftovers.append(str(p.pid))
    return stop_ms, leftovers
