"""The execution log: runs and node runs are recorded, listed, found by prefix and recovered.

A file that is not a usable execution log is reported by name and left byte-for-byte as it was.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path

import pytest

from engine.errors import HistoryError
from engine.history import History, NodeRow, list_sql, prefix_upper_bound
from engine.history_schema import FILTER_COLUMNS, SCHEMA_VERSION


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    with History(tmp_path / "history.sqlite") as log:
        yield log


def node(node_id: str, status: str = "succeeded", **kw) -> NodeRow:
    values = dict(node_type="transformer", title=node_id.title(), started_at=100.0, duration_ms=12.5,
                  records_in=10, records_out=8, error=None)
    values.update(kw)
    return NodeRow(node_id, status=status, **values)


def start(log: History, run_id: str, started_at: float, workflow_id: str = "orders",
          trigger: str = "manual", status: str = "running") -> None:
    log.start_run(run_id, workflow_id, workflow_id.title(), trigger, started_at, node_count=3, status=status)


def older_log(path: Path, row: NodeRow, downgrade: str) -> None:
    """A log written today with run "old" and one node row, then taken back to an older
    schema by ``downgrade`` (SQL ending in its ``PRAGMA user_version``)."""
    with History(path) as log:
        start(log, "old", 5.0)
        log.record_node("old", row, seq=1)
    old = sqlite3.connect(path)
    old.executescript(downgrade)
    old.close()


def user_version(path: Path) -> int:
    check = sqlite3.connect(path)
    try:
        return check.execute("PRAGMA user_version").fetchone()[0]
    finally:
        check.close()


# --- one run, start to finish --------------------------------------------------------------
def test_a_run_is_recorded_from_start_to_finish(history: History) -> None:
    history.start_run("run-1", "orders", "Orders", "manual", 1000.0, node_count=2)
    assert history.get_run("run-1")["status"] == "running"
    history.record_node("run-1", node("load", node_type="data_source", records_in=None,
                                      output_table="orders__load"), seq=1)
    history.record_node("run-1", node("clean", status="failed", error="SQL error: no such column: x",
                                      records_out=None), seq=2)
    history.finish_run("run-1", "failed", 1002.5, error="node 'clean' failed", records=None)

    run = history.get_run("run-1")
    nodes = run.pop("nodes")
    assert run == {"run_id": "run-1", "workflow_id": "orders", "workflow_name": "Orders",
                   "trigger": "manual", "status": "failed", "started_at": 1000.0, "ended_at": 1002.5,
                   "error": "node 'clean' failed", "node_count": 2, "records": None, "seen": True,
                   "params": {}, "duration_ms": 2500.0, "pinned": False, "pruned": 0}
    assert nodes == [
        {"node_id": "load", "node_type": "data_source", "title": "Load", "status": "succeeded",
         "started_at": 100.0, "duration_ms": 12.5, "records_in": None, "records_out": 8, "error": None,
         "output_table": "orders__load", "output_connection": None, "warnings": [], "attempts": [],
         "kept_table": None},
        {"node_id": "clean", "node_type": "transformer", "title": "Clean", "status": "failed",
         "started_at": 100.0, "duration_ms": 12.5, "records_in": 10, "records_out": None,
         "error": "SQL error: no such column: x", "output_table": None, "output_connection": None,
         "warnings": [], "attempts": [], "kept_table": None},
    ]


def test_node_warnings_are_kept_as_a_list(history: History) -> None:
    start(history, "run-1", 1000.0)
    texts = ["in.csv: column x: 1 of 3 values are not numbers ('NA' ×1) — kept as text", "second"]
    history.record_node("run-1", node("load", warnings=texts), seq=1)
    assert history.get_run("run-1")["nodes"][0]["warnings"] == texts


def test_a_log_from_schema_2_gains_node_warnings_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    older_log(path, node("load", output_table="orders__load"), """
        CREATE TABLE node_runs_v2 AS SELECT run_id, node_id, node_type, title, status, started_at, duration_ms,
            records_in, records_out, error, seq, output_table, output_connection FROM node_runs;
        DROP TABLE node_runs;
        ALTER TABLE node_runs_v2 RENAME TO node_runs;
        PRAGMA user_version = 2;""")
    with History(path) as log:
        row = log.get_run("old")["nodes"][0]
        assert (row["output_table"], row["warnings"]) == ("orders__load", [])
        log.record_node("old", node("clean", warnings=["w"]), seq=2)
        assert log.get_run("old")["nodes"][1]["warnings"] == ["w"]
    assert user_version(path) == SCHEMA_VERSION


def test_a_log_from_schema_1_is_upgraded_in_place_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE runs (run_id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, workflow_name TEXT NOT NULL
            DEFAULT '', trigger TEXT NOT NULL DEFAULT 'manual', status TEXT NOT NULL, started_at REAL NOT NULL,
            ended_at REAL, error TEXT, node_count INTEGER NOT NULL DEFAULT 0, records INTEGER,
            seen INTEGER NOT NULL DEFAULT 1);
        CREATE TABLE node_runs (run_id TEXT NOT NULL, node_id TEXT NOT NULL, node_type TEXT NOT NULL DEFAULT '',
            title TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, started_at REAL, duration_ms REAL,
            records_in INTEGER, records_out INTEGER, error TEXT, seq INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (run_id, node_id));
        INSERT INTO runs (run_id, workflow_id, status, started_at) VALUES ('old', 'orders', 'succeeded', 5.0);
        INSERT INTO node_runs (run_id, node_id, status, records_out) VALUES ('old', 'load', 'succeeded', 3);
        PRAGMA user_version = 1;""")
    old.close()
    with History(path) as log:
        node_row = log.get_run("old")["nodes"][0]
        assert node_row["records_out"] == 3 and node_row["output_table"] is None
        log.record_node("old", node("clean", output_table="orders__clean"), seq=2)
        assert log.get_run("old")["nodes"][1]["output_table"] == "orders__clean"


