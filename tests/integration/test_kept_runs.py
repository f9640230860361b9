"""Each run keeps its node outputs (``wf__node@<run id>``); the history budget prunes the
oldest beyond it — kept tables first, then node rows; summaries and pinned runs stay."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from engine import history_budget as hb
from engine.history import History
from tests.integration.helpers import source, sql, start, write_csv, write_workflow

BIG = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < (SELECT n FROM {{ input }})) "
       "SELECT x, printf('%0200d', x) AS pad FROM c")


def _workflow(folder: Path, n: int) -> Path:
    write_csv(folder / "seed.csv", ["n"], [[n]])      # the data changes between runs, the workflow not
    nodes = [start(), source("seed", "seed.csv"), sql("make", BIG),
             sql("total", "SELECT count(*) AS n, max(x) AS top FROM {{ input }}")]
    return write_workflow(folder, "wf", nodes, [("start", "seed"), ("seed", "make"), ("make", "total")])


def _run(cli, folder: Path, n: int) -> str:
    done = cli("run", _workflow(folder, n), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["run_id"]


def _show(cli, run_id: str, node: str = "total"):
    return cli("history", run_id, "--node", node, "--show", "--json")


def _top(cli, run_id: str) -> int:
    shown = _show(cli, run_id)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)["sample"][0][1]


def test_every_run_keeps_its_outputs_readable_after_later_runs(cli, dagflux_home: Path, tmp_path: Path) -> None:
    runs = [_run(cli, tmp_path, n) for n in (10, 20, 30)]
    assert [_top(cli, r) for r in runs] == [10, 20, 30]          # each run's own result, the latest too
    with closing(sqlite3.connect(dagflux_home / "workspace.sqlite")) as conn:
        assert conn.execute('SELECT top FROM "wf__total"').fetchone()[0] == 30   # the stable name: the latest
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {f"wf__total@{runs[0]}", f"wf__total@{runs[1]}", f"wf__make@{runs[0]}"} <= names
    assert f"wf__total@{runs[2]}" not in names                   # the latest lives under the stable name
    detail = json.loads(cli("history", runs[0], "--json").stdout)
    assert {n["node_id"]: n["kept_table"] for n in detail["nodes"]} == {
        "start": None, "seed": f"wf__seed@{runs[0]}", "make": f"wf__make@{runs[0]}",
        "total": f"wf__total@{runs[0]}"}
    shown = cli("history", runs[1], "--node", "make", "--show", "--limit", "2")
    assert shown.returncode == 0 and f"wf__make@{runs[1]}: 20 rows" in shown.stdout, shown.stdout
    assert "--node" in cli("history", runs[0], "--show").stderr


def test_budget_prunes_oldest_tables_first_then_node_rows_keeps_summaries_and_pinned_runs(
        cli, dagflux_home: Path, tmp_path: Path) -> None:
    runs = [_run(cli, tmp_path, n) for n in (10, 20, 30, 40)]
    assert json.loads(cli("history", "budget", "--json").stdout) == {"days": hb.DEFAULT_DAYS, "size": hb.DEFAULT_SIZE}
    assert cli("history", "budget", "--size", "1", "--days", "off").returncode == 0
    assert json.loads(cli("history", "budget", "--json").stdout) == {"days": None, "size": 1}
    assert "pinned" in cli("history", "pin", runs[1]).stdout

    dry = cli("history", "prune", "--dry-run", "--json")
    planned = json.loads(dry.stdout)
    # oldest first; the pinned run and the latest (no kept table: it is the stable name) stay
    assert [t["run_id"] for t in planned["tables"]] == [runs[0], runs[2]] and planned["details"] == []
    assert _top(cli, runs[0]) == 10                               # a dry run changed nothing
    text = cli("history", "prune", "--dry-run").stdout
    assert text.index(runs[0]) < text.index(runs[2]) and "would drop" in text

    done = cli("history", "prune")
    assert done.returncode == 0 and "dropped the kept tables of run" in done.stdout, done.stderr
    gone = _show(cli, runs[0])
    assert gone.returncode != 0 and "no longer kept" in gone.stderr
    assert _top(cli, runs[1]) == 20 and _top(cli, runs[3]) == 40   # pinned; the latest
    assert len(json.loads(cli("history", runs[0], "--json").stdout)["nodes"]) == 4   # node rows stay (size only)

    # beyond the age: the kept tables went already, now the node rows; one summary per run stays
    cli("history", "budget", "--days", "0")
    cli("history", "prune")
    listed = json.loads(cli("history", "--json").stdout)
    assert {r["run_id"] for r in listed} == set(runs)
    by_id = {r["run_id"]: r for r in listed}
    assert [by_id[r]["pruned"] for r in runs] == [2, 0, 2, 2] and by_id[runs[1]]["pinned"] is True
    assert json.loads(cli("history", runs[0], "--json").stdout)["nodes"] == []
    assert _top(cli, runs[1]) == 20                               # pinned: everything kept
    with closing(sqlite3.connect(dagflux_home / "workspace.sqlite")) as conn:
        assert conn.execute('SELECT top FROM "wf__total"').fetchone()[0] == 40   # latest tables are not history
    assert "unpinned" in cli("history", "unpin", runs[1]).stdout
    assert json.loads(cli("history", "prune", "--json").stdout)["details"] == [runs[1]]


def test_tables_go_before_any_node_rows_in_small_batches(cli, dagflux_home: Path, tmp_path: Path,
                                                         monkeypatch) -> None:
    runs = [_run(cli, tmp_path, n) for n in (10, 20, 30, 40)]
    monkeypatch.setattr(hb, "BATCH", 1)
    with History(dagflux_home / "history.sqlite") as history:
        budget = hb.Budget(days=0, size=None)
        first = hb.prune(history, dagflux_home / "workspace.sqlite", budget, stop=lambda: True)  # one batch
        assert [r for r, _, _ in first.tables] == runs[:3] and first.details == runs
        state = {r: (history.get_run(r)["pruned"], len(history.get_run(r)["nodes"])) for r in runs}
        assert state == {runs[0]: (1, 4), runs[1]: (0, 4), runs[2]: (0, 4), runs[3]: (0, 4)}
        hb.prune(history, dagflux_home / "workspace.sqlite", budget)
        assert [history.get_run(r)["pruned"] for r in runs] == [2, 2, 2, 2]
        assert history.count_runs() == 4


def test_pruning_shrinks_the_workspace_file(cli, dagflux_home: Path, tmp_path: Path) -> None:
    for _ in range(4):
        _run(cli, tmp_path, 20_000)
    path = dagflux_home / "workspace.sqlite"
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2      # a new workspace: incremental
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = path.stat().st_size
    cli("history", "budget", "--size", "0")
    done = cli("history", "prune")
    assert done.returncode == 0, done.stderr
    after = path.stat().st_size
    print(f"workspace file before/after pruning 3 of 4 runs' tables: {before} → {after} bytes")
    assert after < before * 0.4, (before, after)                   # three of four copies gone
    assert "workspace file:" in done.stdout


def test_an_older_workspace_is_switched_to_incremental_vacuum_by_prune(cli, dagflux_home: Path,
                                                                        tmp_path: Path) -> None:
    path = dagflux_home / "workspace.sqlite"
    with closing(sqlite3.connect(path)) as conn:           # as DagFlux made it before runs were kept
        conn.execute("CREATE TABLE mine (x)")
        conn.commit()
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    for _ in range(3):
        _run(cli, tmp_path, 20_000)
    before = path.stat().st_size
    cli("history", "budget", "--size", "0")
    done = cli("history", "prune")
    assert "auto_vacuum = incremental" in done.stdout, done.stdout + done.stderr
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM mine").fetchone()[0] == 0
    assert path.stat().st_size < before * 0.5


def test_the_engine_prunes_in_the_background_after_a_run_and_answers_history_calls(
        cli, dagflux_home: Path, tmp_path: Path) -> None:
    from tests.integration.engine_harness import EngineProcess

    engine = EngineProcess(dagflux_home)
    try:
        runs = [_run(cli, tmp_path, n) for n in (10, 20, 30)]
        with engine.client() as client:
            assert client.call("history.output", run_id=runs[0], node_id="total") == {
                "run_id": runs[0], "node_id": "total", "kept_table": f"wf__total@{runs[0]}",
                "table": f"wf__total@{runs[0]}", "latest": False}
            assert client.call("history.output", run_id=runs[2], node_id="total")["table"] == "wf__total"
            assert client.call("history.pin", run_id=runs[1], pinned=True) is True
            assert client.call("history.budget", size=0) == {"days": hb.DEFAULT_DAYS, "size": 0}
        _run(cli, tmp_path, 40)            # the run's end wakes the pruner
        deadline = time.monotonic() + 30
        with History(dagflux_home / "history.sqlite") as history:
            while history.get_run(runs[2])["pruned"] == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert [history.get_run(r)["pruned"] for r in runs] == [1, 0, 1]
        assert "no longer kept" in _show(cli, runs[0]).stderr and _top(cli, runs[1]) == 20
        # the CLI goes through the running engine (the log's one writer)
        assert "unpinned" in cli("history", "unpin", runs[1]).stdout      # unpinning wakes the pruner
        with History(dagflux_home / "history.sqlite") as history:
            while history.get_run(runs[1])["pruned"] == 0 and time.monotonic() < deadline + 30:
                time.sleep(0.05)
            assert history.get_run(runs[1])["pruned"] == 1
        listed = json.loads(cli("history", "prune", "--dry-run", "--json").stdout)
        assert listed["tables"] == [] and listed["dry_run"] is True
        assert "no run 'nope'" in cli("history", "pin", "nope").stderr
    finally:
        engine.stop()


def test_a_reused_node_names_the_result_it_reused(cli, dagflux_home: Path, tmp_path: Path) -> None:
    first = _run(cli, tmp_path, 10)
    again = cli("run", tmp_path / "wf.json", "--from", "total", "--json")     # seed.csv unchanged
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)["run_id"]
    nodes = {n["node_id"]: n for n in json.loads(cli("history", second, "--json").stdout)["nodes"]}
    assert (nodes["make"]["status"], nodes["make"]["kept_table"]) == ("reused", f"wf__make@{first}")
    assert nodes["total"]["kept_table"] == f"wf__total@{second}"
    shown = cli("history", second, "--node", "make", "--show", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["table"] == "wf__make"   # still the latest
    _run(cli, tmp_path, 30)                                 # make runs again: the reused result is kept
    shown = cli("history", second, "--node", "make", "--show", "--json")
    assert json.loads(shown.stdout)["table"] == f"wf__make@{first}" and json.loads(shown.stdout)["rows"] == 10


def test_a_reused_result_is_pruned_with_the_newest_run_that_reused_it(cli, dagflux_home: Path,
                                                                       tmp_path: Path) -> None:
    first = _run(cli, tmp_path, 10)
    again = cli("run", tmp_path / "wf.json", "--from", "total", "--json")     # reuses first's make
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)["run_id"]
    _run(cli, tmp_path, 30)                                  # make runs again: first's result is kept
    assert "pinned" in cli("history", "pin", second).stdout
    cli("history", "budget", "--days", "0", "--size", "off")

    planned = json.loads(cli("history", "prune", "--dry-run", "--json").stdout)
    by_run = {t["run_id"]: t["tables"] for t in planned["tables"]}
    assert f"wf__make@{first}" not in by_run.get(first, [])  # it stands for the pinned second run too
    assert cli("history", "prune").returncode == 0
    assert json.loads(cli("history", first, "--json").stdout)["nodes"] == []      # first is pruned …
    shown = cli("history", second, "--node", "make", "--show", "--json")          # … its make is not
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["table"] == f"wf__make@{first}" and json.loads(shown.stdout)["rows"] == 10

    assert "unpinned" in cli("history", "unpin", second).stdout
    planned = json.loads(cli("history", "prune", "--dry-run", "--json").stdout)
    assert f"wf__make@{first}" in {t for entry in planned["tables"] if entry["run_id"] == second
                                    for t in entry["tables"]}
    assert cli("history", "prune").returncode == 0
    with closing(sqlite3.connect(dagflux_home / "workspace.sqlite")) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not {n for n in names if "@" in n}                  # every kept table went with its run
