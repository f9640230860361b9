"""Shared watchdog observers: each ``(folder, recursive)`` is scheduled once for every
watch that uses it (part of :mod:`engine.service.filewatch`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers.api import BaseObserver, ObservedWatch

from engine.service.filewatch_paths import Plan, norm

STOP_TIMEOUT_S = 2.0     # how long a stopping observer's thread is waited for


class Fanout(FileSystemEventHandler):
    """Passes one scheduled folder's events to every watch that uses the folder."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.subs: tuple[Subscription, ...] = ()   # replaced whole: the observer thread reads it lock-free
        self.lost = False

    def dispatch(self, event: FileSystemEvent) -> None:
        if event.is_directory and event.event_type in ("deleted", "moved") and norm(event.src_path) == self.folder:
            self.lost = True    # watchdog stops the emitter of a folder that went away
        for sub in self.subs:
            sub.watch.deliver(event)


@dataclass(eq=False)
class Subscription:
    hub: Hub
    key: tuple[str, bool]
    ident: tuple[int, int]      # (device, inode) of the folder when subscribed
    fanout: Fanout
    watch: Any                  # the filewatch._Watch it delivers to


class Hub:
    """One observer; each ``(folder, recursive)`` scheduled once for all its subscribers.

    Used only under :attr:`FileWatcher._arm_lock`, so it needs no lock of its own (and
    must not take one the observer thread could wait on).
    """

    def __init__(self, factory: Callable[[], BaseObserver]) -> None:
        self._factory = factory
        self._observer: BaseObserver | None = None
        self._entries: dict[tuple[str, bool], tuple[ObservedWatch, Fanout]] = {}

    def subscribe(self, plan: Plan, watch: Any) -> Subscription:
        """Deliver the planned folder's events to ``watch``; raises what the observer raises."""
        folder, recursive = plan.folder, plan.recursive
        key = (folder, recursive)
        entry = self._entries.get(key)
        if entry is not None and entry[1].lost:
            self._drop(key)         # a stopped emitter is never restarted by watchdog
            entry = None
        if entry is None:
            observer = self._running_observer()
            fanout = Fanout(folder)
            try:
                entry = (observer.schedule(fanout, folder, recursive=recursive), fanout)
            except BaseException:
                self._stop_if_idle()
                raise
            self._entries[key] = entry
        sub = Subscription(self, key, plan.ident, entry[1], watch)
        entry[1].subs = (*entry[1].subs, sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        entry = self._entries.get(sub.key)
        if entry is None or entry[1] is not sub.fanout:
            return
        sub.fanout.subs = tuple(s for s in sub.fanout.subs if s is not sub)
        if not sub.fanout.subs:
            self._drop(sub.key)
            self._stop_if_idle()

    def stop(self) -> None:
        self._entries.clear()
        observer, self._observer = self._observer, None
        if observer is not None:
            _shut_down(observer)

    def _running_observer(self) -> BaseObserver:
        if self._observer is None:
            observer = self._factory()
            try:
                observer.start()
            except BaseException:
                _shut_down(observer)
                raise
            self._observer = observer
        return self._observer

    def _drop(self, key: tuple[str, bool]) -> None:
        watch, _ = self._entries.pop(key)
        if self._observer is not None:
            try:
                self._observer.unschedule(watch)
            except KeyError:
                pass    # watchdog already forgot it (its emitter stopped on its own)

    def _stop_if_idle(self) -> None:
        if not self._entries:
            self.stop()


def _shut_down(observer: BaseObserver) -> None:
    observer.stop()
    if observer.ident is not None:      # started: wait for its thread
        observer.join(STOP_TIMEOUT_S)
