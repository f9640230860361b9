"""A node's chat: assistant calls recorded in the node's chat session, started and stopped.

Each node the assistant works on has one chat session (``kind: "node"``, titled
``<workflow> · <node label>``): the one its AI provenance links, else the one made for it
earlier, else a new one, made on the first ask. :meth:`AssistJobs.run` appends the
request as a user message, runs :meth:`engine.ai.assist.AssistService.assist_node` with
that session, and appends the answer as an assistant message — the proposal (its code
fenced, and whether it ran on the sample), the question, or for a stopped call the text
streamed so far marked ``cancelled`` — with its tokens and the proposal's id. The
proposal record keeps the session and the message (``session``, ``session_message``), so
accepting it stamps the node's provenance with that session.

:meth:`AssistJobs.start` does the same on a thread and returns at once (``ai.assist_start``):
the reply streams as ``AiDelta(call_id)`` and one
:class:`~engine.messages_ai.AiProposalFinished` ends it. :meth:`AssistJobs.cancel`
(``ai.cancel``) stops it through its :class:`~engine.ai.cancel.CancelToken`. One call at a
time per node.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from engine.ai.assist import AssistService, kind_of
from engine.ai.cancel import CancelToken, check_call_id
from engine.ai.sessions import ChatSessionError, ChatStore
from engine.errors import DagfluxError
from engine.messages import Message
from engine.messages_ai import AiProposalFinished

log = logging.getLogger("dagflux.ai")
FENCE = {"sql": "sql", "python": "python", "condition": "sql", "rest": "json"}
MESSAGE_STATUS = {"cancelled": "cancelled"}     # a proposal that failed on the sample is still a complete reply


class _Job:
    def __init__(self, call_id: str, workflow_id: str, node_id: str) -> None:
        self.call_id, self.workflow_id, self.node_id = call_id, workflow_id, node_id
        self.token = CancelToken()


class AssistJobs:
    def __init__(self, service: AssistService, chats: ChatStore) -> None:
        self.service, self.chats = service, chats
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()

    # --- the node's session ----------------------------------------------------------------
    def node_session(self, workflow_id: str, node_id: str, session: str | None = None) -> str:
        """``session`` when given (it must exist), else the node's own chat session (made if none)."""
        if session:
            self.chats.get(session)
            return session
        wf = self.service.store.load(workflow_id)
        node = wf.node(node_id)
        linked = (node.ai or {}).get("session")
        if linked:
            try:
                self.chats.get(str(linked))
                return str(linked)
            except ChatSessionError:
                pass     # deleted since: the node gets a new one
        wanted = {"workflow_id": workflow_id, "node_id": node_id}
        for entry in self.chats.list():
            if entry.get("node") == wanted:
                return str(entry["id"])
        title = f"{wf.name} · {node.label}"
        return str(self.chats.create(title[:200], kind="node", node=wanted)["id"])

    # --- one recorded call -----------------------------------------------------------------
    def run(self, workflow_id: str, node_id: str, request: str, session: str, connection: str | None = None,
            model: str | None = None, options: Mapping[str, Any] | None = None, stream: str | None = None,
            on_event: Any = None, token: CancelToken | None = None) -> dict[str, Any]:
        """The proposal record, with the request and the answer recorded in ``session``."""
        self._check(workflow_id, node_id, request)
        self.chats.append(session, "user", request, connection=connection, model=model)
        try:
            record = self.service.assist_node(workflow_id, node_id, request, session, connection, model, options,
                                              stream, on_event, token)
        except DagfluxError as exc:
            self.chats.append(session, "assistant", "", connection=connection, model=model, status="failed",
                              error=str(exc))
            raise
        usage = record.get("usage") or {}
        saved = self.chats.append(session, "assistant", render(record), connection=record.get("connection"),
                                  model=record.get("model"), status=MESSAGE_STATUS.get(record["status"], "complete"),
                                  error=record.get("error") if record["status"] != "verified" else None,
                                  tokens_in=usage.get("input_tokens"), tokens_out=usage.get("output_tokens"),
                                  proposal=record["id"], proposal_status=record["status"])
        self.chats.update(session, connection=record.get("connection"), model=record.get("model"))
        record["session_message"] = saved["id"]
        self.service.save(record)
        return record

    def _check(self, workflow_id: str, node_id: str, request: str) -> None:
        if not isinstance(request, str) or not request.strip():
            raise DagfluxError("say what the node should do (the request is empty)")
        node = self.service.store.load(workflow_id).node(node_id)
        kind_of(node.type, node.config, node.label)

    # --- in the background, stoppable --------------------------------------------------------
    def start(self, workflow_id: str, node_id: str, request: str, call_id: str, session: str | None = None,
              connection: str | None = None, model: str | None = None, options: Mapping[str, Any] | None = None,
              on_event: Callable[[Message], Any] | None = None) -> dict[str, str]:
        """Start :meth:`run` on a thread; ``{call_id, session_id}`` at once."""
        check_call_id(call_id)
        self._check(workflow_id, node_id, request)
        job = _Job(call_id, workflow_id, node_id)
        with self._lock:
            if call_id in self._jobs:
                raise DagfluxError(f"an assistant call '{call_id}' is already running")
            if any((j.workflow_id, j.node_id) == (workflow_id, node_id) for j in self._jobs.values()):
                raise DagfluxError(f"the assistant is already working on node '{node_id}'; stop it or wait")
            self._jobs[call_id] = job
        try:
            session_id = self.node_session(workflow_id, node_id, session)
        except BaseException:
            self._forget(call_id)
            raise
        args = (workflow_id, node_id, request, session_id, connection, model, options)
        threading.Thread(target=self._work, args=(job, session_id, args, on_event), daemon=True,
                         name=f"dagflux-assist-{call_id}").start()
        return {"call_id": call_id, "session_id": session_id}

    def _work(self, job: _Job, session_id: str, args: tuple, on_event: Callable[[Message], Any] | None) -> None:
        try:
            record = self.run(*args, stream=job.call_id if on_event else None, on_event=on_event, token=job.token)
            end = AiProposalFinished(call_id=job.call_id, status=record["status"], record=record,
                                     session_id=session_id, message_id=record.get("session_message", ""))
        except DagfluxError as exc:
            end = AiProposalFinished(call_id=job.call_id, status="error", record={}, error=str(exc),
                                     session_id=session_id)
        except Exception as exc:  # noqa: BLE001 - the caller must still hear the end, or its panel stays busy
            log.exception("assistant call %s failed", job.call_id)
            end = AiProposalFinished(call_id=job.call_id, status="error", record={},
                                     error=f"internal error in the assistant: {exc}", session_id=session_id)
        finally:
            self._forget(job.call_id)
        if on_event is not None:
            on_event(end)

    def cancel(self, call_id: str) -> bool:
        """True when the call was running (it then ends as cancelled), False when it had ended."""
        with self._lock:
            job = self._jobs.get(call_id)
        if job is None:
            return False
        job.token.cancel()
        return True

    def cancel_all(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.token.cancel()

    def active(self) -> list[str]:
        with self._lock:
            return list(self._jobs)

    def _forget(self, call_id: str) -> None:
        with self._lock:
            self._jobs.pop(call_id, None)


def render(record: Mapping[str, Any]) -> str:
    """The answer as a chat message (Markdown)."""
    status = record.get("status")
    attempts = record.get("attempts") or []
    if status == "cancelled":
        return str(attempts[-1].get("reply", "")) if attempts else ""
    if status == "question":
        return str(record.get("question") or "")
    proposal = record.get("proposal") or {}
    code = proposal.get("code")
    text = code if isinstance(code, str) else json.dumps(code, indent=1, ensure_ascii=False)
    parts = [str(proposal.get("explanation") or "").strip()]
    if code is not None:
        parts.append(f"```{FENCE.get(str(proposal.get('mode')), '')}\n{text}\n```")
    tries = f"{len(attempts)} attempt{'s' if len(attempts) != 1 else ''}"
    if status == "verified":
        parts.append(f"Ran on the sample ({tries}).")
    else:
        parts.append(f"Did not run cleanly on the sample after {tries}: {record.get('error') or status}")
    return "\n\n".join(p for p in parts if p)