def test_a_running_run_has_no_duration(history: History) -> None:
    start(history, "run-1", 1000.0)
    run = history.get_run("run-1")
    assert (run["ended_at"], run["duration_ms"], run["nodes"]) == (None, None, [])


def test_node_rows_come_back_in_the_order_they_ran(history: History) -> None:
    start(history, "run-1", 1000.0)
    for seq, node_id in [(3, "report"), (1, "load"), (2, "clean")]:
        history.record_node("run-1", node(node_id), seq=seq)
    assert [n["node_id"] for n in history.get_run("run-1")["nodes"]] == ["load", "clean", "report"]


def test_runs_are_seen_until_marked_unseen(history: History) -> None:
    start(history, "manual-run", 1.0, trigger="manual")
    start(history, "cron-run", 2.0, trigger="schedule")
    assert history.get_run("cron-run")["seen"] is True
    history.set_seen("cron-run", False)
    assert history.get_run("cron-run")["seen"] is False
    assert history.get_run("manual-run")["seen"] is True


def test_a_skipped_trigger_is_a_run_row_with_its_reason(history: History) -> None:
    history.record_skipped("skip-1", "wf", "Flow", "webhook", 5.0, "already running (run r1)")
    run = history.get_run("skip-1")
    assert (run["status"], run["trigger"], run["error"], run["nodes"]) == (
        "skipped", "webhook", "already running (run r1)", [])
    assert [r["run_id"] for r in history.list_runs(status="skipped")] == ["skip-1"]


def test_runs_survive_closing_and_reopening(tmp_path: Path) -> None:
    with History(tmp_path / "history.sqlite") as log:
        start(log, "run-1", 1.0)
        log.finish_run("run-1", "succeeded", 2.0, records=42)
    with History(tmp_path / "history.sqlite") as log:
        assert (log.get_run("run-1")["status"], log.get_run("run-1")["records"]) == ("succeeded", 42)
        assert log.count_runs() == 1


