"""Chat sessions as local files: ``<data dir>/chats/<id>.json``, one file per session.

One file per session (not one SQLite file) so a session can be read, copied, diffed or
deleted on its own, a damaged file costs only that session, and each write replaces
one small file atomically (temp file, fsync, rename). The engine — or the CLI holding
the data-dir lock — is the only writer.

The format is provider-neutral, so switching connection or model keeps the history (a
node's chat, ``kind: "node"``, also has ``"node": {"workflow_id", "node_id"}``, and its
assistant messages the ``proposal`` id and ``proposal_status`` they answered with)::

    {"format": 1, "id": "c3f9a0b1d2e4", "title": "…", "kind": "general",
     "created_at": 1796495504.1, "updated_at": …, "connection": "my-ai", "model": "…",
     "messages": [
       {"id": "m1", "role": "user", "content": "…", "at": …, "connection": "my-ai",
        "provider": "openai", "model": "…"},
       {"id": "m2", "role": "assistant", "content": "…", "at": …, "connection": "my-ai",
        "provider": "openai", "model": "…", "status": "complete" | "cancelled" | "failed",
        "error": null, "tokens_in": 7, "tokens_out": 3, "duration_ms": 812.4, "ttft_ms": 95.1}]}

``at`` is seconds since the epoch; usage per day counts assistant messages by their
local date. A file that cannot be read is listed with its error and never overwritten.
"""

from __future__ import annotations

import datetime
import json
import re
import secrets
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from engine.errors import DagfluxError

FORMAT = 1
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
TITLE_LIMIT = 200
MESSAGE_STATUSES = ("complete", "cancelled", "failed")


class ChatSessionError(DagfluxError):
    """A session that does not exist, cannot be read, or a bad id or title."""


class ChatStore:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.RLock()

    # --- sessions --------------------------------------------------------------------
    def create(self, title: str = "", connection: str = "", model: str = "", kind: str = "general",
               node: Mapping[str, str] | None = None) -> dict:
        """A new empty session; a node's chat (``kind="node"``) names its ``{workflow_id, node_id}``."""
        now = time.time()
        doc = {"format": FORMAT, "id": secrets.token_hex(6), "title": _title(title) if title else "",
               "kind": kind, "created_at": now, "updated_at": now, "connection": connection or "",
               "model": model or "", "messages": []}
        if node is not None:
            doc["node"] = {"workflow_id": str(node["workflow_id"]), "node_id": str(node["node_id"])}
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._write(doc)
        return doc

    def get(self, session_id: str) -> dict:
        path = self._path(session_id)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ChatSessionError(f"no chat session '{session_id}' (see `dagflux ai sessions list`)") from None
        except OSError as exc:
            raise ChatSessionError(f"cannot read chat session file {path}: {exc}") from None
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ChatSessionError(f"chat session file {path} is not valid JSON ({exc}); it was left as it is"
                                   ) from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("messages"), list):
            raise ChatSessionError(f"chat session file {path} is not a format-{FORMAT} session; it was left as it is")
        return doc

    def list(self) -> list[dict]:
        """Summaries, most recently updated first; an unreadable file is listed with its error."""
        out = []
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            try:
                out.append(summary(self.get(path.stem)))
            except ChatSessionError as exc:
                out.append({"id": path.stem, "title": "", "error": str(exc), "updated_at": 0.0})
        return sorted(out, key=lambda s: -float(s.get("updated_at") or 0))

    def rename(self, session_id: str, title: str) -> dict:
        with self._lock:
            doc = self.get(session_id)
            doc["title"] = _title(title)
            doc["updated_at"] = time.time()
            self._write(doc)
        return summary(doc)

    def delete(self, session_id: str) -> bool:
        with self._lock:
            self.get(session_id)   # a clear error for an unknown id
            self._path(session_id).unlink()
        return True

    def update(self, session_id: str, **fields: Any) -> dict:
        """Set ``connection`` and/or ``model`` (the next reply uses them; the history stays)."""
        with self._lock:
            doc = self.get(session_id)
            doc.update({k: v for k, v in fields.items() if k in ("connection", "model") and v is not None})
            self._write(doc)
        return doc

    # --- messages --------------------------------------------------------------------
    def append(self, session_id: str, role: str, content: str, **meta: Any) -> dict:
        with self._lock:
            doc = self.get(session_id)
            msg = {"id": f"m{len(doc['messages']) + 1}", "role": role, "content": content, "at": time.time(),
                   **{k: v for k, v in meta.items() if v is not None}}
            doc["messages"].append(msg)
            if not doc["title"] and role == "user":
                doc["title"] = _title(" ".join(content.split())[:60] or "chat")
            doc["updated_at"] = msg["at"]
            self._write(doc)
        return msg

    def usage(self, days: int | None = None) -> dict:
        """Tokens per session and per local day (assistant messages), optionally only the last ``days``."""
        since = None if days is None else datetime.date.today() - datetime.timedelta(days=max(0, days - 1))
        sessions, per_day = [], {}
        for entry in self.list():
            if entry.get("error"):
                continue
            row = {"id": entry["id"], "title": entry["title"], "replies": 0, "tokens_in": 0, "tokens_out": 0}
            for msg in self.get(entry["id"])["messages"]:
                if msg.get("role") != "assistant":
                    continue
                day = datetime.date.fromtimestamp(float(msg.get("at") or 0))
                if since is not None and day < since:
                    continue
                d = per_day.setdefault(day.isoformat(), {"day": day.isoformat(), "replies": 0, "tokens_in": 0,
                                                         "tokens_out": 0})
                for target in (row, d):
                    target["replies"] += 1
                    target["tokens_in"] += int(msg.get("tokens_in") or 0)
                    target["tokens_out"] += int(msg.get("tokens_out") or 0)
            if row["replies"]:
                sessions.append(row)
        return {"sessions": sessions, "days": [per_day[k] for k in sorted(per_day)]}

    # --- files -----------------------------------------------------------------------
    def _path(self, session_id: str) -> Path:
        if not isinstance(session_id, str) or not _ID.match(session_id):
            raise ChatSessionError(f"'{session_id}' is not a chat session id (lowercase letters, digits, - and _)")
        return self.folder / f"{session_id}.json"

    def _write(self, doc: Mapping[str, Any]) -> None:
        atomic_write_text(self._path(doc["id"]), json.dumps(doc, ensure_ascii=False, indent=1) + "\n")


def summary(doc: Mapping[str, Any]) -> dict:
    replies = [m for m in doc["messages"] if m.get("role") == "assistant"]
    return {"id": doc["id"], "title": doc.get("title", ""), "kind": doc.get("kind", "general"),
            "connection": doc.get("connection", ""), "model": doc.get("model", ""),
            "created_at": doc.get("created_at"), "updated_at": doc.get("updated_at"),
            "messages": len(doc["messages"]), **({"node": doc["node"]} if doc.get("node") else {}),
            "tokens_in": sum(int(m.get("tokens_in") or 0) for m in replies),
            "tokens_out": sum(int(m.get("tokens_out") or 0) for m in replies)}


def _title(title: str) -> str:
    title = " ".join(str(title).split())
    if not title:
        raise ChatSessionError("a chat session title cannot be empty")
    if len(title) > TITLE_LIMIT:
        raise ChatSessionError(f"a chat session title is at most {TITLE_LIMIT} characters (got {len(title)})")
    return title
