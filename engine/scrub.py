"""The scrubber: every secret a worker resolved, in any common encoding, becomes its
placeholder in everything the worker sends back (errors, tracebacks, logs, previews,
record samples).

Encodings covered: the raw value; URL-encoded (``quote`` and ``quote_plus``);
base64 of the value and of ``user:value`` / ``value:…`` Basic-auth pairs; the value
with backslash or SQL quote escaping; JSON-escaped. Longer values are replaced
first so one secret inside another never leaves a fragment.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MIN_LENGTH = 4  # shorter "secrets" (e.g. "1") would scrub innocent text and reveal nothing


class Scrubber:
    def __init__(self) -> None:
        self._values: dict[str, str] = {}        # variant → placeholder

    def add(self, value: str, placeholder: str, companions: Iterable[str] = ()) -> None:
        """Register ``value``; ``companions`` are other fields (a user name) that may be
        base64-paired with it in a Basic-auth header."""
        if not value or len(value) < MIN_LENGTH:
            return
        for variant in _variants(value, companions):
            if variant and len(variant) >= MIN_LENGTH:
                self._values.setdefault(variant, placeholder)

    def __bool__(self) -> bool:
        return bool(self._values)

    def text(self, text: str) -> str:
        for variant in sorted(self._values, key=len, reverse=True):
            if variant in text:
                text = text.replace(variant, self._values[variant])
        return text

    def value(self, value: Any) -> Any:
        """Scrub strings anywhere inside plain data (dicts, lists, tuples)."""
        if not self._values:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            return self.text(value.decode("utf-8", "replace")).encode()
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.value(v) for v in value)
        return value


def _variants(value: str, companions: Iterable[str]) -> list[str]:
    out = [value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1],
           value.replace("\\", "\\\\"), value.replace("'", "''"), _b64(value)]
    for other in companions:
        if other:
            out += [_b64(f"{other}:{value}"), _b64(f"{value}:{other}")]
    return out


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode().rstrip("=")
