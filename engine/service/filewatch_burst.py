"""One watch's burst of changes, coalesced until every path in it has settled.

Pure bookkeeping (no threads, no watchdog): :class:`~engine.service.filewatch.FileWatcher`
records events into a :class:`Burst` and asks it, with ``stat`` results, when the burst is
done. The rules are the module doc's of ``filewatch``; one more here: **a settled change is
final.** Once a path's size and mtime have stood still for the settle window, what it was
then is reported even if the path changes again before the rest of the burst settles — a
file that was added, stood still, and was then deleted is an ``add`` and a ``delete``, not
"came and went". (Two workflows on one folder: one fires on the add and moves the file
away; the other, watching for deletes, must still see the delete.)
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Any

UNSEEN: Any = object()      # a pending path not stat-ed yet
Stat = tuple[int, float] | None     # (size, mtime), None when the path is gone


@dataclass
class Pending:
    event: str
    changed_at: float           # monotonic time of the last event or stat change
    existed: bool | None = None     # single-file watch: the file existed before this burst
    seen: Any = UNSEEN          # last Stat observed, or UNSEEN

    def settled(self, now: float, settle: float) -> bool:
        return self.seen is not UNSEEN and now - self.changed_at >= settle


class Burst:
    """The changes of one watch not reported yet: ``pending`` (path → what is settling) and
    ``done`` (changes that settled, then changed again: final, waiting for the rest)."""

    def __init__(self) -> None:
        self.pending: dict[str, Pending] = {}
        self.done: list[tuple[str, Pending]] = []

    def __bool__(self) -> bool:
        return bool(self.pending or self.done)

    def clear(self) -> None:
        self.pending.clear()
        self.done.clear()

    def record(self, path: str, kind: str, now: float, existed: bool | None, settle: float) -> None:
        """Coalesce one event (see the ``filewatch`` module doc for the rules)."""
        entry = self.pending.get(path)
        if entry is not None and entry.settled(now, settle):
            self.done.append((path, entry))     # what it settled as is final
            entry = None
        if entry is None:
            self.pending[path] = Pending(kind, now, existed)
            return
        if entry.event == "add" and kind == "delete" and not entry.existed:
            del self.pending[path]      # came and went within the window
            return
        entry.event = "add" if entry.event == "add" and kind == "change" else kind
        entry.changed_at, entry.seen = now, UNSEEN      # take a fresh baseline at the next pass

    def due(self, now: float, settle: float) -> list[str]:
        """The paths to ``stat`` now: never seen, or quiet for the settle window."""
        return [p for p, entry in self.pending.items() if entry.seen is UNSEEN or now - entry.changed_at >= settle]

    def observe(self, stats: dict[str, Stat], now: float, settle: float) -> None:
        """Take ``stat`` results: a path whose size or mtime moved starts its window again
        (after a settled state, that state is kept as final first)."""
        for path, seen in stats.items():
            entry = self.pending.get(path)
            if entry is None or entry.seen == seen:
                continue
            if entry.settled(now, settle):
                self.done.append((path, entry))
                # moved without an event yet: the event, when it comes, says what it was
                self.pending[path] = Pending("change", now, None if entry.existed is None else entry.seen is not None,
                                             seen)
            else:
                entry.seen, entry.changed_at = seen, now

    def take(self, now: float, settle: float, events: tuple[str, ...]) -> list[dict[str, Any]] | None:
        """Every change of the burst once all of it has settled (and empties it), else None."""
        if any(not entry.settled(now, settle) for entry in self.pending.values()):
            return None
        finished = sorted([*self.done, *self.pending.items()], key=lambda item: item[0])    # stable: done first
        self.clear()
        return changes(finished, events)


def stat_of(path: str) -> Stat:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return None if stat.S_ISDIR(st.st_mode) else (st.st_size, st.st_mtime)


def changes(finished: list[tuple[str, Pending]], events: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    for path, entry in finished:
        kind = final_kind(entry)
        if kind is None or kind not in events:
            continue
        size, mtime = (None, None) if kind == "delete" else entry.seen
        out.append({"path": path, "event": kind, "size": size, "mtime": mtime})
    return out


def final_kind(entry: Pending) -> str | None:
    """The kind to report for a settled entry, as it stands on disk now."""
    exists = entry.seen is not None
    if entry.existed is not None:   # a single file: compare before and after the burst
        return BEFORE_AFTER[entry.existed, exists]
    if entry.event == "delete" or exists:
        return entry.event
    return None if entry.event == "add" else "delete"   # vanished without a delete event


BEFORE_AFTER = {(True, True): "change", (False, True): "add", (True, False): "delete", (False, False): None}
