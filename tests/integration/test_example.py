"""The bundled example through the real CLI: run, re-run from elsewhere, browse the log."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "orders_report" / "orders_report.json"
OUT = EXAMPLE.parent / "out"


def test_the_example_validates_and_runs_end_to_end(cli, dagflux_home, tmp_path):
    assert cli("validate", EXAMPLE).returncode == 0
    out = cli("run", "--json", EXAMPLE, cwd=tmp_path)  # runnable from any working directory
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    nodes = {n["id"]: n for n in summary["nodes"]}
    assert summary["status"] == "succeeded" and summary["workflow_id"] == "orders_report"
    assert set(nodes) == {"start", "orders", "customers", "clean_orders", "tag_customers",
                          "orders_with_customers", "revenue_by_country", "revenue_check",
                          "report_csv", "report_parquet", "low_revenue_alert"}
    assert all(set(n) == {"id", "type", "status", "records", "table", "connection",
                                           "duration_ms", "error", "warnings", "attempts"} for n in nodes.values())
    assert all(n["attempts"] == 1 for n in nodes.values()) and summary["params"] == {}
    assert nodes["orders"]["records"] == 500 and nodes["customers"]["records"] == 60
    assert nodes["low_revenue_alert"]["status"] == "skipped"
    assert nodes["low_revenue_alert"]["records"] is None and nodes["start"]["records"] is None
    assert all(n["status"] == "succeeded" for k, n in nodes.items() if k != "low_revenue_alert")
    countries = nodes["revenue_by_country"]["records"]
    assert 1 <= countries <= 7
    # progress went to stderr, one line per node
    assert "✓ clean_orders" in out.stderr and "↷ low_revenue_alert" in out.stderr

    with (OUT / "revenue_by_country.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == countries and set(rows[0]) == {"country", "orders", "revenue"}
    table = pq.read_table(OUT / "revenue_by_country.parquet")
    assert table.num_rows == countries
    assert sorted(table.column("country").to_pylist()) == sorted(r["country"] for r in rows)

    conn = sqlite3.connect(dagflux_home / "workspace.sqlite")
    try:
        cleaned = conn.execute('SELECT count(*), sum(total) FROM "orders_report__clean_orders"').fetchone()
        emails = conn.execute('SELECT email FROM "orders_report__tag_customers"').fetchall()
    finally:
        conn.close()
    assert cleaned[0] == nodes["clean_orders"]["records"] and cleaned[1] > 20000
    assert all(e[0] == e[0].lower() for e in emails)

    again = cli("run", "--json", EXAMPLE)  # re-runnable: outputs and tables are replaced
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "succeeded"

    runs = json.loads(cli("history", "--json").stdout)
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert runs[1]["run_id"] == summary["run_id"] and runs[0]["trigger"] == "manual"
    detail = json.loads(cli("history", summary["run_id"][:17], "--json").stdout)
    by_node = {n["node_id"]: n for n in detail["nodes"]}
    assert by_node["clean_orders"]["records_in"] == 500
    assert by_node["clean_orders"]["records_out"] == nodes["clean_orders"]["records"]
    assert by_node["low_revenue_alert"]["status"] == "skipped"
    text = cli("history").stdout
    assert "orders_report" in text and "succeeded" in text


def test_workspace_commands_list_show_and_drop_tables(cli):
    assert cli("run", EXAMPLE).returncode == 0
    listed = json.loads(cli("workspace", "list", "--json").stdout)
    names = {t["name"]: t for t in listed}
    assert names["orders_report__orders"]["rows"] == 500
    shown = cli("workspace", "show", "orders_report__revenue_by_country", "--limit", "3")
    assert shown.returncode == 0 and "country" in shown.stdout and "revenue" in shown.stdout
    shown_json = json.loads(cli("workspace", "show", "orders_report__orders", "--json", "--limit", "2").stdout)
    assert len(shown_json["sample"]) == 2 and shown_json["columns"][0]["name"] == "Order_ID"
    assert shown_json["columns"][0]["type"] == "INTEGER"
    dropped = cli("workspace", "drop", "orders_report__orders")
    assert dropped.returncode == 0
    assert "orders_report__orders" not in {t["name"] for t in json.loads(cli("workspace", "list", "--json").stdout)}
    missing = cli("workspace", "drop", "no_such_table")
    assert missing.returncode == 1 and "no table 'no_such_table'" in missing.stderr