# --- finding a run -------------------------------------------------------------------------
@pytest.fixture
def three_runs(history: History) -> History:
    start(history, "20260101-aaaa", 1.0)
    start(history, "20260101-aabb", 2.0)
    start(history, "20260102-cccc", 3.0)
    return history


def test_a_run_is_found_by_a_unique_prefix(three_runs: History) -> None:
    assert three_runs.get_run("20260102")["run_id"] == "20260102-cccc"
    assert three_runs.get_run("20260101-aab")["run_id"] == "20260101-aabb"


def test_an_ambiguous_prefix_is_refused(three_runs: History) -> None:
    with pytest.raises(HistoryError, match=r"^'20260101-aa' matches more than one run; give more characters$"):
        three_runs.get_run("20260101-aa")


def test_an_unknown_run_is_refused_by_name(three_runs: History) -> None:
    with pytest.raises(HistoryError, match=r"^no run '20991231' in the execution log$"):
        three_runs.get_run("20991231")


def test_an_exact_id_wins_over_longer_ids_it_prefixes(history: History) -> None:
    start(history, "abc", 1.0)
    start(history, "abcd", 2.0)
    start(history, "abcde", 3.0)
    assert history.get_run("abc")["run_id"] == "abc"


@pytest.mark.parametrize("prefix, expected", [("run_", "run_1"), ("run%", None), ("r\\", None)])
def test_like_wildcards_in_a_prefix_are_literal(history: History, prefix: str, expected: str | None) -> None:
    start(history, "run_1", 1.0)
    start(history, "runx1", 2.0)
    if expected is None:
        with pytest.raises(HistoryError, match=re.escape(f"no run '{prefix}'")):
            history.get_run(prefix)
    else:
        assert history.get_run(prefix)["run_id"] == expected


def test_an_upper_case_prefix_still_finds_a_lower_case_id(history: History) -> None:
    start(history, "20261205-044512-123-00a-k3j6x2w2qz7fb", 1.0)
    assert history.get_run("20261205-044512-123-00A")["run_id"] == "20261205-044512-123-00a-k3j6x2w2qz7fb"


def test_prefixes_beyond_ascii_are_a_range_of_their_own(history: History) -> None:
    for run_id in ("é1", "é2x", "éa", "ê", "\U0010ffff1", "\ud7ffz", "\ue000"):
        start(history, run_id, 1.0)
    assert history.get_run("é2")["run_id"] == "é2x"
    assert history.get_run("\U0010ffff")["run_id"] == "\U0010ffff1"
    assert history.get_run("\ud7ff")["run_id"] == "\ud7ffz"
    with pytest.raises(HistoryError, match="matches more than one run"):
        history.get_run("é")


@pytest.mark.parametrize("prefix, bound", [
    ("abc", "abd"), ("a\U0010ffff", "b"), ("\U0010ffff", None), ("", None), ("x\ud7ff", "x\ue000"),
])
def test_the_prefix_bound_is_the_least_string_above_the_prefix(prefix: str, bound: str | None) -> None:
    assert prefix_upper_bound(prefix) == bound


# --- listing -------------------------------------------------------------------------------
@pytest.fixture
def many_runs(history: History) -> History:
    start(history, "r1", 10.0, workflow_id="orders")
    start(history, "r2", 30.0, workflow_id="billing", trigger="schedule")
    start(history, "r3", 20.0, workflow_id="orders", trigger="schedule")
    start(history, "r4", 30.0, workflow_id="orders")           # same start as r2, written later
    start(history, "r5", 5.0, workflow_id="billing")
    history.finish_run("r1", "succeeded", 11.0)
    history.finish_run("r3", "failed", 21.0, error="boom")
    history.finish_run("r5", "succeeded", 6.0)
    return history


def ids(rows: list[dict]) -> list[str]:
    return [r["run_id"] for r in rows]


def test_runs_are_listed_newest_first_ties_by_insertion(many_runs: History) -> None:
    assert ids(many_runs.list_runs()) == ["r4", "r2", "r3", "r1", "r5"]


