"""The rules for connecting two nodes, kept by the model so that every editor — the
canvas, paste, the CLI, the AI assistant — asks the same question and gets the same answer.

:func:`refusal` answers ``None`` (the edge may be made) or one sentence for the user saying
why not: a self loop, an output port the source does not have (Output ends a workflow), a
target that takes no input (Start) or already has as many as its type accepts
(``NodeType.max_inputs``), a duplicate, or a cycle. :func:`check` raises the same as an
:class:`EdgeRefused` whose ``kind`` names the rule (:data:`KINDS`). :class:`EdgeRules`
answers for one source against many targets (highlighting valid drop targets while a
finger drags) with a single graph walk. Pure Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from engine.errors import ModelError
from engine.model.workflow import Edge, Workflow

if TYPE_CHECKING:
    from engine.plugin_api import NodeType

KINDS = ("missing", "self", "port", "arity", "duplicate", "cycle")


class EdgeRefused(ModelError):
    """An edge the rules refuse; ``kind`` is one of :data:`KINDS`, the message says why."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


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

    def _check_source(self) -> tuple[str, str] | None:
        wf = self.workflow
        if not wf.has_node(self.source):
            return "missing", f"There is no node '{self.source}'."
        node = wf.node(self.source)
        spec = self.types.get(node.type)
        ports = spec.output_ports if spec is not None else ("out",)
        if not ports:
            return "port", (f"{_label(wf, self.source)} is {_type_name(spec, node.type)} node: it ends the "
                            "workflow and has no output to connect.")
        if self.source_port not in ports:
            return "port", (f"{_label(wf, self.source)} has no output '{self.source_port}' "
                            f"(its outputs: {', '.join(ports)}).")
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
        found = self.problem(target, target_port)
        return None if found is None else found[1]

    def problem(self, target: str, target_port: str = "in") -> tuple[str, str] | None:
        """None, or ``(kind, sentence)`` — the rule the edge breaks and why."""
        if self._source_problem:
            return self._source_problem
        wf = self.workflow
        if not wf.has_node(target):
            return "missing", f"There is no node '{target}'."
        if target == self.source:
            return "self", "A node cannot be connected to itself."
        node = wf.node(target)
        spec = self.types.get(node.type)
        if target_port != "in":
            return "port", f"{_label(wf, target)} has no input '{target_port}'."
        if spec is not None and spec.max_inputs == 0:
            return "arity", (f"{_label(wf, target)} is {_type_name(spec, node.type)} node: it takes no input, "
                             "a workflow begins there.")
        edge = Edge(self.source, target, self.source_port, target_port)
        inputs = wf.inputs_of(target)
        if edge in inputs:
            return "duplicate", f"{_label(wf, self.source)} is already connected to {_label(wf, target)}."
        if target in self.ancestors:
            return "cycle", (f"That would make a loop: {_label(wf, target)} already leads to "
                             f"{_label(wf, self.source)}, and a workflow must flow one way.")
        if spec is not None and spec.max_inputs is not None and len(inputs) >= spec.max_inputs:
            taken = "an input" if len(inputs) == 1 else f"{len(inputs)} inputs"
            most = "only one" if spec.max_inputs == 1 else f"at most {spec.max_inputs}"
            return "arity", (f"{_label(wf, target)} already has {taken}; {_type_name(spec, node.type)} node "
                             f"takes {most}. Remove that connection first.")
        return None


def refusal(workflow: Workflow, types: Mapping[str, NodeType], source: str, target: str,
            source_port: str = "out", target_port: str = "in") -> str | None:
    """None when the edge may be added, else one sentence saying why not."""
    return EdgeRules(workflow, types, source, source_port).refusal(target, target_port)


def check(workflow: Workflow, types: Mapping[str, NodeType], edge: Edge) -> None:
    """Raise :class:`EdgeRefused` when ``edge`` may not be added to ``workflow``."""
    found = EdgeRules(workflow, types, edge.source, edge.source_port).problem(edge.target, edge.target_port)
    if found is not None:
        raise EdgeRefused(*found)
