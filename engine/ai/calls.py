"""AI calls from the engine's side: each runs in a worker, streamed back, cancellable.

:meth:`AiCallManager.start` checks what it can without a key (the connection exists and
is an AI provider; the messages and options are well formed), then submits an
``ai.chat`` worker operation (:mod:`engine.ai.worker_ops`) and returns the call's id at
once. The worker's :class:`~engine.messages_ai.AiDelta` events reach ``on_event`` as
they arrive; exactly one :class:`~engine.messages_ai.AiCallFinished` follows.
:meth:`AiCallManager.cancel` kills the worker running the call (its HTTP request ends
with it; the pool replaces the worker): the call finishes as ``cancelled`` with the text
streamed so far. The engine never sees a key: it sends a connection id.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import CancelledError, Future
from pathlib import Path
from typing import Any

from engine.ai.provider import check_messages, check_options
from engine.connectors.store import load_connections
from engine.errors import DagfluxError
from engine.messages import Message, OpResult, RunOp
from engine.messages_ai import AiCallFinished, AiDelta

log = logging.getLogger("dagflux.ai")
_op_ids = itertools.count(2_000_000)
CALL_TIMEOUT_S = 900.0     # a safety net: each provider request has its own timeouts
Listener = Callable[[Message], None]


class _Call:
    def __init__(self, call_id: str, connection: str, model: str, on_event: Listener | None,
                 on_finished: Callable[[AiCallFinished], None] | None) -> None:
        self.call_id, self.connection, self.model = call_id, connection, model
        self.on_event, self.on_finished = on_event, on_finished
        self.parts: list[str] = []
        self.future: Future[Any] | None = None
        self.started = time.perf_counter()


class AiCallManager:
    def __init__(self, executor: Any, connections_path: Path, provider_types: Mapping[str, Any]) -> None:
        self.executor = executor
        self.connections_path = Path(connections_path)
        self.provider_types = provider_types
        self._calls: dict[str, _Call] = {}
        self._lock = threading.Lock()

    def start(self, connection: str, messages: Sequence[Mapping[str, Any]], model: str | None = None,
              options: Mapping[str, Any] | None = None, on_event: Listener | None = None,
              on_finished: Callable[[AiCallFinished], None] | None = None) -> str:
        meta = self.check_connection(connection)
        checked, opts = check_messages(messages), check_options(options)
        call = _Call(secrets.token_hex(8), connection, model or str(meta.get("settings", {}).get("model") or ""),
                     on_event, on_finished)
        op = RunOp(id=next(_op_ids), op="ai.chat", timeout_s=CALL_TIMEOUT_S, title=f"AI call on '{connection}'",
                   connections=str(self.connections_path),
                   params={"call_id": call.call_id, "connection": connection, "messages": checked,
                           "model": model or None, "options": opts})
        call.future = self.executor.submit(op, on_event=lambda msg: self._relay(call, msg))
        with self._lock:   # registered once submitted, so cancel always finds a future
            self._calls[call.call_id] = call
        call.future.add_done_callback(lambda f: self._finish(call, f))   # runs at once if already done
        return call.call_id

    def cancel(self, call_id: str) -> bool:
        """True when the call was running (it then finishes as cancelled), False when it had ended."""
        with self._lock:
            call = self._calls.get(call_id)
        if call is None:
            if not isinstance(call_id, str) or not call_id:
                raise DagfluxError("ai.cancel needs a call_id")
            return False
        assert call.future is not None
        self.executor.cancel(call.future)
        return True

    def cancel_all(self) -> None:
        with self._lock:
            ids = list(self._calls)
        for call_id in ids:
            self.cancel(call_id)

    def active(self) -> list[str]:
        with self._lock:
            return list(self._calls)

    def check_connection(self, connection: str) -> dict[str, Any]:
        meta = load_connections(self.connections_path).get(connection)
        if meta is None:
            raise DagfluxError(f"no connection '{connection}' (see `dagflux connections list`; add an AI one with "
                               "`dagflux connections add openai ID --set base_url=… --set model=…`)")
        if meta.get("type") not in self.provider_types:
            kinds = ", ".join(sorted(self.provider_types)) or "none loaded"
            raise DagfluxError(f"connection '{connection}' is a {meta.get('type')} connection, not an AI provider "
                               f"({kinds})")
        return meta

    # --- worker side effects ----------------------------------------------------------
    def _relay(self, call: _Call, msg: Message) -> None:
        if isinstance(msg, AiDelta) and msg.call_id == call.call_id:
            call.parts.append(msg.text)
            if call.on_event is not None:
                call.on_event(msg)

    def _finish(self, call: _Call, future: Future[Any]) -> None:
        with self._lock:
            self._calls.pop(call.call_id, None)
        try:
            reply: OpResult | None = future.result()
        except CancelledError:
            reply = None
        finished = _finished(call, reply)
        log.info("AI call %s on '%s' (%s) %s: %s in / %s out tokens, %.0f ms%s", call.call_id, call.connection,
                 finished.model or "default model", finished.status, finished.input_tokens, finished.output_tokens,
                 finished.duration_ms, f" — {finished.error}" if finished.error else "")
        listener = call.on_finished or call.on_event   # on_finished forwards the end itself
        if listener is not None:
            try:
                listener(finished)
            except Exception:  # noqa: BLE001 - a listener's failure must not break the pool's thread
                log.exception("a listener of AI call %s failed", call.call_id)


def _finished(call: _Call, reply: OpResult | None) -> AiCallFinished:
    base = {"call_id": call.call_id, "connection": call.connection, "model": call.model,
            "duration_ms": round((time.perf_counter() - call.started) * 1000, 3)}
    if reply is None or reply.status == "cancelled":
        return AiCallFinished(status="cancelled", text="".join(call.parts), error="cancelled",
                              error_kind="cancelled", **base)
    if reply.status != "succeeded" or not isinstance(reply.value, dict):
        return AiCallFinished(status="failed", text="".join(call.parts), error=reply.error or "the AI call failed",
                              error_kind="setup", **base)
    v = reply.value
    base.update(model=str(v.get("model") or call.model), duration_ms=float(v.get("duration_ms") or 0.0))
    return AiCallFinished(status="failed" if v.get("error") else "succeeded", text=str(v.get("text", "")),
                          error=v.get("error"), error_kind=v.get("error_kind"), provider=str(v.get("provider", "")),
                          input_tokens=v.get("input_tokens"), output_tokens=v.get("output_tokens"),
                          stop_reason=v.get("stop_reason"), ttft_ms=v.get("ttft_ms"), **base)
