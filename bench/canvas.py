"""Canvas frame times while panning and zooming: an empty workflow, 500 and 2,000 nodes.

Drives the real Editor screen (``EditorScreen.show_document``) of the real app, built
without an engine (``start_engine=False``; nothing here needs one) in a temporary
``DAGFLUX_HOME``, and in the same run and window a bare canvas: the window holding only a
GraphCanvas and a Minimap (what the canvas itself costs, without the rest of the screen);
the two swap places in the window between workloads. ``--bare`` measures only the bare
canvas, ``--screen-only`` only the Editor screen. Kivy runs with
``maxfps = 0``, so a frame is drawn as soon as the previous one is done; every frame a
scripted camera changes both zoom and pan (from the whole graph in view in to 1:1 and
out again, drifting across the graph), and the time between successive
``Window.on_flip`` events is the frame time. Each workload runs the
same script after a short warm-up (not counted), in rounds that interleave the workloads
(so a busy moment on a shared machine does not land on one of them); medians are over
all rounds. Beside wall-clock frame times it reports the process's CPU time per frame
(software GL renders in this process's threads), which other load on the machine
disturbs less.

Opening: the time from ``show_document(doc)`` (which attaches the canvas and fits the
graph to the view) to the first flipped frame that shows all of it, for the 2,000-node workflow minus the
same for the empty one (median over rounds).

Workflows are generated with the model (``engine.model.workflow.Node``/``Edge``): a
layered DAG — one Start, a column of Data Sources, then columns of Transformers with a
Join every few rows and Branches here and there, Outputs last — with about as many
edges as nodes; a node's inputs come from the column before it, within three rows.
Configs are left empty: validity does not matter for drawing.

Run under Xvfb (the numbers are for software GL; the renderer is printed)::

    xvfb-run -a -s '-screen 0 1280x800x24' .venv/bin/python bench/canvas.py [--frames N] [--rounds R] [--bare]

The last line is machine-readable::

    ms_per_frame_empty=… ms_per_frame_500=… ms_per_frame_2000=… p95_ms_2000=…
    ratio_2000_vs_empty=… open_s_2000=… bare_ms_per_frame_empty=… bare_ms_per_frame_2000=…
    cpu_ms_2000=… bare_cpu_ms_2000=… ratio_screen_vs_bare_2000=… cpu_ratio_screen_vs_bare_2000=…

The first six are the Editor screen's (the bare canvas's with ``--bare``);
``ratio_screen_vs_bare_2000`` is the screen's median frame time with 2,000 nodes over the
bare canvas's in the same run (targets: ratio_2000_vs_empty ≤ 2, open_s_2000 ≤ 1,
ratio_screen_vs_bare_2000 ≤ 1.5).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.kivy_window import configure_window  # noqa: E402

configure_window(1280, 800)

from engine.model.workflow import Edge, Node, Workflow  # noqa: E402

FRAMES = 180
ROUNDS = 3
WARMUP = 20
ROWS = 50


def layered_workflow(n: int, seed: int = 7) -> Workflow:
    """About ``n`` nodes in columns of ``ROWS``, each fed by the column before it."""
    rng = random.Random(seed)
    if n == 0:
        return Workflow("bench_empty")
    nodes = [Node("start", "start", "Start", (0.0, ROWS * 60.0))]
    edges: list[Edge] = []
    columns = [["start"]]
    col = 1
    while len(nodes) < n:
        count = min(ROWS, n - len(nodes))
        last = len(nodes) + count >= n
        column = []
        for row in range(count):
            kind = ("data_source" if col == 1 else "output" if last else
                    "join" if row % 7 == 3 else "branch" if row % 11 == 5 else "transformer")
            node_id = f"{kind}_{col}_{row}"
            nodes.append(Node(node_id, kind, f"{kind.replace('_', ' ').title()} {col}.{row}",
                              (col * 240.0, row * 120.0)))
            column.append(node_id)
            prev = columns[-1]
            near = prev[max(0, row - 3):row + 4] or prev[-1:]  # inputs come from nearby rows
            sources = rng.sample(near, min(2, len(near))) if kind == "join" else [prev[min(row, len(prev) - 1)]]
            for source in sources:
                kind_of = source.split("_")[0]
                port = rng.choice(("true", "false")) if kind_of == "branch" else "out"
                edges.append(Edge(source, node_id, port))
        columns.append(column)
        col += 1
    return Workflow(f"bench_{n}", nodes=nodes, edges=edges)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Bench:
    """The real app's Editor screen and a bare GraphCanvas + Minimap, in one window: ``use``
    puts one of them in the window (``"screen"`` or ``"bare"``)."""

    def __init__(self, frames: int) -> None:
        from kivy.core.window import Window

        from tests.app.kivyrun import pump

        self.frames = frames
        self.pump = pump
        self.flips: list[float] = []
        self.cpu: list[float] = []
        Window.bind(on_flip=self._flipped)
        self.app = _editor_app()
        self.app._run_prepare()
        pump(5)
        self.editor = self.app.open_screen("editor")
        pump(5)
        self.bare_root, self.bare_canvas = _bare_root()
        self.mode = "screen"
        self.types = self.app.registry.node_types

    def _flipped(self, *_args) -> None:  # returns None: Window.on_flip itself must still run
        self.flips.append(time.perf_counter())
        self.cpu.append(time.process_time())

    def use(self, mode: str) -> None:
        from kivy.core.window import Window

        if mode == self.mode:
            return
        if self.canvas.document is not None:
            self.canvas.detach()
        shown, hidden = (self.bare_root, self.app.root) if mode == "bare" else (self.app.root, self.bare_root)
        Window.remove_widget(hidden)
        Window.add_widget(shown)
        self.mode = mode
        self.pump(3)

    @property
    def canvas(self):
        return self.bare_canvas if self.mode == "bare" else self.editor.ids.canvas

    def open(self, workflow: Workflow) -> float:
        """Seconds from show_document to the first frame that shows all of it."""
        from app.document import WorkflowDocument

        doc = WorkflowDocument(workflow, self.types)
        self.pump(3)
        self.flips.clear()
        start = time.perf_counter()
        canvas = self.canvas
        if self.mode == "screen":
            self.editor.show_document(doc)
        else:
            canvas.attach(doc)
            canvas.fit_to_view(whole=True)
        while True:  # the first frame that shows the whole graph (tile building is spread over frames)
            self.pump(1)
            if self.flips and not canvas.scene.pending:
                return self.flips[-1] - start

    def camera(self, i: int, fit_scale: float, bounds) -> tuple[float, float, float]:
        """Zoom from the whole graph to 1:1 and back while drifting over it."""
        t = i / self.frames
        lo, hi = math.log(fit_scale), math.log(max(1.0, fit_scale))
        scale = math.exp(lo + (hi - lo) * (0.5 - 0.5 * math.cos(2 * math.pi * t)))
        cx = bounds.x + bounds.w * (0.5 + 0.35 * math.sin(2 * math.pi * t * 1.5))
        cy = bounds.y + bounds.h * (0.5 + 0.35 * math.sin(2 * math.pi * t * 2.0 + 0.7))
        return scale, cx, cy

    def pan_zoom(self) -> tuple[list[float], list[float]]:
        """Frame times and CPU time per frame (ms) over the scripted camera."""
        from kivy.metrics import dp

        from app.widgets.canvas.geometry import Rect, View

        canvas = self.canvas
        canvas.fit_to_view(whole=True)
        self.pump(3)
        fit_scale = canvas.scale
        bounds = canvas.scene.nodes.bounds() or Rect(-400, -300, 800, 600)
        deltas: list[float] = []
        cpu: list[float] = []
        for i in range(-WARMUP, self.frames):
            scale, cx, cy = self.camera(i % self.frames, fit_scale, bounds)
            canvas.set_view(View(scale * dp(1), 0, 0).centered((cx, cy), canvas.width, canvas.height))
            before = len(self.flips)
            while len(self.flips) == before:
                self.pump(1)
            if i >= 0:
                deltas.append((self.flips[-1] - self.flips[-2]) * 1000)
                cpu.append((self.cpu[-1] - self.cpu[-2]) * 1000)
        return deltas, cpu

    def stop(self) -> None:
        self.use("screen")
        self.app.stop()
        self.pump(1)


def _editor_app():
    from app.main import build_app_class

    return build_app_class()(start_engine=False)


def _bare_root():
    """A window's worth of only a GraphCanvas and a Minimap (what the bare bench draws)."""
    from kivy.uix.floatlayout import FloatLayout

    from app.widgets.canvas import GraphCanvas, Minimap

    root = FloatLayout()
    graph = GraphCanvas()
    root.add_widget(graph)
    root.add_widget(Minimap(graph=graph, size_hint=(None, None), size=(200, 132), pos=(1068, 12)))
    return root, graph


