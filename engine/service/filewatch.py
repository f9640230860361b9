"""The file/folder-watch trigger runner: one settled, coalesced fire per burst of changes.

:class:`FileWatcher` watches, for each registered workflow, one path (already resolved by
the caller with :func:`engine.model.triggers.resolve_watch_path`) with watchdog, and calls
``on_fire(workflow_id, {"reason": "file_watch", "changes": [...]})``.

Guarantees:

* **What counts.** A folder: files directly inside it (or at any depth with ``recursive``);
  a file: that file. ``add`` = created or moved in, ``change`` = modified (content or
  timestamps), ``delete`` = deleted or moved out; folders themselves never count. For a
  single file the burst is judged by before and after: there before and after is a
  ``change`` (so an editor's atomic save, or delete-and-rewrite, is one), appeared is an
  ``add``, gone is a ``delete``. Only the kinds in ``trigger.events`` are reported.
* **Settle window.** A changed path is done when its size and mtime have not moved for
  ``trigger.settle_seconds`` (checked with ``stat``, counted from the last event or
  change seen), so a file still being copied does not fire. **Bursts coalesce**: nothing
  fires until every pending path of the workflow has settled; then one call lists them
  all, sorted by path, each ``{"path", "event", "size", "mtime"}`` with its final size and
  mtime (``None`` for a delete). One entry per path: in a folder the last event wins,
  except that add then change stays ``add`` and add then delete drops the path — within
  the window: a change that settled is final, even if the path changes again before the
  rest of the burst settles (see ``filewatch_burst``). A path that vanished
  without a delete event is reported as it is on disk (a ``change`` becomes a ``delete``,
  an ``add`` is dropped). A burst whose changes are all of unlisted kinds fires nothing.
* **States** (:meth:`FileWatcher.registered`): ``watching``; ``waiting`` when the path
  does not exist — the nearest existing parent folder is watched, one level at a time,
  and when the path appears it is watched and what it holds counts as added; ``error``
  with a plain detail (no permission, a file where a folder should be, the OS refused
  the watch) — retried every :data:`RETRY_S` seconds, never raised. Every
  :data:`RECHECK_S` seconds each watch checks that its path is still what it watches,
  in case an event was lost.
* **Backends.** One native observer (inotify, FSEvents, …) and, when needed, one polling
  observer, shared by all workflows: each folder is scheduled once however many watches
  use it, and an observer with nothing to watch is stopped, so idle watching costs no
  thread. ``poll=True`` polls everything every ``poll_interval`` seconds; if the native
  observer cannot start or cannot watch a folder (inotify instance or watch limit), that
  watch polls and its ``detail`` says why.
* :meth:`~FileWatcher.set` unregisters the workflow's old watch before making the new one;
  :meth:`~FileWatcher.remove` drops it. Pending changes of an old watch are dropped and
  no fire of it begins afterwards (one already running finishes).
* Watches work from :meth:`~FileWatcher.set` on; changes are delivered by one daemon
  thread started by :meth:`~FileWatcher.start`. :meth:`~FileWatcher.stop` stops that
  thread and every observer and joins them (waiting at most 2 s for the thread; only a
  callback that never returns can hold it); the watches stay registered and
  :meth:`~FileWatcher.start` re-arms them (changes still settling at a stop are dropped).
* ``on_fire`` runs on that thread, outside every lock: it may call ``set``/``remove``; it
  should return quickly. One that raises is logged on ``dagflux.filewatch``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from engine.model.triggers import FileWatchTrigger
from engine.service.clock import Clock, SystemClock
from engine.service.filewatch_burst import Burst, stat_of
from engine.service.filewatch_hub import Hub as _Hub
from engine.service.filewatch_hub import Subscription as _Subscription
from engine.service.filewatch_paths import Plan as _Plan
from engine.service.filewatch_paths import files_in as _files_in
from engine.service.filewatch_paths import norm as _norm
from engine.service.filewatch_paths import on_route as _on_route
from engine.service.filewatch_paths import plan as _plan
from engine.service.filewatch_paths import reason as _reason

__all__ = ["RECHECK_S", "RETRY_S", "FileWatcher", "OnFire"]

log = logging.getLogger("dagflux.filewatch")

#: ``on_fire(workflow_id, {"reason": "file_watch", "changes": [...]})``.
OnFire = Callable[[str, dict[str, Any]], None]

WATCHING, WAITING, ERROR = "watching", "waiting", "error"
RECHECK_S = 1.0
RETRY_S = 5.0
STOP_TIMEOUT_S = 2.0
_TICK_MIN, _TICK_MAX = 0.05, 0.25


def _native_observer() -> BaseObserver:
    """The platform's native observer (a seam for tests that simulate its failures)."""
    return Observer()


