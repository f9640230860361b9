"""Branch: routes to ``true`` or ``false`` by one condition on its input table.

The condition is an SQL expression evaluated as ``SELECT (<condition>) FROM <input>``;
it must give exactly one row, so it aggregates (``count(*) > 0``, ``sum(total) > 1000``,
``max(day) >= date('now')``) or is self-contained (``EXISTS (…)``). True when the value
is neither NULL nor 0. Both outputs carry the input table unchanged; the runner skips
the side not taken.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from engine import templates, workspace
from engine.errors import NodeError
from engine.plugin_api import ConfigProblem, NodeContext, NodeOutput, NodeType, require
from engine.sql import guard


class BranchNode(NodeType):
    type_name = "branch"
    label = "Branch"
    output_ports = ("true", "false")

    def validate_config(self, config: Mapping[str, Any], input_ids: list[str]) -> list[ConfigProblem]:
        problems = require(config, "condition")
        if config.get("condition"):
            problems += [ConfigProblem("condition", m)
                         for m in templates.check_inputs(str(config["condition"]), input_ids)]
        return problems

    def execute(self, ctx: NodeContext) -> NodeOutput:
        source = ctx.input()
        if source.connection is not None:
            return self._in_database(ctx, source.connection, source.table)
        condition = ctx.render(str(ctx.config["condition"]))
        sql = f"SELECT ({condition}) FROM {workspace.quote_ident(source.table)}"
        with guard.guarded(ctx.conn) as auth:  # a condition only reads
            try:
                rows = ctx.conn.execute(sql, ctx.sql_params).fetchmany(2)
            except sqlite3.Error as exc:
                raise NodeError(f"SQL error in branch '{ctx.label}' condition: {guard.explain(exc, auth)}\n"
                                f"  in: {sql}") from None
        return self._decide(ctx, rows, source.table, None, workspace.count_rows(ctx.conn, source.table))

    def _in_database(self, ctx: NodeContext, connection: str, table: str) -> NodeOutput:
        db = ctx.location(connection)
        # one template, so a literal % in the table name is escaped like the rest when binding
        sql, params = ctx.render_bound(f"SELECT ({ctx.config['condition']}) FROM {{{{ input }}}}", db)
        batches = db.read_batches(sql, params, 2)
        try:
            _, rows = next(batches)
        finally:
            batches.close()
        return self._decide(ctx, rows[:2], table, connection, db.count(table))

    def _decide(self, ctx: NodeContext, rows: list, table: str, connection: str | None,
                records: int) -> NodeOutput:
        if len(rows) != 1:
            raise NodeError(
                f"branch '{ctx.label}': the condition must give exactly one value — use an aggregate "
                f"such as count(*) > 0 or sum(x) > 100 (it gave {'no rows' if not rows else 'several rows'})")
        value = rows[0][0]
        taken = "true" if value not in (None, 0, 0.0, "0", "", False) else "false"
        return NodeOutput(table=table, connection=connection, records=records, branch=taken,
                          info={"value": repr(value)})
