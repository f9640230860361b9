"""`dagflux workflows import`: shows what a file will do, refuses invalid files (or keeps a
draft with --force), asks before saving (--yes where there is no terminal), and leaves an
imported trigger switched off until enabled."""

from __future__ import annotations

import json

from tests.integration.helpers import node, source, sql, start, write_csv, write_workflow

CODE = "def transform(rows):\n    for row in rows:\n        yield row\n"


def _flow(tmp_path):
    write_csv(tmp_path / "in.csv", ["x"], [[1]])
    return write_workflow(tmp_path, "nightly", [
        node("start", "start", {"trigger": {"kind": "daily", "time": "02:00"}}), source("src", "in.csv"),
        node("py", "transformer", {"language": "python", "code": CODE}),
        node("out", "output", {"path": "/tmp/elsewhere/report.csv"})],
        [("start", "src"), ("src", "py"), ("py", "out")])


def listed(cli) -> dict:
    return {w["id"]: w for w in json.loads(cli("workflows", "list", "--json").stdout)}


def test_import_shows_the_code_and_writes_and_needs_a_yes_without_a_terminal(cli, tmp_path):
    flow = _flow(tmp_path)
    refused = cli("workflows", "import", flow)            # stdin is not a terminal here
    assert refused.returncode != 0 and "import it with --yes" in refused.stderr
    assert "nightly" not in listed(cli)
    for text in ("Python code in node 'py'", "  1 | def transform(rows):", "/tmp/elsewhere/report.csv",
                 "⚠ an absolute path", "every day at 02:00 — imported switched off"):
        assert text in refused.stdout, text
    done = cli("workflows", "import", flow, "--yes")
    assert done.returncode == 0, done.stderr
    saved = listed(cli)["nightly"]
    assert (saved["enabled"], saved["draft"]) == (False, False)   # the trigger waits for the user
    assert cli("workflows", "enable", "nightly").returncode == 0
    assert listed(cli)["nightly"]["enabled"] is True


def test_an_invalid_file_is_refused_with_its_problems_or_kept_as_a_draft_with_force(cli, tmp_path):
    nodes = [start(), node("a", "transformer", {"language": "sql", "sql": "SELECT 1"}), node("b", "no_such_type", {})]
    flow = write_workflow(tmp_path, "broken", nodes, [("start", "a"), ("a", "b"), ("b", "a")])
    refused = cli("workflows", "import", flow, "--yes")
    assert refused.returncode == 2
    assert "was not imported" in refused.stderr and "cycle" in refused.stderr and "unknown type" in refused.stderr
    assert "broken" not in listed(cli)
    forced = cli("workflows", "import", flow, "--yes", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "a draft with" in forced.stdout
    assert listed(cli)["broken"]["draft"] is True
    assert "DRAFT — will not run until fixed" in cli("workflows", "list").stdout
    ran = cli("run", flow)
    assert ran.returncode == 2                               # a draft does not run


def test_the_engine_imports_the_same_way(cli, tmp_path, dagflux_home):
    from tests.integration.engine_harness import EngineProcess

    flow = _flow(tmp_path)
    engine = EngineProcess(dagflux_home)
    try:
        done = cli("workflows", "import", flow, "--yes")
        assert done.returncode == 0, done.stderr
        with engine.client() as client:
            saved = {w["id"]: w for w in client.call("workflows.list")}["nightly"]
            assert saved["enabled"] is False
            assert not [t for t in client.call("triggers.list") if t["workflow_id"] == "nightly"]
            bad = write_workflow(tmp_path, "cyclic", [start(), sql("a", "SELECT 1"), sql("b", "SELECT 2")],
                                 [("start", "a"), ("a", "b"), ("b", "a")])
            review = client.call("workflows.review", path=str(bad))
            assert review["id"] == "cyclic" and any("cycle" in p for p in review["problems"])
    finally:
        engine.stop()
