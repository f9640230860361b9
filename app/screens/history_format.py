"""How the History screen writes times, durations, record counts and statuses.

Pure functions (no Kivy): every value the execution log can hold — including ``None`` for a
run still going or a node that never started — has a readable form, never ``"None"``.
"""

from __future__ import annotations

import time
from typing import Any

STATUSES = ("succeeded", "failed", "cancelled", "skipped", "interrupted", "running")
TRIGGERS = ("manual", "schedule", "file_watch", "webhook")
TRIGGER_LABELS = {"manual": "Manual", "schedule": "Schedule", "file_watch": "File watch", "webhook": "Webhook"}
TRIGGER_ICONS = {"manual": "gesture-tap", "schedule": "clock-outline", "file_watch": "folder-eye-outline",
                 "webhook": "webhook"}
STATUS_ICONS = {"succeeded": "check-circle", "reused": "recycle", "failed": "close-circle", "cancelled": "cancel",
                "skipped": "skip-next-circle-outline", "interrupted": "alert-circle-outline",
                "running": "progress-clock", "not_run": "minus-circle-outline", "queued": "timer-sand"}


def when(epoch: float | None, now: float | None = None) -> str:
    """A local start time: ``14:05:09`` today, ``Mon 14:05`` this week, else ``2026-11-02 14:05``."""
    if epoch is None:
        return "—"
    now = time.time() if now is None else now
    moment, today = time.localtime(epoch), time.localtime(now)
    if moment[:3] == today[:3]:
        return time.strftime("%H:%M:%S", moment)
    if 0 <= now - epoch < 6 * 86400:
        return time.strftime("%a %H:%M", moment)
    return time.strftime("%Y-%m-%d %H:%M", moment)


def full_time(epoch: float | None) -> str:
    return "—" if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def duration(ms: float | None) -> str:
    """``850 ms``, ``3.2 s``, ``4 min 12 s``, ``2 h 05 min``; ``—`` when unknown."""
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def records(count: int | None) -> str:
    return "—" if count is None else f"{count:,}"


def trigger_label(trigger: str) -> str:
    return TRIGGER_LABELS.get(trigger, trigger.replace("_", " ").capitalize())


def status_label(status: str) -> str:
    return status.replace("_", " ").capitalize()


def tick_label(seconds: float, step: float) -> str:
    """A time-axis label; the step decides the precision (``250 ms``, ``1.5 s``, ``2:30``)."""
    if seconds == 0:
        return "0"
    if step < 1:
        return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.{1 if step >= 0.1 else 2}f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


def attempts_note(node: dict[str, Any]) -> str:
    """``"after 3 attempts"`` for a node that was retried (engine.retry), else ``""``."""
    attempts = node.get("attempts") or []
    return f"after {len(attempts)} attempts" if len(attempts) > 1 else ""


def attempts_mark(node: dict[str, Any]) -> str:
    """A short mark after a status for a retried node: ``" (3×)"``, else ``""``."""
    attempts = node.get("attempts") or []
    return f" ({len(attempts)}×)" if len(attempts) > 1 else ""


def attempt_lines(node: dict[str, Any]) -> list[str]:
    """One line per attempt of a retried node: number, outcome, time and the error's first line."""
    lines = []
    for attempt in node.get("attempts") or []:
        error = (attempt.get("error") or "").splitlines()
        lines.append(f"Attempt {attempt['attempt']}: {status_label(attempt['status']).lower()} in "
                     f"{duration(attempt.get('duration_ms'))}" + (f" — {error[0]}" if error else ""))
    return lines


def params_text(params: dict[str, Any] | None) -> str:
    """A run's parameter values as ``name=value`` pairs."""
    return ", ".join(f"{k}={v}" for k, v in (params or {}).items())
