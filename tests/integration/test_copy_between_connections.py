"""An Output copies a table from connection A to connection B (issue 18): PostgreSQL ↔
MariaDB, either ↔ a SQLite file and between two logins of the same server, streamed by
the worker into one transaction on the target, with the column types mapped
(docs/moving-data.md) and the create / replace / append modes; and inside one connection
with ``CREATE TABLE … AS`` / ``INSERT … SELECT``."""

from __future__ import annotations

import json

import pytest

from tests.integration.helpers import node, write_workflow
from tests.integration.places import SAMPLE, add_mariadb, add_postgres, add_sqlite, fetch, seed

PAIRS = [("postgresql", "mariadb"), ("mariadb", "postgresql"), ("postgresql", "sqlite"), ("sqlite", "postgresql"),
         ("mariadb", "sqlite"), ("sqlite", "mariadb"), ("postgresql", "postgresql"), ("mariadb", "mariadb")]
# The declared type each target gives the sample's columns (id, name, amount, ok, day, note).
TARGET_TYPES = {
    ("postgresql", "mariadb"): ["bigint", "longtext", "decimal", "tinyint", "longtext", "longtext"],
    ("sqlite", "mariadb"): ["bigint", "longtext", "double", "bigint", "longtext", "longtext"],
    ("mariadb", "mariadb"): ["bigint", "longtext", "decimal", "bigint", "longtext", "longtext"],
    ("mariadb", "postgresql"): ["bigint", "text", "numeric", "bigint", "text", "text"],
    ("sqlite", "postgresql"): ["bigint", "text", "double precision", "bigint", "text", "text"],
    ("postgresql", "postgresql"): ["bigint", "text", "numeric", "boolean", "text", "text"],
}


@pytest.fixture
def place(keyring_ready, postgres_server, mariadb_server, cli, tmp_path):
    """``place(kind, conn_id)`` → the login (or file) of a new connection of that kind."""

    def make(kind: str, conn_id: str):
        if kind == "postgresql":
            return add_postgres(cli, postgres_server, conn_id)
        if kind == "mariadb":
            return add_mariadb(cli, mariadb_server, conn_id)
        return add_sqlite(cli, tmp_path / f"{conn_id}.db", conn_id)

    return make


def _flow(tmp_path, source: str, dest: str, mode: str, table: str = "copied"):
    return write_workflow(tmp_path, f"copy_{mode}", [
        node("start", "start", {"trigger": {"kind": "manual"}}),
        node("sample", "data_source", {"source": "connection", "connection": source, "table": "sample"}),
        node("out", "output", {"connection": dest, "table": table, "mode": mode}),
    ], [("start", "sample"), ("sample", "out")])


def _types(kind: str, where, table: str) -> list[str]:
    if kind == "postgresql":
        sql = (f"SELECT data_type FROM information_schema.columns WHERE table_name = '{table}' "
               "ORDER BY ordinal_position")
    else:
        sql = (f"SELECT data_type FROM information_schema.columns WHERE table_name = '{table}' "
               f"AND table_schema = '{where.database}' ORDER BY ordinal_position")
    return [r[0] for r in fetch(kind, where, sql)]


