"""Applying a workflow proposal (``ai.propose_workflow``) to an open workflow as ONE undo step.

:func:`proposal_command` reads the proposal's workflow document with the file format,
gives each proposed node an id the target does not use yet, maps the proposal's Start
onto the target's Start when the target has one (a workflow has exactly one), lays the new
nodes out left to right (:func:`~app.widgets.canvas.autolayout.layered_layout`, the
target's own nodes pinned where they are, the new ones below them) and returns a
:class:`~engine.model.commands.MacroCommand` of the node additions and connections —
undone as a whole. The whole plan is rehearsed on a copy first, so a proposal that does
not fit the target raises :class:`ProposalRefused` and nothing changes.

:func:`config_summary` is the one-line description of a node's config the preview shows.
Pure Python: no Kivy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.widgets.canvas.autolayout import layered_layout
from engine.errors import ModelError, WorkflowFileError
from engine.model import edge_rules, fileformat
from engine.model.commands import AddNodeCommand, ConnectCommand, MacroCommand
from engine.model.workflow import Edge, Node, Workflow

GAP_BELOW = 160.0


class ProposalRefused(ValueError):
    """A proposal that is not valid, or does not fit into the workflow it would go into."""


def read_proposal(proposal: Mapping[str, Any]) -> Workflow:
    """The proposal's workflow; refuses one the engine did not call valid."""
    if proposal.get("status") != "valid":
        problems = proposal.get("problems") or ["the assistant did not call it valid"]
        raise ProposalRefused("the proposal is not valid: " + "; ".join(map(str, problems)))
    try:
        return fileformat.from_dict(dict(proposal["workflow"]), "<proposed workflow>")
    except (KeyError, TypeError, WorkflowFileError) as exc:
        raise ProposalRefused(f"the proposal cannot be read as a workflow: {exc}") from None


def proposal_command(target: Workflow, proposal: Mapping[str, Any],
                     types: Mapping[str, Any] | None = None) -> tuple[MacroCommand, dict[str, str]]:
    """(the command adding the proposal into ``target``, proposal node id → id in target)."""
    proposed = read_proposal(proposal)
    scratch = fileformat.from_dict(fileformat.to_dict(target), "<rehearsal>")
    existing = {n.id for n in scratch}
    target_start = next((n.id for n in scratch if n.type == "start"), None)
    ids: dict[str, str] = {}
    nodes: list[Node] = []
    for node in proposed:
        if node.type == "start" and target_start is not None:
            ids[node.id] = target_start
            continue
        new = Node(scratch.unique_node_id(node.id), node.type, node.title, (0.0, 0.0), dict(node.config),
                   node.timeout_s, False, node.retry)
        ids[node.id] = new.id
        scratch.insert_node(new)
        nodes.append(new)
    edges = []
    try:
        for edge in proposed.edges:
            new_edge = Edge(ids[edge.source], ids[edge.target], edge.source_port, edge.target_port)
            if types is not None:
                edge_rules.check(scratch, types, new_edge)
            scratch.insert_edge(new_edge)
            edges.append(new_edge)
    except ModelError as exc:
        raise ProposalRefused(f"the proposal does not fit into '{target.name or target.id}': {exc}") from None
    _place(scratch, existing, nodes)
    commands = [AddNodeCommand(target, node) for node in nodes] + [ConnectCommand(target, e) for e in edges]
    count = len(nodes)
    return MacroCommand(f"Add {count} node{'s' if count != 1 else ''} from the assistant", commands), ids


def _place(scratch: Workflow, existing: set[str], nodes: list[Node]) -> None:
    """Left to right; below whatever the target already holds (its Start stays put)."""
    placed = layered_layout(scratch, pinned=existing)
    others = [scratch.node(i).position for i in existing if not _is_start_only(scratch, i, existing)]
    shift = (max(y for _x, y in others) + GAP_BELOW) if others else 0.0
    ys = [placed[n.id][1] for n in nodes if n.id in placed]
    top = min(ys) if ys else 0.0
    for node in nodes:
        x, y = placed.get(node.id, (0.0, 0.0))
        node.position = (x, y - top + shift) if others else (x, y)


def _is_start_only(workflow: Workflow, node_id: str, existing: set[str]) -> bool:
    return workflow.node(node_id).type == "start" and len(existing) == 1


def config_summary(node_type: str, config: Mapping[str, Any]) -> str:
    """What the node does, in one short line."""
    if node_type == "start":
        trigger = config.get("trigger") or {}
        return f"trigger: {trigger.get('kind', 'manual')}" + (
            f" {trigger.get('at') or trigger.get('cron') or ''}".rstrip() if isinstance(trigger, dict) else "")
    if node_type == "data_source":
        return f"reads {config.get('path') or config.get('table') or config.get('url') or config.get('source', '?')}"
    if node_type in ("transformer", "join"):
        sql = " ".join(str(config.get("sql") or config.get("code") or "").split())
        return sql[:90] + ("…" if len(sql) > 90 else "")
    if node_type == "branch":
        return f"if {config.get('condition', '?')}"
    if node_type == "output":
        return f"writes {config.get('path') or config.get('table') or '?'}"
    text = ", ".join(f"{k}={v}" for k, v in config.items())
    return text[:90] + ("…" if len(text) > 90 else "")
