"""`dagflux validate` says it checks structure and settings; `--check-paths` also checks
that inputs exist and output folders exist or will be created."""

from __future__ import annotations

from tests.integration.helpers import node, source, start, write_csv, write_workflow


def _flow(tmp_path, create_dirs: bool):
    write_csv(tmp_path / "here.csv", ["x"], [[1]])
    return write_workflow(tmp_path, "paths", [
        start(), source("here", "here.csv"), source("gone", "data/missing.csv"),
        node("reuse", "data_source", {"source": "workspace", "table": "nobody__made_this"}),
        node("out", "output", {"path": "reports/out.csv", "options": {"create_dirs": create_dirs}}),
        node("out2", "output", {"path": "report.csv"}),
    ], [("start", "here"), ("start", "gone"), ("start", "reuse"), ("here", "out"), ("gone", "out2")])


def test_plain_validate_checks_the_file_only_and_says_so(cli, tmp_path):
    out = cli("validate", _flow(tmp_path, create_dirs=False))
    assert out.returncode == 0, out.stderr
    assert "valid (structure and settings; paths not checked)" in out.stdout


def test_check_paths_names_missing_inputs_and_output_folders(cli, tmp_path):
    flow = _flow(tmp_path, create_dirs=False)
    out = cli("validate", flow, "--check-paths")
    assert out.returncode == 2
    assert "node 'gone': input file data/missing.csv does not exist" in out.stderr
    assert "node 'reuse': the workspace has no table 'nobody__made_this'" in out.stderr
    assert f"node 'out': output folder {tmp_path / 'reports'} does not exist; create it or turn on create_dirs" \
        in out.stderr
    assert "'here'" not in out.stderr and "'out2'" not in out.stderr
    assert not (tmp_path / "reports").exists()           # it only looks


def test_an_output_folder_that_will_be_created_is_a_note_not_a_problem(cli, tmp_path):
    flow = _flow(tmp_path, create_dirs=True)
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "data" / "missing.csv", ["x"], [[2]])
    out = cli("validate", flow, "--check-paths")
    assert "it will be created (create_dirs)" in out.stdout
    assert out.returncode == 2 and "nobody__made_this" in out.stderr   # the workspace table is still missing
