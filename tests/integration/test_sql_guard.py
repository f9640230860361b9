"""A workflow's SQL stays in its lane (engine.sql.guard): it cannot ATTACH or VACUUM INTO
another database file, load an extension, flip a PRAGMA, or change another workflow's
tables — and an imported file cannot aim its relative paths at another folder."""

from __future__ import annotations

import json
import sqlite3

import pytest

from engine.connectors.base import ConnectorError
from plugins.connectors.sqlite_file import SQLiteFileConnector
from tests.integration.helpers import node, source, sql, start, write_csv, write_workflow


def in_place(node_id: str, text: str) -> dict:
    return node(node_id, "transformer", {"language": "sql", "mode": "in_place", "sql": text})


def _victim(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE secrets (v TEXT)")
    conn.execute("INSERT INTO secrets VALUES ('keep me')")
    conn.commit()
    conn.close()
    return path


def _flow(tmp_path, wf_id: str, last: dict) -> str:
    write_csv(tmp_path / "in.csv", ["x"], [[1], [2]])
    return write_workflow(tmp_path, wf_id, [start(), source("src", "in.csv"), last],
                          [("start", "src"), ("src", last["id"])])


@pytest.mark.parametrize("attack, refusal", [
    ("ATTACH DATABASE '{victim}' AS v; DELETE FROM v.secrets", "ATTACH, DETACH and VACUUM INTO are not allowed"),
    ("VACUUM INTO '{copy}'", "VACUUM"),  # refused by SQLite already (inside the node's transaction)
    ("UPDATE {{{{ input }}}} SET x = load_extension('/tmp/evil.so')", "load_extension() is not allowed"),
    ("PRAGMA writable_schema = 1", "PRAGMA writable_schema is not allowed"),
    ("CREATE TRIGGER t AFTER INSERT ON {{{{ input }}}} BEGIN SELECT 1; END",
     "may not create a trigger in the workspace"),
])
def test_in_place_sql_cannot_reach_other_files_or_weaken_the_workspace(cli, tmp_path, attack, refusal):
    victim, copy = _victim(tmp_path / "victim.db"), tmp_path / "copy.db"
    flow = _flow(tmp_path, "attack", in_place("t", attack.format(victim=victim, copy=copy)))
    ran = cli("run", flow)
    assert ran.returncode != 0
    assert refusal in ran.stderr + ran.stdout
    assert sqlite3.connect(victim).execute("SELECT v FROM secrets").fetchall() == [("keep me",)]
    assert not copy.exists()


def test_workflow_sql_reads_any_table_but_changes_only_its_own(cli, tmp_path):
    first = _flow(tmp_path, "first", sql("t", "SELECT x * 10 AS y FROM {{ input }}"))
    assert cli("run", first).returncode == 0
    # reading another workflow's result is the point of one shared workspace
    reader = _flow(tmp_path, "reader", sql("t", 'SELECT sum(y) AS s FROM "first__t"'))
    assert cli("run", reader).returncode == 0, cli("run", reader).stderr
    assert json.loads(cli("workspace", "show", "reader__t", "--json").stdout)["sample"] == [[30]]
    # changing it is not: in-place SQL may touch its input (and TEMP tables) only
    vandal = _flow(tmp_path, "vandal", in_place(
        "t", 'CREATE TEMP TABLE keep AS SELECT 1; UPDATE {{ input }} SET x = x + 1; DELETE FROM "first__t"'))
    ran = cli("run", vandal)
    assert ran.returncode != 0
    assert "may only change its own table (vandal__src); it tried to change 'first__t'" in ran.stderr + ran.stdout
    assert json.loads(cli("workspace", "show", "first__t", "--json").stdout)["sample"] == [[10], [20]]
    # the same kinds of statement on its own input work, and table_info reads are fine
    fine = _flow(tmp_path, "fine", in_place(
        "t", "CREATE TEMP TABLE k AS SELECT 1; UPDATE {{ input }} SET x = x + "
             "(SELECT count(*) FROM pragma_table_info('fine__src'))"))
    done = cli("run", fine)
    assert done.returncode == 0, done.stderr
    assert json.loads(cli("workspace", "show", "fine__src", "--json").stdout)["sample"] == [[2], [3]]


def test_a_branch_condition_only_reads(cli, tmp_path):
    write_csv(tmp_path / "in.csv", ["x"], [[1]])
    flow = write_workflow(tmp_path, "br", [
        start(), source("src", "in.csv"),
        node("b", "branch", {"condition": "(SELECT count(*) FROM pragma_table_info('br__src')) = 1 "
                                          "AND load_extension('x') IS NULL"}),
        sql("yes", "SELECT 1"), sql("no", "SELECT 0")],
        [("start", "src"), ("src", "b"), ("b", "yes", "true"), ("b", "no", "false")])
    ran = cli("run", flow)
    assert ran.returncode != 0 and "load_extension() is not allowed" in ran.stderr + ran.stdout


def test_a_sqlite_connection_stays_inside_its_own_file(tmp_path):
    own, victim = _victim(tmp_path / "own.db"), _victim(tmp_path / "victim.db")
    conn = SQLiteFileConnector("c1", "mine", {"path": str(own)})
    try:
        conn.execute_many(["CREATE TABLE mine AS SELECT 1 AS a", "PRAGMA user_version = 3"])  # its own file: fine
        with pytest.raises(ConnectorError, match="ATTACH, DETACH and VACUUM INTO are not allowed"):
            conn.execute_many([f"ATTACH DATABASE '{victim}' AS v", "DELETE FROM v.secrets"])
    finally:
        conn.close()
    assert sqlite3.connect(victim).execute("SELECT v FROM secrets").fetchall() == [("keep me",)]


def test_import_ignores_a_base_dir_written_in_the_file(cli, tmp_path, dagflux_home):
    elsewhere, here = tmp_path / "elsewhere", tmp_path / "here"
    elsewhere.mkdir()
    here.mkdir()
    flow = _flow(here, "aimed", sql("t", "SELECT x FROM {{ input }}"))
    doc = json.loads(flow.read_text())
    doc.setdefault("settings", {})["base_dir"] = str(elsewhere)
    flow.write_text(json.dumps(doc))
    done = cli("workflows", "import", flow, "--yes")
    assert done.returncode == 0, done.stderr
    assert f"names a base folder ({elsewhere}); it is ignored" in done.stdout
    saved = json.loads((dagflux_home / "workflows" / "aimed.json").read_text())
    assert saved["settings"]["base_dir"] == str(here.resolve())
