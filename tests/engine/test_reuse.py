"""What a run from a node must run, may reuse, and what a node's fingerprint depends on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.errors import DagfluxError
from engine.model.workflow import Edge, Node, Workflow
from engine.reuse import fingerprint, plan


def _wf(edges: list[tuple[str, str]]) -> Workflow:
    ids = sorted({n for e in edges for n in e})
    return Workflow("wf", "wf", nodes=[Node(i, "transformer") for i in ids],
                    edges=[Edge(a, b) for a, b in edges])


def test_the_node_and_everything_below_must_run_and_what_they_need_may_be_reused() -> None:
    #  a → b → c → d        x → j ← c      y (not needed)   a → y
    wf = _wf([("a", "b"), ("b", "c"), ("c", "d"), ("c", "j"), ("x", "j"), ("a", "y")])
    must, may = plan(wf, "c")
    assert must == {"c", "d", "j"} and may == {"a", "b", "x"}      # x feeds j, below c; y is not needed


def test_from_an_unknown_node_is_an_error() -> None:
    with pytest.raises(DagfluxError, match="has no node 'nope'"):
        plan(_wf([("a", "b")]), "nope")


def test_a_fingerprint_follows_config_params_inputs_and_the_file(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text("x\n1\n")
    base = fingerprint("data_source", {"path": "in.csv"}, {}, [], tmp_path)
    assert fingerprint("data_source", {"path": "in.csv"}, {}, [], tmp_path) == base
    assert fingerprint("data_source", {"path": "in.csv", "format": "csv"}, {}, [], tmp_path) != base
    assert fingerprint("data_source", {"path": "in.csv"}, {"day": "1"}, [], tmp_path) != base
    assert fingerprint("data_source", {"path": "in.csv"}, {}, [("start", "out", "f1")], tmp_path) != base
    os.utime(data, ns=(1, 10**18))
    assert fingerprint("data_source", {"path": "in.csv"}, {}, [], tmp_path) != base
    templated = {"path": "{{ param.name }}.csv"}
    assert fingerprint("data_source", templated, {"name": "in"}, [], tmp_path) != \
        fingerprint("data_source", templated, {"name": "other"}, [], tmp_path)
