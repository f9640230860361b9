"""Bad input gets a clear, specific error and loses nothing (through the real CLI)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from tests.integration.helpers import node, source, sql, start, write_csv, write_workflow


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_source_flow(folder: Path, wf_id: str, file_name: str, **options) -> Path:
    return write_workflow(folder, wf_id, [start(), source("src", file_name, **options)], [("start", "src")])


def test_malformed_workflow_json_names_file_line_and_column(tmp_path, cli):
    bad = tmp_path / "broken.json"
    bad.write_text('{\n  "format": "dagflux-workflow",\n  "version": 2,\n  "id": "x",\n  "nodes": [,]\n}\n')
    before = _digest(bad)
    for command in ("validate", "run"):
        out = cli(command, bad)
        assert out.returncode == 2
        assert f"{bad}: invalid JSON at line 5, column 13" in out.stderr
    assert _digest(bad) == before


def test_newer_format_version_is_a_clear_error(tmp_path, cli):
    path = tmp_path / "future.json"
    path.write_text(json.dumps({"format": "dagflux-workflow", "version": 99, "id": "f", "nodes": [], "edges": []}))
    out = cli("validate", path)
    assert out.returncode == 2
    assert "format version 99 is newer than this DagFlux understands" in out.stderr


def test_invalid_workflow_lists_every_problem_and_exits_2(tmp_path, cli):
    path = write_workflow(tmp_path, "many_problems",
                          [start(), start() | {"id": "start_2"}, node("j", "join", {"sql": "SELECT 1"}),
                           node("odd", "no_such_type")],
                          [("start", "j"), ("j", "ghost")])
    out = cli("validate", path)
    assert out.returncode == 2
    for expected in ("2 Start nodes", "unknown type 'no_such_type'", "missing node 'ghost'",
                     "needs at least 2 input(s)"):
        assert expected in out.stderr
    run = cli("run", "--json", path)
    assert run.returncode == 2 and run.stdout == ""


def test_missing_input_file_names_it(tmp_path, cli):
    path = _one_source_flow(tmp_path, "missing_file", "nowhere.csv")
    out = cli("run", "--json", path)
    assert out.returncode == 1
    error = json.loads(out.stdout)["nodes"][1]["error"]
    assert error == f"node 'src': input file {tmp_path / 'nowhere.csv'} does not exist"


def test_empty_ragged_and_undecodable_csv_files_get_specific_errors(tmp_path, cli):
    (tmp_path / "empty.csv").write_bytes(b"")
    write_csv(tmp_path / "ragged.csv", ["a", "b"], [[1, 2], [3, 4]])
    with (tmp_path / "ragged.csv").open("a") as fh:
        fh.write("5,6,7\n")
    (tmp_path / "latin.csv").write_bytes("name\nJosé\n".encode("latin-1"))
    cases = {"empty.csv": "empty", "ragged.csv": "line 4", "latin.csv": "utf-8"}
    for i, (name, expected) in enumerate(cases.items()):
        out = cli("run", "--json", _one_source_flow(tmp_path, f"bad_{i}", name))
        assert out.returncode == 1, out.stderr
        error = json.loads(out.stdout)["nodes"][1]["error"]
        assert name in error and expected in error, error


def test_odd_column_names_are_quoted_safely(tmp_path, cli, dagflux_home):
    header = ["select", 'a"b', "x y", "x y", '"; DROP TABLE t; --', ""]
    write_csv(tmp_path / "odd.csv", header, [[1, 2, 3, 4, 5, 6]])
    flow = write_workflow(tmp_path, "odd_names",
                          [start(), source("src", "odd.csv"), sql("copy", "SELECT * FROM {{ input }}")],
                          [("start", "src"), ("src", "copy")])
    out = cli("run", "--json", flow)
    assert out.returncode == 0, out.stderr
    conn = sqlite3.connect(dagflux_home / "workspace.sqlite")
    try:
        cols = [r[1] for r in conn.execute('PRAGMA table_info("odd_names__copy")')]
        row = conn.execute('SELECT * FROM "odd_names__copy"').fetchone()
    finally:
        conn.close()
    assert len(cols) == 6 and len(set(cols)) == 6
    assert row == (1, 2, 3, 4, 5, 6)


def test_a_100_mb_single_line_file_fails_clearly_without_eating_memory(tmp_path, cli):
    big = tmp_path / "one_line.csv"
    with big.open("wb") as fh:
        fh.write(b"a,b\n")
        chunk = b"x" * (1 << 20)
        for _ in range(100):
            fh.write(chunk)
    out = cli("run", "--json", _one_source_flow(tmp_path, "huge_line", "one_line.csv"))
    assert out.returncode == 1
    error = json.loads(out.stdout)["nodes"][1]["error"]
    assert "one_line.csv" in error and "line 2" in error, error


def test_output_into_a_missing_folder_is_an_error_naming_it(tmp_path, cli):
    write_csv(tmp_path / "in.csv", ["a"], [[1]])
    flow = write_workflow(tmp_path, "bad_output",
                          [start(), source("src", "in.csv"),
                           node("out", "output", {"path": "no/such/dir/out.csv"})],
                          [("start", "src"), ("src", "out")])
    out = cli("run", "--json", flow)
    assert out.returncode == 1
    error = json.loads(out.stdout)["nodes"][2]["error"]
    assert str(tmp_path / "no" / "such" / "dir") in error


def test_a_workspace_that_is_not_a_database_is_reported_and_kept(tmp_path, cli, dagflux_home):
    ws = dagflux_home / "workspace.sqlite"
    ws.write_bytes(b"this is not a database, but it is somebody's file\n" * 100)
    before = _digest(ws)
    write_csv(tmp_path / "in.csv", ["a"], [[1]])
    out = cli("run", _one_source_flow(tmp_path, "ws_broken", "in.csv"))
    assert out.returncode == 1
    assert f"{ws} is not a usable SQLite workspace" in out.stderr
    assert _digest(ws) == before


def test_failures_never_damage_workflow_history_or_workspace(tmp_path, cli, dagflux_home):
    write_csv(tmp_path / "in.csv", ["a"], [[1], [2]])
    good = write_workflow(tmp_path, "good_flow", [start(), source("src", "in.csv"),
                                                  sql("t", "SELECT a * 2 AS b FROM {{ input }}")],
                          [("start", "src"), ("src", "t")])
    assert cli("run", good).returncode == 0
    bad = write_workflow(tmp_path, "good_flow_broken", [start(), source("src", "in.csv"),
                                                        sql("t", "SELECT no_such_column FROM {{ input }}")],
                         [("start", "src"), ("src", "t")])
    before = _digest(bad)
    out = cli("run", "--json", bad)
    assert out.returncode == 1
    error = json.loads(out.stdout)["nodes"][2]["error"]
    assert "no such column: no_such_column" in error and "SELECT no_such_column FROM" in error
    assert _digest(bad) == before
    for name in ("workspace.sqlite", "history.sqlite"):
        conn = sqlite3.connect(dagflux_home / name)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            conn.close()
    conn = sqlite3.connect(dagflux_home / "workspace.sqlite")
    try:
        assert conn.execute('SELECT b FROM "good_flow__t" ORDER BY b').fetchall() == [(2,), (4,)]
    finally:
        conn.close()


def test_json_nested_100000_deep_is_refused_by_validate_run_and_import_in_words(cli, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"format": "dagflux-workflow", "a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    for args in (("validate",), ("run",), ("workflows", "import")):
        out = cli(*args, deep)
        assert out.returncode == 2, (args, out.stderr)
        assert "nested more than 64 levels deep" in out.stderr
        assert "Traceback" not in out.stderr and "internal error" not in out.stderr


def test_settings_of_the_wrong_type_or_range_are_invalid_before_running(cli, tmp_path):
    doc = {"format": "dagflux-workflow", "version": 2, "id": "bad_settings", "settings": {"node_timeout_s": -5},
           "nodes": [{"id": "start", "type": "start"},
                     {"id": "src", "type": "data_source", "config": {"source": "file", "path": 123}}],
           "edges": [{"from": "start", "to": "src"}]}
    path = tmp_path / "bad_settings.json"
    path.write_text(json.dumps(doc))
    out = cli("validate", path)
    assert out.returncode == 2
    assert "settings.node_timeout_s must be greater than 0, got -5" in out.stderr
    assert "node 'src': config.path must be a text, got 123" in out.stderr
