"""An AI proposal's SQL is parsed (sqlglot) and refused with a named reason before it runs:
one SELECT reading only the node's inputs, in the dialect it will run in."""

from __future__ import annotations

import pytest

from engine.ai.sql_guard import InputRef, SqlRefused, check_condition, check_select
from engine.errors import DagfluxError

ONE = [InputRef("orders", "wf__orders")]
TWO = [InputRef("orders", "wf__orders"), InputRef("customers", "wf__customers")]


@pytest.mark.parametrize("sql", [
    "SELECT * FROM {{ input }}",
    "SELECT country, sum(total) AS revenue FROM {{ input }} GROUP BY country ORDER BY revenue DESC",
    "WITH big AS (SELECT * FROM {{ input }} WHERE total > 10) SELECT count(*) FROM big",
    "SELECT id FROM {{ input }} UNION ALL SELECT id FROM wf__orders",
    'SELECT * FROM "wf__orders" WHERE total > {{ param.limit }}',
    "SELECT * FROM {{ table.wf__orders }} AS o WHERE o.id IN (SELECT id FROM {{ input }})",
    "SELECT upper(name), coalesce(total, 0) FROM {{ input }} LIMIT 5;",
])
def test_reads_of_the_input_pass(sql):
    check_select(sql, "sqlite", ONE)


def test_join_of_the_inputs_passes():
    check_select("SELECT o.*, c.name FROM {{ input.orders }} o JOIN {{ input.2 }} c ON c.id = o.customer_id",
                 "sqlite", TWO)


@pytest.mark.parametrize(("sql", "reason", "text"), [
    ("SELECT 1; SELECT 2", "multiple_statements", "2 statements"),
    ("SELECT * FROM {{ input }}; DROP TABLE wf__orders", "multiple_statements", "2 statements"),
    ("DELETE FROM {{ input }} WHERE total < 0", "writes", "DELETE"),
    ("INSERT INTO wf__orders VALUES (1)", "writes", "INSERT"),
    ("UPDATE {{ input }} SET total = 0", "writes", "UPDATE"),
    ("DROP TABLE wf__orders", "writes", "DROP"),
    ("CREATE TABLE x AS SELECT * FROM {{ input }}", "writes", "CREATE"),
    ("ATTACH DATABASE '/tmp/x.db' AS x", "attach", "ATTACH"),
    ("VACUUM INTO '/tmp/copy.db'", "attach", "VACUUM"),
    ("PRAGMA journal_mode = OFF", "pragma", "PRAGMA"),
    ("SELECT * FROM pragma_table_info('wf__orders')", "pragma", "pragma_table_info"),
    ("SELECT load_extension('/tmp/evil.so')", "function", "load_extension"),
    ("SELECT * FROM {{ input }} JOIN secrets ON 1 = 1", "other_table", "'secrets'"),
    ("SELECT * FROM other_flow__totals", "other_table", "other_flow__totals"),
    ("SELECT * FROM {{ table.other_flow__totals }}", "other_table", "not one of this node's inputs"),
    ("SELECT * FROM {{ self }}", "other_table", "not one of this node's inputs"),
    ("SELECT * FROM sqlite_master", "other_table", "sqlite_master"),
    ("SELECT * FROM x.wf__orders", "other_table", "x.wf__orders"),
    ("SELECT '{{ secret.api.key }}' FROM {{ input }}", "secret", "a secret may never appear"),
    ("SELEC * FRM {{ input }}", "not_select", "this is not a SELECT"),
    ("SELECT * FROM {{ input }} WHERE (", "unparsable", "does not parse"),
    ("", "multiple_statements", "0 statements"),
])
def test_refusals_are_named(sql, reason, text):
    with pytest.raises(SqlRefused, match=text) as info:
        check_select(sql, "sqlite", ONE)
    assert info.value.reason == reason


@pytest.mark.parametrize(("sql", "reason"), [
    ("WITH d AS (DELETE FROM sales.orders RETURNING *) SELECT * FROM d", "writes"),
    ("SELECT * INTO copy FROM sales.orders", "writes"),
    ("SELECT * FROM sales.orders FOR UPDATE", "writes"),
    ("SELECT pg_read_file('/etc/passwd')", "function"),
    ("SELECT nextval('s') FROM sales.orders", "function"),
    ("SELECT * FROM sales.customers", "other_table"),
    ("SELECT * FROM orders", "other_table"),     # search_path could find another schema's table
    ("COPY sales.orders TO '/tmp/x'", "not_select"),
])
def test_postgresql_dialect(sql, reason):
    inputs = [InputRef("orders", "sales.orders")]
    check_select('SELECT "id", total::numeric FROM sales.orders WHERE total > 0', "postgresql", inputs)
    with pytest.raises(SqlRefused) as info:
        check_select(sql, "postgresql", inputs)
    assert info.value.reason == reason


@pytest.mark.parametrize(("sql", "reason"), [
    ("SELECT LOAD_FILE('/etc/passwd') FROM orders", "function"),
    ("SELECT SLEEP(10)", "function"),
    ("SELECT * FROM orders; DELETE FROM orders", "multiple_statements"),
    ("SELECT * FROM mysql.user", "other_table"),
])
def test_mariadb_dialect(sql, reason):
    inputs = [InputRef("orders", "orders")]
    check_select("SELECT `id`, IFNULL(total, 0) FROM {{ input }} LIMIT 5", "mysql", inputs)
    with pytest.raises(SqlRefused) as info:
        check_select(sql, "mariadb", inputs)
    assert info.value.reason == reason


def test_branch_conditions():
    check_condition("count(*) > 0", "sqlite", ONE)
    check_condition("sum(total) > {{ param.threshold }}", "sqlite", ONE)
    with pytest.raises(SqlRefused) as info:
        check_condition("(SELECT count(*) FROM other_table) > 0", "sqlite", ONE)
    assert info.value.reason == "other_table"
    with pytest.raises(SqlRefused) as info:
        check_condition("count(*) > 0; DROP TABLE wf__orders", "sqlite", ONE)
    assert info.value.reason == "multiple_statements"
    with pytest.raises(SqlRefused):     # breaking out of the parentheses does not parse
        check_condition("1) FROM wf__orders; DROP TABLE wf__orders; SELECT (1", "sqlite", ONE)


def test_unknown_dialect_is_a_clear_error():
    with pytest.raises(DagfluxError, match="no SQL guard for dialect 'oracle'"):
        check_select("SELECT 1", "oracle", ONE)
