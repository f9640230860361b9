"""Accepting an AI proposal into the open workflow: one undoable edit.

The engine's ``ai.assist_node`` answers with a proposal record (:mod:`engine.ai.assist`).
The editor does not let the engine write the workflow file behind the open document's back
(``ai.accept_proposal`` would); instead :func:`accept_command` builds the node's new config
the way the engine would (:func:`engine.ai.assist.build_config`) and the provenance stamp
(:func:`engine.ai.provenance.stamp`), and :class:`AcceptProposalCommand` sets both in one
step on the document's undo stack; the autosave then writes them. Only a *verified*
proposal can become a command.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from engine.ai import provenance
from engine.ai.assist import build_config
from engine.ai.proposal import Proposal
from engine.errors import DagfluxError
from engine.model.undo import Command
from engine.model.validation import validate
from engine.model.workflow import Workflow


class AcceptProposalCommand(Command):
    """Replace a node's config and its ``ai`` provenance together; undo restores both."""

    def __init__(self, workflow: Workflow, node_id: str, config: Mapping[str, Any], ai: Mapping[str, Any]) -> None:
        self.workflow, self.node_id = workflow, node_id
        self.config, self.ai = copy.deepcopy(dict(config)), copy.deepcopy(dict(ai))
        self.text = f"Accept AI proposal for '{workflow.node(node_id).label}'"
        self._old: tuple[dict[str, Any], dict[str, Any] | None] | None = None

    def redo(self) -> None:
        node = self.workflow.node(self.node_id)
        self._old = (copy.deepcopy(node.config), copy.deepcopy(node.ai))
        node.ai = copy.deepcopy(self.ai)     # before the event, so its listeners see the stamp
        self.workflow.set_node_fields(self.node_id, config=copy.deepcopy(self.config))

    def undo(self) -> None:
        assert self._old is not None
        config, ai = self._old
        node = self.workflow.node(self.node_id)
        node.ai = copy.deepcopy(ai)
        self.workflow.set_node_fields(self.node_id, config=copy.deepcopy(config))


def accept_command(workflow: Workflow, record: Mapping[str, Any],
                   types: Mapping[str, Any] | None = None) -> AcceptProposalCommand:
    """The command that writes ``record`` (an ``ai.assist_node`` answer) into its node;
    :class:`DagfluxError` for a proposal that did not run cleanly on the sample, or a node
    that is gone or changed type, or (with ``types``) a proposal that would add a problem to the node."""
    if record.get("status") != "verified":
        why = record.get("error") or record.get("status") or "no result"
        raise DagfluxError(f"this proposal did not run cleanly on the sample ({why}); it cannot be accepted")
    node_id = str(record["node_id"])
    if not workflow.has_node(node_id):
        raise DagfluxError(f"node '{node_id}' is no longer in the workflow")
    node = workflow.node(node_id)
    if node.type != record.get("node_type"):
        raise DagfluxError(f"node '{node.label}' is now a {node.type}, not the {record.get('node_type')} "
                           f"the proposal was made for")
    p = record["proposal"]
    config = build_config(node.type, node.config, str(record["kind"]), Proposal(p["mode"], p["code"], ""))
    ai = provenance.stamp(node.type, config, record.get("session"), str(record["message_id"]),
                          record.get("connection"), record.get("model"))
    if types is not None:
        trial = workflow.clone()
        trial.node(node_id).config, trial.node(node_id).ai = config, ai
        before = {str(p) for p in validate(workflow, types) if node_id in p.nodes}
        problems = [str(p) for p in validate(trial, types) if node_id in p.nodes and str(p) not in before]
        if problems:     # only what the proposal would add: an unfinished graph is not its fault
            raise DagfluxError(f"node '{node.label}' would not be valid: " + "; ".join(problems))
    return AcceptProposalCommand(workflow, node_id, config, ai)


def provenance_state(node: Any) -> str | None:
    """``generated``, ``edited`` (since generation) or None for a node written by hand."""
    return provenance.state(node.type, node.config, node.ai)
