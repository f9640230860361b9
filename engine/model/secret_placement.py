"""Where ``{{ secret.<connection>.<field> }}`` may appear in a workflow — and nowhere else.

A secret is consumed as a credential: in a connection's own settings (kept in the
keychain, never in a workflow), and in the credential parts of a request a node makes
*through its own connection* — a REST Data Source's ``headers`` and ``params`` values.
Anywhere a value can become data — SQL text (``SELECT {{ secret… }}`` would select the
password into a table, and ``reverse(…)`` defeats any scrubber), Python code, Branch
conditions, paths, a request body, another connection's secret — it is refused. The rule
is structural, not a scrubber: :func:`misplaced_secrets` walks every string of a node's
configuration and reports each reference outside the fields its node type declares
(:meth:`engine.plugin_api.NodeType.credential_fields`). Validation reports them as
problems; the worker checks again before it runs a node (a hand-edited file cannot skip
validation to get there), and SQL rendering refuses a secret reference as well.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine import templates
from engine.errors import TemplateError

RULE = "secrets can only be used in a connection's credential fields"


@dataclass(frozen=True)
class Misplaced:
    field: str          # where, as a path into the node: ``config.sql``, ``config.headers.X``
    reference: str      # the reference as written (a placeholder, never a value)
    reason: str

    def message(self, node_name: str) -> str:
        """``node_name`` as shown, quoted: ``'clean'`` or ``'clean' (Clean orders)``."""
        return f"node {node_name}: {self.field}: {RULE} — {self.reference} {self.reason}"


def secret_references(value: Any, path: str = "config") -> Iterator[tuple[str, templates.Reference]]:
    """Every secret reference in the strings of ``value`` (nested objects and lists), with its path."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if "secret" not in item:
                continue
            try:
                refs = templates.parse(item)
            except TemplateError:
                continue  # a malformed reference is reported by the node's own checks
            yield from ((where, ref) for ref in refs if ref.kind == "secret")
        elif isinstance(item, Mapping):
            stack.extend((f"{where}.{key}", child) for key, child in item.items())
        elif isinstance(item, Sequence) and not isinstance(item, (bytes, bytearray)):
            stack.extend((f"{where}[{i}]", child) for i, child in enumerate(item))


def misplaced_secrets(config: Mapping[str, Any], credential_fields: Sequence[str]) -> list[Misplaced]:
    """Each secret reference in ``config`` outside ``credential_fields`` (paths below ``config``,
    e.g. ``headers``), or naming another connection than the node's own ``connection``."""
    allowed = tuple(f"config.{f}" for f in credential_fields)
    own = config.get("connection")
    found = []
    for where, ref in sorted(secret_references(config), key=lambda item: item[0]):
        inside = any(where == a or where.startswith((a + ".", a + "[")) for a in allowed)
        if not inside:
            found.append(Misplaced(where, ref.text, "is not allowed here"))
        elif ref.arg != own:
            found.append(Misplaced(where, ref.text, f"belongs to connection '{ref.arg}', "
                                                    f"not to this node's connection '{own}'"))
    return found
