"""Run from a node (``dagflux run FILE --from NODE``): what is above it is reused while
nothing it depends on changed, re-run when something did; what it does not need is not run."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

from tests.integration.helpers import node, source, sql, start, write_csv, write_workflow


def _workflow(folder: Path, factor: int = 10) -> Path:
    write_csv(folder / "in.csv", ["x"], [[1], [2], [3]])
    write_csv(folder / "other.csv", ["y"], [[7]])
    nodes = [start(), source("src", "in.csv"), sql("scale", f"SELECT x * {factor} AS y FROM {{{{ input }}}}"),
             sql("total", "SELECT sum(y) AS total FROM {{ input }}"),
             source("side", "other.csv"), node("out", "output", {"path": "out.csv"})]
    return write_workflow(folder, "wf", nodes, [("start", "src"), ("src", "scale"), ("scale", "total"),
                                                 ("start", "side"), ("total", "out")])


def _statuses(cli, *args: str) -> dict[str, str]:
    done = cli("run", *args, "--json")
    assert done.returncode == 0, done.stderr
    return {n["id"]: n["status"] for n in json.loads(done.stdout)["nodes"]}


def _total(home: Path) -> int:
    with closing(sqlite3.connect(home / "workspace.sqlite")) as conn:
        return conn.execute('SELECT total FROM "wf__total"').fetchone()[0]


def test_run_from_a_node_reuses_what_did_not_change_and_reruns_what_did(cli, dagflux_home: Path,
                                                                         tmp_path: Path) -> None:
    wf = _workflow(tmp_path)
    assert set(_statuses(cli, wf).values()) == {"succeeded"}

    # nothing above 'total' changed: its inputs are reused; 'side' is not needed below 'total'
    again = _statuses(cli, wf, "--from", "total")
    assert again == {"start": "succeeded", "src": "reused", "scale": "reused", "total": "succeeded",
                     "side": "not_run", "out": "succeeded"}
    assert _total(dagflux_home) == 60
    shown = cli("history", "--limit", "1", "--json")
    run_id = json.loads(shown.stdout)[0]["run_id"]
    detail = cli("history", run_id)
    assert "reused" in detail.stdout, detail.stdout

    # the source file changed (size and mtime): it and everything below it run again
    write_csv(tmp_path / "in.csv", ["x"], [[1], [2], [3], [4]])
    os.utime(tmp_path / "in.csv", ns=(1, 2_000_000_000_000_000_000))
    assert _statuses(cli, wf, "--from", "total")["src"] == "succeeded" and _total(dagflux_home) == 100

    # a changed config above: that node runs again, what is above it is still reused
    _workflow(tmp_path, factor=100)
    write_csv(tmp_path / "in.csv", ["x"], [[1], [2], [3], [4]])
    os.utime(tmp_path / "in.csv", ns=(1, 2_000_000_000_000_000_000))
    changed = _statuses(cli, wf, "--from", "total")
    assert (changed["src"], changed["scale"]) == ("reused", "succeeded") and _total(dagflux_home) == 1000


def test_a_reused_table_that_was_changed_since_is_computed_again(cli, dagflux_home: Path, tmp_path: Path) -> None:
    wf = _workflow(tmp_path)
    assert cli("run", wf).returncode == 0
    with closing(sqlite3.connect(dagflux_home / "workspace.sqlite")) as conn, conn:
        conn.execute('DELETE FROM "wf__scale" WHERE y = 30')        # its row count no longer matches
    again = _statuses(cli, wf, "--from", "total")
    assert (again["src"], again["scale"]) == ("reused", "succeeded") and _total(dagflux_home) == 60


def test_from_an_unknown_node_is_refused_before_anything_runs(cli, tmp_path: Path) -> None:
    wf = _workflow(tmp_path)
    refused = cli("run", wf, "--from", "nope")
    assert refused.returncode == 2
    assert "has no node 'nope'" in refused.stderr and "src" in refused.stderr
    assert cli("history", "--json").stdout.strip() in ("[]", "")
