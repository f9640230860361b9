"""Join: merges two or more upstream tables in the workspace.

Either free SQL over the inputs (``{{ input.<node id> }}`` / ``{{ input.N }}``) or a
structured spec — per pair the column pairs and join type (inner, left, full) and
the columns to keep — compiled by :mod:`engine.sql.join`, whose docstring states
the rule for same-name columns (kept apart, never dropped).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine import templates, workspace
from engine.plugin_api import ConfigProblem, NodeContext, NodeOutput, NodeType
from engine.sql import join as join_sql

from .transformer import create_table_as


class JoinNode(NodeType):
    type_name = "join"
    label = "Join"
    min_inputs = 2
    max_inputs = None

    def validate_config(self, config: Mapping[str, Any], input_ids: list[str]) -> list[ConfigProblem]:
        if config.get("sql"):
            return [ConfigProblem("sql", m) for m in templates.check_inputs(str(config["sql"]), input_ids)]
        if not config.get("joins"):
            return [ConfigProblem("joins", "give either 'sql' or 'joins' (column pairs and join type "
                                           "for each pair of inputs)")]
        return [ConfigProblem(f, m) for f, m in join_sql.validate_join_spec(config, input_ids)]

    def execute(self, ctx: NodeContext) -> NodeOutput:
        if ctx.config.get("sql"):
            return create_table_as(ctx, ctx.render(str(ctx.config["sql"])))
        inputs = [(i.node_id, i.table, [c for c, _ in workspace.columns(ctx.conn, i.table)])
                  for i in ctx.inputs]
        return create_table_as(ctx, join_sql.build_join_sql(ctx.config, inputs))
