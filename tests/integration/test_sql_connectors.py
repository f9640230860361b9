"""The SQL connectors against real servers: PostgreSQL and MariaDB started by the
session fixtures, and a SQLite file.

Each test runs for every connector it applies to and reads as the specification
of :class:`engine.connectors.base.Connector`: describe the server, list objects and
typed fields, sample, stream 25k rows in batches, write create / replace / append
with awkward values and names, leave the destination as it was when a write fails,
and fail clearly — naming the connection, never a secret — on a wrong password,
a server that is down, a table that vanished. Quoted identifiers are inert.
"""

from __future__ import annotations

import secrets
import socket
import sqlite3
import time
import traceback
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from engine.connectors.base import Connector, ConnectorError
from engine.plugins import load_registry
from plugins.connectors.mariadb import MariaDBConnector
from plugins.connectors.postgresql import PostgresConnector
from plugins.connectors.sqlite_file import SQLiteFileConnector
from tests.integration.dbservers import (
    DatabaseServer,
    add_login,
    free_port,
    mariadb_admin,
    postgres_admin,
    random_password,
)

NAME = "sales db"
SERVERS = ("postgresql", "mariadb")
KINDS = (*SERVERS, "sqlite")
CLASSES: dict[str, type[Connector]] = {"postgresql": PostgresConnector, "mariadb": MariaDBConnector,
                                       "sqlite": SQLiteFileConnector}
SERVER_FIXTURES = {"postgresql": "pg_login", "mariadb": "maria_login"}
PLACEHOLDER = {"postgresql": "%s", "mariadb": "%s", "sqlite": "?"}
SEED_25K = {
    "postgresql": "CREATE TABLE {t} AS SELECT g AS id, 'row ' || g AS label FROM generate_series(1, 25000) g",
    "mariadb": "CREATE TABLE {t} AS SELECT seq AS id, CONCAT('row ', seq) AS label FROM seq_1_to_25000",
    "sqlite": "CREATE TABLE {t} AS WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g "
              "WHERE x < 25000) SELECT x AS id, 'row ' || x AS label FROM g",
}
TYPED_TABLE = {
    "postgresql": ("(id integer, name text, price numeric(10,2), seen timestamp)",
                   ["integer", "text", "numeric(10,2)", "timestamp without time zone"]),
    "mariadb": ("(id int, name varchar(50), price decimal(10,2), seen datetime)",
                ["int(11)", "varchar(50)", "decimal(10,2)", "datetime"]),
    "sqlite": ("(id INTEGER, name TEXT, price NUMERIC, seen TIMESTAMP)", ["INTEGER", "TEXT", "NUMERIC", "TIMESTAMP"]),
}
PLAIN = (int, float, str, bytes, bool, type(None))

# Awkward names and values for the write round trip.
ODD_COLUMNS = [("id", "INTEGER"), ("full name", "TEXT"), ('say "hi"', "TEXT"), ("select", "REAL"),
               ("back`tick", "BLOB"), ("percent%s", ""), ("prix €", "TEXT")]
ODD_ROWS = [
    (1, "Zoë 東京 🚀", 'he said "hi"', 1.5, b"\x00\x01\xff", "%s and %(x)s", "O'Brien"),
    (2, None, "", None, None, None, "back\\slash; DROP TABLE x; --"),
    (3, "tab\tnew\nline", "`ticks`", -0.25, b"", "100%", "'; --"),
]


@dataclass
class Target:
    """One connector kind under test, with the settings that reach its database."""

    kind: str
    settings: dict[str, Any]
    opened: list[Connector] = field(default_factory=list)

    def connector(self, name: str = NAME, **overrides: Any) -> Connector:
        connector = CLASSES[self.kind]("sales", name, {**self.settings, **overrides})
        self.opened.append(connector)
        return connector

    def select_all(self, connector: Connector, obj: str) -> list[tuple[Any, ...]]:
        sql = f"SELECT * FROM {connector.qualified(obj)} ORDER BY {connector.quote_ident('id')}"
        return [row for _, rows in connector.read_batches(sql) for row in rows]


