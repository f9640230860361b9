"""The assistant's prompts, built in the worker (:mod:`engine.workers.ai_ops`).

Every prompt is a system message saying what to write and in which form, then one user
message with the context (:mod:`engine.ai.context`) and the request, then — on a repair
round — the earlier replies and what went wrong with them. Nothing here reads a secret:
a REST source's context names its connection and base URL, never a credential.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from engine.ai.context import TableView

REPLY_FORM = ('Reply with only one JSON object: {"mode": "%s", "code": %s, "explanation": "<one short paragraph '
              'saying what it does>"}.')
QUESTION_FORM = (' When the request leaves something open that you must not guess, reply instead '
                 '{"mode": "question", "question": "<one question>"} — ask one thing at a time.')

SYSTEM = {
    "sql": ("You write SQL for a DagFlux Transformer node. Write exactly one SELECT statement (WITH … SELECT is "
            "fine) in the {dialect} dialect that produces the node's output table from its input. Refer to the "
            "input as {{ input }}. Never write INSERT, UPDATE, DELETE, CREATE, DROP, ATTACH or PRAGMA; read no "
            "other table. " + REPLY_FORM % ("sql", '"<the SELECT>"')),
    "python": ("You write Python for a DagFlux Transformer node: define transform(rows), where rows is an "
               "iterator of dicts (one per input row); it returns or yields dicts (the output rows). Use only the "
               "standard library; no files, no network. " + REPLY_FORM % ("python", '"<the code>"')),
    "join": ("You write SQL for a DagFlux Join node: one SELECT in the {dialect} dialect joining its inputs, "
             "each referred to as {{ input.<node id> }}. Say which columns are paired, the join type (inner, "
             "left or full outer) and which columns are kept. " + REPLY_FORM % ("sql", '"<the SELECT>"')
             + QUESTION_FORM),
    "condition": ("You write the condition of a DagFlux Branch node: one SQL expression in the {dialect} "
                  "dialect, evaluated as SELECT (<condition>) FROM {{ input }}; it must give exactly one row, "
                  "so aggregate (count(*) > 0, sum(total) > 1000). True when neither NULL nor 0. "
                  + REPLY_FORM % ("condition", '"<the expression>"')),
    "rest": ("You write the fetch spec of a DagFlux REST Data Source: a JSON object with 'path' (relative to the "
             "connection's base URL), optional 'method', 'params', 'headers', 'body', 'records_path' (dotted path "
             "to the list of records in a reply) and 'pagination': one of \"none\", \"page\", \"offset\", "
             "\"cursor\", \"link\", or an object {\"type\": …, \"page_param\", \"size_param\", \"size\", "
             "\"offset_param\", \"limit_param\", \"cursor_param\", \"cursor_path\"}. Never write a credential: "
             "the connection adds its own authentication. " + REPLY_FORM % ("rest", "{<the fetch spec>}")),
}


def assist_messages(kind: str, dialect: str, node: Mapping[str, Any], request: str,
                    views: Sequence[TableView], schema_only: bool, current: Any, last_error: str | None,
                    rest_info: Mapping[str, Any] | None, history: Sequence[Mapping[str, str]]
                    ) -> list[dict[str, str]]:
    system = SYSTEM[kind].replace("{dialect}", _dialect_name(dialect))
    lines = [f"Node: {node.get('type')} '{node.get('title') or node.get('id')}' (id {node.get('id')})",
             f"SQL dialect: {_dialect_name(dialect)}" if kind != "rest" else "Kind: REST API data source"]
    for n, view in enumerate(views, 1):
        ref = "{{ input }}" if len(views) == 1 and kind != "join" else f"{{{{ input.{view.node_id} }}}}"
        lines += ["", view.describe(ref if kind != "join" else f"{ref} (also {{{{ input.{n} }}}})", schema_only)]
    if rest_info:
        lines += ["", "REST connection: " + json.dumps(dict(rest_info), ensure_ascii=False)]
    if current:
        shown = current if isinstance(current, str) else json.dumps(current, ensure_ascii=False, indent=1)
        lines += ["", "Current code of the node:", shown]
    if last_error:
        lines += ["", "The node's last error:", last_error]
    lines += ["", "Request: " + request.strip()]
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)},
            *[{"role": str(m["role"]), "content": str(m["content"])} for m in history]]


def repair_message(error: str) -> str:
    return (f"That proposal did not run cleanly on the sample: {error}\n"
            "Reply with a corrected proposal, as the same single JSON object.")


def _dialect_name(dialect: str) -> str:
    return {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MariaDB/MySQL"}.get(dialect, dialect)
