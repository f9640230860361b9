"""The AI part of the message catalog: streamed AI calls and the chat-session methods.

Registered in the one catalog of :mod:`engine.messages` (which imports this module at
its end, so every peer that decodes frames knows these types). Two events stream an
AI call back — from the worker to the engine, and from the engine to the client that
started the call, on that client's connection only (chat text is not broadcast to
every subscriber):

* :class:`AiDelta` — a piece of the reply's text, in order, already scrubbed;
* :class:`AiCallFinished` — exactly one per call, last: its status (``succeeded``,
  ``failed`` or ``cancelled``), the whole text, usage, timing and, in a chat session,
  the id of the message that recorded it;
* :class:`AiProposalFinished` — the end of a node's assistant call (``ai.assist_start``),
  with its proposal record.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.messages import Message, message

CALL_STATUSES = ("succeeded", "failed", "cancelled")


@message
@dataclass(frozen=True, kw_only=True)
class AiDelta(Message):
    """Streamed text of AI call ``call_id``."""

    call_id: str
    text: str


@message
@dataclass(frozen=True, kw_only=True)
class AiCallFinished(Message):
    """The end of AI call ``call_id``; ``error`` is scrubbed, ``error_kind`` one of
    :data:`engine.ai.provider.ERROR_KINDS` (or ``setup`` when the call never reached a provider)."""

    call_id: str
    status: str
    text: str = ""
    error: str | None = None
    error_kind: str | None = None
    connection: str = ""
    provider: str = ""
    model: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    stop_reason: str | None = None
    duration_ms: float = 0.0
    ttft_ms: float | None = None      # first text, measured in the worker from the request's start
    session_id: str = ""
    message_id: str = ""


@message
@dataclass(frozen=True, kw_only=True)
class AiProposalFinished(Message):
    """The end of a node's assistant call ``call_id`` (``ai.assist_start``): ``record`` is the
    proposal record (``status`` verified / failed / question / cancelled) or, when the call
    could not run at all, empty with ``error``; ``session_id`` / ``message_id`` name the node
    chat message that recorded the answer."""

    call_id: str
    status: str
    record: dict
    error: str | None = None
    session_id: str = ""
    message_id: str = ""


AI_METHODS: dict[str, str] = {
    "ai.call": "{connection, messages, model?, options?}: start an AI call in a worker; returns {call_id}; "
               "AiDelta events then one AiCallFinished reach this connection",
    "ai.cancel": "{call_id}: stop a call or a node's assistant call (its worker's HTTP request ends); it finishes "
                 "as cancelled",
    "chats.list": "chat sessions, newest first: id, title, connection, model, message count, tokens",
    "chats.create": "{title?, connection?, model?}: a new empty session",
    "chats.rename": "{id, title}",
    "chats.delete": "{id}",
    "chats.messages": "{id}: the session with its provider-neutral messages",
    "chats.send": "{id, text, connection?, model?, options?}: add a user message and stream the reply "
                  "(as ai.call); returns {call_id, message_id}",
    "chats.cancel": "{call_id}: as ai.cancel; the partial reply is saved marked cancelled",
    "chats.usage": "{days?}: tokens per session and per day",
}
