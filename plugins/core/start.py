"""Start: exactly one per workflow; decides when the workflow runs, does no data work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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

    def execute(self, ctx: NodeContext) -> NodeOutput:
        return NodeOutput()
