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
