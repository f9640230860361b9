"""Secrets only in a connection's credential fields: the placement rule, in validation."""

from __future__ import annotations

import pytest

from engine.model import fileformat
from engine.model.secret_placement import RULE, misplaced_secrets, secret_references
from engine.model.validation import validate
from engine.plugins import load_registry

S = "{{ secret.pg.password }}"


@pytest.fixture(scope="module")
def types():
    return load_registry([]).node_types


def flow(*nodes: dict, edges: list[tuple[str, str]]) -> object:
    return fileformat.from_dict({"format": "dagflux-workflow", "version": 2, "id": "f", "name": "f",
                                 "nodes": [{"id": "start", "type": "start"}, *nodes],
                                 "edges": [{"from": a, "to": b} for a, b in edges]})


def test_references_are_found_in_nested_strings_with_their_path() -> None:
    config = {"sql": f"SELECT {S}", "headers": {"A": "x"}, "list": ["ok", {"deep": f"a{S}"}]}
    assert sorted(p for p, _ in secret_references(config)) == ["config.list[1].deep", "config.sql"]


@pytest.mark.parametrize("config, field", [
    ({"sql": f"SELECT {S} AS p FROM {{{{ input }}}}"}, "config.sql"),
    ({"sql": f"SELECT reverse({S}) FROM t"}, "config.sql"),
    ({"code": f"x = '{S}'"}, "config.code"),
    ({"condition": f"length({S}) > 1"}, "config.condition"),
    ({"path": f"/tmp/{S}.csv"}, "config.path"),
    ({"connection": "pg", "body": {"password": S}}, "config.body.password"),
])
def test_a_secret_outside_credential_fields_is_misplaced(config: dict, field: str) -> None:
    [found] = misplaced_secrets(config, ())
    assert (found.field, found.reference) == (field, S)
    assert RULE in found.message("'n'") and "'n'" in found.message("'n'")


def test_credential_fields_take_only_the_nodes_own_connection() -> None:
    own = {"connection": "api", "headers": {"X-Key": "{{ secret.api.token }}"},
           "params": {"k": ["{{ secret.api.token }}"]}}
    assert misplaced_secrets(own, ("headers", "params")) == []
    other = {"connection": "api", "headers": {"X-Key": S}}
    [found] = misplaced_secrets(other, ("headers", "params"))
    assert "belongs to connection 'pg', not to this node's connection 'api'" in found.reason
    assert misplaced_secrets({"connection": "api", "headersX": {"a": "{{ secret.api.token }}"}}, ("headers",))


def test_validation_names_the_node_and_field_and_allows_a_rest_header(types) -> None:
    wf = flow({"id": "src", "type": "data_source", "config": {"source": "connection", "connection": "pg",
                                                              "table": "t"}},
              {"id": "leak", "type": "transformer", "title": "Leak",
               "config": {"language": "sql", "sql": f"SELECT {S} AS p FROM {{{{ input }}}}"}},
              {"id": "api", "type": "data_source", "config": {"source": "rest", "connection": "api", "path": "/x",
                                                              "headers": {"X-Key": "{{ secret.api.token }}"}}},
              edges=[("start", "src"), ("src", "leak"), ("start", "api")])
    problems = [p for p in validate(wf, types) if p.code == "secret_placement"]
    assert [(p.nodes, p.field) for p in problems] == [(("leak",), "config.sql")]
    assert problems[0].message.startswith("node 'leak' (Leak): config.sql: " + RULE)
