"""What "try on sample" computes when an input of the tried node has no table yet.

The engine's half of :mod:`engine.workers.sample_cache`: for an input node that never ran
(no succeeded result in the execution log), the plan lists that node and every node above
it, in dependency order, each with its config and a **fingerprint** — the one "run from a
node" uses (:func:`engine.reuse.fingerprint`: type, config, parameter values, the inputs'
fingerprints, a read file's size and modification time), salted with the sample size. A
worker computes the steps on a sample, into the sample cache, re-using every step whose
fingerprint it already holds; so an unchanged upstream is computed once, and an edit of an
upstream node or of a file it reads makes that node and everything below it new.

Start nodes are not steps: they hold no data (an input edge from one only orders a run).
"""

from __future__ import annotations

import graphlib
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine import reuse
from engine.model import validation
from engine.model.workflow import Workflow

SOURCE_SAMPLE_MAX = 1000
"""The most rows a Data Source reads for a sample."""


def plan_for(wf: Workflow, node_id: str, params: Mapping[str, Any], base_dir: Path,
             sample: int) -> dict[str, Any]:
    """The steps that compute ``node_id``'s output on a sample: ``{"target", "sample", "steps"}``."""
    needed = _upstream(wf, node_id)
    order = graphlib.TopologicalSorter({n: [e.source for e in wf.inputs_of(n) if e.source in needed]
                                        for n in needed}).static_order()
    fingerprints: dict[str, str] = {}
    steps = []
    for step_id in order:
        node = wf.node(step_id)
        inputs = [e for e in wf.inputs_of(step_id) if e.source in needed]
        plain = reuse.fingerprint(node.type, node.config, params,
                                  [(e.source, e.source_port or "", fingerprints[e.source]) for e in inputs], base_dir)
        fingerprints[step_id] = hashlib.sha256(f"{plain}/sample={sample}".encode()).hexdigest()[:32]
        steps.append({"id": step_id, "type": node.type, "title": node.title, "config": dict(node.config),
                      "inputs": [{"node_id": e.source, "port": e.source_port or "out"} for e in inputs],
                      "fingerprint": fingerprints[step_id]})
    return {"target": node_id, "sample": sample, "steps": steps}


def _upstream(wf: Workflow, node_id: str) -> set[str]:
    """``node_id`` and every node above it, Start nodes left out."""
    seen, todo = {node_id}, [node_id]
    while todo:
        for edge in wf.inputs_of(todo.pop()):
            if edge.source not in seen and wf.node(edge.source).type != validation.START:
                seen.add(edge.source)
                todo.append(edge.source)
    return seen