@pytest.mark.parametrize("filters, expected", [
    ({"workflow_id": "orders"}, ["r4", "r3", "r1"]),
    ({"status": "succeeded"}, ["r1", "r5"]),
    ({"trigger": "schedule"}, ["r2", "r3"]),
    ({"workflow_id": "orders", "status": "running"}, ["r4"]),
    ({"workflow_id": "billing", "trigger": "manual"}, ["r5"]),
    ({"workflow_id": "nope"}, []),
])
def test_runs_are_filtered(many_runs: History, filters: dict, expected: list[str]) -> None:
    assert ids(many_runs.list_runs(**filters)) == expected


@pytest.mark.parametrize("limit, offset, expected", [
    (2, 0, ["r4", "r2"]), (2, 2, ["r3", "r1"]), (2, 4, ["r5"]), (10, 5, []), (1, 1, ["r2"]),
])
def test_runs_are_paged(many_runs: History, limit: int, offset: int, expected: list[str]) -> None:
    assert ids(many_runs.list_runs(limit=limit, offset=offset)) == expected


def test_listed_runs_carry_their_fields(many_runs: History) -> None:
    [r3] = many_runs.list_runs(status="failed")
    assert {k: r3[k] for k in ("workflow_id", "trigger", "error", "duration_ms", "seen", "node_count")} == {
        "workflow_id": "orders", "trigger": "schedule", "error": "boom", "duration_ms": 1000.0,
        "seen": True, "node_count": 3}
    assert "nodes" not in r3


# --- crash recovery ------------------------------------------------------------------------
def test_runs_left_running_become_interrupted_and_end_at_their_last_row(history: History) -> None:
    start(history, "crashed-1", 1.0)
    start(history, "crashed-2", 2.0)
    start(history, "done", 3.0)
    history.finish_run("done", "succeeded", 4.0)
    history.record_node("crashed-1", node("load", started_at=5.0, duration_ms=2000.0), seq=1)
    history.record_node("crashed-1", node("clean", status="running", started_at=7.5, duration_ms=None), seq=2)
    history.record_node("done", node("load"), seq=1)

    assert history.mark_interrupted() == 2

    crashed = history.get_run("crashed-1")
    assert (crashed["status"], crashed["ended_at"]) == ("interrupted", 7.5)   # the last row, not "now"
    assert history.get_run("crashed-2")["ended_at"] == 2.0                    # no node row: its start
    for run_id in ("crashed-1", "crashed-2"):
        assert history.get_run(run_id)["error"] == "the process running it stopped before it finished"
    assert [(n["node_id"], n["status"]) for n in crashed["nodes"]] == [
        ("load", "succeeded"), ("clean", "interrupted")]
    done = history.get_run("done")
    assert (done["status"], done["ended_at"], done["error"]) == ("succeeded", 4.0, None)
    assert history.mark_interrupted() == 0
    assert history.get_run("crashed-1")["ended_at"] == 7.5


# --- a file that is not an execution log ---------------------------------------------------
@pytest.mark.parametrize("content", [
    b"this is a text file, not a database\n" * 40,
    b"SQLite format 3\x00" + b"\xff" * 200,
], ids=["text", "bad-header"])
def test_a_file_that_is_not_a_database_is_named_and_left_unchanged(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "history.sqlite"
    path.write_bytes(content)
    with pytest.raises(HistoryError, match=re.escape(f"{path} is not a usable execution log (") + r".*"
                                           + re.escape("it was left untouched")):
        History(path)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.sqlite"]


def newer_log(path: Path) -> bytes:
    conn = sqlite3.connect(path)
    try:
        conn.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, future_column BLOB)")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.commit()
    finally:
        conn.close()
    return path.read_bytes()


def test_a_log_from_a_newer_dagflux_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    newer_log(path)
    newer = f"{path} was written by a newer DagFlux (schema {SCHEMA_VERSION + 1})"
    with pytest.raises(HistoryError, match=re.escape(newer)):
        History(path)


