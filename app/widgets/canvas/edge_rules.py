"""Why an edge cannot be drawn: the canvas asks before it connects two nodes.

:func:`refusal` answers ``None`` (the edge may be made) or one sentence for the user saying
why not: a self loop, an output port the source does not have (Output ends a workflow), a
target that takes no input (Start) or already has as many as its type accepts
(``NodeType.max_inputs``), a duplicate, or a cycle. :class:`EdgeRules` answers the same
for one source against many targets (highlighting valid drop targets while a finger
drags) with a single graph walk. Pure Python: no Kivy.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.model.workflow import Edge, Workflow
from engine.plugin_api import NodeType


def _label(workflow: Workflow, node_id: str) -> str:
    return f"'{workflow.node(node_id).label}'"


def _type_name(spec: NodeType | None, type_name: str) -> str:
    """"a Start node", "an Output node": the type's label with its article."""
    name = spec.label if spec is not None and spec.label else type_name.replace("_", " ").title()
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


class EdgeRules:
    """Edge checks for one source port; ancestors of the source are found once."""

    def __init__(self, workflow: Workflow, types: Mapping[str, NodeType], source: str,
                 source_port: str = "out") -> None:
        self.workflow = workflow
        self.types = types
        self.source = source
        self.source_port = source_port
        self._ancestors: set[str] | None = None
        self._source_problem = self._check_source()

    def _check_source(self) -> str | None:
        wf = self.workflow
        if not wf.has_node(self.source):
            return f"There is no node '{self.source}'."
        node = wf.node(self.source)
        spec = self.types.get(node.type)
        ports = spec.output_ports if spec is not None else ("out",)
        if not ports:
            return (f"{_label(wf, self.source)} is {_type_name(spec, node.type)} node: it ends the "
                    "workflow and has no output to connect.")
        if self.source_port not in ports:
            return f"{_label(wf, self.source)} has no output '{self.source_port}' (its outputs: {', '.join(ports)})."
        return None

    @property
    def ancestors(self) -> set[str]:
        """Nodes with a path to the source (the source included): a target among them makes a cycle."""
        if self._ancestors is None:
            seen = {self.source}
            todo = [self.source]
            while todo:
                for edge in self.workflow.inputs_of(todo.pop()):
                    if edge.source not in seen:
                        seen.add(edge.source)
                        todo.append(edge.source)
            self._ancestors = seen
        return self._ancestors

    def refusal(self, target: str, target_port: str = "in") -> str | None:
        """None when ``source.port -> target`` may be added, else the reason in one sentence."""
        if self._source_problem:
            return self._source_problem
        wf = self.workflow
        if not wf.has_node(target):
            return f"There is no node '{target}'."
        if target == self.source:
            return "A node cannot be connected to itself."
        node = wf.node(target)
        spec = self.types.get(node.type)
        if target_port != "in":
            return f"{_label(wf, target)} has no input '{target_port}'."
        if spec is not None and spec.max_inputs == 0:
            return (f"{_label(wf, target)} is {_type_name(spec, node.type)} node: it takes no input, "
                    "a workflow begins there.")
        edge = Edge(self.source, target, self.source_port, target_port)
        inputs = wf.inputs_of(target)
        if edge in inputs:
            return f"{_label(wf, self.source)} is already connected to {_label(wf, target)}."
        if target in self.ancestors:
            return (f"That would make a loop: {_label(wf, target)} already leads to {_label(wf, self.source)}, "
                    "and a workflow must flow one way.")
        if spec is not None and spec.max_inputs is not None and len(inputs) >= spec.max_inputs:
            taken = "an input" if len(inputs) == 1 else f"{len(inputs)} inputs"
            most = "only one" if spec.max_inputs == 1 else f"at most {spec.max_inputs}"
            return (f"{_label(wf, target)} already has {taken}; {_type_name(spec, node.type)} node takes "
                    f"{most}. Remove that connection first.")
        return None


def refusal(workflow: Workflow, types: Mapping[str, NodeType], source: str, target: str,
            source_port: str = "out", target_port: str = "in") -> str | None:
    """None when the edge may be added, else one sentence saying why not."""
    return EdgeRules(workflow, types, source, source_port).refusal(target, target_port)
