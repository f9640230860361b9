"""Python's cycle collector runs between frames only, never inside an event.

A widget the app has let go of keeps its kv bindings until the collector frees it, so a change
that reaches many widgets (the theme, the window's size, the display's density) still
evaluates the rules of dropped ones. The automatic collector starts at whatever allocation
crosses its threshold; when that is in the middle of such a rule, the widget dies half-way and
the rule's next read raises ``ReferenceError`` out of the property being set — which ends the
app. Seen with the theme (fixed there first by :func:`app.widgets.release.no_widget_dies`);
any fan-out has the same race.

:class:`FrameCollector` turns the automatic collector off while the app runs and, once per
frame from the clock (where no rule is being evaluated), runs the generation the automatic
collector would have run by now, by the same counters and thresholds (``gc.get_count``,
``gc.get_threshold``). A full collection also waits until the young generations have
brought a quarter of what the last full one kept, as CPython's own does, so a large,
long-lived heap does not cost a full pass every hundred busy frames.

Guarantees: garbage is collected no later than the next frame after the automatic collector
would have; a ``gc.enable()`` elsewhere is undone at the next frame; nothing else changes
(thresholds, ``gc.collect()`` by hand); :meth:`FrameCollector.stop` gives the automatic
collector back as it was.
"""

from __future__ import annotations

import gc
import time
from typing import Any

FULL_AFTER_GROWTH = 0.25
"""A full collection runs when the objects that have reached the oldest generation since the
last one are at least this share of what that one kept (CPython's ``long_lived_pending >
long_lived_total / 4``)."""
FULL_CHECK_S = 2.0
"""Seconds between two counts of the oldest generation (see ``_full_is_worth_it``)."""


def due_generation(counts: tuple[int, int, int], thresholds: tuple[int, int, int], oldest: int = 2) -> int | None:
    """The oldest generation (up to ``oldest``) that the automatic collector would collect
    now, or None.

    The same rule as CPython's: the youngest generation is due once its count exceeds its
    threshold, and then each older one whose count exceeds its own."""
    if thresholds[0] == 0 or counts[0] <= thresholds[0]:
        return None
    generation = 0
    for older in range(1, oldest + 1):
        if counts[older] > thresholds[older]:
            generation = older
    return generation


class FrameCollector:
    """Between-frame cycle collection for a running Kivy app (module doc)."""

    def __init__(self) -> None:
        self._event: Any = None
        self._was_enabled = True
        self._full_kept = 0          # objects left in the oldest generation by the last full pass
        self._full_checked = float("-inf")
        self.collections = [0, 0, 0]

    @property
    def running(self) -> bool:
        return self._event is not None

    def start(self) -> None:
        from kivy.clock import Clock

        if self._event is not None:
            return
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._full_kept = len(gc.get_objects(generation=2))
        self._event = Clock.schedule_interval(self.tick, 0)

    def stop(self) -> None:
        if self._event is None:
            return
        self._event.cancel()
        self._event = None
        if self._was_enabled:
            gc.enable()

    def tick(self, _dt: float = 0.0) -> None:
        """Run the due generation, if any (called once per frame by the clock)."""
        if gc.isenabled():           # something turned the automatic collector back on
            gc.disable()
        counts, thresholds = gc.get_count(), gc.get_threshold()
        generation = due_generation(counts, thresholds)
        if generation is None:
            return
        if generation == 2 and not self._full_is_worth_it():
            generation = due_generation(counts, thresholds, oldest=1) or 0   # as CPython: the next one due
        gc.collect(generation)
        self.collections[generation] += 1
        if generation == 2:
            self._full_kept = len(gc.get_objects(generation=2))

    def _full_is_worth_it(self) -> bool:
        """True when the oldest generation grew by :data:`FULL_AFTER_GROWTH` of what the last
        full collection kept. Counting it walks every object in it (about 14 ms for 390,000
        under load), so it is counted at most every :data:`FULL_CHECK_S`; meanwhile the answer
        is no, and the young generations go on being collected."""
        now = time.monotonic()
        if now - self._full_checked < FULL_CHECK_S:
            return False
        self._full_checked = now
        grown = len(gc.get_objects(generation=2)) - self._full_kept
        return grown >= FULL_AFTER_GROWTH * self._full_kept
