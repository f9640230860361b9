"""Workflow parameters: declared, validated, converted, bound as values, recorded in history."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine import workspace
from engine.executor import InlineExecutor
from engine.history import History
from engine.messages import RunStarted
from engine.model import fileformat, parameters, validation
from engine.model.parameters import ParameterError
from engine.model.workflow import Edge, Node, Workflow
from engine.plugins import load_registry
from engine.runner import Run

REGISTRY = load_registry()
INJECTION = "x'; DROP TABLE sales; --"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "workspace.sqlite"
    conn = workspace.connect(path)
    conn.execute("CREATE TABLE sales AS SELECT 1 AS id, 'north' AS region, 100 AS amount, '2026-01-05' AS day "
                 "UNION ALL SELECT 2, 'south', 250, '2026-02-10' UNION ALL SELECT 3, 'north', 40, '2026-03-01'")
    conn.close()
    return path


def _sql(node_id: str, text: str) -> Node:
    return Node(node_id, "transformer", config={"language": "sql", "mode": "new_table", "sql": text})


def _flow(*extra: Node, edges: list[Edge], params: list[dict]) -> Workflow:
    base = [Node("start", "start", config={"trigger": {"kind": "manual"}}),
            Node("sales", "data_source", config={"source": "workspace", "table": "sales"})]
    return Workflow("flow", "Flow", nodes=base + list(extra), edges=[Edge("start", "sales"), *edges],
                    parameters=params)


def _run(wf: Workflow, ws: Path, params: dict | None = None, history: History | None = None):
    events: list = []
    executor = InlineExecutor(REGISTRY, ws)
    try:
        result = Run(wf, ws.parent, REGISTRY, executor, history, on_event=events.append, params=params).execute()
    finally:
        executor.close()
    return result, events


def _rows(ws: Path, table: str) -> list[tuple]:
    conn = sqlite3.connect(ws)
    try:
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()
    finally:
        conn.close()


# --- binding ---------------------------------------------------------------------------------
def test_parameters_in_sql_are_bound_by_type_and_defaults_fill_the_rest(ws):
    params = [{"name": "region", "type": "text", "default": "north"},
              {"name": "min_amount", "type": "integer", "default": 0},
              {"name": "since", "type": "date", "default": "2026-01-01"}]
    wf = _flow(_sql("pick", "SELECT id FROM {{ input }} WHERE region = {{ param.region }} "
                            "AND amount >= {{ param.min_amount }} AND day >= {{param.since}}"),
               edges=[Edge("sales", "pick")], params=params)
    result, events = _run(wf, ws, {"min_amount": "50"})
    assert result.status == "succeeded", result.error
    assert _rows(ws, "flow__pick") == [(1,)]
    assert result.params == {"region": "north", "min_amount": 50, "since": "2026-01-01"}
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.params == result.params
    result, _ = _run(wf, ws, {"region": "north", "since": "2026-02-15"})
    assert _rows(ws, "flow__pick") == [(3,)]


def test_an_injection_attempt_stays_a_value(ws):
    wf = _flow(_sql("pick", "SELECT id, {{ param.who }} AS who FROM {{ input }} WHERE region = {{ param.who }} "
                            "UNION ALL SELECT 0, {{ param.who }}"),
               edges=[Edge("sales", "pick")], params=[{"name": "who", "type": "text", "default": "north"}])
    result, _ = _run(wf, ws, {"who": INJECTION})
    assert result.status == "succeeded", result.error
    assert _rows(ws, "flow__pick") == [(0, INJECTION)]      # no region matches; the text came back intact
    assert len(_rows(ws, "sales")) == 3                      # and nothing was dropped


def test_branch_conditions_take_parameters_as_values(ws):
    wf = _flow(Node("check", "branch", config={"condition": "sum(amount) > {{ param.limit }}"}),
               _sql("big", "SELECT * FROM {{ input }}"), _sql("small", "SELECT * FROM {{ input }}"),
               edges=[Edge("sales", "check"), Edge("check", "big", "true"), Edge("check", "small", "false")],
               params=[{"name": "limit", "type": "number", "default": 1000}])
    result, _ = _run(wf, ws)
    assert (result.node("big").status, result.node("small").status) == ("skipped", "succeeded")
    result, _ = _run(wf, ws, {"limit": "389.5"})
    assert (result.node("big").status, result.node("small").status) == ("succeeded", "skipped")


def test_file_paths_take_parameter_values_as_text(ws, tmp_path):
    (tmp_path / "2026-05-01.csv").write_text("id,v\n1,a\n2,b\n", encoding="utf-8")
    wf = Workflow("flow", nodes=[Node("start", "start", config={"trigger": {"kind": "manual"}}),
                                 Node("load", "data_source", config={"source": "file", "path": "{{ param.day }}.csv"}),
                                 Node("save", "output", config={"path": "out/{{ param.day }}-copy.csv",
                                                                "options": {"create_dirs": True}})],
                  edges=[Edge("start", "load"), Edge("load", "save")],
                  parameters=[{"name": "day", "type": "date", "default": "2026-01-01"}])
    result, _ = _run(wf, ws, {"day": "2026-05-01"})
    assert result.status == "succeeded", result.error
    assert (tmp_path / "out" / "2026-05-01-copy.csv").read_text(encoding="utf-8").splitlines() == \
        ["id,v", "1,a", "2,b"]
    result, _ = _run(wf, ws)
    assert result.status == "failed" and "2026-01-01.csv does not exist" in result.error


def test_the_values_used_are_in_the_runs_history(ws, tmp_path):
    wf = _flow(_sql("pick", "SELECT * FROM {{ input }} WHERE amount > {{ param.n }}"),
               edges=[Edge("sales", "pick")], params=[{"name": "n", "type": "integer", "default": 1},
                                                     {"name": "flag", "type": "boolean", "default": False}])
    with History(tmp_path / "history.sqlite") as history:
        result, _ = _run(wf, ws, {"n": "99", "flag": "yes"}, history)
        assert history.get_run(result.run_id)["params"] == {"n": 99, "flag": True}
        assert history.list_runs()[0]["params"] == {"n": 99, "flag": True}


# --- values ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "text", "value"), [
    ("text", "a=b", "a=b"), ("integer", " 42 ", 42), ("integer", "-7", -7), ("number", "2.5", 2.5),
    ("boolean", "Yes", True), ("boolean", "0", False), ("date", "2026-12-31", "2026-12-31")])
def test_text_values_are_converted_by_the_declared_type(kind, text, value):
    assert parameters.convert("p", kind, text) == value


@pytest.mark.parametrize(("kind", "text", "expected"), [
    ("integer", "4.5", "parameter 'p' is an integer: a whole number like 42, not '4.5'"),
    ("integer", "1_000", "a whole number"), ("number", "nan", "a number like 3.5"),
    ("boolean", "maybe", "true or false"), ("date", "2026-02-30", "a date like 2026-12-31"),
    ("date", "31/12/2026", "a date like")])
def test_a_bad_value_names_the_parameter_and_what_it_expects(kind, text, expected):
    with pytest.raises(ParameterError, match=expected.replace("(", r"\(")):
        parameters.convert("p", kind, text)


def test_resolve_refuses_unknown_names_and_missing_values():
    decls = [{"name": "a", "type": "integer", "default": 1}, {"name": "b", "type": "text"}]
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) zz \(this workflow declares: a, b\)"):
        parameters.resolve(decls, {"b": "x", "zz": "1"})
    with pytest.raises(ParameterError, match="parameter 'b' has no default; give a value"):
        parameters.resolve(decls, {})
    assert parameters.resolve(decls, {"b": "x"}) == {"a": 1, "b": "x"}


def test_a_bad_value_fails_before_the_run_starts(ws, tmp_path):
    wf = _flow(_sql("pick", "SELECT * FROM {{ input }} WHERE amount > {{ param.n }}"),
               edges=[Edge("sales", "pick")], params=[{"name": "n", "type": "integer", "default": 1}])
    with History(tmp_path / "history.sqlite") as history:
        with pytest.raises(ParameterError, match="parameter 'n' is an integer"):
            _run(wf, ws, {"n": "lots"}, history)
        assert history.list_runs() == []


def test_command_line_assignments():
    assert parameters.parse_assignments(["a=1", "q=x=y", "e="]) == {"a": "1", "q": "x=y", "e": ""}
    with pytest.raises(ParameterError, match="write it as NAME=VALUE"):
        parameters.parse_assignments(["novalue"])


# --- validation ------------------------------------------------------------------------------
def _problems(wf: Workflow) -> list[str]:
    return [str(p) for p in validation.validate(wf, REGISTRY.node_types)]


def test_an_unknown_parameter_is_named_with_its_node_and_field():
    wf = _flow(_sql("pick", "SELECT * FROM {{ input }} WHERE x = {{ param.regoin }}"),
               edges=[Edge("sales", "pick")], params=[{"name": "region", "type": "text", "default": ""}])
    assert _problems(wf) == ["node 'pick': config.sql: {{ param.regoin }} names no workflow parameter "
                             "(parameters: region)"]


def test_a_parameter_where_none_is_taken_is_refused():
    wf = _flow(edges=[], params=[{"name": "t", "type": "text", "default": "sales"}])
    wf.node("sales").config["table"] = "{{ param.t }}"
    assert _problems(wf) == ["node 'sales': config.table: {{ param.t }} is not allowed here "
                             "(a data_source node takes parameters in: path)"]


def test_bad_declarations_are_each_named():
    wf = _flow(edges=[], params=[{"name": "n", "type": "integer", "default": "many"},
                                 {"name": "k", "type": "colour", "default": "red"},
                                 {"name": "1x", "type": "text"}, {"name": "n", "type": "text"}])
    assert _problems(wf) == [
        "parameter 'n' is an integer: a whole number like 42, not 'many' (its default)",
        "parameter 'k': type must be one of text, integer, number, boolean, date, not 'colour'",
        "parameter #3: name '1x' must be letters, digits and underscores, starting with a letter or underscore",
        "parameter 'n' is declared twice"]


def test_parameters_and_retry_survive_a_save_and_load(tmp_path):
    wf = _flow(_sql("pick", "SELECT * FROM {{ input }} WHERE region = {{ param.region }}"),
               edges=[Edge("sales", "pick")],
               params=[{"name": "region", "type": "text", "default": "north", "description": "where"},
                       {"name": "day", "type": "date", "default": "2026-01-01"}])
    wf.node("sales").retry = {"count": 3, "delay_s": 0.5, "backoff": 2}
    fileformat.save(wf, tmp_path / "flow.json")
    again = fileformat.load(tmp_path / "flow.json")
    assert again.parameters == wf.parameters
    assert again.node("sales").retry == {"backoff": 2, "count": 3, "delay_s": 0.5}
    assert fileformat.dumps(again) == fileformat.dumps(wf)
    assert _problems(again) == []


def test_check_paths_fills_in_the_defaults(tmp_path):
    from engine.model.path_check import check_paths

    (tmp_path / "2026-05-01.csv").write_text("id\n1\n", encoding="utf-8")
    wf = Workflow("flow", nodes=[Node("start", "start", config={"trigger": {"kind": "manual"}}),
                                 Node("load", "data_source", config={"source": "file", "path": "{{ param.day }}.csv"})],
                  edges=[Edge("start", "load")], parameters=[{"name": "day", "type": "date", "default": "2026-05-01"}])
    assert check_paths(wf, tmp_path) == []
    wf.parameters[0]["default"] = "2026-05-02"
    assert [str(f) for f in check_paths(wf, tmp_path)] == [
        f"node 'load': input file 2026-05-02.csv does not exist ({tmp_path / '2026-05-02.csv'})"]
