"""Engine start-up time and idle memory, against a bare interpreter in the same run.

Start-up: ``python -m engine.cli engine --webhook-port 0`` launched as a subprocess in a
fresh temporary ``DAGFLUX_HOME`` each round, timed until ``dagflux engine status`` would
report it ready: the same test as the status command (the client library connects,
authenticates, says Hello and gets an answer to the ``status`` call), polled in this
process every few milliseconds with a short timeout. The engine is then stopped with
the client's ``shutdown`` call and waited for. Baseline: ``python -c pass`` launched the
same way (subprocess, same interpreter, same environment), timed to its exit. The two
are interleaved round by round after one warm-up of each (not counted; it also shows
the cold cost); medians are reported.

Memory: one more engine left idle for ~2 s; its own RSS (psutil), and apart from it
the summed RSS of its descendants (forkserver launcher, resource tracker, warm
workers). RSS counts shared pages (the interpreter, preloaded modules shared by
forked workers) in every process, so USS and PSS are shown too where psutil can read
them. The last line is machine-readable::

    ready_ms=… bare_python_ms=… added_ready_ms=… engine_rss_mib=… workers_rss_mib=…

(targets: added_ready_ms ≤ 250, engine_rss_mib ≤ 80). Every process started here is
stopped here; a leftover would be named in the output and killed.

    .venv/bin/python bench/engine_start.py [--rounds N] [--idle S]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from enginectl import cpu_seconds, stop_engine  # noqa: E402

from engine.client import EngineClient  # noqa: E402  (imported before any timing)
from engine.paths import DataPaths  # noqa: E402
from engine.service.ipc import EngineUnavailable  # noqa: E402

ROUNDS = 5
IDLE_S = 2.0
POLL_S = 0.002
MIB = 1024 * 1024
CPU_AT_READY: dict[int, dict[str, float]] = {}    # engine pid → CPU seconds when it was ready
LAUNCHED_WALL: dict[Path, float] = {}             # data dir → wall clock at launch
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (\S+) \w+ (.*)$")  # logging's default


def launch_engine(home: Path) -> tuple[subprocess.Popen, float]:
    env = dict(os.environ, DAGFLUX_HOME=str(home))
    log = (home.parent / f"{home.name}.log").open("wb")
    LAUNCHED_WALL[home] = time.time()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "engine", "--webhook-port", "0"],
                            cwd=REPO, env=env, stdout=log, stderr=log)
    log.close()
    return proc, started


def wait_ready(home: Path, proc: subprocess.Popen, timeout: float = 60.0) -> float:
    """perf_counter() when a client's ``status`` call was answered by this engine."""
    deadline = time.monotonic() + timeout
    paths = DataPaths(home)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the engine exited with {proc.returncode}:\n{engine_log(home)}")
        try:
            with EngineClient.connect(paths, timeout=0.5) as client:
                status = client.call("status", timeout=5)
                ready = time.perf_counter()
            if status["pid"] == proc.pid:
                CPU_AT_READY[proc.pid] = cpu_seconds(proc.pid)
                return ready
        except EngineUnavailable:
            pass
        time.sleep(POLL_S)
    stop_engine(home, proc)
    raise SystemExit(f"the engine was not ready within {timeout:g} s:\n{engine_log(home)}")


def engine_log(home: Path) -> str:
    return (home.parent / f"{home.name}.log").read_text(errors="replace")


def engine_round(tmp: Path, n: int) -> dict:
    home = tmp / f"home{n}"
    proc, started = launch_engine(home)
    ready = wait_ready(home, proc)
    stop_ms, leftovers = stop_engine(home, proc)
    return {"ready_ms": (ready - started) * 1000, "stop_ms": stop_ms, "leftovers": leftovers,
            "cpu": CPU_AT_READY.get(proc.pid, {}),
            "logged_ready_ms": logged_ready_ms(home), "returncode": proc.returncode}


def bare_round() -> float:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", "pass"], cwd=REPO, env=dict(os.environ),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.wait()
    return (time.perf_counter() - started) * 1000


def logged_ready_ms(home: Path) -> float | None:
    """When the engine's log says "ready", from launch (its log clock has ms resolution)."""
    for line in engine_log(home).splitlines():
        m = LOG_TIME.match(line)
        if m and " ready " in f" {m.group(3)} ":
            stamp, millis = m.group(1).split(",")
            at = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(millis) / 1000
            return (at - LAUNCHED_WALL[home]) * 1000
    return None


