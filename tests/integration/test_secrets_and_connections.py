"""Secrets in the real Secret Service; connections used by workflows against real servers."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from engine.connectors.store import load_connections
from tests import keychain
from tests.integration.dbservers import add_login
from tests.integration.helpers import node, write_workflow

REPO = Path(__file__).resolve().parents[2]


def _add_pg(cli, server, conn_id="sales", password=None):
    secrets_in = "\n".join([server.host, server.user, password or server.password]) + "\n"
    return cli("connections", "add", "postgresql", conn_id, "--name", "Sales DB",
               "--set", f"port={server.port}", "--set", f"database={server.database}",
               "--secret", "host", "--secret", "user", "--secret", "password", input=secrets_in)


def _seed_pg(server, rows=12):
    from tests.integration.dbservers import postgres_admin

    conn = postgres_admin(server)
    try:
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS orders")
            cur.execute("CREATE TABLE orders (id int primary key, customer text, total numeric(10,2), "
                        "placed date)")
            cur.executemany("INSERT INTO orders VALUES (%s, %s, %s, %s)",
                            [(i, f"customer {i % 4}", i * 10.5, f"2026-01-{i + 1:02d}") for i in range(rows)])
            cur.execute(f'GRANT ALL ON orders TO "{server.user}"')
            cur.execute(f'GRANT CREATE ON SCHEMA public TO "{server.user}"')
        conn.commit()
    finally:
        conn.close()


def test_keychain_states_ok_missing_and_locked(keyring_ready, cli, tmp_path):
    ok = cli("connections", "keychain")
    assert ok.returncode == 0 and "keychain ok" in ok.stdout
    env = {k: v for k, v in os.environ.items() if k not in ("DBUS_SESSION_BUS_ADDRESS", "GNOME_KEYRING_CONTROL")}
    env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={tmp_path}/no-bus"
    missing = subprocess.run([sys.executable, "-m", "engine.cli", "connections", "keychain"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1
    assert "no usable OS keychain" in missing.stdout and "gnome-keyring" in missing.stdout

    locked_service = keychain.SecretService(tmp_path / "locked")
    try:  # a Secret Service that runs but was never unlocked
        locked_env = {**os.environ, **locked_service.start(unlock=False)}
        locked = subprocess.run([sys.executable, "-m", "engine.cli", "connections", "keychain"], cwd=REPO,
                                env=locked_env, capture_output=True, text=True, timeout=60)
    finally:
        locked_service.stop()
    assert locked.returncode == 1
    assert "keychain locked" in locked.stdout and "Unlock it" in locked.stdout


def test_a_connection_keeps_its_secrets_in_the_keychain_only(keyring_ready, postgres_server, cli, dagflux_home):
    postgres_server = add_login(postgres_server)
    _seed_pg(postgres_server)
    out = _add_pg(cli, postgres_server)
    assert out.returncode == 0, out.stderr
    assert "secrets set: host, password, user" in out.stdout
    text = (dagflux_home / "connections.json").read_text()
    for value in (postgres_server.password, postgres_server.user):
        assert value not in text
    entry = load_connections(dagflux_home / "connections.json")["sales"]
    assert entry["secret_fields"] == ["host", "password", "user"]
    assert entry["settings"] == {"database": postgres_server.database, "port": postgres_server.port,
                                 "sslmode": "prefer"}
    listed = cli("connections", "list")
    assert "password set" in listed.stdout and postgres_server.password not in listed.stdout

    tested = cli("connections", "test", "sales")
    assert tested.returncode == 0, tested.stderr
    assert "PostgreSQL" in tested.stdout
    objects = cli("connections", "objects", "sales")
    assert "orders" in objects.stdout
    sample = json.loads(cli("connections", "sample", "sales", "orders", "--json").stdout)
    assert sample["columns"] == ["id", "customer", "total", "placed"] and len(sample["rows"]) == 5


def test_wrong_password_names_the_connection_never_the_value(keyring_ready, postgres_server, cli):
    wrong = "W" * 16 + "rongPassword1234"
    assert _add_pg(cli, postgres_server, "bad_login", password=wrong).returncode == 0
    out = cli("connections", "test", "bad_login")
    assert out.returncode == 1
    assert "Sales DB" in out.stderr or "bad_login" in out.stderr
    assert wrong not in out.stderr + out.stdout


def test_workflows_read_in_place_transform_in_the_database_and_pull_locally(
        keyring_ready, postgres_server, cli, dagflux_home, tmp_path):
    postgres_server = add_login(postgres_server)
    _seed_pg(postgres_server)
    assert _add_pg(cli, postgres_server).returncode == 0
    flow = write_workflow(tmp_path, "pg_flow", [
        node("start", "start", {"trigger": {"kind": "manual"}}),
        node("orders", "data_source", {"source": "connection", "connection": "sales", "table": "orders"}),
        node("big", "transformer", {"language": "sql", "mode": "new_table", "storage": "database",
                                    "sql": "SELECT id, total FROM {{ input }} WHERE total > 50"}),
        node("local_copy", "transformer", {"language": "sql", "mode": "new_table", "storage": "local",
                                           "sql": "SELECT id, total, total * 2 AS doubled FROM {{ input }}"}),
        node("back", "output", {"connection": "sales", "table": "doubled_orders", "mode": "replace"}),
    ], [("start", "orders"), ("orders", "big"), ("big", "local_copy"), ("local_copy", "back")])
    out = cli("run", "--json", flow)
    assert out.returncode == 0, out.stderr
    nodes = {n["id"]: n for n in json.loads(out.stdout)["nodes"]}
    assert nodes["orders"]["records"] == 12 and nodes["big"]["records"] == 7
    assert nodes["local_copy"]["records"] == 7 and nodes["back"]["records"] == 7
    conn = sqlite3.connect(dagflux_home / "workspace.sqlite")
    try:
        assert conn.execute('SELECT count(*) FROM "pg_flow__local_copy"').fetchone()[0] == 7
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'orders'").fetchone()[0] == 0
    finally:
        conn.close()
    from tests.integration.dbservers import postgres_admin

    admin = postgres_admin(postgres_server)
    try:
        with admin.cursor() as cur:
            cur.execute('SELECT count(*) FROM "pg_flow__big"')
            assert cur.fetchone()[0] == 7
            cur.execute("SELECT sum(doubled) FROM doubled_orders")
            assert float(cur.fetchone()[0]) > 0
        # a later run whose SQL fails in the database leaves the previous result (old or new, never none)
        doc = json.loads(flow.read_text())
        next(n for n in doc["nodes"] if n["id"] == "big")["config"]["sql"] = "SELECT id, 1 / 0 AS x FROM {{ input }}"
        flow.write_text(json.dumps(doc))
        failed = cli("run", flow)
        assert failed.returncode != 0 and "division by zero" in failed.stdout + failed.stderr
        with admin.cursor() as cur:
            cur.execute('SELECT count(*) FROM "pg_flow__big"')
            assert cur.fetchone()[0] == 7
    finally:
        admin.close()


def test_joins_copy_foreign_inputs_into_their_destination_and_drop_the_temp_tables(
        keyring_ready, postgres_server, cli, dagflux_home, tmp_path):
    from tests.integration.dbservers import postgres_admin
    from tests.integration.helpers import source, write_csv

    postgres_server = add_login(postgres_server)
    _seed_pg(postgres_server)
    assert _add_pg(cli, postgres_server).returncode == 0
    write_csv(tmp_path / "customers.csv", ["cid", "name"], [[i, f"customer {i}"] for i in range(4)])
    join_spec = {"joins": [{"left": "orders", "right": "people", "type": "inner", "on": [["id", "cid"]]}],
                 "columns": ["orders.id", "orders.total", "people.name"]}
    flow = write_workflow(tmp_path, "mixed_join", [
        node("start", "start", {"trigger": {"kind": "manual"}}),
        node("orders", "data_source", {"source": "connection", "connection": "sales", "table": "orders"}),
        source("people", "customers.csv"),
        node("here", "join", join_spec),
        node("there", "join", {**join_spec, "destination": "sales"}),
        node("broken", "join", {"destination": "sales",
                                "sql": "SELECT nope FROM {{ input.orders }} JOIN {{ input.people }} ON true"}),
    ], [("start", "orders"), ("start", "people"), ("orders", "here"), ("people", "here"),
        ("orders", "there"), ("people", "there"), ("orders", "broken"), ("people", "broken")])
    out = cli("run", "--json", flow, timeout=180)
    nodes = {n["id"]: n for n in json.loads(out.stdout)["nodes"]}
    assert nodes["here"]["status"] == "succeeded" and nodes["here"]["records"] == 4
    assert nodes["there"]["status"] in ("succeeded", "cancelled", "not_run")  # fail-fast may stop it
    assert nodes["broken"]["status"] == "failed" and "nope" in nodes["broken"]["error"]
    conn = sqlite3.connect(dagflux_home / "workspace.sqlite")
    try:
        rows = conn.execute('SELECT id, total, name FROM "mixed_join__here" ORDER BY id').fetchall()
        leftovers = conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '_dftmp_%'").fetchall()
    finally:
        conn.close()
    assert [r[0] for r in rows] == [0, 1, 2, 3] and rows[1][2] == "customer 1"
    assert leftovers == []
    admin = postgres_admin(postgres_server)
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE '_dftmp_%'")
            assert cur.fetchall() == []  # dropped also when the join failed
    finally:
        admin.close()

    ok_flow = write_workflow(tmp_path, "remote_join", [
        node("start", "start", {"trigger": {"kind": "manual"}}),
        node("orders", "data_source", {"source": "connection", "connection": "sales", "table": "orders"}),
        source("people", "customers.csv"),
        node("there", "join", {**join_spec, "destination": "sales"}),
    ], [("start", "orders"), ("start", "people"), ("orders", "there"), ("people", "there")])
    out = cli("run", "--json", ok_flow)
    assert out.returncode == 0, out.stderr
    there = {n["id"]: n for n in json.loads(out.stdout)["nodes"]}["there"]
    assert there["records"] == 4
    admin = postgres_admin(postgres_server)
    try:
        with admin.cursor() as cur:
            cur.execute('SELECT count(*) FROM "remote_join__there"')
            assert cur.fetchone()[0] == 4
            cur.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE '_dftmp_%'")
            assert cur.fetchall() == []
    finally:
        admin.close()


def test_replacing_a_secret_closes_pooled_connections_that_used_it(keyring_ready, postgres_server, cli,
                                                                   dagflux_home, tmp_path):
    import time

    from tests.integration.dbservers import postgres_admin
    from tests.integration.engine_harness import EngineProcess

    postgres_server = add_login(postgres_server)
    _seed_pg(postgres_server)
    assert _add_pg(cli, postgres_server).returncode == 0
    flow = write_workflow(tmp_path, "pooled", [
        node("start", "start", {"trigger": {"kind": "manual"}}),
        node("orders", "data_source", {"source": "connection", "connection": "sales", "table": "orders"}),
    ], [("start", "orders")])

    def sessions() -> int:
        admin = postgres_admin(postgres_server)
        try:
            with admin.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (postgres_server.user,))
                return int(cur.fetchone()[0])
        finally:
            admin.close()

    engine = EngineProcess(dagflux_home)
    try:
        assert cli("run", flow).returncode == 0
        assert sessions() >= 1  # a worker keeps its connection pooled between tasks
        edited = cli("connections", "edit", "sales", "--secret", "password", input=f"{postgres_server.password}\n")
        assert edited.returncode == 0, edited.stderr
        deadline = time.monotonic() + 20
        while sessions() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sessions() == 0
        assert cli("run", flow).returncode == 0  # and the new secret is used from now on
    finally:
        engine.stop()


def test_a_connection_test_checks_the_credentials_now_not_a_pooled_session(keyring_ready, postgres_server,
                                                                          cli, dagflux_home):
    from psycopg import sql

    from engine.client import EngineClient
    from engine.paths import DataPaths
    from tests.integration.dbservers import postgres_admin
    from tests.integration.engine_harness import EngineProcess

    postgres_server = add_login(postgres_server)
    assert _add_pg(cli, postgres_server).returncode == 0
    engine = EngineProcess(dagflux_home, "--workers", "1")  # one worker: the second test reuses its pool
    try:
        with EngineClient.connect(DataPaths(dagflux_home)) as client:
            assert client.call("connections.test", id="sales")["ok"]
            admin = postgres_admin(postgres_server)
            try:
                admin.execute(sql.SQL("ALTER ROLE {} PASSWORD 'changed-elsewhere'").format(
                    sql.Identifier(postgres_server.user)))
            finally:
                admin.close()
            from engine.client import EngineCallError

            with pytest.raises(EngineCallError, match="authentication failed"):
                client.call("connections.test", id="sales")
    finally:
        engine.stop()