def test_a_log_from_a_newer_dagflux_is_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    before = newer_log(path)
    with pytest.raises(HistoryError):
        History(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.sqlite"]


# --- each workflow's last run (the Workflows screen) ---------------------------------------
def test_last_runs_gives_each_workflows_most_recent_run_with_skipped_ones_counting(history: History) -> None:
    start(history, "o-1", 1000.0, "orders")
    history.finish_run("o-1", "succeeded", 1001.0)
    start(history, "o-2", 2000.0, "orders", trigger="schedule")
    history.finish_run("o-2", "failed", 2003.0, error="node 'clean' failed")
    start(history, "s-1", 1500.0, "sales")
    history.record_skipped("s-2", "sales", "Sales", "webhook", 1600.0, "already running")
    start(history, "t-1", 900.0, "tidy")

    last = history.last_runs()
    assert last == {
        "orders": {"run_id": "o-2", "status": "failed", "trigger": "schedule", "started_at": 2000.0,
                   "ended_at": 2003.0, "error": "node 'clean' failed"},
        "sales": {"run_id": "s-2", "status": "skipped", "trigger": "webhook", "started_at": 1600.0,
                  "ended_at": 1600.0, "error": "already running"},
        "tidy": {"run_id": "t-1", "status": "running", "trigger": "manual", "started_at": 900.0,
                 "ended_at": None, "error": None},
    }
    assert set(history.last_runs(["sales", "tidy", "never_ran"])) == {"sales", "tidy"}
    assert history.last_runs([]) == {}


def test_last_runs_breaks_a_tie_on_start_time_by_the_later_written_row(history: History) -> None:
    start(history, "b-first", 1000.0, "orders")
    start(history, "a-second", 1000.0, "orders")
    assert history.last_runs(["orders"])["orders"]["run_id"] == "a-second"


# --- counting and the workflows in the log (the History screen's filters) -----------------
@pytest.mark.parametrize("filters, expected", [
    ({}, 5),
    ({"workflow_id": "orders"}, 3),
    ({"status": "succeeded"}, 2),
    ({"trigger": "schedule"}, 2),
    ({"workflow_id": "orders", "status": "running"}, 1),
    ({"workflow_id": "billing", "trigger": "manual"}, 1),
    ({"workflow_id": "nope"}, 0),
    ({"workflow_id": "", "status": ""}, 5),               # empty filters are no filters
])
def test_runs_are_counted_with_the_same_filters_as_listing(many_runs: History, filters: dict,
                                                           expected: int) -> None:
    assert many_runs.count_runs(**filters) == expected
    assert len(many_runs.list_runs(limit=100, **filters)) == expected


def test_the_workflows_in_the_log_carry_their_latest_name_and_run_count(history: History) -> None:
    history.start_run("a-1", "orders", "Orders (old name)", "manual", 10.0, node_count=1)
    history.start_run("a-2", "orders", "Orders", "manual", 20.0, node_count=1)
    history.record_skipped("b-1", "billing", "Billing", "webhook", 15.0, "already running")
    assert history.workflows() == [
        {"workflow_id": "billing", "workflow_name": "Billing", "runs": 1},
        {"workflow_id": "orders", "workflow_name": "Orders", "runs": 2},
    ]


def _counted(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        kept = dict(conn.execute("SELECT workflow_id, runs FROM workflow_runs WHERE runs > 0"))
        assert kept == dict(conn.execute("SELECT workflow_id, count(*) FROM runs GROUP BY 1"))
        return kept
    finally:
        conn.close()


def test_the_runs_per_workflow_are_counted_once_at_upgrade_then_kept_by_the_logs_triggers(tmp_path: Path) -> None:
    # workflows() read count(*) per workflow: 38 ms at 1,000,000 runs. A log of schema 7 is
    # counted once when it is opened; from then on every insert, delete or move keeps the count,
    # also when the writer is a DagFlux that does not know the table (the triggers are in the file).
    path = tmp_path / "history.sqlite"
    with History(path) as log:
        for i in range(5):
            start(log, f"o-{i}", float(i), workflow_id="orders")
        start(log, "b-0", 9.0, workflow_id="billing")
    old = sqlite3.connect(path)
    old.executescript("DROP TRIGGER workflow_runs_add; DROP TRIGGER workflow_runs_remove; "
                      "DROP TRIGGER workflow_runs_move; DROP TABLE workflow_runs; PRAGMA user_version = 7;")
    old.close()
    with History(path) as log:
        assert user_version(path) == SCHEMA_VERSION
        assert _counted(path) == {"orders": 5, "billing": 1}
        log.record_skipped("t-0", "tidy", "Tidy", "webhook", 20.0, "already running")
    other = sqlite3.connect(path)                      # a writer that knows nothing of the count
    with other:
        other.execute("DELETE FROM runs WHERE run_id IN ('o-0', 'o-1')")
        other.execute("UPDATE runs SET workflow_id = 'tidy' WHERE run_id = 'b-0'")
        other.execute("UPDATE runs SET status = 'failed' WHERE run_id = 'o-2'")
    other.close()
    assert _counted(path) == {"orders": 3, "tidy": 2}
    with History(path) as log:
        assert [(w["workflow_id"], w["runs"]) for w in log.workflows()] == [("orders", 3), ("tidy", 2)]


# --- paging by cursor ----------------------------------------------------------------------
WORKFLOWS, STATUSES, TRIGGERS = ("orders", "billing", "tidy"), ("succeeded", "failed", "running"), \
    ("manual", "schedule")
FILTER_SETS = [{}, {"workflow_id": "orders"}, {"status": "failed"}, {"trigger": "schedule"},
               {"workflow_id": "billing", "status": "succeeded"}, {"workflow_id": "orders", "trigger": "manual"},
               {"status": "failed", "trigger": "schedule"},
               {"workflow_id": "tidy", "status": "running", "trigger": "manual"}]


@pytest.fixture
def tied_runs(history: History) -> tuple[History, list[dict]]:
    """120 runs over only 9 start times (many ties), ids not in start or write order."""
    written = []
    for i in range(120):
        run = {"run_id": f"run-{(i * 37) % 120:03d}", "workflow_id": WORKFLOWS[i % 3], "status": STATUSES[i % 7 % 3],
               "trigger": TRIGGERS[i % 5 % 2], "started_at": float((i * 5) % 9)}
        history.start_run(run["run_id"], run["workflow_id"], "", run["trigger"], run["started_at"], 1,
                          status=run["status"])
        written.append(run)
    return history, written


def paged(log: History, size: int, **filters: str) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = ids(log.list_runs(limit=size, before=cursor, **filters))
        if not page:
            return pages
        pages.append(page)
        cursor = page[-1]


@pytest.mark.parametrize("filters", FILTER_SETS, ids=lambda f: "+".join(f) or "none")
@pytest.mark.parametrize("size", [1, 7, 50])
def test_pages_by_cursor_make_up_exactly_the_whole_list(tied_runs: tuple[History, list[dict]], filters: dict,
                                                        size: int) -> None:
    log, written = tied_runs
    order = sorted(range(len(written)), key=lambda i: (written[i]["started_at"], i), reverse=True)
    expected = [written[i]["run_id"] for i in order
                if all(written[i][k] == v for k, v in filters.items())]
    assert expected, "each filter set matches some runs"
    pages = paged(log, size, **filters)
    assert [run_id for page in pages for run_id in page] == expected
    assert all(len(page) == size for page in pages[:-1])
    assert ids(log.list_runs(limit=1000, **filters)) == expected
    assert log.list_runs(limit=size, before=expected[-1], **filters) == []


def test_a_cursor_page_carries_the_same_rows_as_an_offset_page(tied_runs: tuple[History, list[dict]]) -> None:
    log, _ = tied_runs
    first = log.list_runs(limit=10)
    assert log.list_runs(limit=10, before=first[-1]["run_id"]) == log.list_runs(limit=10, offset=10)
    assert log.list_runs(limit=5, offset=3, before=first[-1]["run_id"]) == log.list_runs(limit=5, offset=13)


def test_a_cursor_naming_no_run_is_refused(history: History) -> None:
    start(history, "r1", 1.0)
    with pytest.raises(HistoryError, match=r"^no run 'gone' in the execution log \(the page cursor\)$"):
        history.list_runs(before="gone")


@pytest.mark.parametrize("keyset", [False, True])
@pytest.mark.parametrize("columns", [cols for n in range(4) for cols in combinations(FILTER_COLUMNS, n)],
                         ids=lambda c: "+".join(c) or "none")
def test_every_filter_combination_pages_by_an_index_without_sorting(history: History, columns: tuple,
                                                                    keyset: bool) -> None:
    from engine.history import _filters

    clause, args = _filters(*(("x" if c in columns else None) for c in FILTER_COLUMNS))
    sql = list_sql(clause, keyset)
    plan = " | ".join(row[3] for row in history._conn.execute(
        f"EXPLAIN QUERY PLAN {sql}", (*args, *((1.0, 1) if keyset else ()), 50, 0)))
    name = "runs_by_" + ("_".join(c.split("_")[0] for c in columns) or "start")
    assert plan.split()[:5] in (["SCAN", "r", "USING", "INDEX", name], ["SEARCH", "r", "USING", "INDEX", name]), plan
    assert "TEMP B-TREE" not in plan and "|" not in plan, plan


def test_a_run_is_opened_through_the_primary_key(history: History) -> None:
    plans = [" | ".join(row[3] for row in history._conn.execute(f"EXPLAIN QUERY PLAN {sql}", args)) for sql, args in [
        ("SELECT * FROM runs WHERE run_id = ?", ("a",)),
        ("SELECT * FROM runs WHERE run_id >= ? AND run_id < ? ORDER BY run_id LIMIT 2", ("a", "b")),
        ("SELECT * FROM node_runs WHERE run_id = ? ORDER BY seq", ("a",))]]
    assert all("USING INDEX sqlite_autoindex_" in plan for plan in plans), plans


# --- a log written before the run indexes (schema 3) ---------------------------------------
SCHEMA_3 = """
CREATE TABLE runs (run_id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, workflow_name TEXT NOT NULL DEFAULT '',
    trigger TEXT NOT NULL DEFAULT 'manual', status TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL,
    error TEXT, node_count INTEGER NOT NULL DEFAULT 0, records INTEGER, seen INTEGER NOT NULL DEFAULT 1);
CREATE INDEX runs_started ON runs (started_at DESC);
CREATE INDEX runs_workflow ON runs (workflow_id, started_at DESC);
CREATE TABLE node_runs (run_id TEXT NOT NULL REFERENCES runs (run_id), node_id TEXT NOT NULL,
    node_type TEXT NOT NULL DEFAULT '', title TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, started_at REAL,
    duration_ms REAL, records_in INTEGER, records_out INTEGER, error TEXT, seq INTEGER NOT NULL DEFAULT 0,
    output_table TEXT, output_connection TEXT, warnings TEXT, PRIMARY KEY (run_id, node_id));
INSERT INTO runs (run_id, workflow_id, status, trigger, started_at) VALUES
    ('a', 'orders', 'succeeded', 'manual', 1.0), ('b', 'orders', 'failed', 'schedule', 2.0),
    ('c', 'billing', 'failed', 'manual', 2.0), ('d', 'orders', 'failed', 'manual', 3.0);
INSERT INTO node_runs (run_id, node_id, status, seq, warnings) VALUES ('b', 'load', 'failed', 1, '["w"]');
PRAGMA user_version = 3;
"""


def test_a_log_from_schema_3_gains_the_run_indexes_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    old = sqlite3.connect(path)
    old.executescript(SCHEMA_3)
    old.close()
    with History(path) as log:
        assert ids(log.list_runs()) == ["d", "c", "b", "a"]
        assert paged(log, 1, status="failed") == [["d"], ["c"], ["b"]]
        assert log.get_run("b")["nodes"][0]["warnings"] == ["w"]
        assert {wf: run["run_id"] for wf, run in log.last_runs().items()} == {"orders": "d", "billing": "c"}
    check = sqlite3.connect(path)
    indexes = {row[0] for row in check.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                                "AND name NOT LIKE 'sqlite_autoindex_%'")}
    assert indexes == {"runs_by_start", "runs_by_workflow", "runs_by_status", "runs_by_trigger",
                       "runs_by_workflow_status", "runs_by_workflow_trigger", "runs_by_status_trigger",
                       "runs_by_workflow_status_trigger", "node_runs_reused"}
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    check.close()


def test_an_upgrade_that_fails_leaves_the_log_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "history.sqlite"
    old = sqlite3.connect(path)
    old.executescript(SCHEMA_3)
    old.close()
    import engine.history_schema as history_module

    monkeypatch.setattr(history_module, "_SCHEMA_STATEMENTS",
                        (*history_module._SCHEMA_STATEMENTS, "CREATE INDEX broken ON runs (no_such_column)"))
    with pytest.raises(HistoryError, match="is not a usable execution log"):
        History(path)
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == 3
    assert {r[0] for r in check.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                        "AND name NOT LIKE 'sqlite_autoindex_%'")} == {"runs_started", "runs_workflow"}
    check.close()


