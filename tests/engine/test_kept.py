"""engine.kept: the table a run replaces is renamed to its run's name; the note of which run
the latest table holds changes in the same transaction; views follow the latest name."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import kept, workspace


@pytest.fixture
def ws(tmp_path: Path):
    path = tmp_path / "workspace.sqlite"
    conn, lease = workspace.connect(path), workspace.WriteLease(path)
    yield conn, lease
    lease.close()
    conn.close()


def _publish(conn, lease, final: str, value: int, run_id: str | None) -> None:
    staging = workspace.staging_name(final)
    with workspace.write_transaction(conn, lease):
        conn.execute(f"CREATE TABLE {workspace.quote_ident(staging)} AS SELECT {value} AS v")
    workspace.publish_table(conn, lease, staging, final, lambda c: kept.set_aside(c, final, run_id))


def _value(conn, table: str | None) -> int:
    assert table is not None
    return conn.execute(f"SELECT v FROM {workspace.quote_ident(table)}").fetchone()[0]


def test_each_run_is_kept_under_its_name_and_the_latest_under_the_stable_one(ws) -> None:
    conn, lease = ws
    _publish(conn, lease, "wf__n", 1, "r1")
    conn.execute('CREATE VIEW mine AS SELECT v * 10 AS w FROM "wf__n"')   # a user's view on the latest
    _publish(conn, lease, "wf__n", 2, "r2")
    _publish(conn, lease, "wf__n", 3, "r3")
    assert [_value(conn, kept.resolve(conn, f"wf__n@{r}")) for r in ("r1", "r2", "r3")] == [1, 2, 3]
    assert kept.resolve(conn, "wf__n@r3") == "wf__n" and kept.latest_run(conn, "wf__n") == "r3"
    assert conn.execute("SELECT w FROM mine").fetchone()[0] == 30          # the view still reads the latest
    assert sorted(kept.kept_tables(conn)) == ["wf__n@r1", "wf__n@r2"]
    assert "_dfkept_latest" not in {t["name"] for t in workspace.list_tables(conn)}
    assert kept.resolve(conn, "wf__n@gone") is None and kept.resolve(conn, "plain") is None


def test_a_retry_replaces_its_own_result_and_a_preview_is_no_run(ws) -> None:
    conn, lease = ws
    _publish(conn, lease, "wf__n", 1, "r1")
    _publish(conn, lease, "wf__n", 2, "r1")               # the same run again (a retry): nothing kept
    assert kept.kept_tables(conn) == [] and _value(conn, kept.resolve(conn, "wf__n@r1")) == 2
    _publish(conn, lease, "wf__n", 9, None)               # a "try" preview wrote the latest table
    assert kept.kept_tables(conn) == ["wf__n@r1"] and kept.latest_run(conn, "wf__n") is None
    assert kept.resolve(conn, "wf__n@r1") == "wf__n@r1"
    _publish(conn, lease, "wf__n", 4, "r2")               # what the preview wrote was no run's: dropped
    assert kept.kept_tables(conn) == ["wf__n@r1"] and _value(conn, "wf__n") == 4


def test_a_failed_replacement_keeps_everything_as_it_was(ws) -> None:
    conn, lease = ws
    _publish(conn, lease, "wf__n", 1, "r1")
    with pytest.raises(Exception, match="boom"):
        with workspace.write_transaction(conn, lease):
            kept.set_aside(conn, "wf__n", "r2")
            raise RuntimeError("boom")
    assert kept.kept_tables(conn) == [] and kept.latest_run(conn, "wf__n") == "r1" and _value(conn, "wf__n") == 1


def test_names() -> None:
    assert kept.kept_name("wf__n", "r1") == "wf__n@r1"
    assert kept.split_kept("wf__n@r1") == ("wf__n", "r1") and kept.split_kept("wf__n") is None
