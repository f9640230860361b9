"""Chat sessions that talk: a :class:`~engine.ai.sessions.ChatStore` plus AI calls in workers.

:meth:`ChatService.send` records the user's message, starts an AI call with the
session's history (provider-neutral: the session's current connection and model are
used, whatever earlier replies came from), and returns at once; the reply streams to
``on_event`` and, when it ends, is recorded as an assistant message — complete,
cancelled (with the text streamed so far) or failed (with the scrubbed error) — with
its connection, provider, model, tokens in/out and duration. Only then does the
:class:`~engine.messages_ai.AiCallFinished` (with ``session_id`` and ``message_id``)
reach ``on_event``, so a client that saw it can read the saved message. One reply at a
time per session: a second ``send`` while one streams is refused.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from typing import Any

from engine.ai.calls import AiCallManager
from engine.ai.provider import check_options
from engine.ai.sessions import ChatSessionError, ChatStore
from engine.errors import DagfluxError
from engine.messages import Message
from engine.messages_ai import AiCallFinished

STATUS_OF_CALL = {"succeeded": "complete", "cancelled": "cancelled", "failed": "failed"}


class ChatService:
    def __init__(self, store: ChatStore, calls: AiCallManager) -> None:
        self.store = store
        self.calls = calls
        self._busy: dict[str, str] = {}     # session id → call id of the reply streaming now
        self._lock = threading.Lock()

    # --- sessions (plain file operations) ----------------------------------------------
    def list(self) -> list[dict]:
        return self.store.list()

    def create(self, title: str = "", connection: str | None = None, model: str | None = None) -> dict:
        if connection:
            self.calls.check_connection(connection)
        doc = self.store.create(title, connection or "", model or "")
        return {k: v for k, v in doc.items() if k != "messages"}

    def rename(self, id: str, title: str) -> dict:
        return self.store.rename(id, title)

    def delete(self, id: str) -> bool:
        with self._lock:
            if id in self._busy:
                raise ChatSessionError(f"chat session '{id}' is streaming a reply; cancel it first")
        return self.store.delete(id)

    def messages(self, id: str) -> dict:
        return self.store.get(id)

    def usage(self, days: int | None = None) -> dict:
        return self.store.usage(days)

    # --- talking -------------------------------------------------------------------------
    def send(self, id: str, text: str, connection: str | None = None, model: str | None = None,
             options: Mapping[str, Any] | None = None,
             on_event: Callable[[Message], None] | None = None) -> dict:
        if not isinstance(text, str) or not text.strip():
            raise DagfluxError("a chat message cannot be empty")
        check_options(options)          # before anything is saved: a refused call leaves no trace
        doc = self.store.get(id)
        use_conn = connection or doc.get("connection") or ""
        if not use_conn:
            raise DagfluxError(f"chat session '{id}' has no connection yet: pass one (--connection ID)")
        meta = self.calls.check_connection(use_conn)
        use_model = model or (doc.get("model") if not connection or connection == doc.get("connection") else "") \
            or str(meta.get("settings", {}).get("model") or "")
        history = [{"role": m["role"], "content": m["content"]} for m in doc["messages"]
                   if m.get("status", "complete") != "failed" and m.get("content")]
        with self._lock:
            if id in self._busy:
                raise ChatSessionError(f"chat session '{id}' is still streaming a reply; wait or cancel it")
            self._busy[id] = ""
        try:
            if use_conn != doc.get("connection") or use_model != doc.get("model"):
                self.store.update(id, connection=use_conn, model=use_model)
            user = self.store.append(id, "user", text, connection=use_conn, provider=meta.get("type"),
                                     model=use_model or None)
            call_id = self.calls.start(use_conn, [*history, {"role": "user", "content": text}], use_model or None,
                                       options, on_event,
                                       lambda end: self._record(id, meta.get("type", ""), end, on_event))
        except BaseException:
            with self._lock:
                self._busy.pop(id, None)
            raise
        with self._lock:
            if id in self._busy and not self._busy[id]:
                self._busy[id] = call_id
        return {"call_id": call_id, "session_id": id, "user_message_id": user["id"]}

    def cancel(self, call_id: str) -> bool:
        return self.calls.cancel(call_id)

    def _record(self, session_id: str, provider: str, end: AiCallFinished,
                on_event: Callable[[Message], None] | None) -> None:
        try:
            saved = self.store.append(
                session_id, "assistant", end.text, connection=end.connection, provider=end.provider or provider,
                model=end.model or None, status=STATUS_OF_CALL.get(end.status, "failed"), error=end.error,
                tokens_in=end.input_tokens, tokens_out=end.output_tokens, duration_ms=end.duration_ms,
                ttft_ms=end.ttft_ms)
            end = dataclasses.replace(end, session_id=session_id, message_id=saved["id"])
        except DagfluxError as exc:   # e.g. the session file was deleted by hand meanwhile
            end = dataclasses.replace(end, session_id=session_id,
                                      error=f"{end.error or ''}; the reply was not saved: {exc}".lstrip("; "))
        finally:
            with self._lock:
                self._busy.pop(session_id, None)
        if on_event is not None:
            on_event(end)
