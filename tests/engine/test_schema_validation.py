"""Every setting and built-in config is checked against the JSON Schema, in plain words;
over-deep JSON and non-text ids get specific errors."""

from __future__ import annotations

import pytest

from engine.errors import WorkflowFileError
from engine.model import fileformat
from engine.model.validation import validate
from engine.plugins import load_registry


@pytest.fixture(scope="module")
def types():
    return load_registry([]).node_types


def doc(settings: dict | None = None, **source_config) -> dict:
    config = {"source": "file", "path": "orders.csv", **source_config}
    return {"format": "dagflux-workflow", "version": 2, "id": "w", "settings": settings or {},
            "nodes": [{"id": "start", "type": "start"}, {"id": "src", "type": "data_source", "config": config}],
            "edges": [{"from": "start", "to": "src"}]}


def messages(d: dict, types) -> list[str]:
    return [p.message for p in validate(fileformat.from_dict(d), types)]


@pytest.mark.parametrize("settings, expected", [
    ({"node_timeout_s": "fast"}, 'settings.node_timeout_s must be a number, got "fast"'),
    ({"node_timeout_s": -5}, "settings.node_timeout_s must be greater than 0, got -5"),
    ({"node_timeout_s": 0}, "settings.node_timeout_s must be greater than 0, got 0"),
])
def test_settings_are_checked_for_type_and_range(types, settings: dict, expected: str) -> None:
    assert messages(doc(settings), types) == [expected]


def test_a_config_value_of_the_wrong_type_names_node_and_field(types) -> None:
    assert messages(doc(path=123), types) == ["node 'src': config.path must be a text, got 123"]


def test_an_unknown_key_and_a_bad_enum_are_listed_together(types) -> None:
    found = messages(doc(format="xml", pathh="x"), types)
    assert any("node 'src': config: unknown key 'pathh'" in m for m in found)
    assert any("format: unknown format 'xml'" in m for m in found) and len(found) == 2  # said once each


def test_a_valid_workflow_and_the_example_have_no_problem(types) -> None:
    assert messages(doc({"node_timeout_s": 30}), types) == []
    assert validate(fileformat.load("examples/orders_report/orders_report.json"), types) == []


def test_json_nested_100000_deep_is_a_specific_error_not_a_recursion_traceback() -> None:
    with pytest.raises(WorkflowFileError, match="nested more than 64 levels deep"):
        fileformat.loads('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "deep.json")
    with pytest.raises(WorkflowFileError, match="nested more than 64 levels deep"):
        fileformat.loads('{"a": ' + "[" * 70 + "]" * 70 + "}", "deep.json")


def test_an_integer_node_id_says_what_is_wrong() -> None:
    bad = doc()
    bad["nodes"][1]["id"] = 1
    expected = r"node #2: 'id' must be a text like \"clean_orders\", not the number 1"
    with pytest.raises(WorkflowFileError, match=expected):
        fileformat.from_dict(bad, "f.json")


def _whole_document_problems(d: dict) -> list[tuple[str | None, str, str]]:
    """One check of the whole document, as schema_problems did before it checked nodes apart."""
    from engine.model.schema_check import _dotted, _leaves, _sentence, _validator

    found: dict[tuple[str | None, str], str] = {}
    for error in _leaves(_validator().iter_errors(d)):
        path = list(error.absolute_path)
        node_id = None
        if len(path) >= 2 and path[0] == "nodes" and isinstance(path[1], int):
            node_id = str(d["nodes"][path[1]].get("id"))
            path = path[2:]
        elif path and path[0] in ("edges", "id"):
            continue
        if path == ["id"]:
            continue
        field = _dotted(path)
        found.setdefault((node_id, field), _sentence(field, error))
    return [(node, field, sentence) for (node, field), sentence in found.items()]


def _mutants() -> list[dict]:
    """The example workflow and copies with wrong values in settings and in several nodes."""
    import copy
    import json
    import random
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "orders_report" / "orders_report.json"
    base = json.loads(example.read_text(encoding="utf-8"))
    out = [base]
    wrong = [123, "fast", -5, None, [], {"x": 1}, True, "", 0.5]
    rng = random.Random(7)
    for _ in range(60):
        d = copy.deepcopy(base)
        d["settings"] = {**d.get("settings", {}), "node_timeout_s": rng.choice(wrong)} if rng.random() < 0.4 \
            else d.get("settings", {})
        for node in rng.sample(d["nodes"], k=rng.randint(1, 3)):
            config = node.setdefault("config", {})
            key = rng.choice([*config, "surprise"]) if config else "surprise"
            config[key] = rng.choice(wrong)
        if rng.random() < 0.3:
            twin = copy.deepcopy(rng.choice(d["nodes"]))      # a duplicate id: its problems named once
            d["nodes"].append(twin)
        out.append(d)
    return out


def test_nodes_checked_apart_give_the_problems_of_one_whole_document_check_in_its_order() -> None:
    # schema_problems checks the workflow's keys and each node apart (an edit checks again only
    # the node it changed); the problems, and their order, must be those of one whole check.
    from engine.model.schema_check import schema_problems

    mutants = _mutants()
    assert sum(bool(_whole_document_problems(d)) for d in mutants) >= 55
    for d in mutants:
        assert [(p.node_id, p.field, p.message) for p in schema_problems(d)] == _whole_document_problems(d)
