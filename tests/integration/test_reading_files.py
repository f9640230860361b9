"""Reading data right, through the real CLI: the stray-"NA" repro from issue 17 gives the right
average with the default options, and a run configured to keep "NA" as text records a warning
that ``dagflux history RUN_ID`` prints and ``--json`` carries."""

from __future__ import annotations

import json
import sqlite3

from tests.integration.helpers import source, sql, start, write_workflow


def _avg_flow(folder, wf_id: str, **options):
    (folder / "x.csv").write_text("x\n1\nNA\n3\n", encoding="utf-8")
    return write_workflow(folder, wf_id, [start(), source("src", "x.csv", **options),
                                          sql("avg", "SELECT avg(x) AS a FROM {{ input }}")],
                          [("start", "src"), ("src", "avg")])


def _average(home, table: str) -> float:
    conn = sqlite3.connect(home / "workspace.sqlite")
    try:
        return conn.execute(f'SELECT a FROM "{table}"').fetchone()[0]
    finally:
        conn.close()


def test_na_is_null_by_default_and_the_average_is_right(tmp_path, cli, dagflux_home):
    out = cli("run", "--json", _avg_flow(tmp_path, "na_default"))
    assert out.returncode == 0, out.stderr
    assert _average(dagflux_home, "na_default__avg") == 2.0
    summary = json.loads(out.stdout)
    assert all(node["warnings"] == [] for node in summary["nodes"])


def test_na_kept_as_text_is_a_warning_in_the_run_and_its_history(tmp_path, cli, dagflux_home):
    out = cli("run", "--json", _avg_flow(tmp_path, "na_text", default_nulls=False))
    assert out.returncode == 0, out.stderr
    assert _average(dagflux_home, "na_text__avg") == 4 / 3          # what the user asked for, reported:
    warning = ("x.csv: column x: 1 of 3 values are not numbers ('NA' ×1) — kept as text; to read them as "
               "NULL add 'NA' to the option 'null_values', or choose the column's type in 'columns'")
    summary = json.loads(out.stdout)
    nodes = {node["id"]: node for node in summary["nodes"]}
    assert nodes["src"]["warnings"] == [warning] and nodes["avg"]["warnings"] == []
    assert f"warning: {warning}" in out.stderr                        # the run's progress shows it

    shown = cli("history", summary["run_id"])
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    src_line = next(i for i, line in enumerate(lines) if line.strip().startswith("src "))
    assert lines[src_line + 1].strip() == f"warning: {warning}"
    as_json = json.loads(cli("history", "--json", summary["run_id"]).stdout)
    assert {n["node_id"]: n["warnings"] for n in as_json["nodes"]} == {"start": [], "src": [warning], "avg": []}


def test_a_header_only_file_gives_an_empty_table_and_says_so(tmp_path, cli, dagflux_home):
    (tmp_path / "orders.csv").write_text("id,total\n", encoding="utf-8")
    flow = write_workflow(tmp_path, "empty_in", [start(), source("src", "orders.csv")], [("start", "src")])
    out = cli("run", "--json", flow)
    assert out.returncode == 0, out.stderr
    src = next(node for node in json.loads(out.stdout)["nodes"] if node["id"] == "src")
    assert src["records"] == 0
    assert src["warnings"] == ["0 rows read from orders.csv: the table has its columns and no rows"]
    conn = sqlite3.connect(dagflux_home / "workspace.sqlite")
    try:
        assert [r[1] for r in conn.execute('PRAGMA table_info("empty_in__src")')] == ["id", "total"]
    finally:
        conn.close()


def test_dagflux_preview_shows_types_findings_and_the_flags_that_fix_them(tmp_path, cli):
    (tmp_path / "x.csv").write_text("x,zip\n1,007\nNA,012\n3,345\n", encoding="utf-8")
    shown = cli("preview", tmp_path / "x.csv", "--no-default-nulls")
    assert shown.returncode == 0, shown.stderr
    assert "  x    TEXT\n  zip  TEXT\n" in shown.stdout
    assert ("warning: column x: 1 of 3 values are not numbers ('NA' ×1) — kept as text" in shown.stdout
            and 'read them as NULL: --null "NA"   keep as text: --text x' in shown.stdout)
    assert 'options: {"default_nulls": false}' in shown.stdout

    fixed = json.loads(cli("preview", tmp_path / "x.csv", "--no-default-nulls", "--null", "NA",
                           "--type", "zip=integer", "--json").stdout)
    assert fixed["columns"] == [["x", "INTEGER"], ["zip", "INTEGER"]] and fixed["findings"] == []
    assert fixed["rows"] == [[1, 7], [None, 12], [3, 345]] and fixed["sampled"] == 3
    assert fixed["options"] == {"null_values": ["NA"], "default_nulls": False, "columns": {"zip": "integer"}}

    missing = cli("preview", tmp_path / "x.csv", "--text", "nope")
    assert missing.returncode == 0 and "option 'columns' names 'nope'" in missing.stdout
    bad = cli("preview", tmp_path / "x.csv", "--type", "x=date")
    assert bad.returncode == 1 and "the type of 'x' must be one of integer, real, text" in bad.stderr


def test_original_names_flow_through_sql_and_an_output(tmp_path, cli):
    from tests.integration.helpers import node

    (tmp_path / "o.csv").write_text('Order Date,total ($),select\n2024-01-05,10,x\n2024-01-05,5,y\n', encoding="utf-8")
    flow = write_workflow(tmp_path, "orig_names", [
        start(), source("src", "o.csv", original_names=True),
        sql("sum", 'SELECT "Order Date", sum("total ($)") AS "total ($)", min("select") AS "select" '
                   'FROM {{ input }} GROUP BY 1'),
        node("out", "output", {"path": "out.csv"}),
    ], [("start", "src"), ("src", "sum"), ("sum", "out")])
    out = cli("run", "--json", flow)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines() == [
        "Order Date,total ($),select", "2024-01-05,15,x"]
