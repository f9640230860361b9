"""Webhook latency of the real engine against a bare aiohttp handler, in one run.

Engine: a ``dagflux engine`` subprocess (``--webhook-port 0``) in a temporary
``DAGFLUX_HOME`` with one saved workflow, Start (webhook trigger) → one SQL
transformer (``SELECT count(*) AS n FROM {{ input }}``). A client subscribed to the
engine's events records when each ``RunStarted`` and ``RunFinished`` arrives (on the
client's reader thread, by run id). POSTs are sent one after another over one
persistent HTTP/1.1 connection (``http.client``); each is sent only after the previous
run's ``RunFinished`` has arrived and the ``runs.wait`` call for it has returned (the
event can come before the engine has released the run). Measured per POST: time from
just before the request is sent to the arrival of the ``RunStarted`` event of the run
id in the 202 reply (the event may arrive before the reply: arrivals are matched
afterwards).

Bare: an aiohttp application in its own subprocess on 127.0.0.1 whose handler reads
the body and answers 202 with a small JSON object; the same client code sends the
same number of requests over its own persistent connection; measured request →
response. The two series alternate in blocks of 50 (never both servers busy at
once), so that load from other processes drifting over the run hits both alike.

A few warm-up requests precede the series and are not counted. The table also
splits the engine's latency at the ``started_at`` stamp the engine puts in
``RunStarted`` (wall clock, same machine): POST → run started in the engine, and
engine → event received by the client. The last line is machine-readable::

    p50_ms=… p99_ms=… bare_p99_ms=… added_p99_ms=…

(target: added_p99_ms ≤ 10). Loopback only; everything started here is stopped here.

    .venv/bin/python bench/webhook.py [--requests N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from enginectl import cpu_seconds, stop_engine  # noqa: E402  (beside this script)

REQUESTS = 500
WARMUP = 20
BLOCK = 50          # engine and bare requests alternate in blocks of this many
SQL = "SELECT count(*) AS n FROM {{ input }}"
BODY = json.dumps([{"n": 1, "name": "bench"}]).encode()
HEADERS = {"Content-Type": "application/json"}


# --- the bare server (runs in its own subprocess) ------------------------------------
def serve_bare() -> None:
    """``--serve-bare``: an aiohttp app on 127.0.0.1:0; prints the port, stops on stdin EOF."""
    import asyncio

    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"status": "started", "run_id": "bare"}, status=202)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/hooks/{token}", handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        print(runner.addresses[0][1], flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
        await runner.cleanup()

    asyncio.run(main())


# --- helpers ---------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def post(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("POST", path, body=BODY, headers=HEADERS)
    resp = conn.getresponse()
    return resp.status, resp.read()


def write_workflow(folder: Path) -> Path:
    doc = {"format": "dagflux-workflow", "version": 2, "id": "hook_bench", "name": "hook bench",
           "description": "", "edges": [{"from": "start", "to": "count"}],
           "nodes": [{"id": "start", "type": "start", "title": "", "position": [0, 0],
                      "config": {"trigger": {"kind": "webhook"}}},
                     {"id": "count", "type": "transformer", "title": "", "position": [200, 0],
                      "config": {"language": "sql", "mode": "new_table", "sql": SQL}}]}
    path = folder / "hook_bench.json"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


class EventLog:
    """Arrival times of RunStarted / RunFinished by run id, stamped on the client's reader thread."""

    def __init__(self) -> None:
        self.started: dict[str, tuple[float, float, float]] = {}   # run id → (perf, wall, engine started_at)
        self.finished: dict[str, str] = {}                          # run id → status
        self._cond = threading.Condition()

    def on_event(self, msg) -> None:
        perf, wall = time.perf_counter(), time.time()
        kind = msg.TYPE
        if kind == "RunStarted":
            with self._cond:
                self.started[msg.run_id] = (perf, wall, msg.started_at)
        elif kind == "RunFinished":
            with self._cond:
                self.finished[msg.run_id] = msg.status
                self._cond.notify_all()

    def wait_finished(self, run_id: str, timeout: float = 30.0) -> str:
        with self._cond:
            if not self._cond.wait_for(lambda: run_id in self.finished, timeout):
                raise SystemExit(f"run {run_id} did not finish within {timeout:g} s")
            return self.finished[run_id]


# --- the engine series -----------------------------------------------------------------
def start_engine(home: Path, log_file) -> subprocess.Popen:
    from engine.client import EngineClient
    from engine.paths import DataPaths
    from engine.service.ipc import EngineUnavailable

    env = dict(os.environ, DAGFLUX_HOME=str(home))
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "engine", "--webhook-port", "0"],
                            cwd=REPO, env=env, stdout=log_file, stderr=log_file)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the engine exited with {proc.returncode}; see its log")
        try:
            with EngineClient.connect(DataPaths(home), timeout=1) as client:
                if client.welcome.pid == proc.pid:
                    return proc
        except EngineUnavailable:
            time.sleep(0.02)
    proc.kill()
    proc.wait()
    raise SystemExit("the engine did not become ready within 60 s")


