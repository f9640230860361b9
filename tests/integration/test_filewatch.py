"""File/folder-watch triggers on real files with real watchdog observers."""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from engine.model.triggers import parse_trigger
from engine.service import filewatch
from engine.service.filewatch import FileWatcher

SETTLE = 0.3


def watch_trigger(events=("add", "change", "delete"), recursive=False, settle=SETTLE):
    raw = {"kind": "file_watch", "path": "unused", "events": list(events), "recursive": recursive,
           "settle_seconds": settle}
    return parse_trigger({"trigger": raw})


class Fires:
    """Collects on_fire calls; lets a test wait for them or for silence."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, float]] = []
        self._cond = threading.Condition()

    def __call__(self, workflow_id: str, info: dict) -> None:
        with self._cond:
            self.calls.append((workflow_id, info, time.monotonic()))
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.calls) >= count, timeout), \
                f"expected {count} fire(s), got {len(self.calls)}"
            return [info for _, info, _ in self.calls]

    def quiet(self, seconds: float) -> list[dict]:
        """Wait ``seconds`` and return every fire so far."""
        time.sleep(seconds)
        with self._cond:
            return [info for _, info, _ in self.calls]


def paths_of(info: dict) -> list[tuple[str, str]]:
    return [(Path(c["path"]).name, c["event"]) for c in info["changes"]]


def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def watchdog_threads() -> list[threading.Thread]:
    from watchdog.utils import BaseThread
    return [t for t in threading.enumerate() if isinstance(t, BaseThread)]


@pytest.fixture
def fires() -> Fires:
    return Fires()


@pytest.fixture(params=["native", "polling"])
def watcher(request, fires):
    w = FileWatcher(fires, poll=request.param == "polling", poll_interval=0.1)
    w.start()
    yield w
    w.stop()
    assert not any(t.name == "dagflux-filewatch" for t in threading.enumerate())
    assert watchdog_threads() == []


@pytest.fixture
def native(fires):
    w = FileWatcher(fires)
    w.start()
    yield w
    w.stop()
    assert watchdog_threads() == []


def copy_slowly(path: Path, chunks: int = 10, size: int = 4096, pause: float = 0.1) -> float:
    """Write ``path`` chunk by chunk like a slow copy; returns when the last chunk landed."""
    with open(path, "wb") as out:
        for i in range(chunks):
            if i:
                time.sleep(pause)
            out.write(b"x" * size)
            out.flush()
    return time.monotonic()


# --- settle and coalesce -------------------------------------------------------------
def test_a_file_copied_slowly_fires_once_after_it_settles(watcher, fires, tmp_path):
    watcher.set("wf", watch_trigger(), tmp_path)
    assert watcher.registered()["wf"]["state"] == "watching"
    done = copy_slowly(tmp_path / "big.csv")
    [info] = fires.wait_for(1)
    assert info["reason"] == "file_watch"
    assert info["changes"] == [{"path": str(tmp_path / "big.csv"), "event": "add", "size": 40960,
                                "mtime": os.stat(tmp_path / "big.csv").st_mtime}]
    assert fires.calls[0][2] - done >= SETTLE - 0.05, "fired before the file had settled"
    assert len(fires.quiet(1.0)) == 1


def test_a_burst_of_files_fires_once_listing_them_all(watcher, fires, tmp_path):
    watcher.set("wf", watch_trigger(), tmp_path)
    for i in range(20):
        (tmp_path / f"part-{i:02d}.json").write_text("[]")
        time.sleep(0.01)
    [info] = fires.wait_for(1)
    assert paths_of(info) == [(f"part-{i:02d}.json", "add") for i in range(20)]
    assert all(c["size"] == 2 for c in info["changes"])
    assert len(fires.quiet(0.8)) == 1


def test_a_watched_single_file_reports_its_changes(watcher, fires, tmp_path):
    target = tmp_path / "data.csv"
    target.write_text("a\n1\n")
    (tmp_path / "other.csv").write_text("x")
    watcher.set("wf", watch_trigger(), target)
    time.sleep(0.3)     # let the polling backend take its first snapshot
    (tmp_path / "other.csv").write_text("changed")      # not the watched file
    target.write_text("a\n1\n2\n")
    [info] = fires.wait_for(1)
    assert info["changes"] == [{"path": str(target), "event": "change", "size": 6,
                                "mtime": target.stat().st_mtime}]
    temp = tmp_path / ".data.csv.tmp"       # an editor's atomic save: write aside, rename over
    temp.write_text("a\n9\n")
    os.replace(temp, target)
    infos = fires.wait_for(2)
    assert paths_of(infos[1]) == [("data.csv", "change")]


def test_a_watched_single_file_deleted_then_created_again(native, fires, tmp_path):
    target = tmp_path / "data.csv"
    target.write_text("x")
    native.set("wf", watch_trigger(), target)
    target.unlink()
    [info] = fires.wait_for(1)
    assert info["changes"] == [{"path": str(target), "event": "delete", "size": None, "mtime": None}]
    wait_until(lambda: native.registered()["wf"]["state"] == "waiting")
    target.write_text("again")
    infos = fires.wait_for(2)
    assert infos[1]["changes"] == [{"path": str(target), "event": "add", "size": 5,
                                    "mtime": target.stat().st_mtime}]
    assert native.registered()["wf"]["state"] == "watching"


def test_a_delete_is_reported_without_size(watcher, fires, tmp_path):
    (tmp_path / "old.csv").write_text("x")
    watcher.set("wf", watch_trigger(events=["delete"]), tmp_path)
    time.sleep(0.3)
    (tmp_path / "old.csv").unlink()
    [info] = fires.wait_for(1)
    assert info["changes"] == [{"path": str(tmp_path / "old.csv"), "event": "delete", "size": None,
                                "mtime": None}]


def test_events_not_listed_are_ignored(native, fires, tmp_path):
    existing = tmp_path / "existing.csv"
    existing.write_text("x")
    native.set("wf", watch_trigger(events=["add"]), tmp_path)
    existing.write_text("changed")
    existing.unlink()
    assert fires.quiet(SETTLE + 0.6) == []
    (tmp_path / "new.csv").write_text("y")
    assert [paths_of(i) for i in fires.wait_for(1)] == [[("new.csv", "add")]]


def test_a_file_added_then_deleted_within_the_window_fires_nothing(native, fires, tmp_path):
    native.set("wf", watch_trigger(settle=0.5), tmp_path)
    brief = tmp_path / "brief.tmp"
    brief.write_text("x")
    brief.unlink()
    assert fires.quiet(1.2) == []


def test_subfolders_count_only_when_recursive(native, fires, tmp_path):
    (tmp_path / "flat").mkdir()
    (tmp_path / "deep" / "sub").mkdir(parents=True)
    native.set("flat", watch_trigger(), tmp_path / "flat")
    native.set("deep", watch_trigger(recursive=True), tmp_path / "deep")
    (tmp_path / "flat" / "nested").mkdir()
    (tmp_path / "flat" / "nested" / "a.csv").write_text("x")
    (tmp_path / "deep" / "sub" / "b.csv").write_text("x")
    fires.wait_for(1)
    calls = fires.quiet(SETTLE + 0.5)
    assert [(wid, paths_of(info)) for wid, info, _ in fires.calls] == [("deep", [("b.csv", "add")])]
    assert len(calls) == 1


# --- waiting, errors -----------------------------------------------------------------
def test_a_missing_folder_waits_then_fires_once_it_appears(watcher, fires, tmp_path):
    target = tmp_path / "drop" / "in"
    watcher.set("wf", watch_trigger(), target)
    state = watcher.registered()["wf"]
    assert state["state"] == "waiting"
    assert state["detail"].startswith(f"{target} does not exist yet; watching {tmp_path} for it")
    (tmp_path / "drop").mkdir()
    target.mkdir()
    wait_until(lambda: watcher.registered()["wf"]["state"] == "watching")
    (target / "a.csv").write_text("a")
    [info] = fires.wait_for(1)
    assert paths_of(info) == [("a.csv", "add")]


def test_a_folder_that_appears_with_files_in_it_reports_them_added(native, fires, tmp_path):
    target = tmp_path / "in"
    native.set("wf", watch_trigger(), target)
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "a.csv").write_text("a")
    (staging / "b.csv").write_text("b")
    staging.rename(target)      # moved in whole
    [info] = fires.wait_for(1)
    assert paths_of(info) == [("a.csv", "add"), ("b.csv", "add")]


def test_a_watched_folder_deleted_and_recreated_is_watched_again(native, fires, tmp_path):
    target = tmp_path / "in"
    target.mkdir()
    native.set("wf", watch_trigger(events=["add"]), target)
    shutil.rmtree(target)
    wait_until(lambda: native.registered()["wf"]["state"] == "waiting")
    target.mkdir()
    wait_until(lambda: native.registered()["wf"]["state"] == "watching")
    (target / "c.csv").write_text("c")
    assert [paths_of(i) for i in fires.wait_for(1)] == [[("c.csv", "add")]]


def test_a_path_below_a_file_is_an_error_not_a_crash(native, fires, tmp_path):
    (tmp_path / "plain.txt").write_text("x")
    native.set("wf", watch_trigger(), tmp_path / "plain.txt" / "in")
    state = native.registered()["wf"]
    assert state["state"] == "error"
    assert state["detail"] == f"{tmp_path / 'plain.txt'} is a file, not a folder, so " \
                              f"{tmp_path / 'plain.txt' / 'in'} cannot appear"


def test_a_folder_the_os_denies_is_an_error_even_for_root(native, fires, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: os.fspath(path) != str(locked) and real_access(path, mode))
    native.set("folder", watch_trigger(), locked)
    native.set("below", watch_trigger(), locked / "missing")
    for state in native.registered().values():
        assert state["state"] == "error"
        assert state["detail"] == f"permission denied: DagFlux cannot read the folder {locked}"
    assert watchdog_threads() == [], "nothing is watched for an error"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder, so permission checks do not apply")
def test_a_folder_without_read_permission_is_an_error(native, fires, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    try:
        native.set("wf", watch_trigger(), locked)
        state = native.registered()["wf"]
        assert state["state"] == "error"
        assert state["detail"] == f"permission denied: DagFlux cannot read the folder {locked}"
    finally:
        locked.chmod(0o700)


# --- registration and threads --------------------------------------------------------
def test_remove_and_replace_leave_no_observer_running(fires, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    w = FileWatcher(fires)
    w.start()
    try:
        w.set("wf", watch_trigger(), first)
        assert len(watchdog_threads()) >= 2
        w.set("wf", watch_trigger(), second)        # replace: the old watch goes
        assert list(w.registered()) == ["wf"] and w.registered()["wf"]["path"] == str(second)
        (first / "ignored.csv").write_text("x")
        (second / "seen.csv").write_text("x")
        assert [paths_of(i) for i in fires.wait_for(1)] == [[("seen.csv", "add")]]
        assert w.remove("wf") is True and w.remove("wf") is False
        assert w.registered() == {}
        wait_until(lambda: watchdog_threads() == [])      # nothing left to watch: the observer stopped
        (second / "late.csv").write_text("x")
        assert len(fires.quiet(SETTLE + 0.5)) == 1
    finally:
        w.stop()
    assert not any(t.name == "dagflux-filewatch" for t in threading.enumerate())


def test_two_workflows_on_one_folder_share_it_and_keep_their_own_events(native, fires, tmp_path):
    native.set("adds", watch_trigger(events=["add"]), tmp_path)
    native.set("deletes", watch_trigger(events=["delete"]), tmp_path)
    (tmp_path / "a.csv").write_text("x")
    fires.wait_for(1)
    native.remove("adds")       # the shared folder stays watched for the other workflow
    (tmp_path / "a.csv").unlink()
    fires.wait_for(2)
    assert [(wid, paths_of(info)) for wid, info, _ in fires.calls] == [
        ("adds", [("a.csv", "add")]), ("deletes", [("a.csv", "delete")])]


def test_stop_ends_every_thread_and_start_rearms(fires, tmp_path):
    w = FileWatcher(fires)
    w.set("wf", watch_trigger(), tmp_path)
    w.start()
    w.stop()
    assert watchdog_threads() == [] and not any(t.name == "dagflux-filewatch" for t in threading.enumerate())
    assert w.registered()["wf"]["state"] == "waiting"
    w.start()
    try:
        assert w.registered()["wf"]["state"] == "watching"
        (tmp_path / "a.csv").write_text("x")
        fires.wait_for(1)
    finally:
        w.stop()
    assert watchdog_threads() == []


def test_a_raising_callback_does_not_stop_later_fires(tmp_path, caplog):
    calls = []

    def on_fire(wid, info):
        calls.append(info)
        if len(calls) == 1:
            raise RuntimeError("boom")

    w = FileWatcher(on_fire)
    w.start()
    try:
        w.set("wf", watch_trigger(), tmp_path)
        (tmp_path / "a.csv").write_text("x")
        wait_until(lambda: len(calls) == 1)
        (tmp_path / "b.csv").write_text("x")
        wait_until(lambda: len(calls) == 2)
    finally:
        w.stop()
    assert [r.getMessage() for r in caplog.records if r.name == "dagflux.filewatch"] == ["workflow wf: on_fire raised"]


# --- the polling fallback ------------------------------------------------------------
def test_polling_mode_says_so(fires, tmp_path):
    w = FileWatcher(fires, poll=True, poll_interval=0.1)
    w.set("wf", watch_trigger(), tmp_path)
    try:
        assert w.registered()["wf"] == {"path": str(tmp_path), "events": ["add", "change", "delete"],
                                        "state": "watching", "detail": "polling every 0.1 s"}
    finally:
        w.stop()


def test_a_native_observer_that_cannot_start_falls_back_to_polling(fires, tmp_path, monkeypatch):
    def no_inotify():
        raise OSError(errno.EMFILE, "inotify instance limit reached")

    monkeypatch.setattr(filewatch, "_native_observer", no_inotify)
    w = FileWatcher(fires, poll_interval=0.1)
    w.start()
    try:
        w.set("wf", watch_trigger(), tmp_path)
        state = w.registered()["wf"]
        assert state["state"] == "watching"
        assert state["detail"] == "polling every 0.1 s because native file watching failed: " \
                                  "inotify instance limit reached"
        copy_slowly(tmp_path / "a.csv", chunks=5)
        [info] = fires.wait_for(1)
        assert info["changes"][0]["size"] == 5 * 4096
    finally:
        w.stop()
    assert watchdog_threads() == []


def test_a_folder_the_native_observer_refuses_is_polled(fires, tmp_path, monkeypatch):
    from watchdog.observers import Observer

    refused = str(tmp_path / "refused")

    class LimitedObserver(Observer):    # type: ignore[misc, valid-type]
        def schedule(self, handler, path, **kwargs):
            if os.fspath(path) == refused:
                raise OSError(errno.ENOSPC, "inotify watch limit reached")
            return super().schedule(handler, path, **kwargs)

    monkeypatch.setattr(filewatch, "_native_observer", LimitedObserver)
    (tmp_path / "refused").mkdir()
    (tmp_path / "fine").mkdir()
    w = FileWatcher(fires, poll_interval=0.1)
    w.start()
    try:
        w.set("refused", watch_trigger(), tmp_path / "refused")
        w.set("fine", watch_trigger(), tmp_path / "fine")
        states = w.registered()
        assert states["refused"]["detail"].endswith("because native file watching failed: inotify watch limit reached")
        assert states["fine"]["detail"] == ""
        (tmp_path / "refused" / "a.csv").write_text("x")
        (tmp_path / "fine" / "b.csv").write_text("x")
        fires.wait_for(2)
        assert sorted(wid for wid, _, _ in fires.calls) == ["fine", "refused"]
    finally:
        w.stop()
    assert watchdog_threads() == []
