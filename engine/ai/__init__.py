"""AI in the engine: providers, chat sessions and the per-node assistant.

* :mod:`engine.ai.provider` — the provider interface (:class:`AiProvider`, a connection
  type whose ``api_key`` is a keychain secret) and the events of a streamed reply.
* :mod:`engine.ai.http` — what every wire protocol shares: SSE parsing, timeouts, retries
  (429/529/5xx, ``Retry-After`` honoured up to a limit) and errors scrubbed of the key.
* :mod:`engine.ai.openai_compat`, :mod:`engine.ai.anthropic`, :mod:`engine.ai.gemini` —
  the three protocols, on aiohttp (no vendor SDK).

* :mod:`engine.ai.worker_ops` — the ``ai.chat`` worker operation: the only place a key is
  resolved; streams :class:`~engine.messages_ai.AiDelta` events ahead of its reply.
* :mod:`engine.ai.calls` — the engine's side of a call: submit, relay, cancel.
* :mod:`engine.ai.sessions`, :mod:`engine.ai.chat` — chat sessions as ``chats/<id>.json``
  and sending in them. See docs/ai.md.

The per-node assistant (docs/ai-assistant.md):

* :mod:`engine.ai.assist` — ``assist_node`` / ``accept`` / ``verify`` (propose, guard, try on
  the sample, repair at most twice; only a verified proposal is saved);
* :mod:`engine.ai.context`, :mod:`engine.ai.prompts` — what the model sees, built in a worker;
* :mod:`engine.ai.proposal` — reading a reply as code + mode + explanation;
* :mod:`engine.ai.sql_guard` — a proposal's SQL refused before it runs unless it is one
  read-only SELECT of the node's inputs (sqlglot);
* :mod:`engine.ai.provenance` — the ``ai`` block an accepted proposal leaves on its node;
* :mod:`engine.ai.workflow_proposal` — a whole workflow from a request, validated;
* :mod:`engine.ai.analysis` — the ``ai_analysis`` Output format.
"""
