"""The AI provider interface: one way to stream a chat reply, whatever the vendor.

An :class:`AiProvider` is a connection type (a :class:`~engine.connectors.base.Connector`
subclass, so ``dagflux connections add openai …`` stores it like any connection: settings
in ``connections.json``, ``api_key`` in the OS keychain). Instances exist only inside a
worker, built with the key resolved.

``stream_chat(messages, model, options)`` is an async iterator of :class:`ChatEvent`:
any number of ``delta`` events (text), at most one ``usage`` event, then exactly one
``done`` or one ``error`` event, after which it ends. It never raises for a provider
failure: an error event carries the kind (:data:`ERROR_KINDS`) and a message already
scrubbed of the key.

Messages are provider-neutral: ``{"role": "system" | "user" | "assistant", "content": str}``.
Options: ``max_tokens`` (int), ``temperature`` (float), ``stop`` (list of str).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from engine.connectors.base import Connector, ConnectorError, FieldSpec

ERROR_KINDS = ("refused", "rate_limited", "overloaded", "server", "timeout", "dropped", "bad_request",
               "unreachable")
ROLES = ("system", "user", "assistant")
OPTION_KEYS = ("max_tokens", "temperature", "stop")


@dataclass(frozen=True)
class ChatEvent:
    kind: str                          # delta | usage | done | error
    text: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    stop_reason: str | None = None
    error_kind: str | None = None      # one of ERROR_KINDS for kind == "error"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


class AiError(ConnectorError):
    """A provider call failed; ``kind`` is one of :data:`ERROR_KINDS`."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def check_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Provider-neutral messages, validated: a clear error names the bad one."""
    out = []
    for n, m in enumerate(messages, 1):
        if not isinstance(m, Mapping) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise AiError(f"message {n} must be {{'role': one of {', '.join(ROLES)}, 'content': text}}",
                          "bad_request")
        out.append({"role": str(m["role"]), "content": str(m["content"])})
    if not any(m["role"] == "user" for m in out):
        raise AiError("a chat needs at least one user message", "bad_request")
    return out


def check_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
        raise AiError(f"unknown AI option(s) {', '.join(unknown)} (known: {', '.join(OPTION_KEYS)})", "bad_request")
    if "max_tokens" in options and (not isinstance(options["max_tokens"], int) or options["max_tokens"] < 1):
        raise AiError("max_tokens must be a whole number ≥ 1", "bad_request")
    if "temperature" in options and not isinstance(options["temperature"], (int, float)):
        raise AiError("temperature must be a number", "bad_request")
    return options


COMMON_FIELDS = (
    FieldSpec("model", "Model", required=False, default="",
              help="the model used when a call names none (e.g. gpt-4o-mini)"),
    FieldSpec("timeout_s", "Timeout (s)", required=False, default=60, kind="int",
              help="longest wait for the first byte and between two streamed chunks"),
    FieldSpec("max_retries", "Retries", required=False, default=2, kind="int",
              help="retries after 429 / 529 / 5xx before the stream starts"),
    FieldSpec("max_retry_wait_s", "Longest retry wait (s)", required=False, default=30, kind="int",
              help="a Retry-After asking for longer fails at once"),
)


class AiProvider(Connector):
    """Base of the three protocol classes; a subclass sets ``fields`` and implements
    :meth:`_stream` and :meth:`_list_models`."""

    dialect: ClassVar[str] = "ai"
    relational: ClassVar[bool] = False
    default_base_url: ClassVar[str] = ""
    protocol: ClassVar[str] = ""

    @property
    def base_url(self) -> str:
        return str(self.settings.get("base_url") or self.default_base_url).rstrip("/")

    @property
    def api_key(self) -> str:
        return str(self.settings.get("api_key") or "")

    def default_model(self) -> str:
        return str(self.settings.get("model") or "")

    def http(self) -> Any:
        from engine.ai.http import HttpPolicy

        s = self.settings
        return HttpPolicy(label=f"{self.label} connection '{self.name}'", secrets=self.secret_values(),
                          timeout_s=float(s.get("timeout_s") or 60), max_retries=int(s.get("max_retries") or 0),
                          max_retry_wait_s=float(s.get("max_retry_wait_s") or 30))

    async def stream_chat(self, messages: Sequence[Mapping[str, Any]], model: str | None = None,
                          options: Mapping[str, Any] | None = None) -> AsyncIterator[ChatEvent]:
        try:
            checked, opts = check_messages(messages), check_options(options)
            use_model = model or self.default_model()
            if not use_model:
                raise AiError(f"{self.label} connection '{self.name}' has no model: pass one or set it with "
                              f"`dagflux connections edit {self.connection_id} --set model=…`", "bad_request")
            async for event in self._stream(checked, use_model, opts):
                yield event
        except AiError as exc:
            yield ChatEvent("error", text=self.http().scrub(str(exc)), error_kind=exc.kind)

    async def list_models(self) -> list[str]:
        return await self._list_models()

    def _stream(self, messages: list[dict[str, str]], model: str, options: dict[str, Any]
                ) -> AsyncIterator[ChatEvent]:
        raise NotImplementedError

    async def _list_models(self) -> list[str]:
        raise NotImplementedError

    # --- the Connector operations that make sense for an AI provider ---------------------
    def test(self) -> str:
        """List models where the API can; otherwise ask for one token."""
        try:
            models = asyncio.run(self.list_models())
        except AiError as exc:
            if exc.kind in ("refused", "unreachable", "timeout"):
                raise
            models = []
        if models:
            shown = ", ".join(models[:8]) + (f" … ({len(models)} models)" if len(models) > 8 else "")
            return f"{self.label}: {shown}"
        text, usage = asyncio.run(collect(self.stream_chat([{"role": "user", "content": "Say OK."}],
                                                           None, {"max_tokens": 1})))
        return f"{self.label}: model {self.default_model()} answered ({usage.get('output_tokens', '?')} token)"

    def list_objects(self) -> list[str]:
        return asyncio.run(self.list_models())


async def collect(events: AsyncIterator[ChatEvent]) -> tuple[str, dict[str, Any]]:
    """The whole reply text and its usage; raises :class:`AiError` for an error event."""
    parts: list[str] = []
    usage: dict[str, Any] = {}
    async for event in events:
        if event.kind == "delta":
            parts.append(event.text)
        elif event.kind == "usage":
            usage = {"input_tokens": event.input_tokens, "output_tokens": event.output_tokens}
        elif event.kind == "error":
            raise AiError(event.text, event.error_kind or "server")
    return "".join(parts), usage
