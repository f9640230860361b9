"""A Join whose inputs live in different places stages them in its destination as TEMP
tables of the worker's session: when the worker is killed mid-join (here by the node's
timeout) nothing is left behind in the database — the server drops a dead session's
tables, where before regular ``_dftmp_*`` tables stayed for good."""

from __future__ import annotations

import json
import time

from tests.integration.dbservers import add_login, postgres_admin
from tests.integration.helpers import node, source, write_csv, write_workflow
from tests.integration.test_secrets_and_connections import _add_pg, _seed_pg


def _staging_tables(server) -> list[str]:
    admin = postgres_admin(server)
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT schemaname || '.' || tablename FROM pg_tables WHERE tablename LIKE '\\_dftmp\\_%'")
            return [r[0] for r in cur.fetchall()]
    finally:
        admin.close()


def _backends_of(server) -> int:
    """Sessions of the test login still open (a killed worker's lingers until the server notices)."""
    admin = postgres_admin(server)
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (server.user,))
            return int(cur.fetchone()[0])
    finally:
        admin.close()


def test_a_join_killed_by_its_timeout_leaves_no_staging_table(keyring_ready, postgres_server, cli, tmp_path):
    server = add_login(postgres_server)
    _seed_pg(server)
    assert _add_pg(cli, server).returncode == 0
    write_csv(tmp_path / "customers.csv", ["cid", "name"], [[i, f"customer {i}"] for i in range(4)])
    flow = write_workflow(tmp_path, "slow_join", [
        node("start", "start", {"trigger": {"kind": "manual"}}),
        node("orders", "data_source", {"source": "connection", "connection": "sales", "table": "orders"}),
        source("people", "customers.csv"),
        node("there", "join", {"destination": "sales",
                               "sql": "SELECT o.id, p.name FROM {{ input.orders }} o JOIN {{ input.people }} p "
                                      "ON o.id = p.cid WHERE pg_sleep(3) IS NOT NULL"}, timeout_s=1),
    ], [("start", "orders"), ("start", "people"), ("orders", "there"), ("people", "there")])
    out = cli("run", "--json", flow, timeout=180)
    nodes = {n["id"]: n for n in json.loads(out.stdout)["nodes"]}
    there = nodes["there"]
    assert there["status"] == "failed" and "time" in there["error"].lower(), nodes
    # The killed worker's session ends once its statement returns (pg_sleep(3)); its TEMP
    # tables go with it. Wait for that event — the session closing — not for a time.
    deadline = time.monotonic() + 60
    while _backends_of(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _staging_tables(server) == []