@pytest.fixture(params=KINDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    yield from _target(request, tmp_path, request.param)


@pytest.fixture(params=SERVERS)
def server_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    yield from _target(request, tmp_path, request.param)


def _target(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> Iterator[Target]:
    if kind == "sqlite":
        path = tmp_path / "data.sqlite"
        sqlite3.connect(path).close()
        settings: dict[str, Any] = {"path": str(path)}
    else:
        settings = request.getfixturevalue(SERVER_FIXTURES[kind]).settings()
    target = Target(kind, settings)
    yield target
    for connector in target.opened:
        connector.close()


@pytest.fixture(scope="module")
def pg_login(postgres_server: DatabaseServer) -> DatabaseServer:
    """This module's own user and database: other tests may change the fixture's login."""
    return add_login(postgres_server)


@pytest.fixture(scope="module")
def maria_login(mariadb_server: DatabaseServer) -> DatabaseServer:
    return add_login(mariadb_server)


@pytest.fixture
def table() -> str:
    """A table name no other test uses (the servers are shared by the session)."""
    return f"t_{secrets.token_hex(4)}"


def quoted(name: str) -> str:
    """An object name that :func:`split_qualified` reads back as exactly ``name``."""
    return '"' + name.replace('"', '""') + '"'


def failing_after(*batches: list[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    """A source that delivers ``batches`` and then fails, as a broken upstream read would."""
    yield from batches
    raise RuntimeError("the source failed mid-way")


# --- describe, list, sample, read ----------------------------------------------------------

def test_registry_loads_the_sql_connectors_with_their_secret_fields() -> None:
    registry = load_registry()
    assert not [p for p in registry.errors if p.name == "connectors"]
    assert registry.connectors["postgresql"].secret_fields() == ["host", "user", "password"]
    assert registry.connectors["mariadb"].secret_fields() == ["password"]
    assert registry.connectors["sqlite"].secret_fields() == []
    assert {registry.connectors[k].describe()["dialect"] for k in KINDS} == {"postgresql", "mysql", "sqlite"}


def test_test_describes_the_server_and_never_the_secrets(target: Target) -> None:
    description = target.connector().test()
    assert description.startswith({"postgresql": "PostgreSQL 1", "mariadb": "MariaDB 1", "sqlite": "SQLite 3"}
                                  [target.kind])
    if target.kind == "postgresql":
        assert description.endswith(f", database {target.settings['database']}")
        for secret in ("host", "user", "password"):
            assert target.settings[secret] not in description


def test_list_objects_and_fields_with_their_types(target: Target, table: str) -> None:
    connector = target.connector()
    ddl, types = TYPED_TABLE[target.kind]
    connector.execute_many([f"CREATE TABLE {connector.quote_ident(table)} {ddl}",
                            f"CREATE VIEW {connector.quote_ident(table + '_v')} AS SELECT id FROM "
                            f"{connector.quote_ident(table)}"])
    objects = connector.list_objects()
    assert {table, table + "_v"} <= set(objects)
    assert connector.table_exists(table) and not connector.table_exists(table + "_missing")
    assert connector.list_fields(table) == list(zip(["id", "name", "price", "seen"], types))
    assert connector.list_fields(table + "_v")[0][0] == "id"


def test_postgres_lists_other_schemas_qualified(pg_login: DatabaseServer, table: str) -> None:
    connector = PostgresConnector("sales", NAME, pg_login.settings())
    try:
        schema = f"s_{table}"
        connector.execute_many([f'CREATE SCHEMA "{schema}"', f'CREATE TABLE "{schema}"."dot.ted" (a int)'])
        objects = connector.list_objects()
        assert f'{schema}."dot.ted"' in objects
        assert not [o for o in objects if o.startswith(("pg_catalog.", "information_schema."))]
        assert connector.list_fields(f'{schema}."dot.ted"') == [("a", "integer")]
        assert connector.write(f"{schema}.copy", [("a", "INTEGER")], [[(1,)]]) == 1
        assert connector.write(f"{schema}.copy", [("b", "TEXT")], [[("x",)]], mode="replace") == 1
        assert connector.sample(f"{schema}.copy") == (["b"], [("x",)])
    finally:
        connector.close()


def test_sample_returns_n_rows_of_plain_values(target: Target, table: str) -> None:
    connector = target.connector()
    ddl, _ = TYPED_TABLE[target.kind]
    name = connector.quote_ident(table)
    connector.execute_many([f"CREATE TABLE {name} {ddl}"] + [
        f"INSERT INTO {name} VALUES ({i}, 'n{i}', 12.50, '2024-01-02 03:04:05')" for i in range(1, 8)])
    columns, rows = connector.sample(table, 5)
    assert columns == ["id", "name", "price", "seen"] and len(rows) == 5
    assert all(isinstance(value, PLAIN) for row in rows for value in row)
    assert rows[0][2:] == (12.5, "2024-01-02 03:04:05")   # decimals as numbers, timestamps as text


def test_read_batches_streams_25k_rows(target: Target, table: str) -> None:
    connector = target.connector()
    connector.execute(SEED_25K[target.kind].format(t=connector.quote_ident(table)))
    sql = f"SELECT id, label FROM {connector.quote_ident(table)} ORDER BY id"
    batches = list(connector.read_batches(sql, batch_size=10_000))
    assert [len(rows) for _, rows in batches] == [10_000, 10_000, 5_000]
    assert all(columns == ["id", "label"] for columns, _ in batches)
    ids = [row[0] for _, rows in batches for row in rows]
    assert ids == list(range(1, 25_001))
    assert batches[-1][1][-1] == (25_000, "row 25000")


def test_read_batches_takes_params_and_always_yields_the_columns(target: Target, table: str) -> None:
    connector = target.connector()
    connector.execute(SEED_25K[target.kind].format(t=connector.quote_ident(table)))
    sql = f"SELECT id FROM {connector.quote_ident(table)} WHERE id > {PLACEHOLDER[target.kind]} ORDER BY id"
    assert [rows for _, rows in connector.read_batches(sql, (24_998,))] == [[(24_999,), (25_000,)]]
    assert list(connector.read_batches(sql, (99_999,))) == [(["id"], [])]
    assert connector.count(table) == 25_000


def test_leaving_a_read_early_keeps_the_connector_usable(target: Target, table: str) -> None:
    connector = target.connector()
    connector.execute(SEED_25K[target.kind].format(t=connector.quote_ident(table)))
    started = time.monotonic()
    reader = cast(Generator[Any, None, None],   # connectors implement read_batches as generators
                  connector.read_batches(f"SELECT * FROM {connector.quote_ident(table)}", batch_size=1_000))
    next(reader)
    if target.kind != "sqlite":                 # one connection, one statement at a time
        with pytest.raises(ConnectorError, match=f"connection '{NAME}': a read is still in progress"):
            connector.sample(table)
    reader.close()
    assert time.monotonic() - started < 5
    assert len(connector.sample(table, 3)[1]) == 3


# --- writes ---------------------------------------------------------------------------------

def test_write_create_replace_append_round_trip(target: Target, table: str) -> None:
    connector = target.connector()
    assert connector.write(table, ODD_COLUMNS, [ODD_ROWS[:2], ODD_ROWS[2:]]) == 3
    assert target.select_all(connector, table) == ODD_ROWS
    assert [name for name, _ in connector.list_fields(table)] == [name for name, _ in ODD_COLUMNS]

    with pytest.raises(ConnectorError, match=f"connection '{NAME}': table \"{table}\" already exists"):
        connector.write(table, ODD_COLUMNS, [ODD_ROWS])

    replacement = [("id", "INTEGER"), ("note", "TEXT")]
    assert connector.write(table, replacement, [[(10, "new")]], mode="replace") == 1
    assert target.select_all(connector, table) == [(10, "new")]

    assert connector.write(table, replacement, [[(11, None)], [], [(12, "ü")]], mode="append") == 2
    assert target.select_all(connector, table) == [(10, "new"), (11, None), (12, "ü")]
    assert connector.write(table + "_new", replacement, [[(1, "a")]], mode="append") == 1
    assert table + "_new" in connector.list_objects()


def test_write_maps_sqlite_types(target: Target, table: str) -> None:
    connector = target.connector()
    columns = [("i", "INTEGER"), ("r", "REAL"), ("t", "TEXT"), ("b", "BLOB"), ("u", "")]
    connector.write(table, columns, [[(2**40, 0.5, "x", b"\x01", "y")]])
    expected = {"postgresql": ["bigint", "double precision", "text", "bytea", "text"],
                "mariadb": ["bigint(20)", "double", "longtext", "longblob", "longtext"],
                "sqlite": ["INTEGER", "REAL", "TEXT", "BLOB", ""]}[target.kind]
    assert [type_ for _, type_ in connector.list_fields(table)] == expected
    assert connector.sample(table)[1] == [(2**40, 0.5, "x", b"\x01", "y")]


def test_booleans_are_written_as_one_and_zero(target: Target, table: str) -> None:
    connector = target.connector()
    connector.write(table, [("id", "INTEGER"), ("flag", "INTEGER"), ("word", "TEXT")],
                    [[(1, True, True), (2, False, False), (3, None, None)]])
    assert target.select_all(connector, table) == [(1, 1, "1"), (2, 0, "0"), (3, None, None)]


def test_postgres_boolean_columns_take_python_booleans(pg_login: DatabaseServer, table: str) -> None:
    connector = PostgresConnector("sales", NAME, pg_login.settings())
    try:
        connector.execute(f'CREATE TABLE "{table}" (id int, flag boolean)')
        connector.write(table, [("id", "INTEGER"), ("flag", "BOOLEAN")], [[(1, True), (2, False)]], mode="append")
        assert connector.sample(table)[1] == [(1, True), (2, False)]
    finally:
        connector.close()


def test_sqlite_keeps_plain_declared_types_and_defuses_the_rest(tmp_path: Path) -> None:
    connector = SQLiteFileConnector("local", NAME, {"path": str(tmp_path / "x.sqlite")})
    try:
        connector.write("victim", [("a", "INTEGER")], [[(1,)]])
        declared = ["VARCHAR(20)", "numeric(10, 2)", "int(11) unsigned", "integer[]", "enum('x','y')",
                    'text); DROP TABLE victim; --']
        connector.write("t", [(f"c{i}", type_) for i, type_ in enumerate(declared)], [[(1, 2, 3, 4, 5, 6)]])
        assert [type_ for _, type_ in connector.list_fields("t")] == declared
        assert connector.sample("t")[1] == [("1", 2, 3, 4, 5, "6")]   # each column's affinity from its text
        assert connector.count("victim") == 1
    finally:
        connector.close()


def test_failed_append_leaves_the_table_as_it_was(target: Target, table: str) -> None:
    connector = target.connector()
    name = connector.quote_ident(table)
    connector.execute_many([f"CREATE TABLE {name} (id INTEGER NOT NULL, label TEXT)",
                            f"INSERT INTO {name} VALUES (1, 'kept')"])
    good = [(i, f"new {i}") for i in range(2, 500)]
    with pytest.raises(ConnectorError, match=f"connection '{NAME}': .*(null|NULL)"):
        connector.write(table, [("id", "INTEGER"), ("label", "TEXT")], [good, [(None, "breaks")]], mode="append")
    assert target.select_all(connector, table) == [(1, "kept")]


@pytest.mark.parametrize("mode", ["replace", "append"])
def test_a_source_failing_mid_write_leaves_the_table_as_it_was(target: Target, table: str, mode: str) -> None:
    connector = target.connector()
    columns = [("id", "INTEGER"), ("label", "TEXT")]
    connector.write(table, columns, [[(1, "kept")]])
    before = connector.list_objects()
    with pytest.raises(RuntimeError, match="the source failed mid-way"):
        connector.write(table, columns, failing_after([(2, "lost")], [(3, "lost")]), mode=mode)
    assert target.select_all(connector, table) == [(1, "kept")]
    assert connector.list_objects() == before   # no staging table left behind


def test_a_failed_create_leaves_no_table(target: Target, table: str) -> None:
    connector = target.connector()
    with pytest.raises(RuntimeError, match="the source failed mid-way"):
        connector.write(table, [("id", "INTEGER")], failing_after([(1,)]))
    assert table not in connector.list_objects()


def test_a_bad_value_in_replace_leaves_the_table_as_it_was(server_target: Target, table: str) -> None:
    connector = server_target.connector()
    columns = [("id", "INTEGER"), ("label", "TEXT")]
    connector.write(table, columns, [[(1, "kept")]])
    before = connector.list_objects()
    with pytest.raises(ConnectorError, match=f"connection '{NAME}': .*(integer|bigint).*not a number"):
        connector.write(table, columns, [[(2, "fine")], [("not a number", "bad")]], mode="replace")
    assert server_target.select_all(connector, table) == [(1, "kept")]
    assert connector.list_objects() == before


def test_unknown_write_mode_and_empty_columns_are_refused(target: Target, table: str) -> None:
    connector = target.connector()
    with pytest.raises(ConnectorError, match="unknown write mode 'upsert'|unknown write mode \"upsert\""):
        connector.write(table, [("a", "TEXT")], [], mode="upsert")
    with pytest.raises(ConnectorError, match="needs at least one column"):
        connector.write(table, [], [])


def test_execute_many_is_all_or_nothing(target: Target, table: str) -> None:
    connector = target.connector()
    name = connector.quote_ident(table)
    connector.execute(f"CREATE TABLE {name} (id INTEGER)")
    with pytest.raises(ConnectorError, match=f"connection '{NAME}': "):
        connector.execute_many([f"INSERT INTO {name} VALUES (1)", "INSERT INTO no_such_table VALUES (2)"])
    assert connector.count(table) == 0
    assert connector.execute(f"INSERT INTO {name} VALUES ({PLACEHOLDER[target.kind]})", (5,)) == 1
    assert connector.execute(f"UPDATE {name} SET id = id + 1 WHERE 'a' LIKE '%'") == 1


def test_replace_table_as_leaves_the_old_table_when_the_new_one_fails(target: Target, table: str) -> None:
    connector = target.connector()
    connector.replace_table_as(table, f"SELECT 1 AS {connector.quote_ident('id')}")     # creates
    connector.replace_table_as(table, f"SELECT 2 AS {connector.quote_ident('id')}")     # replaces
    assert target.select_all(connector, table) == [(2,)]
    before = set(connector.list_objects())
    with pytest.raises(ConnectorError, match=f"connection '{NAME}': "):
        connector.replace_table_as(table, "SELECT * FROM no_such_table_anywhere")
    assert target.select_all(connector, table) == [(2,)]                               # old, never none
    assert set(connector.list_objects()) == before                                      # no staging left


def test_temporary_tables_live_in_the_session_only(target: Target, table: str) -> None:
    connector = target.connector()
    rows = [(1, "a"), (2, "b")]
    assert connector.write_temporary(table, [("id", "INTEGER"), ("v", "TEXT")], [rows]) == 2
    assert connector.write_temporary(table, [("id", "INTEGER"), ("v", "TEXT")], [rows[:1]]) == 1  # replaces
    assert target.select_all(connector, table) == [(1, "a")]
    other = target.connector()                              # another session does not see it
    with pytest.raises(ConnectorError):
        other.count(table)
    connector.close()                                       # the session ends: the table is gone
    with pytest.raises(ConnectorError):
        connector.count(table)
    connector.write_temporary(table, [("id", "INTEGER")], [[(3,)]])
    connector.drop_temporary(table)
    connector.drop_temporary(table)                         # nothing to drop: no error
    with pytest.raises(ConnectorError):
        connector.count(table)


# --- errors ---------------------------------------------------------------------------------

def _assert_no_secret(error: BaseException, *secrets_: str) -> None:
    text = "".join(traceback.format_exception(error)) + repr(error)
    for secret in secrets_:
        assert secret not in text
    assert error.__cause__ is None and error.__context__ is None


def test_wrong_password_names_the_connection_never_the_password(server_target: Target) -> None:
    password = random_password(32)
    connector = server_target.connector(password=password)
    with pytest.raises(ConnectorError, match=f"^connection '{NAME}': authentication failed for the configured "
                                             "user$") as caught:
        connector.test()
    _assert_no_secret(caught.value, password)
    if server_target.kind == "postgresql":      # user and host are secret for PostgreSQL too
        _assert_no_secret(caught.value, server_target.settings["user"], server_target.settings["host"])


def test_unknown_postgres_user_is_not_named(pg_login: DatabaseServer) -> None:
    user = f"nobody_{secrets.token_hex(6)}"
    connector = PostgresConnector("sales", NAME, {**pg_login.settings(), "user": user})
    with pytest.raises(ConnectorError, match="authentication failed for the configured user") as caught:
        connector.test()
    _assert_no_secret(caught.value, user, pg_login.host)


def test_an_unknown_postgres_host_is_not_named(pg_login: DatabaseServer) -> None:
    host = f"db-{secrets.token_hex(6)}.invalid"     # .invalid never resolves (RFC 2606)
    connector = PostgresConnector("sales", NAME, {**pg_login.settings(), "host": host})
    with pytest.raises(ConnectorError, match=f"^connection '{NAME}': cannot resolve the configured host name$"
                       ) as caught:
        connector.test()
    _assert_no_secret(caught.value, host, host.split(".")[0])


def test_a_secret_echoed_by_the_server_is_hidden(server_target: Target) -> None:
    connector = server_target.connector()
    password = server_target.settings["password"]
    with pytest.raises(ConnectorError, match=f"connection '{NAME}': .*\\*\\*\\*") as caught:
        connector.execute(f"SELECT {connector.quote_ident(password)}")
    _assert_no_secret(caught.value, password)


def test_server_down_is_a_clear_error_within_seconds(server_target: Target) -> None:
    connector = server_target.connector(port=free_port())   # nothing listens there
    started = time.monotonic()
    with pytest.raises(ConnectorError, match=f"^connection '{NAME}': cannot reach the server "
                                             r"\(connection refused\)$") as caught:
        connector.test()
    assert time.monotonic() - started < 3
    assert caught.value.transient is True       # a node with a retry policy tries again (engine.retry)


def test_a_server_that_never_answers_times_out(server_target: Target) -> None:
    with socket.socket() as silent:             # accepts TCP connections, never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        connector = server_target.connector(port=silent.getsockname()[1])
        connector.connect_timeout = 2          # type: ignore[attr-defined]
        started = time.monotonic()
        with pytest.raises(ConnectorError, match=r"cannot reach the server \(no answer within 2 s\)"):
            connector.test()
        assert time.monotonic() - started < 5


def test_a_table_that_vanished_is_named(target: Target, table: str) -> None:
    connector, other = target.connector(), target.connector()
    connector.write(table, [("id", "INTEGER")], [[(1,)]])
    assert connector.sample(table)[1] == [(1,)]
    other.drop_table(table)
    missing = f"^connection '{NAME}': table \"{table}\" does not exist$"
    with pytest.raises(ConnectorError, match=missing) as caught:
        connector.sample(table)
    assert not caught.value.transient            # never retried: another attempt fails the same way
    with pytest.raises(ConnectorError, match=missing):
        connector.list_fields(table)
    with pytest.raises(ConnectorError, match=f"connection '{NAME}': table \"{table}\" does not exist"):
        list(connector.read_batches(f"SELECT * FROM {connector.quote_ident(table)}"))
    assert connector.test()                     # the connection is still usable


def test_sqlite_file_must_exist_be_absolute_and_be_a_database(tmp_path: Path) -> None:
    def check(path: str, message: str) -> None:
        connector = SQLiteFileConnector("local", NAME, {"path": path})
        try:
            with pytest.raises(ConnectorError, match=f"^connection '{NAME}': {message}"):
                connector.test()
        finally:
            connector.close()

    check("relative/file.sqlite", "the database file must be an absolute path")
    check(str(tmp_path / "missing.sqlite"), ".*missing.sqlite does not exist")
    (tmp_path / "notes.txt").write_text("not a database at all, just some text " * 50)
    check(str(tmp_path / "notes.txt"), ".*notes.txt is not a SQLite database")
    assert not (tmp_path / "missing.sqlite").exists()


def test_sqlite_write_creates_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "out" / "new.sqlite"
    connector = SQLiteFileConnector("local", NAME, {"path": str(path)})
    try:
        assert connector.write("t", [("a", "INTEGER")], [[(1,), (2,)]]) == 2
        assert connector.count("t") == 2 and path.is_file()
    finally:
        connector.close()


# --- identifiers ----------------------------------------------------------------------------

def test_quoted_identifiers_are_inert(target: Target, table: str) -> None:
    connector = target.connector()
    victim = f"{table}_victim"
    connector.write(victim, [("id", "INTEGER")], [[(1,)]])
    evil = f'{table}"; DROP TABLE {victim}; -- `x` \'y\''
    evil_column = 'c`); DROP TABLE ' + victim + '; --"'
    assert connector.write(quoted(evil), [("id", "INTEGER"), (evil_column, "TEXT")], [[(1, "ok")]]) == 1
    assert quoted(evil) in connector.list_objects()
    assert connector.list_fields(quoted(evil)) == [("id", _int_type(target.kind)),
                                                   (evil_column, _text_type(target.kind))]
    assert connector.sample(quoted(evil)) == (["id", evil_column], [(1, "ok")])
    connector.execute(f"UPDATE {connector.quote_ident(evil)} SET {connector.quote_ident(evil_column)} = 'still ok'")
    connector.drop_table(quoted(evil))
    assert connector.sample(victim)[1] == [(1,)]
    assert quoted(evil) not in connector.list_objects()
    with pytest.raises(ConnectorError, match="NUL"):
        connector.quote_ident("a\x00b")


def _int_type(kind: str) -> str:
    return {"postgresql": "bigint", "mariadb": "bigint(20)", "sqlite": "INTEGER"}[kind]


def _text_type(kind: str) -> str:
    return {"postgresql": "text", "mariadb": "longtext", "sqlite": "TEXT"}[kind]


def test_a_connection_the_server_dropped_is_replaced(server_target: Target, request: pytest.FixtureRequest
                                                     ) -> None:
    server = request.getfixturevalue(SERVER_FIXTURES[server_target.kind])
    connector: Any = server_target.connector()
    connector.test()
    _kill_session(server_target.kind, server, connector)
    with pytest.raises(ConnectorError, match=f"^connection '{NAME}': (lost the connection to the server|"
                                             "terminating connection due to administrator command)$"):
        connector.test()                        # used a moment ago, so not checked: the loss is reported
    connector.test()                            # … and the next call reconnects
    _kill_session(server_target.kind, server, connector)
    connector._last_used -= 3600                # idle for an hour: checked before use and replaced silently
    assert connector.test()


def _kill_session(kind: str, server: Any, connector: Any) -> None:
    """End the connector's server session from an admin connection, as an idle timeout would."""
    if kind == "postgresql":
        with postgres_admin(server) as admin:
            # With a timeout, pg_terminate_backend waits until the session has ended.
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (connector._connection.info.backend_pid,))
        return
    thread_id = int(connector._connection.thread_id())
    admin = mariadb_admin(server)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"KILL {thread_id}")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and cursor.execute(
                    "SELECT 1 FROM information_schema.processlist WHERE id = %s", (thread_id,)):
                time.sleep(0.02)
    finally:
        admin.close()


def test_close_then_use_again_reconnects(target: Target) -> None:
    connector = target.connector()
    first = connector.test()
    connector.close()
    connector.close()                           # closing twice is harmless
    assert connector.test() == first


def test_parameters_are_bound_with_each_drivers_placeholders(target: Target, table: str, tmp_path: Path) -> None:
    from engine.plugin_api import InputTable, NodeContext

    connector = target.connector()
    connector.write(table, [("id", "INTEGER"), ("note", "TEXT")],
                    [[(1, "100% sure"), (2, "10%"), (3, "it's 100% it's")]])
    ctx = NodeContext(workflow_id="wf", run_id="r", node_id="pick", node_type="transformer", title="", config={},
                      base_dir=tmp_path, inputs=[InputTable("src", table, None, "sales")], output_table="wf__pick",
                      conn=None, lease=None, workspace_path=tmp_path / "ws.sqlite",  # type: ignore[arg-type]
                      params={"who": "x'); DROP TABLE t; --", "n": 1})
    sql, params = ctx.render_bound("SELECT id, {{ param.who }} AS who FROM {{ input }} "
                                   "WHERE note LIKE '%100%' AND id > {{ param.n }} ORDER BY id", connector)
    rows = [row for _, batch in connector.read_batches(sql, params) for row in batch]
    assert [tuple(r) for r in rows] == [(3, "x'); DROP TABLE t; --")]
    plain, none = ctx.render_bound("SELECT count(*) FROM {{ input }} WHERE note LIKE '10%'", connector)
    assert none == {} and [tuple(r) for _, b in connector.read_batches(plain, none) for r in b] == [(2,)]
