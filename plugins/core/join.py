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
from engine.connectors.transfer import transfer
from engine.plugin_api import ConfigProblem, InputTable, NodeContext, NodeOutput, NodeType
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
        destination = ctx.config.get("destination") or None
        if destination is None and all(i.connection is None for i in ctx.inputs):
            return self._local(ctx)
        return self._staged(ctx, destination)

    def _local(self, ctx: NodeContext) -> NodeOutput:
        if ctx.config.get("sql"):
            return create_table_as(ctx, ctx.render(str(ctx.config["sql"])))
        inputs = [(i.node_id, i.table, [c for c, _ in workspace.columns(ctx.conn, i.table)])
                  for i in ctx.inputs]
        return create_table_as(ctx, join_sql.build_join_sql(ctx.config, inputs))

    def _staged(self, ctx: NodeContext, destination: str | None) -> NodeOutput:
        """Inputs living elsewhere are copied into TEMP tables of the destination's session
        (named per workflow, node and input position), joined there, and dropped afterwards.
        Being session tables, they also vanish when the worker is killed (a timeout, a
        cancel, kill -9) before it can drop them: the database ends the session."""
        dest = ctx.location(destination)
        temps: list[str] = []
        try:
            staged = []
            for position, item in enumerate(ctx.inputs, 1):
                if item.connection == destination:
                    staged.append(item)
                    continue
                temp = f"_dftmp_{ctx.workflow_id}__{ctx.node_id}_{position}"
                temps.append(temp)
                source = ctx.location(item.connection)
                transfer(source, f"SELECT * FROM {source.qualified(item.table)}", dest, temp, "temporary")
                staged.append(InputTable(item.node_id, temp, item.records, destination))
            return self._join_in(ctx, dest, destination, staged)
        finally:
            for temp in temps:
                dest.drop_temporary(temp)

    def _join_in(self, ctx: NodeContext, dest: Any, destination: str | None,
                 inputs: list[InputTable]) -> NodeOutput:
        view = NodeContext(workflow_id=ctx.workflow_id, run_id=ctx.run_id, node_id=ctx.node_id,
                           node_type=ctx.node_type, title=ctx.title, config=ctx.config, base_dir=ctx.base_dir,
                           inputs=inputs, output_table=ctx.output_table, conn=ctx.conn, lease=ctx.lease,
                           workspace_path=ctx.workspace_path, connections=ctx.connections, params=ctx.params)
        if destination is None:
            return self._local(view)
        if ctx.config.get("sql"):
            sql = view.render_for(str(ctx.config["sql"]), dest)
        else:
            pairs = [(i.node_id, i.table, _column_names(dest, i.table)) for i in inputs]
            sql = join_sql.build_join_sql(ctx.config, pairs, quote=dest.quote_ident)
        dest.replace_table_as(ctx.output_table, sql)  # old or new, never none
        return NodeOutput(table=ctx.output_table, connection=destination, records=dest.count(ctx.output_table))


def _column_names(dest: Any, table: str) -> list[str]:
    """The columns of ``table`` as a query sees it — a TEMP table too, which catalog listings
    such as ``list_fields`` may not show."""
    for names, _ in dest.read_batches(f"SELECT * FROM {dest.qualified(table)} WHERE 1 = 0"):
        return list(names)
    return []
