"""The Workflows screen's pure helpers (no widgets): a last run as "failed · 3 min ago", the
row data of a workflow summary, search matching, new workflow ids and documents, the colours
of a run status, and the delete confirmation's text."""

from __future__ import annotations

import time
from typing import Any

from engine.model import fileformat
from engine.model.workflow import MAX_ID_LENGTH, Node, Workflow

# status -> (icon, colour role); the role becomes a colour of the current theme in status_rgba()
STATUS_STYLE = {
    "succeeded": ("check-circle", "success"),
    "failed": ("close-circle", "error"),
    "running": ("progress-clock", "primary"),
    "cancelled": ("cancel", "muted"),
    "interrupted": ("alert-circle-outline", "warning"),
    "skipped": ("skip-next-circle-outline", "muted"),
}
NEVER_RUN = ("minus-circle-outline", "muted")
TRIGGER_ICONS = {"manual": "gesture-tap", "file_watch": "folder-eye-outline", "webhook": "webhook"}
SCHEDULE_ICON = "calendar-clock"


# --- pure helpers (no widgets) ---------------------------------------------------------
def relative_time(at: float, now: float) -> str:
    """``just now``, ``3 min ago``, ``2 h ago``, ``yesterday``, ``5 days ago``, else the date."""
    seconds = max(0.0, now - at)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"{days} days ago"
    return time.strftime("%d %b %Y", time.localtime(at))


def last_run_text(last_run: dict[str, Any] | None, now: float) -> str:
    """``failed · 3 min ago``; ``never run`` when there is none."""
    if not last_run:
        return "never run"
    return f"{last_run.get('status', '?')} · {relative_time(float(last_run.get('started_at') or now), now)}"


def unique_id(base: str, taken: set[str]) -> str:
    """``base``, else ``base_2``, ``base_3``… — always a valid id no longer than the limit."""
    candidate, n = base, 2
    while candidate in taken:
        suffix = f"_{n}"
        candidate = base[:MAX_ID_LENGTH - len(suffix)].rstrip("_") + suffix
        n += 1
    return candidate


def new_workflow_doc(workflow_id: str, name: str) -> dict[str, Any]:
    """The smallest valid workflow: one Start node, run by hand."""
    wf = Workflow(workflow_id, name=name, settings={"trigger_enabled": False})  # on only when switched on
    wf.insert_node(Node("start", "start", title="Start", config={"trigger": {"kind": "manual"}}))
    return fileformat.to_dict(wf)


def matches(summary: dict[str, Any], query: str) -> bool:
    words = query.lower().split()
    text = " ".join(str(summary.get(k) or "") for k in ("name", "id", "description", "trigger_description"))
    return all(word in text.lower() for word in words)


def row_data(summary: dict[str, Any], now: float, screen: Any) -> dict[str, Any]:
    """One RecycleView entry for one ``workflows.list`` entry."""
    error = summary.get("error") or ""
    kind = summary.get("trigger")
    last = summary.get("last_run")
    icon, role = STATUS_STYLE.get(last.get("status"), NEVER_RUN) if last else NEVER_RUN
    nodes = summary.get("nodes", 0)
    facts = [error] if error else [f"{nodes} node{'s' if nodes != 1 else ''}", summary.get("trigger_description", "")]
    if summary.get("draft") and not error:
        facts.insert(0, "draft: has problems, does not run")
    meta = " · ".join([summary["id"], *facts])
    return {
        "screen": screen, "wf_id": summary["id"], "name": summary.get("name") or summary["id"],
        "description": (summary.get("description") or "").splitlines()[0] if summary.get("description") else "",
        "meta": meta, "broken": bool(error),
        "trigger_icon": "alert-circle-outline" if error or not kind else TRIGGER_ICONS.get(kind, SCHEDULE_ICON),
        "switchable": not error and kind not in (None, "manual"),
        "enabled": bool(summary.get("enabled")) and not error and kind not in (None, "manual"),
        "run_text": last_run_text(last, now), "run_icon": icon, "run_role": role,
    }


def status_rgba(role: str, dark: bool, error: list, primary: list, muted: list) -> list[float]:
    """The colour of a status role in the current theme (M3 has no success/warning colours)."""
    if role == "success":
        return [0.49, 0.85, 0.57, 1] if dark else [0.10, 0.50, 0.22, 1]
    if role == "warning":
        return [1.0, 0.74, 0.35, 1] if dark else [0.62, 0.38, 0.0, 1]
    return list({"error": error, "primary": primary}.get(role, muted))


def delete_message(summary: dict[str, Any]) -> str:
    trigger = summary.get("trigger")
    parts = [f"The workflow file “{summary['id']}.json” is deleted"]
    if trigger and trigger != "manual":
        parts[0] += f" and its trigger ({summary.get('trigger_description', trigger)}) stops"
    parts.append("Its past runs stay in History and its tables stay in the workspace.")
    parts.append("This cannot be undone.")
    return ". ".join(parts[:1]) + ". " + " ".join(parts[1:])