def renderer() -> str:
    from kivy.graphics.opengl import GL_RENDERER, GL_VERSION, glGetString

    return f"{glGetString(GL_RENDERER).decode()} / OpenGL {glGetString(GL_VERSION).decode()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=FRAMES, help="measured frames per workload per round")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--bare", action="store_true", help="only the bare canvas (a GraphCanvas and a Minimap)")
    only.add_argument("--screen-only", action="store_true", help="only the app's Editor screen")
    args = parser.parse_args()
    bench = Bench(args.frames)
    modes = ["bare"] if args.bare else ["screen"] if args.screen_only else ["screen", "bare"]
    print(f"renderer: {renderer()}; window 1280x800; {' and '.join(modes)}; {args.rounds} rounds of {args.frames} "
          "frames per workload, interleaved", flush=True)
    workflows = {name: layered_workflow(n) for name, n in (("empty", 0), ("500", 500), ("2000", 2000))}
    deltas = {(m, name): [] for m in modes for name in workflows}
    cpu = {(m, name): [] for m in modes for name in workflows}
    opens = {(m, name): [] for m in modes for name in workflows}
    for _ in range(args.rounds):  # interleaved, so a busy moment on the machine hits every workload
        for name, workflow in workflows.items():
            for mode in modes:
                bench.use(mode)
                opens[mode, name].append(bench.open(workflow))
                d, c = bench.pan_zoom()
                deltas[mode, name] += d
                cpu[mode, name] += c
    bench.stop()
    med = {key: statistics.median(d) for key, d in deltas.items()}
    cpu_med = {key: statistics.median(c) for key, c in cpu.items()}
    for (mode, name), d in deltas.items():
        workflow = workflows[name]
        print(f"{mode:>6} {name:>5}: {len(workflow)} nodes, {len(workflow.edges)} edges:"
              f" median {med[mode, name]:.1f} ms"
              f" ({1000 / med[mode, name]:.0f} fps), p95 {percentile(d, 0.95):.1f} ms, max {max(d):.1f} ms,"
              f" CPU {cpu_med[mode, name]:.1f} ms/frame; opened in {statistics.median(opens[mode, name]) * 1000:.0f} ms"
              f" (median of {len(opens[mode, name])})", flush=True)
    main_mode = modes[0]
    open_s = statistics.median(b - a for a, b in zip(opens[main_mode, "empty"], opens[main_mode, "2000"]))
    line = (f"ms_per_frame_empty={med[main_mode, 'empty']:.2f} ms_per_frame_500={med[main_mode, '500']:.2f} "
            f"ms_per_frame_2000={med[main_mode, '2000']:.2f} "
            f"p95_ms_2000={percentile(deltas[main_mode, '2000'], 0.95):.2f} "
            f"ratio_2000_vs_empty={med[main_mode, '2000'] / med[main_mode, 'empty']:.2f} open_s_2000={open_s:.3f}")
    if len(modes) == 2:
        line += (f" bare_ms_per_frame_empty={med['bare', 'empty']:.2f} bare_ms_per_frame_2000={med['bare', '2000']:.2f}"
                 f" cpu_ms_2000={cpu_med['screen', '2000']:.2f} bare_cpu_ms_2000={cpu_med['bare', '2000']:.2f}"
                 f" ratio_screen_vs_bare_2000={med['screen', '2000'] / med['bare', '2000']:.2f}"
                 f" cpu_ratio_screen_vs_bare_2000={cpu_med['screen', '2000'] / cpu_med['bare', '2000']:.2f}")
    print(line)


if __name__ == "__main__":
    main()
