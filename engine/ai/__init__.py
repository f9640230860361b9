"""AI in the engine: providers, chat sessions and the per-node assistant.

* :mod:`engine.ai.provider` — the provider interface (:class:`AiProvider`, a connection
  type whose ``api_key`` is a keychain secret) and the events of a streamed reply.
* :mod:`engine.ai.http` — what every wire protocol shares: SSE parsing, timeouts, retries
  (429/529/5xx, ``Retry-After`` honoured up to a limit) and errors scrubbed of the key.
* :mod:`engine.ai.openai_compat`, :mod:`engine.ai.anthropic`, :mod:`engine.ai.gemini` —
  the three protocols, on aiohttp (no vendor SDK).

Not built yet (issue 12, still open): chat sessions, AI calls in workers with streamed
events, the per-node assistant and the ``ai_analysis`` output.
"""
