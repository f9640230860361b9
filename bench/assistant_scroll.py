"""Assistant conversation frame times while a reply streams one token per frame.

Drives the real Assistant screen of the real app (built without an engine:
``start_engine=False``; the stream is fed the way the screen feeds it from ``AiDelta``
events, through :meth:`ConversationView.stream`) in a temporary ``DAGFLUX_HOME``. The
session holds 200 messages (user questions and Markdown answers with headings, lists,
tables and fenced code); a 201st, the streaming reply, grows by one token every frame —
words, with a new list item, paragraph, table row or code block now and then. Kivy runs
with ``maxfps = 0``; the time between successive ``Window.on_flip`` events is the frame
time. The baseline is the same screen with the same session, idle but redrawn every frame,
measured in the same run just before (so the ratio says what streaming adds to drawing).

Run under Xvfb::

    xvfb-run -a -s '-screen 0 1280x800x24' .venv/bin/python bench/assistant_scroll.py [--frames N]

The last line is machine-readable (target: no frame over 50 ms)::

    max_frame_ms=… p95_frame_ms=… ratio_vs_idle=…
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.kivy_window import configure_window  # noqa: E402

configure_window(1280, 800)

MESSAGES = 200
ANSWER = ("## Totals by country\n\nThe orders are **summed** per country, paid ones only:\n\n"
          "- read `orders.csv`\n- keep paid orders\n- total by country\n\n"
          "| country | total |\n|---|---|\n| FR | 120 |\n| DE | 75 |\n\n"
          "```sql\nSELECT country, sum(total) AS total\nFROM orders\nWHERE paid\nGROUP BY country\n```\n")
STREAM_PIECES = ["Here ", "is ", "the ", "plan ", "for ", "your ", "workflow, ", "step ", "by ", "step. ",
                 "\n\n- ", "load ", "the ", "file ", "\n- ", "filter ", "rows ", "\n\n| a | b |\n|---|---|\n| 1 | 2 |",
                 "\n\n```python\n", "print(", "'hi'", ")\n", "```\n\n", "Done ", "and ", "dusted. "]


def session_messages() -> list[dict]:
    out = []
    for i in range(MESSAGES // 2):
        out.append({"id": f"m{2 * i + 1}", "role": "user", "content": f"Question {i}: how do I total orders?",
                    "at": time.time()})
        out.append({"id": f"m{2 * i + 2}", "role": "assistant", "content": ANSWER, "model": "bench",
                    "tokens_in": 20, "tokens_out": 80, "duration_ms": 900.0, "at": time.time()})
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()

    from kivy.core.window import Window

    from app.main import build_app_class
    from app.screens.assistant_chat import message_data
    from tests.app.kivyrun import pump, running, settle

    flips: list[float] = []
    Window.bind(on_flip=lambda *_a: flips.append(time.perf_counter()))
    app = build_app_class()(start_engine=False)
    with running(app):
        screen = app.open_screen("assistant")
        settle()
        view = screen.conversation
        view.show_messages(session_messages())
        view.add({**message_data({"role": "assistant", "model": "bench", "content": ""}, key="live"),
                  "streaming": True})
        settle()
        pump(30)                                       # warm-up, not counted

        flips.clear()
        for _ in range(args.frames):
            Window.canvas.ask_update()                 # idle, but drawn every frame
            pump(1)
        idle = [b - a for a, b in zip(flips, flips[1:])]

        text = ""
        before = {k: v for k, v in view.renders.items() if k != "live"}
        flips.clear()
        for n in range(args.frames):
            text += STREAM_PIECES[n % len(STREAM_PIECES)]
            view.stream(text)
            pump(1)
        streaming = [b - a for a, b in zip(flips, flips[1:])]
        after = {k: v for k, v in view.renders.items() if k != "live"}
        report(idle, streaming, view, text, sum(after.values()) - sum(before.values()), args.frames)
        app.bridge.stop()


def report(idle: list[float], streaming: list[float], view, text: str, rerendered: int, frames: int) -> None:
    idle_ms = [d * 1000 for d in idle]
    stream_ms = [d * 1000 for d in streaming]
    ratio = statistics.median(stream_ms) / statistics.median(idle_ms)
    print(f"session: {MESSAGES} messages + 1 streaming; frames: {frames}; "
          f"rows shown: {len(view.view_adapter.views)}")
    print(f"idle:      median {statistics.median(idle_ms):.2f} ms  p95 {percentile(idle_ms, .95):.2f} ms  "
          f"max {max(idle_ms):.2f} ms")
    print(f"streaming: median {statistics.median(stream_ms):.2f} ms  p95 {percentile(stream_ms, .95):.2f} ms  "
          f"max {max(stream_ms):.2f} ms")
    print(f"final reply {len(text)} chars, rendered {view.renders['live']} times")
    print(f"earlier messages re-rendered while streaming: {rerendered}")
    print(f"max_frame_ms={max(stream_ms):.2f} p95_frame_ms={percentile(stream_ms, .95):.2f} "
          f"ratio_vs_idle={ratio:.2f}", flush=True)


if __name__ == "__main__":
    main()
