"""The engine's per-node assistant calls (mixed into :class:`engine.service.engine.Engine`):

* ``ai.assist_node(workflow_id, node_id, request, session=None, connection=None, model=None,
  options=None, stream=None)`` → the proposal record (with ``stream``, an id the caller
  picks, the model's text also comes to the caller as it is written, as ``AiDelta`` events
  whose ``call_id`` is that id) (:mod:`engine.ai.assist`): ``status`` verified /
  failed / question, ``proposal`` {mode, code, explanation}, ``sample`` (the output on the
  sample), ``error`` and ``attempts``;
  With ``session`` (a chat session id), the request and the answer are recorded in it;
* ``ai.assist_start(workflow_id, node_id, request, call_id, session=None, connection=None,
  model=None, options=None)`` → ``{call_id, session_id}`` at once: the same call on a
  thread, recorded in the node's own chat session (made on the first ask), streaming
  ``AiDelta(call_id)`` and ending with one ``AiProposalFinished``; ``ai.cancel(call_id)``
  stops it (:mod:`engine.ai.assist_jobs`);
* ``ai.accept_proposal(workflow_id, proposal_id)`` → the node's new config and provenance;
  refused for a proposal that did not run cleanly;
* ``ai.get_proposal(proposal_id)``; ``ai.provenance(workflow_id)`` → ``{node id: generated |
  edited}``;
* ``ai.propose_workflow(request, connection=None, model=None, options=None)`` → a graph
  proposal valid for the workflow model, or ``status: invalid`` with its problems
  (:mod:`engine.ai.workflow_proposal`).

Every model call runs in a worker, which alone resolves the AI key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.ai.cancel import check_call_id
from engine.messages_ai import AiDelta
from engine.paths import DataPaths
from engine.service.ai_calls import _send, with_client


class AiAssistCalls:
    paths: DataPaths
    store: Any
    history: Any
    pool: Any
    connections: Any
    _node_panels: Callable[[], Any]     # Engine's NodePanelService, built on first use
    _chat_service: Callable[[], Any]    # engine.service.ai_calls.AiCalls

    def _assistant(self) -> Any:
        service = getattr(self, "_assist_service", None)
        if service is None:
            from engine.ai.assist import AssistService

            service = self._assist_service = AssistService(
                self.store, self.history, self.pool, self.connections, self._node_panels(),
                self.paths.root / "ai" / "proposals")
        return service

    def _assist_jobs(self) -> Any:
        jobs = getattr(self, "_assist_jobs_service", None)
        if jobs is None:
            from engine.ai.assist_jobs import AssistJobs

            jobs = self._assist_jobs_service = AssistJobs(self._assistant(), self._chat_service().store)
        return jobs

    @with_client
    def _call_ai_assist_start(self, workflow_id: str, node_id: str, request: str, call_id: str,
                              session: str | None = None, connection: str | None = None, model: str | None = None,
                              options: dict | None = None, client: Any = None) -> dict:
        return self._assist_jobs().start(workflow_id, node_id, request, call_id, session, connection, model, options,
                                         lambda msg: _send(client, msg))

    @with_client
    def _call_ai_assist_node(self, workflow_id: str, node_id: str, request: str, session: str | None = None,
                             connection: str | None = None, model: str | None = None,
                             options: dict | None = None, stream: str | None = None, client: Any = None) -> dict:
        relay = None
        if stream:
            check_call_id(stream, "stream")
            relay = (lambda msg: _send(client, msg) if isinstance(msg, AiDelta) and msg.call_id == stream
                     else None)
        if session:
            return self._assist_jobs().run(workflow_id, node_id, request, session, connection, model, options,
                                           stream, relay)
        return self._assistant().assist_node(workflow_id, node_id, request, session, connection, model, options,
                                             stream, relay)

    def _call_ai_accept_proposal(self, workflow_id: str, proposal_id: str) -> dict:
        return self._assistant().accept(workflow_id, proposal_id)

    def _call_ai_get_proposal(self, proposal_id: str) -> dict:
        return self._assistant().load(proposal_id)

    def _call_ai_provenance(self, workflow_id: str) -> dict:
        return self._assistant().provenance(workflow_id)

    def _call_ai_propose_workflow(self, request: str, connection: str | None = None, model: str | None = None,
                                  options: dict | None = None) -> dict:
        from engine.ai.workflow_proposal import propose_workflow

        return propose_workflow(self._assistant(), request, connection, model, options)
