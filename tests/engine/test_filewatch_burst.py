"""How one watch's burst of file changes coalesces (pure: times and stats are given)."""

from __future__ import annotations

from engine.service.filewatch_burst import Burst

SETTLE = 1.0
ALL = ("add", "change", "delete")
A = "/in/a.csv"


def settled_add(burst: Burst) -> float:
    """a.csv created at 0, stat-ed at 0.1, quiet since: settled from 1.1 on. Returns 1.2."""
    burst.record(A, "add", 0.0, None, SETTLE)
    burst.observe({A: (5, 100.0)}, 0.1, SETTLE)
    assert burst.take(0.5, SETTLE, ALL) is None         # still in its window
    return 1.2


def test_a_settled_add_then_a_delete_reports_both_when_the_event_comes_first() -> None:
    burst = Burst()
    now = settled_add(burst)
    burst.record(A, "delete", now, None, SETTLE)        # before any pass took the settled add
    assert burst.take(now, SETTLE, ALL) is None         # the delete settles in its own window
    burst.observe({A: None}, now + 0.1, SETTLE)
    assert burst.take(now + 1.2, SETTLE, ("delete",)) == [
        {"path": A, "event": "delete", "size": None, "mtime": None}]


def test_a_settled_add_then_a_delete_reports_both_when_the_stat_sees_it_first() -> None:
    burst = Burst()
    now = settled_add(burst)
    burst.observe({A: None}, now, SETTLE)               # gone at the pass; its event is on the way
    burst.record(A, "delete", now + 0.05, None, SETTLE)
    burst.observe({A: None}, now + 0.1, SETTLE)
    assert burst.take(now + 1.2, SETTLE, ALL) == [
        {"path": A, "event": "add", "size": 5, "mtime": 100.0},
        {"path": A, "event": "delete", "size": None, "mtime": None}]


def test_a_file_that_came_and_went_within_its_window_is_not_reported() -> None:
    burst = Burst()
    burst.record(A, "add", 0.0, None, SETTLE)
    burst.observe({A: (5, 100.0)}, 0.1, SETTLE)
    burst.record(A, "delete", 0.5, None, SETTLE)
    assert not burst and burst.take(2.0, SETTLE, ALL) == []


def test_add_then_change_within_the_window_stays_one_add_with_the_final_size() -> None:
    burst = Burst()
    burst.record(A, "add", 0.0, None, SETTLE)
    burst.observe({A: (5, 100.0)}, 0.1, SETTLE)
    burst.record(A, "change", 0.4, None, SETTLE)
    burst.observe({A: (9, 101.0)}, 0.5, SETTLE)
    assert burst.take(1.0, SETTLE, ALL) is None
    assert burst.take(1.6, SETTLE, ALL) == [{"path": A, "event": "add", "size": 9, "mtime": 101.0}]


def test_a_burst_waits_for_its_slowest_path() -> None:
    burst = Burst()
    burst.record(A, "add", 0.0, None, SETTLE)
    burst.observe({A: (5, 100.0)}, 0.1, SETTLE)
    burst.record("/in/b.csv", "add", 0.9, None, SETTLE)
    burst.observe({"/in/b.csv": (1, 100.5)}, 1.0, SETTLE)
    assert burst.due(1.2, SETTLE) == [A] and burst.take(1.2, SETTLE, ALL) is None
    assert [c["path"] for c in burst.take(2.1, SETTLE, ALL)] == [A, "/in/b.csv"]


def test_a_single_file_settled_then_deleted_is_a_change_then_a_delete() -> None:
    burst = Burst()
    burst.record(A, "change", 0.0, True, SETTLE)         # the watched file existed before
    burst.observe({A: (5, 100.0)}, 0.1, SETTLE)
    burst.record(A, "delete", 1.2, True, SETTLE)
    burst.observe({A: None}, 1.3, SETTLE)
    assert [(c["event"], c["size"]) for c in burst.take(2.4, SETTLE, ALL)] == [("change", 5), ("delete", None)]
