"""Workflow validation: every rule checked, every problem reported at once.

Rules (each :class:`Problem` names the node(s) it is about):

* exactly one Start node;
* every node type is known to the plugin registry;
* no dangling edge (both ends exist) and every port exists on its node;
* port arity: Start has no input, Join has two or more, Branch has one input and
  both its ``true`` and ``false`` outputs connected, others as their type declares;
* no cycle (found with :mod:`graphlib`; the message names the nodes on it);
* every setting and built-in node configuration matches the workflow JSON Schema — types,
  ranges, allowed values, unknown keys (:mod:`engine.model.schema_check`);
* each node's configuration passes its type's checks (missing required fields …);
* a node that reads an input table is not fed by Start (which has no table);
* an in-place Transformer's input feeds no other node (the order would change
  what that node reads);
* a ``{{ secret.… }}`` reference appears only in a credential field of the node's own
  connection (:mod:`engine.model.secret_placement`);
* workflow parameters are well declared (name, type, a default of that type) and every
  ``{{ param.NAME }}`` names one, in a field that takes parameters
  (:mod:`engine.model.parameters`); a node's ``retry`` fits :mod:`engine.retry`.
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping
from dataclasses import dataclass

from engine.errors import WorkflowValidationError
from engine.model import parameters
from engine.model.schema_check import schema_problems
from engine.model.secret_placement import misplaced_secrets
from engine.model.workflow import Workflow, is_valid_id
from engine.plugin_api import NodeType
from engine.retry import check as check_retry

START = "start"


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    nodes: tuple[str, ...] = ()
    field: str | None = None

    def __str__(self) -> str:
        return self.message


def validate(wf: Workflow, types: Mapping[str, NodeType]) -> list[Problem]:
    problems: list[Problem] = []
    problems += _check_ids(wf)
    problems += _check_start(wf)
    problems += _check_types(wf, types)
    problems += _check_edges(wf, types)
    problems += _check_arity(wf, types)
    problems += _check_cycles(wf)
    problems += _check_configs(wf, types)
    problems += _check_schema(wf, problems)
    problems += _check_in_place(wf, types)
    problems += _check_secrets(wf, types)
    problems += _check_parameters(wf)
    return problems


def ensure_valid(wf: Workflow, types: Mapping[str, NodeType]) -> None:
    problems = validate(wf, types)
    if problems:
        raise WorkflowValidationError(problems)


def _name(wf: Workflow, node_id: str) -> str:
    if not wf.has_node(node_id):
        return f"'{node_id}'"
    node = wf.node(node_id)
    return f"'{node.id}'" if not node.title or node.title == node.id else f"'{node.id}' ({node.title})"


def _check_ids(wf: Workflow) -> list[Problem]:
    out = []
    if not is_valid_id(wf.id):
        out.append(Problem("bad_id", f"workflow id '{wf.id}' must be snake_case: lower-case letters, "
                                     "digits and single underscores, starting with a letter"))
    for node in wf:
        if not is_valid_id(node.id):
            out.append(Problem("bad_id", f"node id '{node.id}' must be snake_case: lower-case letters, "
                                         "digits and single underscores, starting with a letter",
                               (node.id,)))
    return out


def _check_start(wf: Workflow) -> list[Problem]:
    starts = [n.id for n in wf if n.type == START]
    if len(starts) == 1:
        return []
    if not starts:
        return [Problem("start_count", "the workflow has no Start node; add exactly one")]
    names = ", ".join(_name(wf, s) for s in starts)
    return [Problem("start_count", f"the workflow has {len(starts)} Start nodes ({names}); keep exactly one",
                    tuple(starts))]


def _check_types(wf: Workflow, types: Mapping[str, NodeType]) -> list[Problem]:
    known = ", ".join(sorted(types))
    return [Problem("unknown_type", f"node {_name(wf, n.id)} has unknown type '{n.type}' (known: {known})",
                    (n.id,)) for n in wf if n.type not in types]


def _check_edges(wf: Workflow, types: Mapping[str, NodeType]) -> list[Problem]:
    out = []
    for edge in wf.edges:
        missing = [end for end in (edge.source, edge.target) if not wf.has_node(end)]
        if missing:
            out.append(Problem("dangling_edge", f"edge {edge} refers to missing node "
                               + " and ".join(f"'{m}'" for m in missing), (edge.source, edge.target)))
            continue
        if edge.source == edge.target:
            out.append(Problem("cycle", f"node {_name(wf, edge.source)} is connected to itself",
                               (edge.source,)))
        src_type = types.get(wf.node(edge.source).type)
        if src_type is not None and edge.source_port not in src_type.output_ports:
            ports = ", ".join(src_type.output_ports) or "none"
            out.append(Problem("bad_port", f"node {_name(wf, edge.source)} has no output port "
                               f"'{edge.source_port}' (its ports: {ports})", (edge.source,)))
        if edge.target_port != "in":
            out.append(Problem("bad_port", f"node {_name(wf, edge.target)} has no input port "
                               f"'{edge.target_port}' (its port: in)", (edge.target,)))
    if len(set(wf.edges)) != len(wf.edges):
        out.append(Problem("duplicate_edge", "the workflow lists the same edge twice"))
    return out


def _check_arity(wf: Workflow, types: Mapping[str, NodeType]) -> list[Problem]:
    out = []
    for node in wf:
        spec = types.get(node.type)
        if spec is None:
            continue
        n_in = len([e for e in wf.inputs_of(node.id) if wf.has_node(e.source)])
        label = f"{spec.label or node.type} node {_name(wf, node.id)}"
        if spec.max_inputs == 0 and n_in:
            out.append(Problem("arity", f"{label} cannot have inputs (it has {n_in})", (node.id,)))
        elif n_in < spec.min_inputs:
            out.append(Problem("arity", f"{label} needs at least {spec.min_inputs} input(s), has {n_in}",
                               (node.id,)))
        elif spec.max_inputs is not None and n_in > spec.max_inputs:
            out.append(Problem("arity", f"{label} takes at most {spec.max_inputs} input(s), has {n_in}",
                               (node.id,)))
        if len(spec.output_ports) > 1:
            used = {e.source_port for e in wf.outputs_of(node.id)}
            for port in spec.output_ports:
                if port not in used:
                    out.append(Problem("arity", f"{label} has nothing connected to its '{port}' output",
                                       (node.id,)))
        if spec.reads_input_table:
            for edge in wf.inputs_of(node.id):
                source = wf.node(edge.source) if wf.has_node(edge.source) else None
                source_type = types.get(source.type) if source else None
                if source_type is None or edge.source_port not in source_type.output_ports:
                    continue  # reported as a bad edge already
                if not source_type.provides_table(source.config):
                    what = ("the Start node, whose trigger delivers no rows (file-watch and webhook "
                            "triggers do)" if source.type == START else
                            f"{_name(wf, edge.source)}, which has no table")
                    out.append(Problem("no_table", f"{label} reads its input table, but its input is "
                                       f"{what}; connect a Data Source", (node.id, edge.source)))
    return out


def _check_cycles(wf: Workflow) -> list[Problem]:
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for node in wf:
        sorter.add(node.id)
    for edge in wf.edges:
        if wf.has_node(edge.source) and wf.has_node(edge.target) and edge.source != edge.target:
            sorter.add(edge.target, edge.source)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = list(exc.args[1])
        path = " -> ".join(cycle)
        return [Problem("cycle", f"the workflow has a cycle: {path}", tuple(dict.fromkeys(cycle)))]
    return []


def _check_configs(wf: Workflow, types: Mapping[str, NodeType]) -> list[Problem]:
    out = []
    for node in wf:
        spec = types.get(node.type)
        if spec is None:
            continue
        input_ids = [e.source for e in wf.inputs_of(node.id)]
        for p in spec.validate_config(node.config, input_ids):
            out.append(Problem("config", f"node {_name(wf, node.id)} ({node.type}): {p.field}: {p.message}"
                               if not p.message.startswith(f"'{p.field}'") else
                               f"node {_name(wf, node.id)} ({node.type}): {p.message}",
                               (node.id,), p.field))
    return out


def _check_schema(wf: Workflow, earlier: list[Problem]) -> list[Problem]:
    """Schema violations, except where a node type already said what is wrong with that field."""
    from engine.model.fileformat import to_dict

    said = {(p.nodes[0] if p.nodes else None, f"config.{p.field}") for p in earlier if p.code == "config"}
    out = []
    for found in schema_problems(to_dict(wf)):
        if found.node_id is None and found.field.startswith("parameters"):
            continue  # engine.model.parameters says it, naming the parameter
        if (found.node_id, found.field) in said or any(
                found.node_id == node and found.field.startswith(field + ".") for node, field in said):
            continue
        where = f"node {_name(wf, found.node_id)}: " if found.node_id is not None else ""
        out.append(Problem("schema", where + found.message, (found.node_id,) if found.node_id else (),
                           found.field))
    return out


def _check_in_place(wf: Workflow, types: Mapping[str, NodeType]) -> list[Problem]:
    out = []
    for node in wf:
        spec = types.get(node.type)
        if spec is None or not spec.modifies_input(node.config):
            continue
        for edge in wf.inputs_of(node.id):
            others = [e.target for e in wf.outputs_of(edge.source) if e.target != node.id]
            if others:
                names = ", ".join(_name(wf, o) for o in others)
                out.append(Problem(
                    "in_place_shared",
                    f"node {_name(wf, node.id)} changes its input table in place, but that table "
                    f"(from {_name(wf, edge.source)}) also feeds {names}; what they read would depend "
                    f"on the order — use mode 'new_table' instead", (node.id, edge.source, *others)))
    return out


def _check_secrets(wf: Workflow, types: Mapping[str, NodeType]) -> list[Problem]:
    problems = []
    for node in wf:
        allowed = types[node.type].credential_fields(node.config) if node.type in types else ()
        for found in misplaced_secrets(node.config, allowed):
            problems.append(Problem("secret_placement", found.message(_name(wf, node.id)), (node.id,),
                                    found.field))
    return problems


def _check_parameters(wf: Workflow) -> list[Problem]:
    problems = [Problem("parameter", p.message, (), "parameters")
                for p in parameters.check_declarations(wf.parameters)]
    for node in wf:
        for found in parameters.check_references(node.id, node.type, node.config, wf.parameters):
            problems.append(Problem("parameter", f"node {_name(wf, node.id)}: {found.message}", (node.id,),
                                    found.field))
        for message in check_retry(node.retry, node.type):
            problems.append(Problem("retry", f"node {_name(wf, node.id)}: {message}", (node.id,), "retry"))
    return problems
