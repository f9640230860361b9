"""Exact decimals (:mod:`engine.decimals`): what a database decimal is stored as, and the
workspace's sum/avg, which keep SQLite's contract and compute exactly."""

from __future__ import annotations

import decimal
import sqlite3
from decimal import Decimal

import pytest

from engine import decimals, workspace
from engine.connectors.local import WorkspaceConnector
from engine.connectors.transfer import transfer
from engine.io.rows import write_rows


@pytest.mark.parametrize(("text", "stored", "kind"), [
    ("101794.16", 101794.16, decimals.DecimalFloat),
    ("-0.50", -0.5, decimals.DecimalFloat),
    ("100.00", 100.0, decimals.DecimalFloat),
    ("100", 100, decimals.DecimalInt),
    ("-9223372036854775808", -(2**63), decimals.DecimalInt),
    ("9223372036854775808", "9223372036854775808", decimals.DecimalText),
    ("123456789012345.6", "123456789012345.6", decimals.DecimalText),       # 16 digits: wider than a double
    ("99999999999999.9", 99999999999999.9, decimals.DecimalFloat),         # 15 digits
    ("1234567890123456789.0123456789", "1234567890123456789.0123456789", decimals.DecimalText),
    ("0.000000000000000000001", 1e-21, decimals.DecimalFloat),
    ("NaN", "NaN", decimals.DecimalText),
    ("-Infinity", "-Infinity", decimals.DecimalText),
])
def test_a_decimal_is_stored_without_rounding(text, stored, kind):
    for value in (decimals.from_text(text), decimals.storable(Decimal(text))):
        assert type(value) is kind
        assert value == stored
    if kind is decimals.DecimalFloat:           # the double spells the decimal exactly
        assert Decimal(repr(float(stored))) == Decimal(text)


@pytest.fixture
def conn(tmp_path):
    c = workspace.connect(tmp_path / "ws.sqlite")
    yield c
    c.close()


def _one(conn, sql, *params):
    return conn.execute(sql, params).fetchone()


def test_sum_of_decimal_reals_is_the_exact_decimal_sum(conn):
    conn.execute('CREATE TABLE t (a "DECIMAL BLOB")')
    conn.executemany("INSERT INTO t VALUES (?)", [(22542.58,), (95496.57,)])
    naive = 22542.58 + 95496.57
    assert repr(naive) == "118039.15000000001"            # what a double sum (even an exact one) gives
    assert _one(conn, "SELECT sum(a), avg(a) FROM t") == (118039.15, 59019.575)


def test_sum_keeps_sqlite_s_contract(conn):
    assert _one(conn, "SELECT sum(x), avg(x), total(x) FROM (SELECT 1 AS x WHERE 0)") == (None, None, 0.0)
    assert _one(conn, "SELECT sum(x), avg(x) FROM (SELECT NULL AS x)") == (None, None)
    ints = _one(conn, "SELECT sum(x), typeof(sum(x)), avg(x) FROM (SELECT 1 AS x UNION ALL SELECT 2 "
                      "UNION ALL SELECT '12')")
    assert ints == (15, "integer", 5.0)                 # text spelling an integer counts as one, as in SQLite
    assert _one(conn, "SELECT sum(x) FROM (SELECT 1.5 AS x UNION ALL SELECT 'abc')") == (1.5,)
    with pytest.raises(sqlite3.OperationalError, match="finalize"):
        conn.execute("SELECT sum(x) FROM (SELECT 9223372036854775807 AS x UNION ALL SELECT 1)").fetchone()
    # an intermediate overflow that a REAL makes approximate is no error (as in SQLite)
    assert _one(conn, "SELECT sum(x) FROM (SELECT 9223372036854775807 AS x UNION ALL SELECT 1 "
                      "UNION ALL SELECT 0.5)") == (9.223372036854776e18,)


def test_a_sum_with_a_wide_decimal_stays_exact_text(conn):
    conn.execute('CREATE TABLE t (a "DECIMAL BLOB")')
    conn.executemany("INSERT INTO t VALUES (?)", [("1234567890123456789.0123456789",), (12.5,), (-1e-10,), (None,)])
    assert _one(conn, "SELECT sum(a), count(a) FROM t") == ("1234567890123456801.5123456788", 3)
    assert _one(conn, "SELECT total(a) FROM t")[0] == pytest.approx(1.2345678901234568e18)


def test_sum_works_as_a_window_function(conn):
    conn.execute('CREATE TABLE t (i INTEGER, a "DECIMAL BLOB")')
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, 22542.58), (2, 95496.57), (3, 10587.57)])
    rows = conn.execute("SELECT sum(a) OVER (ORDER BY i ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) "
                        "FROM t ORDER BY i").fetchall()
    assert rows == [(22542.58,), (118039.15,), (106084.14,)]


def test_doubles_that_are_no_short_decimal_still_sum_correctly(conn):
    conn.execute("CREATE TABLE t (a REAL)")
    conn.executemany("INSERT INTO t VALUES (?)", [(1 / 3,), (1e100,), (1.0,), (-1e100,)])
    naive = 1 / 3 + 1e100 + 1.0 - 1e100
    assert naive == 0.0
    assert _one(conn, "SELECT sum(a), avg(a) FROM t") == (4 / 3, 1 / 3)     # compensated (Neumaier)
    conn.execute("INSERT INTO t VALUES (?)", (float("inf"),))
    assert _one(conn, "SELECT sum(a) FROM t") == (float("inf"),)