@pytest.mark.parametrize(("src", "dst"), PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_an_output_copies_a_table_between_connections(src, dst, place, cli, tmp_path):
    source, dest = place(src, "a"), place(dst, "b")
    seed(src, source)
    replace = _flow(tmp_path, "a", "b", "replace")
    for _ in range(2):                                     # replace twice: still one copy
        out = cli("run", "--json", replace, timeout=240)
        assert out.returncode == 0, out.stdout + out.stderr
        assert {n["id"]: n for n in json.loads(out.stdout)["nodes"]}["out"]["records"] == len(SAMPLE)
    rows = fetch(dst, dest, "SELECT id, name, amount, ok, day, note FROM copied ORDER BY id")
    assert [(r[0], r[1], float(r[2]), int(r[3]), str(r[4]), r[5]) for r in rows] == \
        [(i, n, float(a), int(ok), d, note) for i, n, a, ok, d, note in SAMPLE]
    if dst != "sqlite":
        assert _types(dst, dest, "copied") == TARGET_TYPES[(src, dst)]

    append = cli("run", "--json", _flow(tmp_path, "a", "b", "append"), timeout=240)
    assert append.returncode == 0, append.stdout + append.stderr
    assert fetch(dst, dest, "SELECT count(*) FROM copied")[0][0] == 2 * len(SAMPLE)

    failed = cli("run", "--json", _flow(tmp_path, "a", "b", "fail"), timeout=240)
    assert failed.returncode != 0 and "already exists" in failed.stdout + failed.stderr
    assert fetch(dst, dest, "SELECT count(*) FROM copied")[0][0] == 2 * len(SAMPLE)   # left as it was


@pytest.mark.parametrize("kind", ["postgresql", "mariadb", "sqlite"])
def test_an_output_into_its_own_connection_copies_inside_the_database(kind, place, cli, tmp_path):
    where = place(kind, "same")
    seed(kind, where)
    for mode, expected in (("replace", len(SAMPLE)), ("replace", len(SAMPLE)), ("append", 2 * len(SAMPLE))):
        out = cli("run", "--json", _flow(tmp_path, "same", "same", mode), timeout=240)
        assert out.returncode == 0, out.stdout + out.stderr
        assert fetch(kind, where, "SELECT count(*) FROM copied")[0][0] == expected
    failed = cli("run", "--json", _flow(tmp_path, "same", "same", "create"), timeout=240)
    assert failed.returncode != 0 and "already has a table 'copied'" in failed.stdout + failed.stderr


WIDE_INTS = [(18446744073709551615, 1, 200, 4294967295), (9223372036854775808, 0, 5, 0), (7, None, None, None)]


def _seed_wide_ints(maria) -> None:
    from tests.integration.dbservers import mariadb_admin

    admin = mariadb_admin(maria, database=maria.database)
    try:
        with admin.cursor() as cur:
            cur.execute("CREATE TABLE wide_ints (big BIGINT UNSIGNED, flag BIT(1), mask BIT(8), small INT UNSIGNED)")
            cur.executemany("INSERT INTO wide_ints VALUES (%s, %s, %s, %s)", WIDE_INTS)
            cur.execute(f"GRANT ALL ON {maria.database}.* TO '{maria.user}'@'%'")
    finally:
        admin.close()


def test_bigint_unsigned_and_bit_copy_from_mariadb_exactly(place, cli, tmp_path):
    maria, pg, other = place("mariadb", "m"), place("postgresql", "p"), place("mariadb", "m2")
    _seed_wide_ints(maria)
    for dest, where in (("p", pg), ("m2", other)):
        flow = write_workflow(tmp_path, f"ints_{dest}", [
            node("start", "start", {"trigger": {"kind": "manual"}}),
            node("src", "data_source", {"source": "connection", "connection": "m", "table": "wide_ints"}),
            node("out", "output", {"connection": dest, "table": "ints_copy", "mode": "replace"}),
        ], [("start", "src"), ("src", "out")])
        out = cli("run", "--json", flow, timeout=240)
        assert out.returncode == 0, out.stdout + out.stderr
        kind = "postgresql" if dest == "p" else "mariadb"
        rows = fetch(kind, where, "SELECT big, flag, mask, small FROM ints_copy ORDER BY small IS NULL, big DESC")
        assert not any(isinstance(v, bytes) for r in rows for v in r)     # BIT(n) arrives as its integer
        assert [tuple(None if v is None else int(v) for v in r) for r in rows] == WIDE_INTS
    assert _types("postgresql", pg, "ints_copy")[0] == "numeric"
    assert fetch("mariadb", other, "SELECT column_type FROM information_schema.columns WHERE table_name = "
                 f"'ints_copy' AND table_schema = '{other.database}' ORDER BY ordinal_position")[0][0] == \
        "bigint(20) unsigned"


def test_an_integer_beyond_sqlite_range_is_refused_naming_the_column(place, cli, tmp_path):
    maria = place("mariadb", "m")
    _seed_wide_ints(maria)
    target = place("sqlite", "f")
    flow = write_workflow(tmp_path, "ints_file", [
        node("start", "start", {"trigger": {"kind": "manual"}}),
        node("src", "data_source", {"source": "connection", "connection": "m", "table": "wide_ints"}),
        node("small", "transformer", {"language": "sql", "mode": "new_table", "storage": "local",
                                      "sql": "SELECT flag, mask, small FROM {{ input }}"}),
        node("out", "output", {"connection": "f", "table": "ints_copy", "mode": "replace"}),
    ], [("start", "src"), ("src", "small"), ("src", "out")])
    out = cli("run", "--json", flow, timeout=240)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "holds 18446744073709551615, beyond SQLite's 64-bit integers" in text and "big" in text, text
    assert not target.exists() or not fetch("sqlite", target, "SELECT name FROM sqlite_master "
                                                              "WHERE name = 'ints_copy'")
    nodes = {n["id"]: n for n in json.loads(out.stdout)["nodes"]}
    assert nodes["small"]["status"] == "succeeded" and nodes["small"]["records"] == 3   # BIT read as integers