def _polling_observer(interval: float) -> BaseObserver:
    return PollingObserver(timeout=interval)


# --- one workflow's watch ----------------------------------------------------------
@dataclass(eq=False)
class _Watch:
    watcher: FileWatcher
    workflow_id: str
    trigger: FileWatchTrigger
    target: str                                  # absolute, normalized, symlinks kept
    mode: str = "new"                            # a _Plan mode, "new" or "stopped"
    state: str = WAITING
    detail: str = ""
    sub: _Subscription | None = None
    how: str = ""                                # "" (native) or why it polls
    existed: bool = False                        # file mode: the file was there before the event
    lost: bool = False                           # the path or a parent went away since armed
    rearm: bool = False
    next_check: float = 0.0
    burst: Burst = field(default_factory=Burst)

    def deliver(self, event: FileSystemEvent) -> None:
        self.watcher._on_event(self, event)


class FileWatcher:
    """File/folder-watch triggers of many workflows; see the module doc."""

    def __init__(self, on_fire: OnFire, clock: Clock | None = None, poll: bool = False,
                 poll_interval: float = 1.0) -> None:
        self._on_fire = on_fire
        self._clock: Clock = clock or SystemClock()
        self._poll = poll
        self._poll_interval = poll_interval
        self._native = _Hub(lambda: _native_observer())    # looked up late: tests replace it
        self._polling = _Hub(lambda: _polling_observer(self._poll_interval))
        self._watches: dict[str, _Watch] = {}
        self._lock = threading.Lock()           # _watches and every watch's fields; held briefly
        self._arm_lock = threading.RLock()      # subscribing/unsubscribing; never taken under _lock
        self._stop = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    # --- registration ------------------------------------------------------------------
    def set(self, workflow_id: str, trigger: FileWatchTrigger, path: str | Path) -> None:
        """Watch ``path`` for the workflow, replacing its previous watch."""
        if not isinstance(trigger, FileWatchTrigger):
            kind = getattr(trigger, "kind", type(trigger).__name__)
            raise ValueError(f"workflow {workflow_id}: a {kind} trigger is not a file watch")
        watch = _Watch(self, workflow_id, trigger, os.path.abspath(os.fspath(path)))
        with self._arm_lock:
            self.remove(workflow_id)        # the old watch goes first
            with self._lock:
                self._watches[workflow_id] = watch
            if self._stopped:
                self._mark_stopped(watch)
            else:
                self._arm(watch)

    def remove(self, workflow_id: str) -> bool:
        """Stop watching for the workflow; False when it had no watch."""
        with self._arm_lock:
            with self._lock:
                watch = self._watches.pop(workflow_id, None)
            if watch is None:
                return False
            self._unsubscribe(watch)
            return True

    def registered(self) -> dict[str, dict[str, Any]]:
        """``{workflow_id: {"path", "events", "state", "detail"}}``."""
        with self._lock:
            return {wid: {"path": w.target, "events": list(w.trigger.events), "state": w.state,
                          "detail": w.detail} for wid, w in self._watches.items()}

    # --- the delivery thread -------------------------------------------------------------
    def start(self) -> None:
        """Start delivering (re-arming the watches after a :meth:`stop`); no-op when running."""
        if self._thread is not None and self._thread.is_alive():
            return
        with self._arm_lock:
            if self._stopped:
                self._stopped = False
                for watch in self._current():
                    self._arm(watch)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dagflux-filewatch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and every observer; the watches stay registered."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_TIMEOUT_S)
            if thread.is_alive():
                log.error("the file-watch thread did not stop within %.0f s: a callback is still running",
                          STOP_TIMEOUT_S)
        with self._arm_lock:
            self._stopped = True
            for watch in self._current():
                self._unsubscribe(watch)
                self._mark_stopped(watch)
            self._native.stop()
            self._polling.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._service()
            except Exception:   # one failed pass must not end every watch; the next pass retries
                log.exception("file-watch pass failed")
            self._clock.wait(self._stop, self._tick())

    def _tick(self) -> float:
        with self._lock:
            settles = [w.trigger.settle_seconds for w in self._watches.values()]
        return min([_TICK_MAX, *(max(_TICK_MIN, s / 4) for s in settles)])

    def _current(self) -> list[_Watch]:
        with self._lock:
            return list(self._watches.values())

    def _is_current(self, watch: _Watch) -> bool:
        return self._watches.get(watch.workflow_id) is watch

    def _service(self) -> None:
        for watch in self._current():
            if self._stop.is_set():
                return
            with self._lock:
                due = watch.rearm or self._clock.monotonic() >= watch.next_check
            if due:
                with self._arm_lock:
                    if self._is_current(watch) and not self._stopped:
                        self._arm(watch)
            changes = self._settled_changes(watch)
            if changes:
                self._fire(watch, changes)

    def _fire(self, watch: _Watch, changes: list[dict[str, Any]]) -> None:
        with self._lock:
            if not self._is_current(watch):
                return      # removed or replaced while settling
        try:
            self._on_fire(watch.workflow_id, {"reason": "file_watch", "changes": changes})
        except Exception:   # the caller's bug must not stop the other watches; it is logged in full
            log.exception("workflow %s: on_fire raised", watch.workflow_id)

    # --- arming: decide what to watch and subscribe ---------------------------------------
    def _arm(self, watch: _Watch) -> None:
        """Bring the watch in line with the file system (called under ``_arm_lock``)."""
        plan = _plan(watch.target, watch.trigger.recursive)
        with self._lock:
            lost, watch.lost, watch.rearm = watch.lost, False, False
            previous = watch.mode
            watch.next_check = self._clock.monotonic() + (RETRY_S if plan.mode == "error" else RECHECK_S)
        if plan.mode == "error":
            self._set_error(watch, plan.detail)
            return
        sub = watch.sub
        same_key = sub is not None and sub.key == (plan.folder, plan.recursive)
        replaced = same_key and sub is not None and sub.ident != plan.ident     # a new folder, same name
        if not same_key or replaced or sub is None or sub.fanout.lost:
            try:
                new_sub, how = self._subscribe(watch, plan)
            except Exception as exc:    # whatever the observers raise, the watch shows an error, never a crash
                self._set_error(watch, f"cannot watch {plan.folder}: {_reason(exc)}")
                if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
                    watch.next_check = 0.0      # it vanished meanwhile: plan again at the next pass
                return
            watch.sub, watch.how = new_sub, how
            if sub is not None:
                sub.hub.unsubscribe(sub)    # after the new subscription: no gap in between
        appeared = plan.mode in ("file", "folder") and (previous == "waiting" or lost or replaced)
        with self._lock:
            watch.mode = plan.mode
            watch.state = WAITING if plan.mode == "waiting" else WATCHING
            watch.detail = "; ".join(d for d in (plan.detail, watch.how) if d)
            if plan.mode == "file":
                watch.existed = True
        if appeared:
            self._record_existing(watch)

    def _subscribe(self, watch: _Watch, plan: _Plan) -> tuple[_Subscription, str]:
        polling = f"polling every {self._poll_interval:g} s"
        if self._poll:
            return self._polling.subscribe(plan, watch), polling
        try:
            return self._native.subscribe(plan, watch), ""
        except Exception as exc:    # any failure of the native backend falls back to polling, with the reason
            reason = _reason(exc)
        log.warning("workflow %s: native file watching failed for %s (%s); polling instead",
                    watch.workflow_id, plan.folder, reason)
        return self._polling.subscribe(plan, watch), f"{polling} because native file watching failed: {reason}"

    def _unsubscribe(self, watch: _Watch) -> None:
        sub, watch.sub = watch.sub, None
        if sub is not None:
            sub.hub.unsubscribe(sub)

    def _set_error(self, watch: _Watch, detail: str) -> None:
        self._unsubscribe(watch)
        with self._lock:
            if watch.state != ERROR or watch.detail != detail:
                log.warning("workflow %s: %s", watch.workflow_id, detail)
            watch.mode, watch.state, watch.detail = "error", ERROR, detail
            watch.burst.clear()

    def _mark_stopped(self, watch: _Watch) -> None:
        with self._lock:
            watch.mode, watch.state, watch.detail = "stopped", WAITING, "the file watcher is stopped"
            watch.burst.clear()

    def _record_existing(self, watch: _Watch) -> None:
        """The path just appeared: what it holds now was added."""
        single = watch.mode == "file"
        paths = [watch.target] if single else list(_files_in(watch.target, watch.trigger.recursive))
        with self._lock:
            now = self._clock.monotonic()
            for path in paths:
                watch.burst.record(path, "add", now, False if single else None, watch.trigger.settle_seconds)

    # --- events --------------------------------------------------------------------------
    def _on_event(self, watch: _Watch, event: FileSystemEvent) -> None:
        """Runs on an observer thread: record, or ask the delivery thread to re-arm."""
        with self._lock:
            if not self._is_current(watch) or watch.mode not in ("waiting", "file", "folder"):
                return
            now = self._clock.monotonic()
            for path, kind in _translate(watch, event):
                if kind == "rearm":
                    watch.rearm = True
                    watch.lost = watch.lost or watch.mode != "waiting"
                    continue
                existed = watch.existed if watch.mode == "file" else None
                watch.burst.record(path, kind, now, existed, watch.trigger.settle_seconds)
                watch.existed = kind != "delete"

    def _settled_changes(self, watch: _Watch) -> list[dict[str, Any]]:
        """The watch's changes once every pending path has settled, else ``[]``."""
        settle = watch.trigger.settle_seconds
        with self._lock:
            if not watch.burst:
                return []
            to_check = watch.burst.due(self._clock.monotonic(), settle)
        stats = {path: stat_of(path) for path in to_check}    # outside the lock: stat may be slow
        with self._lock:
            if not self._is_current(watch):
                return []
            now = self._clock.monotonic()
            watch.burst.observe(stats, now, settle)
            return watch.burst.take(now, settle, watch.trigger.events) or []