def test_a_sqlite_file_connection_sums_exactly_too(tmp_path):
    from plugins.connectors.sqlite_file import SQLiteFileConnector

    sqlite3.connect(tmp_path / "f.db").close()
    db = SQLiteFileConnector("f", "file", {"path": str(tmp_path / "f.db")})
    db.execute('CREATE TABLE t (a "DECIMAL BLOB")')
    db.execute("INSERT INTO t VALUES (22542.58), (95496.57)")
    try:
        assert next(db.read_batches("SELECT sum(a) FROM t"))[1] == [(118039.15,)]
    finally:
        db.close()


class _Source:
    """A connector whose rows carry Decimals, as a database driver returns them."""

    name, dialect = "src", "postgresql"

    def __init__(self, rows):
        self.rows = rows

    def read_batches(self, sql, params=(), batch_size=10_000):
        yield ["id", "v"], self.rows


def test_a_pull_declares_decimal_columns_and_keeps_every_digit(conn):
    lease = workspace.WriteLease(conn.execute("PRAGMA database_list").fetchone()[2])
    rows = [(1, Decimal("12.50")), (2, Decimal("1234567890123456789.0123456789")), (3, None)]
    try:
        transfer(_Source(rows), "SELECT", WorkspaceConnector(conn, lease), "pulled")
    finally:
        lease.close()
    assert workspace.columns(conn, "pulled") == [("id", "INTEGER"), ("v", "DECIMAL BLOB")]
    assert conn.execute("SELECT v, typeof(v) FROM pulled ORDER BY id").fetchall() == \
        [(12.5, "real"), ("1234567890123456789.0123456789", "text"), (None, "null")]


def test_a_decimal_column_goes_to_a_server_as_numeric():
    from engine.connectors.transfer import _column_type

    assert _column_type("DECIMAL BLOB", [], 0, into_sqlite=False) == "numeric"
    assert _column_type("numeric(38,10)", [], 0, into_sqlite=True) == "DECIMAL BLOB"
    assert _column_type("numeric(38,10)", [], 0, into_sqlite=False) == "numeric"
    # after CREATE TABLE … AS the workspace column has no declared type: exact text among numbers
    assert _column_type("", [(1.5,), ("1234567890123456789.0123456789",)], 0, into_sqlite=False) == "numeric"
    assert _column_type("", [(1.5,), (2.0,)], 0, into_sqlite=False) == "REAL"
    assert _column_type("", [("00123",), ("abc",)], 0, into_sqlite=False) == "TEXT"


def test_python_rows_with_decimals_are_stored_exactly(conn):
    lease = workspace.WriteLease(conn.execute("PRAGMA database_list").fetchone()[2])
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        wide = Decimal("1234567890123456789.0123456789") * 2
    try:
        write_rows(conn, lease, "out", [{"v": Decimal("0.10")}, {"v": wide}, {"v": Decimal("3")}], "node")
    finally:
        lease.close()
    assert workspace.columns(conn, "out") == [("v", "DECIMAL BLOB")]
    assert conn.execute("SELECT v FROM out").fetchall() == [(0.1,), ("2469135780246913578.0246913578",), (3,)]
    assert decimals.as_decimal(0.1) == Decimal("0.1")


def test_decimal_type_names_are_recognised():
    for name in ("numeric", "NUMERIC(38,10)", "decimal(10, 2)", "decimal(10,2) unsigned", "dec", "fixed(5,1)"):
        assert decimals.is_decimal_declared(name), name
    for name in ("", "NUM", "double precision", "integer", "numrange", "DECIMAL BLOB"):
        assert not decimals.is_decimal_declared(name), name


class _Runtime:
    def __init__(self, db):
        self.db = db

    def connector(self, _id):
        return self.db


class _Table(_Source):
    def table_exists(self, table):
        return True

    def sample(self, table, limit):
        return ["id", "v"], self.rows[:limit]

    def list_fields(self, table):
        return [("id", "integer"), ("v", "numeric(38,10)")]


def test_a_sample_of_a_database_table_keeps_wide_decimals(tmp_path):
    """"Try on sample" copies a database table's first rows into the sample cache: a wide
    numeric keeps its digits there, and the column says it is a decimal."""
    from types import SimpleNamespace

    from engine.workers.sample_cache import SampleCache, _copy_source

    wide = decimals.from_text("1234567890123456789.0123456789")
    state = SimpleNamespace(runtime=_Runtime(_Table([(1, wide), (2, decimals.from_text("12.5"))])))
    with SampleCache(tmp_path / "try-samples.sqlite") as cache:
        _copy_source(state, cache, {"source": "connection", "connection": "db", "table": "t"}, "copy", 10, "T")
        assert workspace.columns(cache.conn, "copy")[1] == ("v", "DECIMAL BLOB")
        assert cache.conn.execute("SELECT v FROM copy ORDER BY id").fetchall() == \
            [("1234567890123456789.0123456789",), (12.5,)]


def test_every_server_mapping_reads_the_workspace_decimal_column_as_a_decimal():
    from plugins.connectors.mariadb_parts import mariadb_type
    from plugins.connectors.postgresql_parts import postgres_type

    assert postgres_type("DECIMAL BLOB") == "numeric"           # never bytea
    assert mariadb_type("decimal blob") == "DECIMAL(65,30)"     # never LONGBLOB
