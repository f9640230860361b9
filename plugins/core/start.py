"""Start: exactly one per workflow; decides when the workflow runs.

It does no data work, except to hand on what its trigger delivered: a file-watch
run gets a table of the changed files (path, event, size, mtime) and a webhook run
a table of the posted records, as Start's output table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.io.rows import write_rows
from engine.model import triggers
from engine.plugin_api import ConfigProblem, NodeContext, NodeOutput, NodeType


class StartNode(NodeType):
    type_name = "start"
    label = "Start"
    min_inputs = 0
    max_inputs = 0
    reads_input_table = False

    def validate_config(self, config: Mapping[str, Any], input_ids: list[str]) -> list[ConfigProblem]:
        return [ConfigProblem(f, m) for f, m in triggers.validate_trigger(config)]

    def provides_table(self, config: Mapping[str, Any]) -> bool:
        try:
            kind = triggers.parse_trigger(config).kind
        except triggers.TriggerError:
            return False
        return kind in ("file_watch", "webhook")

    def execute(self, ctx: NodeContext) -> NodeOutput:
        """Write the rows the trigger delivered (changed files, a webhook body) to Start's table."""
        if ctx.payload is None:
            return NodeOutput()
        with ctx.building_table() as staging:
            write_rows(ctx.conn, ctx.lease, staging, ctx.payload, ctx.label)
            records = ctx.publish(staging)
        return NodeOutput(table=ctx.output_table, records=records)