# --- pure helpers --------------------------------------------------------------------
def _translate(watch: _Watch, event: FileSystemEvent) -> list[tuple[str, str]]:
    """``(path, "add" | "change" | "delete" | "rearm")`` pairs for one watchdog event."""
    src = _norm(event.src_path)
    dest = _norm(event.dest_path) if event.event_type == "moved" and event.dest_path else ""
    if watch.mode == "waiting" or event.is_directory:
        touched = [p for p in (src, dest) if p and _on_route(watch.target, p)]
        structural = event.event_type in ("created", "deleted", "moved")
        return [("", "rearm")] if touched and structural else []
    if event.event_type == "moved":
        return [p for p in ((src, "delete"), (dest, "add")) if p[0] and _in_scope(watch, p[0])]
    kind = {"created": "add", "modified": "change", "attrib": "change", "deleted": "delete"}.get(event.event_type)
    if kind is None or not _in_scope(watch, src):
        return []    # opened / closed: not changes by themselves
    return [(src, kind), ("", "rearm")] if watch.mode == "file" and kind == "delete" else [(src, kind)]


def _in_scope(watch: _Watch, path: str) -> bool:
    if watch.mode == "file":
        return path == watch.target
    if watch.trigger.recursive:
        return path.startswith(watch.target.rstrip(os.sep) + os.sep)
    return os.path.dirname(path) == watch.target
