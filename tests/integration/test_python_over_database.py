"""A Python Transformer whose input lives in a database reads that input — never a
workspace table that happens to share its name. The code runs without the keychain, so a
normal worker first copies the input into a hidden workspace table, removed afterwards."""

from __future__ import annotations

import json
import sqlite3

from tests.integration.dbservers import add_login
from tests.integration.helpers import node, write_workflow
from tests.integration.test_secrets_and_connections import _add_pg, _seed_pg

CODE = "def transform(rows):\n    for row in rows:\n        yield {'id': row['id'], 'big': float(row['total']) > 50}\n"


def test_python_reads_its_input_from_the_database(keyring_ready, postgres_server, cli, dagflux_home, tmp_path):
    server = add_login(postgres_server)
    _seed_pg(server)                       # orders: ids 0..11, total = id * 10.5
    assert _add_pg(cli, server).returncode == 0
    decoy = sqlite3.connect(dagflux_home / "workspace.sqlite")   # same name, wrong rows
    decoy.execute("CREATE TABLE orders (id INTEGER, total REAL)")
    decoy.execute("INSERT INTO orders VALUES (999, 1.0)")
    decoy.commit()
    decoy.close()
    flow = write_workflow(tmp_path, "py_db", [
        node("start", "start", {"trigger": {"kind": "manual"}}),
        node("orders", "data_source", {"source": "connection", "connection": "sales", "table": "orders"}),
        node("py", "transformer", {"language": "python", "code": CODE}),
    ], [("start", "orders"), ("orders", "py")])
    out = cli("run", "--json", flow, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    py = {n["id"]: n for n in json.loads(out.stdout)["nodes"]}["py"]
    assert py["records"] == 12
    conn = sqlite3.connect(dagflux_home / "workspace.sqlite")
    try:
        rows = conn.execute('SELECT id, big FROM "py_db__py" ORDER BY id').fetchall()
        hidden = conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '\\_dfstage\\_%' ESCAPE '\\'").fetchall()
    finally:
        conn.close()
    assert [r[0] for r in rows] == list(range(12))
    assert [r[1] for r in rows] == [int(i * 10.5 > 50) for i in range(12)]
    assert hidden == []                    # the copy of the input is gone