def test_a_log_from_schema_4_gains_run_params_and_node_attempts_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    older_log(path, node("load"), """
        CREATE TABLE runs_v4 AS SELECT run_id, workflow_id, workflow_name, trigger, status, started_at, ended_at,
            error, node_count, records, seen FROM runs;
        DROP TABLE runs;
        ALTER TABLE runs_v4 RENAME TO runs;
        ALTER TABLE node_runs DROP COLUMN attempts;
        PRAGMA user_version = 4;""")
    with History(path) as log:
        run = log.get_run("old")
        assert (run["params"], run["nodes"][0]["attempts"], run["nodes"][0]["node_id"]) == ({}, [], "load")
        log.start_run("new", "orders", "Orders", "manual", 9.0, node_count=1, params={"day": "2026-01-02"})
        tries = [{"attempt": 1, "status": "failed", "started_at": 9.1, "duration_ms": 3.0, "error": "HTTP 503"},
                 {"attempt": 2, "status": "succeeded", "started_at": 9.3, "duration_ms": 2.0, "error": None}]
        log.record_node("new", node("fetch", attempts=tries), seq=1)
        again = log.get_run("new")
        assert again["params"] == {"day": "2026-01-02"} and again["nodes"][0]["attempts"] == tries
    assert user_version(path) == SCHEMA_VERSION == 8


def test_a_log_from_schema_5_gains_node_fingerprints_and_finds_a_nodes_last_success(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    older_log(path, node("load"), "ALTER TABLE node_runs DROP COLUMN fingerprint; PRAGMA user_version = 5;")
    with History(path) as log:
        assert log.last_success("orders", "load")["fingerprint"] is None      # kept, made before fingerprints
        start(log, "newer", 9.0)
        log.record_node("newer", NodeRow("load", "data_source", "", "reused", 9.0, 0.0, None, 3, None,
                                         "orders__load", fingerprint="abc"), seq=1)
        start(log, "newest", 12.0)
        log.record_node("newest", NodeRow("load", "data_source", "", "failed", 12.0, 1.0, None, None, "boom",
                                          fingerprint="def"), seq=1)
        last = log.last_success("orders", "load")
        assert (last["run_id"], last["fingerprint"], last["records_out"]) == ("newer", "abc", 3)
        assert log.last_success("orders", "nope") is None and log.last_success("other", "load") is None
    assert user_version(path) == SCHEMA_VERSION