class BareServer:
    """The bare aiohttp handler in its own subprocess (like the engine's server, off our GIL)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve-bare"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def bare_request(conn: http.client.HTTPConnection) -> float:
    t0 = time.perf_counter()
    status, body = post(conn, "/hooks/bare-token")
    elapsed = (time.perf_counter() - t0) * 1000
    if status != 202 or json.loads(body)["run_id"] != "bare":
        raise SystemExit(f"bare server answered {status}: {body[:200]!r}")
    return elapsed


def measure(home: Path, count: int) -> dict:
    """Engine POSTs and bare requests in alternating blocks, so load drift hits both alike."""
    from engine.client import EngineClient
    from engine.paths import DataPaths

    flow = write_workflow(home.parent)
    env = dict(os.environ, DAGFLUX_HOME=str(home))
    # An imported trigger starts off until the user enables it (see `dagflux workflows import`).
    for args in (["import", str(flow), "--yes"], ["enable", "hook_bench"]):
        done = subprocess.run([sys.executable, "-m", "engine.cli", "workflows", *args],
                              cwd=REPO, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"workflows {args[0]} failed: {done.stderr}")
    log_path = home.parent / "engine.log"
    bare_server = BareServer()
    bare: list[float] = []
    try:
        with log_path.open("ab") as log_file:
            proc = start_engine(home, log_file)
            try:
                events = EventLog()
                client = EngineClient.connect(DataPaths(home), timeout=5, on_event=events.on_event)
                try:
                    client.subscribe()
                    url = next(t["url"] for t in client.call("triggers.list")
                               if t["workflow_id"] == "hook_bench")
                    parts = urlsplit(url)
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                    bare_conn = http.client.HTTPConnection("127.0.0.1", bare_server.port, timeout=30)
                    sent: list[tuple[str, float, float, float]] = []  # run id, perf/wall before, perf reply
                    statuses: dict[str, int] = {}
                    for _ in range(WARMUP):
                        bare_request(bare_conn)
                    cpu_before = cpu_seconds(proc.pid)
                    for block in range(0, WARMUP + count, BLOCK):
                        for i in range(block, min(block + BLOCK, WARMUP + count)):
                            wall0, t0 = time.time(), time.perf_counter()
                            status, body = post(conn, parts.path)
                            t_reply = time.perf_counter()
                            if status != 202:
                                raise SystemExit(f"POST {i} answered {status}: {body[:200]!r}")
                            run_id = json.loads(body)["run_id"]
                            run_status = events.wait_finished(run_id)
                            # RunFinished can reach us before the engine has let go of the run
                            # (a POST sent right then is skipped as "already running"): runs.wait
                            # returns once the run manager has released it.
                            client.call("runs.wait", run_id=run_id, timeout=30)
                            statuses[run_status] = statuses.get(run_status, 0) + 1
                            if i >= WARMUP:
                                sent.append((run_id, t0, wall0, t_reply))
                        # the same number of bare requests, while the engine idles
                        bare.extend(bare_request(bare_conn) for i in range(block, min(block + BLOCK, WARMUP + count))
                                    if i >= WARMUP)
                    cpu_after = cpu_seconds(proc.pid)
                    conn.close()
                    bare_conn.close()
                finally:
                    client.close()
            finally:
                _, leftovers = stop_engine(home, proc)
    finally:
        bare_server.close()
    to_event, to_reply, to_engine, engine_to_client, event_before_reply = [], [], [], [], 0
    for run_id, t0, wall0, t_reply in sent:
        perf_arrival, wall_arrival, engine_started = events.started[run_id]
        to_event.append((perf_arrival - t0) * 1000)
        to_reply.append((t_reply - t0) * 1000)
        to_engine.append((engine_started - wall0) * 1000)
        engine_to_client.append((wall_arrival - engine_started) * 1000)
        event_before_reply += perf_arrival < t_reply
    return {"event": to_event, "reply": to_reply, "to_engine": to_engine, "engine_to_client": engine_to_client,
            "event_before_reply": event_before_reply, "statuses": statuses, "leftovers": leftovers,
            "returncode": proc.returncode, "bare": bare,
            "cpu_per_post": {k: (cpu_after[k] - cpu_before[k]) * 1000 / (WARMUP + count) for k in cpu_after}}


def row(label: str, values: list[float]) -> str:
    return (f"  {label:<38} {statistics.median(values):8.3f} {percentile(values, 90):8.3f} "
            f"{percentile(values, 99):8.3f} {max(values):8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare()
        return
    with tempfile.TemporaryDirectory(prefix="dagflux-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        engine = measure(home, args.requests)
    bare = engine["bare"]
    p50, p99 = statistics.median(engine["event"]), percentile(engine["event"], 99)
    bare_p99 = percentile(bare, 99)
    print(f"{args.requests} sequential requests per server, each on its own keep-alive connection, "
          f"alternating in blocks of {BLOCK} ({WARMUP} warm-up each, not counted)")
    print(f"  {'ms':<38} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    print(row("engine: POST -> RunStarted event", engine["event"]))
    print(row("engine: POST -> 202 reply", engine["reply"]))
    print(row("  POST -> run started in engine (wall)", engine["to_engine"]))
    print(row("  engine run start -> event at client", engine["engine_to_client"]))
    print(row("bare aiohttp: request -> 202 reply", bare))
    cpu = engine["cpu_per_post"]
    print(f"  CPU per POST, whole run included: engine process {cpu['engine']:.2f} ms, "
          f"its workers {cpu['descendants']:.2f} ms")
    print(f"  RunStarted arrived before the 202 reply in {engine['event_before_reply']} of {args.requests}; "
          f"run statuses: {engine['statuses']}; engine exit status {engine['returncode']}; "
          f"processes left behind: {engine['leftovers'] or 'none'}")
    print(f"p50_ms={p50:.3f} p99_ms={p99:.3f} bare_p99_ms={bare_p99:.3f} added_p99_ms={p99 - bare_p99:.3f}")


if __name__ == "__main__":
    main()
