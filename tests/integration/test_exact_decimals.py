"""PostgreSQL ``numeric`` values keep every digit on their way through DagFlux (issue 19
item 7, :mod:`engine.decimals`, docs/moving-data.md "Decimals").

Against a real PostgreSQL: a ``numeric(12,2)`` column whose naive double sum is wrong
(``…16000000006``) is pulled into the workspace and summed there by a Transformer — the
table and a CSV export show the exact total; the same sum pushed down to PostgreSQL is
pulled with its exact digits; a ``numeric(38,10)`` value wider than a double goes
PostgreSQL → workspace → PostgreSQL and → CSV unchanged; a Python Transformer gets
``Decimal`` values."""

from __future__ import annotations

import csv
import json
import sqlite3
from decimal import Decimal

from tests.integration.dbservers import add_login, postgres_admin
from tests.integration.helpers import node, write_workflow
from tests.integration.test_secrets_and_connections import _add_pg

TOTAL = Decimal("101794.16")
WIDE = Decimal("1234567890123456789.0123456789")
SMALL_WIDE = Decimal("-0.0000000001")
NEG_WIDE = Decimal("-1234567890123456789.0123456789")   # (-WIDE would round to 28 digits)


def _amounts() -> list[Decimal]:
    """2,000 cent amounts adding up to exactly TOTAL, whose left-to-right double sum (what
    SQLite 3.40's built-in sum computes) is not TOTAL."""
    values = [Decimal((i * 7919) % 9973) / 100 for i in range(1, 2000)]
    values.append(TOTAL - sum(values))
    return values


AMOUNTS = _amounts()


def test_the_amounts_really_defeat_a_naive_double_sum():
    naive = 0.0
    for value in AMOUNTS:
        naive += float(value)
    assert sum(AMOUNTS) == TOTAL
    assert repr(naive) != "101794.16"          # the bug this file guards against
    assert abs(naive - 101794.16) < 1e-6


def _fill(cur, decimal_type: str) -> None:
    """payments (AMOUNTS as ``decimal_type(12,2)``) and ledger (the wide values as ``(38,10)``)."""
    cur.execute(f"CREATE TABLE payments (id int PRIMARY KEY, amount {decimal_type}(12,2))")
    cur.executemany("INSERT INTO payments VALUES (%s, %s)", list(enumerate(AMOUNTS)))
    cur.execute(f"CREATE TABLE ledger (id int PRIMARY KEY, v {decimal_type}(38,10))")
    cur.executemany("INSERT INTO ledger VALUES (%s, %s)",
                    [(1, WIDE), (2, Decimal("12.5")), (3, None), (4, SMALL_WIDE), (5, NEG_WIDE)])


def _seed(server) -> None:
    conn = postgres_admin(server)
    try:
        with conn.cursor() as cur:
            _fill(cur, "numeric")
            cur.execute(f'GRANT ALL ON payments, ledger TO "{server.user}"')
            cur.execute(f'GRANT CREATE ON SCHEMA public TO "{server.user}"')
        conn.commit()
    finally:
        conn.close()


