"""The pool and the runner end every task and every run, whatever goes wrong: a task the
worker protocol cannot carry never takes a worker slot, and an unexpected error in a run
still finishes its history row and sends RunFinished."""

from __future__ import annotations

import pytest

from engine.errors import ProtocolError
from engine.history import History
from engine.local_run import run_file
from engine.messages import NodeFinished, RunFinished, RunNode
from engine.paths import default_paths
from engine.workers.pool import WorkerPool
from tests.integration.helpers import source, sql, start, write_csv, write_workflow


def _task(config: dict, task_id: int, folder) -> RunNode:
    return RunNode(id=task_id, run_id="r1", workflow_id="wf", node_id="t", node_type="data_source",
                   title="t", config=config, base_dir=str(folder), inputs=[], output_table=f"wf__t{task_id}")


def test_a_task_that_cannot_be_encoded_is_refused_without_taking_a_slot(tmp_path):
    write_csv(tmp_path / "in.csv", ["x"], [[7]])
    read = {"source": "file", "path": "in.csv"}
    pool = WorkerPool(tmp_path / "workspace.sqlite", size=1)
    try:
        for n in range(3):           # before: each refusal kept the only slot, and the next task hung
            with pytest.raises(ProtocolError, match="not plain data"):
                pool.submit(_task({**read, "big": 2 ** 70}, n, tmp_path))
        reply = pool.submit(_task(read, 9, tmp_path)).result(120)
        assert reply.status == "succeeded" and reply.records == 1, reply.error
    finally:
        pool.close()


def test_an_unexpected_error_in_a_run_still_finishes_its_history_and_event(tmp_path, dagflux_home):
    write_csv(tmp_path / "in.csv", ["x"], [[1]])
    nodes = [start(), source("src", "in.csv"), sql("t", "SELECT x FROM {{ input }}")]
    flow = write_workflow(tmp_path, "listener", nodes, [("start", "src"), ("src", "t")])
    seen = []

    def broken_listener(event):
        seen.append(event)
        if isinstance(event, NodeFinished) and event.node_id == "src":
            raise RuntimeError("listener broke")

    result = run_file(flow, pool_size=1, on_event=broken_listener)
    assert result.status == "failed" and "internal error: RuntimeError: listener broke" in result.error
    assert isinstance(seen[-1], RunFinished) and seen[-1].status == "failed"
    history = History(default_paths().history)
    try:
        run = history.get_run(result.run_id)
    finally:
        history.close()
    assert run["status"] == "failed" and run["ended_at"] is not None