def memory(tmp: Path, idle_s: float) -> dict:
    home = tmp / "home-mem"
    proc, _ = launch_engine(home)
    wait_ready(home, proc)
    time.sleep(idle_s)
    engine = psutil.Process(proc.pid)
    rows = []
    for p in [engine, *engine.children(recursive=True)]:
        try:
            info = p.memory_full_info()
            uss, pss = getattr(info, "uss", None), getattr(info, "pss", None)
        except (psutil.AccessDenied, psutil.ZombieProcess):
            info, uss, pss = p.memory_info(), None, None
        cmd = " ".join(p.cmdline())
        if p.pid == proc.pid:
            role = "engine"
        elif "resource_tracker" in cmd:
            role = "resource tracker"
        elif p.ppid() == proc.pid and "forkserver" in cmd:
            role = "forkserver"
        else:  # forked by the forkserver, so its command line is the forkserver's
            role = "worker"
        rows.append({"pid": p.pid, "role": role, "rss": info.rss / MIB,
                     "uss": None if uss is None else uss / MIB, "pss": None if pss is None else pss / MIB})
    stop_ms, leftovers = stop_engine(home, proc)
    return {"rows": rows, "stop_ms": stop_ms, "leftovers": leftovers}


def fmt(value: float | None) -> str:
    return "    -" if value is None else f"{value:7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--idle", type=float, default=IDLE_S, help="seconds the engine idles before RSS is read")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dagflux-bench-") as tmp_name:
        tmp = Path(tmp_name)
        warm_engine, warm_bare = engine_round(tmp, 0), bare_round()
        engines, bares = [], []
        for n in range(1, args.rounds + 1):
            engines.append(engine_round(tmp, n))
            bares.append(bare_round())
        mem = memory(tmp, args.idle)
    ready = statistics.median(r["ready_ms"] for r in engines)
    bare = statistics.median(bares)
    leftovers = [x for r in [warm_engine, *engines, mem] for x in r["leftovers"]]
    print(f"start until `engine status` would report ready, {args.rounds} rounds after one warm-up (ms)")
    engine_rounds = ", ".join(f"{r['ready_ms']:.0f}" for r in engines)
    print(f"  engine  median {ready:7.1f}   rounds: {engine_rounds}"
          f"   (warm-up {warm_engine['ready_ms']:.0f})")
    print(f"  python -c pass  median {bare:7.1f}   rounds: {', '.join(f'{b:.0f}' for b in bares)}"
          f"   (warm-up {warm_bare:.0f})")
    cpu_engine = statistics.median(r["cpu"]["engine"] * 1000 for r in engines)
    cpu_children = statistics.median(r["cpu"]["descendants"] * 1000 for r in engines)
    print(f"  CPU used until ready (median): engine process {cpu_engine:.0f} ms, "
          f"its descendants (forkserver, workers) {cpu_children:.0f} ms")
    print(f"  shutdown call until exit: median {statistics.median(r['stop_ms'] for r in engines):.0f} ms; "
          f"exit statuses {sorted({r['returncode'] for r in engines})}")
    logged = [r["logged_ready_ms"] for r in engines if r["logged_ready_ms"] is not None]
    if logged:
        print(f"  the engine's log line \"ready\" came at (median) {statistics.median(logged):.0f} ms after launch")
    rows = mem["rows"]
    print(f"idle engine after {args.idle:g} s (MiB)")
    print(f"  {'pid':>7} {'process':<17} {'RSS':>7} {'USS':>7} {'PSS':>7}")
    for r in rows:
        print(f"  {r['pid']:>7} {r['role']:<17} {fmt(r['rss'])} {fmt(r['uss'])} {fmt(r['pss'])}")
    children = [r for r in rows if r["role"] != "engine"]
    engine_rss = rows[0]["rss"]
    workers_rss = sum(r["rss"] for r in children)

    def total(key: str) -> float | None:
        values = [r[key] for r in children]
        return None if None in values else sum(values)

    print(f"  {'':>7} {'descendants (sum)':<17} {fmt(workers_rss)} {fmt(total('uss'))} {fmt(total('pss'))}")
    print(f"  processes left behind: {', '.join(leftovers) or 'none'}")
    print(f"ready_ms={ready:.1f} bare_python_ms={bare:.1f} added_ready_ms={ready - bare:.1f} "
          f"engine_rss_mib={engine_rss:.1f} workers_rss_mib={workers_rss:.1f}")


if __name__ == "__main__":
    main()
