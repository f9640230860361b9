"""How deep JSON from outside may nest — one limit for workflow files and webhook bodies.

Python's parser recurses per level: a file of 100,000 ``[`` ends in a ``RecursionError``
(and msgpack refuses deep values later anyway). Real workflows and payloads are a few
levels deep, so anything past :data:`MAX_DEPTH` is refused with a specific message.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64
"""Deepest nesting of objects/arrays accepted (an object in a list in an object counts 3)."""


class JsonTooDeep(ValueError):
    def __init__(self) -> None:
        super().__init__(f"nested more than {MAX_DEPTH} levels deep")


def loads(text: str | bytes) -> Any:
    """``json.loads`` that raises :class:`JsonTooDeep` for over-deep input (and
    ``json.JSONDecodeError`` for malformed input, as usual)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonTooDeep() from None
    if depth_exceeds(value, MAX_DEPTH):
        raise JsonTooDeep()
    return value


def depth_exceeds(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` nests lists/objects more than ``limit`` levels (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