def _pg_rows(server, sql: str) -> list[tuple]:
    conn = postgres_admin(server)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def _run(cli, flow) -> dict:
    out = cli("run", "--json", flow, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    return {n["id"]: n for n in json.loads(out.stdout)["nodes"]}


def _csv(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _sql(node_id: str, text: str) -> dict:
    return node(node_id, "transformer", {"language": "sql", "mode": "new_table", "storage": "local", "sql": text})


def test_a_pulled_numeric_column_sums_exactly_in_the_workspace_and_in_the_csv(
        keyring_ready, postgres_server, cli, dagflux_home, tmp_path):
    server = add_login(postgres_server)
    _seed(server)
    assert _add_pg(cli, server).returncode == 0
    flow = write_workflow(tmp_path, "money", [
        node("start", "start", {"trigger": {"kind": "manual"}}),
        node("src", "data_source", {"source": "connection", "connection": "sales", "table": "payments"}),
        _sql("pull", "SELECT * FROM {{ input }}"),                       # into the workspace
        _sql("total", "SELECT sum(amount) AS total, avg(amount) AS mean, count(*) AS n FROM {{ input }}"),
        _sql("pushed", "SELECT sum(amount) AS total FROM {{ input }}"),  # computed by PostgreSQL
        node("out", "output", {"path": str(tmp_path / "total.csv")}),
        node("out_pushed", "output", {"path": str(tmp_path / "pushed.csv")}),
    ], [("start", "src"), ("src", "pull"), ("pull", "total"), ("total", "out"), ("src", "pushed"),
        ("pushed", "out_pushed")])
    nodes = _run(cli, flow)
    assert nodes["pull"]["records"] == len(AMOUNTS)

    ws = sqlite3.connect(dagflux_home / "workspace.sqlite")
    try:
        declared = {r[1]: r[2] for r in ws.execute("PRAGMA table_info(money__pull)")}
        total, mean, n = ws.execute("SELECT total, mean, n FROM money__total").fetchone()
        pushed = ws.execute("SELECT total FROM money__pushed").fetchone()[0]
    finally:
        ws.close()
    assert (repr(total), n) == ("101794.16", len(AMOUNTS))
    assert declared["amount"] == "DECIMAL BLOB"
    assert mean == float(TOTAL / len(AMOUNTS))
    assert repr(pushed) == "101794.16"
    assert _csv(tmp_path / "total.csv")[1][0] == "101794.16"
    assert _csv(tmp_path / "pushed.csv") == [["total"], ["101794.16"]]


def test_a_wide_numeric_round_trips_exactly_to_postgresql_and_to_csv(
        keyring_ready, postgres_server, cli, dagflux_home, tmp_path):
    server = add_login(postgres_server)
    _seed(server)
    assert _add_pg(cli, server).returncode == 0
    flow = write_workflow(tmp_path, "wide", [
        node("start", "start", {"trigger": {"kind": "manual"}}),
        node("src", "data_source", {"source": "connection", "connection": "sales", "table": "ledger"}),
        _sql("pull", "SELECT * FROM {{ input }} ORDER BY id"),
        _sql("sums", "SELECT sum(v) AS total, count(v) AS n FROM {{ input }} WHERE id IN (1, 2, 4)"),
        node("back", "output", {"connection": "sales", "table": "ledger_copy", "mode": "replace"}),
        node("file", "output", {"path": str(tmp_path / "ledger.csv")}),
        node("direct", "output", {"path": str(tmp_path / "direct.csv")}),
    ], [("start", "src"), ("src", "pull"), ("pull", "back"), ("pull", "file"), ("pull", "sums"),
        ("src", "direct")])
    _run(cli, flow)

    ws = sqlite3.connect(dagflux_home / "workspace.sqlite")
    try:
        stored = ws.execute("SELECT v, typeof(v) FROM wide__pull ORDER BY id").fetchall()
        total = ws.execute("SELECT total FROM wide__sums").fetchone()[0]
    finally:
        ws.close()
    # ≤ 15 significant digits: a REAL that spells the value; wider: its exact text
    assert stored == [(str(WIDE), "text"), (12.5, "real"), (None, "null"), (-1e-10, "real"),
                      (str(NEG_WIDE), "text")]
    assert total == "1234567890123456801.5123456788"            # a wide sum stays exact text

    copied = _pg_rows(server, "SELECT id, v FROM ledger_copy ORDER BY id")
    assert copied == [(1, WIDE), (2, Decimal("12.5")), (3, None), (4, SMALL_WIDE), (5, NEG_WIDE)]
    kind = _pg_rows(server, "SELECT data_type FROM information_schema.columns "
                            "WHERE table_name = 'ledger_copy' AND column_name = 'v'")
    assert kind == [("numeric",)]
    expected = [["id", "v"], ["1", str(WIDE)], ["2", "12.5"], ["3", ""], ["4", "-1e-10"], ["5", str(NEG_WIDE)]]
    assert _csv(tmp_path / "ledger.csv") == expected
    direct = sorted(_csv(tmp_path / "direct.csv")[1:], key=lambda r: int(r[0]))
    assert [(r[0], Decimal(r[1]) if r[1] else None) for r in direct] == \
        [("1", WIDE), ("2", Decimal("12.5")), ("3", None), ("4", SMALL_WIDE), ("5", NEG_WIDE)]
    assert direct[0][1] == "1234567890123456789.0123456789"


PY = """
import decimal

decimal.getcontext().prec = 60     # Decimal arithmetic rounds to 28 digits unless told otherwise

def transform(rows):
    for row in rows:
        v = row['v']
        yield {'id': row['id'], 'kind': type(v).__name__, 'text': None if v is None else str(v),
               'doubled': None if v is None else v * 2}
"""


def test_a_python_transformer_gets_decimal_values(keyring_ready, postgres_server, cli, dagflux_home, tmp_path):
    server = add_login(postgres_server)
    _seed(server)
    assert _add_pg(cli, server).returncode == 0
    flow = write_workflow(tmp_path, "py_dec", [
        node("start", "start", {"trigger": {"kind": "manual"}}),
        node("src", "data_source", {"source": "connection", "connection": "sales", "table": "ledger"}),
        node("py", "transformer", {"language": "python", "code": PY}),
        node("back", "output", {"connection": "sales", "table": "doubled", "mode": "replace"}),
    ], [("start", "src"), ("src", "py"), ("py", "back")])
    _run(cli, flow)
    ws = sqlite3.connect(dagflux_home / "workspace.sqlite")
    try:
        rows = ws.execute("SELECT id, kind, text FROM py_dec__py ORDER BY id").fetchall()
        declared = {r[1]: r[2] for r in ws.execute("PRAGMA table_info(py_dec__py)")}
    finally:
        ws.close()
    assert rows == [(1, "Decimal", str(WIDE)), (2, "Decimal", "12.5"), (3, "NoneType", None),
                    (4, "Decimal", "-1E-10"), (5, "Decimal", str(NEG_WIDE))]
    assert declared["doubled"] == "DECIMAL BLOB"
    assert _pg_rows(server, "SELECT id, doubled FROM doubled ORDER BY id") == \
        [(1, Decimal("2469135780246913578.0246913578")), (2, Decimal(25)), (3, None), (4, SMALL_WIDE * 2),
         (5, Decimal("-2469135780246913578.0246913578"))]


def test_a_wide_numeric_lands_exactly_in_mariadb_decimal(
        keyring_ready, postgres_server, mariadb_server, cli, dagflux_home, tmp_path):
    from tests.integration.places import add_mariadb, fetch

    server = add_login(postgres_server)
    _seed(server)
    assert _add_pg(cli, server).returncode == 0
    maria = add_mariadb(cli, mariadb_server, "maria")
    flow = write_workflow(tmp_path, "to_maria", [
        node("start", "start", {"trigger": {"kind": "manual"}}),
        node("src", "data_source", {"source": "connection", "connection": "sales", "table": "ledger"}),
        _sql("pull", "SELECT * FROM {{ input }}"),
        node("out", "output", {"connection": "maria", "table": "ledger_copy", "mode": "replace"}),
    ], [("start", "src"), ("src", "pull"), ("pull", "out")])
    _run(cli, flow)
    rows = fetch("mariadb", maria, "SELECT id, v FROM ledger_copy ORDER BY id")
    assert rows == [(1, WIDE), (2, Decimal("12.5")), (3, None), (4, SMALL_WIDE), (5, NEG_WIDE)]
    kind = fetch("mariadb", maria, "SELECT data_type FROM information_schema.columns "
                                   f"WHERE table_name = 'ledger_copy' AND column_name = 'v' "
                                   f"AND table_schema = '{maria.database}'")
    assert kind == [("decimal",)]


def test_a_pulled_mariadb_decimal_sums_exactly_and_a_wide_one_keeps_every_digit(
        keyring_ready, mariadb_server, cli, dagflux_home, tmp_path):
    """MariaDB's DECIMAL is read exactly too (it was a double: the same naive sum, and a
    DECIMAL(38,10) rounded to 17 digits)."""
    from tests.integration.dbservers import mariadb_admin
    from tests.integration.places import add_mariadb

    maria = add_mariadb(cli, mariadb_server, "maria")
    admin = mariadb_admin(maria, database=maria.database)
    try:
        with admin.cursor() as cur:
            _fill(cur, "DECIMAL")
        admin.commit()
    finally:
        admin.close()
    flow = write_workflow(tmp_path, "maria_money", [
        node("start", "start", {"trigger": {"kind": "manual"}}),
        node("pay", "data_source", {"source": "connection", "connection": "maria", "table": "payments"}),
        node("led", "data_source", {"source": "connection", "connection": "maria", "table": "ledger"}),
        _sql("pull", "SELECT * FROM {{ input }}"),
        _sql("total", "SELECT sum(amount) AS total, count(*) AS n FROM {{ input }}"),
        _sql("wide", "SELECT * FROM {{ input }} ORDER BY id"),
        node("out", "output", {"path": str(tmp_path / "ledger.csv")}),
    ], [("start", "pay"), ("start", "led"), ("pay", "pull"), ("pull", "total"), ("led", "wide"), ("wide", "out")])
    _run(cli, flow)
    ws = sqlite3.connect(dagflux_home / "workspace.sqlite")
    try:
        declared = {r[1]: r[2] for r in ws.execute("PRAGMA table_info(maria_money__pull)")}
        total, n = ws.execute("SELECT total, n FROM maria_money__total").fetchone()
        wide_declared = {r[1]: r[2] for r in ws.execute("PRAGMA table_info(maria_money__wide)")}
    finally:
        ws.close()
    assert declared["amount"] == "DECIMAL BLOB" and wide_declared["v"] == "DECIMAL BLOB"
    assert (repr(total), n) == ("101794.16", len(AMOUNTS))
    assert _csv(tmp_path / "ledger.csv")[1:] == [
        ["1", str(WIDE)], ["2", "12.5"], ["3", ""], ["4", "-1e-10"], ["5", str(NEG_WIDE)]]   # as from PostgreSQL
