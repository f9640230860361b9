"""The engine's AI methods (``ai.*`` and ``chats.*``), mixed into :class:`~engine.service.engine.Engine`.

Streamed text goes to the client that asked, on its own connection: a handler marked
:func:`with_client` gets the calling :class:`~engine.service.server.ClientSession`.
A client that hangs up during an ``ai.call`` has its call cancelled (nobody would read
the reply); a chat reply goes on and is saved in its session. The services are built
on first use from the engine's worker pool, connections file and plugin registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from engine.messages import Message

F = TypeVar("F", bound=Callable[..., Any])


def with_client(func: F) -> F:
    """Mark a handler that receives the calling client as ``client`` (the engine passes it)."""
    func.with_client = True  # type: ignore[attr-defined]
    return func


class AiCalls:
    paths: Any
    pool: Any
    registry: Any

    def _chat_service(self) -> Any:
        service = getattr(self, "_ai_chat_service", None)
        if service is None:
            from engine.ai.calls import AiCallManager
            from engine.ai.chat import ChatService
            from engine.ai.sessions import ChatStore

            calls = AiCallManager(self.pool, self.paths.connections, self.registry.ai_providers)
            service = self._ai_chat_service = ChatService(ChatStore(self.paths.chats), calls)
        return service

    def _ai_stop(self) -> None:
        """Cancel the AI calls in flight (the engine is stopping)."""
        service = getattr(self, "_ai_chat_service", None)
        if service is not None:
            service.calls.cancel_all()
        jobs = getattr(self, "_assist_jobs_service", None)
        if jobs is not None:
            jobs.cancel_all()

    @with_client
    def _call_ai_call(self, connection: str, messages: list, model: str | None = None,
                      options: dict | None = None, client: Any = None) -> dict:
        calls = self._chat_service().calls
        holder: list[str] = []

        def relay(msg: Message) -> None:
            if not _send(client, msg) and holder:
                calls.cancel(holder[0])

        holder.append(calls.start(connection, messages, model, options, relay))
        return {"call_id": holder[0]}

    def _call_ai_cancel(self, call_id: str) -> bool:
        """An ``ai.call`` / chat reply, or a node's assistant call (``ai.assist_start``)."""
        if self._chat_service().cancel(call_id):
            return True
        jobs = getattr(self, "_assist_jobs_service", None)
        return bool(jobs is not None and jobs.cancel(call_id))

    def _call_chats_list(self) -> list:
        return self._chat_service().list()

    def _call_chats_create(self, title: str = "", connection: str | None = None, model: str | None = None) -> dict:
        return self._chat_service().create(title, connection, model)

    def _call_chats_rename(self, id: str, title: str) -> dict:
        return self._chat_service().rename(id, title)

    def _call_chats_delete(self, id: str) -> bool:
        return self._chat_service().delete(id)

    def _call_chats_messages(self, id: str) -> dict:
        return self._chat_service().messages(id)

    @with_client
    def _call_chats_send(self, id: str, text: str, connection: str | None = None, model: str | None = None,
                         options: dict | None = None, client: Any = None) -> dict:
        return self._chat_service().send(id, text, connection, model, options, lambda msg: _send(client, msg))

    def _call_chats_cancel(self, call_id: str) -> bool:
        return self._chat_service().cancel(call_id)

    def _call_chats_usage(self, days: int | None = None) -> dict:
        return self._chat_service().usage(days)


def _send(client: Any, msg: Message) -> bool:
    """Deliver an event to the client; False when it has gone."""
    if client is None or client.closed:
        return False
    try:
        client.send(msg)
        return True
    except (OSError, ValueError):
        return False
