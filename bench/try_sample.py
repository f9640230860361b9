"""What "try on sample" costs before a workflow ever ran, against a real run, in the same process.

A CSV of ``TRY_BENCH_ROWS`` rows (default 500,000) → Orders (Data Source) → Cleaned (SQL)
→ the tried SQL node. Measured with the engine's node-panel service and the inline executor
(the worker operations run in this process, as in a worker):

* ``run``: the baseline — running Orders and Cleaned for real (the whole file imported);
* ``first``: the first try on a workflow that never ran: Orders and Cleaned computed on a
  1,000-row sample into the sample cache, then the node tried;
* ``cached``: the same try again (the sample re-used from the cache);
* ``after_run``: the same try once the workflow ran (inputs from the run's tables).

Each is the median of ``TRY_BENCH_ROUNDS`` rounds (the first try in a fresh data folder each
round). Last line: ``first_vs_run=… cached_vs_first=… cached_vs_after_run=…`` plus the
medians in ms.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROWS = int(os.environ.get("TRY_BENCH_ROWS", "500000"))
ROUNDS = int(os.environ.get("TRY_BENCH_ROUNDS", "5"))


def _write_csv(path: Path) -> None:
    with path.open("w") as fh:
        fh.write("id,customer,total\n")
        for start in range(1, ROWS + 1, 10_000):
            fh.writelines(f"{i},{i % 97},{i * 3 % 1000}\n" for i in range(start, min(start + 10_000, ROWS + 1)))


class Setup:
    def __init__(self, root: Path, csv_path: Path) -> None:
        from engine import workspace
        from engine.connectors.service import ConnectionService
        from engine.executor import InlineExecutor
        from engine.history import History
        from engine.model.workflow import Edge, Node, Workflow
        from engine.plugins import load_registry
        from engine.service.previews import NodePanelService
        from engine.service.store import WorkflowStore

        self.registry = load_registry()
        self.ws = root / "workspace.sqlite"
        workspace.connect(self.ws).close()
        nodes = [Node("start", "start", config={"trigger": {"kind": "manual"}}),
                 Node("orders", "data_source", "Orders", config={"source": "file", "path": str(csv_path)}),
                 Node("cleaned", "transformer", "Cleaned", config={
                     "language": "sql", "mode": "new_table", "sql": "SELECT * FROM {{ input }} WHERE total % 2 = 0"})]
        self.wf = Workflow("bench", "Bench", nodes=nodes, edges=[Edge("start", "orders"), Edge("orders", "cleaned")])
        self.store = WorkflowStore(root / "workflows")
        self.store.save(self.wf)
        self.history = History(root / "history.sqlite")
        self.executor = InlineExecutor(self.registry, self.ws, root / "connections.json")
        connections = ConnectionService(root / "connections.json", self.registry, self.executor)
        self.service = NodePanelService(self.store, self.history, self.executor, connections)

    def try_once(self) -> tuple[float, dict]:
        node = {"id": "big", "type": "transformer", "config": {
            "language": "sql", "mode": "new_table", "sql": "SELECT customer, sum(total) AS t FROM {{ input }} "
                                                           "GROUP BY customer"}}
        started = time.perf_counter()
        reply = self.service.try_sample("bench", node, inputs=["cleaned"])
        return (time.perf_counter() - started) * 1000, reply

    def run(self) -> float:
        from engine.runner import Run

        started = time.perf_counter()
        result = Run(self.store.load("bench"), self.ws.parent, self.registry, self.executor, self.history).execute()
        assert result.status == "succeeded", result
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        self.executor.close()
        self.history.close()


def main() -> None:
    times: dict[str, list[float]] = {"run": [], "first": [], "cached": [], "after_run": []}
    with tempfile.TemporaryDirectory(prefix="dagflux-try-bench-") as tmp:
        os.environ["DAGFLUX_HOME"] = str(Path(tmp) / "home")
        csv_path = Path(tmp) / "orders.csv"
        _write_csv(csv_path)
        for n in range(ROUNDS):
            root = Path(tmp) / f"round{n}"
            root.mkdir()
            setup = Setup(root, csv_path)
            try:
                first, reply = setup.try_once()
                assert reply["inputs"][0]["how"] == "sample", reply["inputs"]
                cached, reply = setup.try_once()
                assert reply["inputs"][0]["how"] == "cached", reply["inputs"]
                times["first"].append(first)
                times["cached"].append(cached)
                times["run"].append(setup.run())
                after, reply = setup.try_once()
                assert reply["inputs"][0]["how"] == "last run", reply["inputs"]
                times["after_run"].append(after)
            finally:
                setup.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    for key, value in med.items():
        print(f"{key:>10}: {value:9.1f} ms (median of {ROUNDS})")
    print(f"first_vs_run={med['first'] / med['run']:.3f} cached_vs_first={med['cached'] / med['first']:.3f} "
          f"cached_vs_after_run={med['cached'] / med['after_run']:.3f} run_ms={med['run']:.1f} "
          f"first_ms={med['first']:.1f} cached_ms={med['cached']:.1f} after_run_ms={med['after_run']:.1f} rows={ROWS}")


if __name__ == "__main__":
    main()
