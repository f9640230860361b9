"""The Join node's SQL and the statement splitter, run on a real in-memory SQLite database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from engine.errors import NodeError
from engine.sql.join import JoinSpecError, build_join_sql, output_names, validate_join_spec
from engine.sql.statements import split_statements
from engine.workspace import quote_ident

NONE = None


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.executescript("""
        CREATE TABLE wf__orders (id INTEGER, customer_id INTEGER, amount REAL);
        INSERT INTO wf__orders VALUES (1, 10, 5.0), (2, 11, 7.5), (3, 99, 1.0);
        CREATE TABLE wf__customers (id INTEGER, name TEXT, region_id INTEGER);
        INSERT INTO wf__customers VALUES (10, 'Ada', 1), (11, 'Bob', 2), (12, 'Cy', 1);
        CREATE TABLE wf__regions (id INTEGER, name TEXT);
        INSERT INTO wf__regions VALUES (1, 'North'), (2, 'South');
    """)
    yield conn
    conn.close()


def inputs_of(conn: sqlite3.Connection,
              *pairs: tuple[str, str]) -> list[tuple[str, str, list[str]]]:
    """``[(node id, table, [columns])]`` read from the database, as the handler builds them."""
    return [(node_id, table,
             [r[1] for r in conn.execute(f"PRAGMA table_info({quote_ident(table)})")])
            for node_id, table in pairs]


def run(conn: sqlite3.Connection, spec: dict, inputs: list) -> tuple[list[str], list[tuple]]:
    cursor = conn.execute(build_join_sql(spec, inputs))
    names = [d[0] for d in cursor.description]
    return names, sorted(cursor.fetchall(), key=repr)


def two(kind: str = "inner", **extra: object) -> dict:
    join = {"left": "orders", "right": "customers", "type": kind, "on": [["customer_id", "id"]]}
    return {"joins": [join], **extra}


@pytest.fixture
def oc(db: sqlite3.Connection) -> list:
    return inputs_of(db, ("orders", "wf__orders"), ("customers", "wf__customers"))


# --- results ---------------------------------------------------------------------------------

def test_inner_join_keeps_matching_rows_and_both_ids(db, oc):
    names, rows = run(db, two("inner"), oc)
    assert names == ["orders_id", "customer_id", "amount", "customers_id", "name", "region_id"]
    assert rows == [(1, 10, 5.0, 10, "Ada", 1), (2, 11, 7.5, 11, "Bob", 2)]


def test_type_defaults_to_inner(db, oc):
    spec = two()
    del spec["joins"][0]["type"]
    assert run(db, spec, oc) == run(db, two("inner"), oc)


def test_left_join_keeps_unmatched_left_rows(db, oc):
    _, rows = run(db, two("left"), oc)
    assert (3, 99, 1.0, NONE, NONE, NONE) in rows
    assert len(rows) == 3


def test_full_join_keeps_unmatched_rows_of_both_sides(db, oc):
    _, rows = run(db, two("full"), oc)
    assert len(rows) == 4
    assert (3, 99, 1.0, NONE, NONE, NONE) in rows
    assert (NONE, NONE, NONE, 12, "Cy", 1) in rows


def test_right_join_keeps_unmatched_right_rows(db, oc):
    _, rows = run(db, two("right"), oc)
    assert len(rows) == 3
    assert (NONE, NONE, NONE, 12, "Cy", 1) in rows


def test_three_way_join_whose_second_left_is_not_the_from_table(db):
    inputs = inputs_of(db, ("orders", "wf__orders"), ("customers", "wf__customers"),
                       ("regions", "wf__regions"))
    spec = two("inner")
    spec["joins"].append({"left": "customers", "right": "regions", "type": "left",
                          "on": [["region_id", "id"]]})
    names, rows = run(db, spec, inputs)
    assert names == ["orders_id", "customer_id", "amount", "customers_id", "customers_name",
                     "region_id", "regions_id", "regions_name"]
    assert rows == [(1, 10, 5.0, 10, "Ada", 1, 1, "North"), (2, 11, 7.5, 11, "Bob", 2, 2, "South")]


def test_on_pairs_are_anded(db, oc):
    db.execute("UPDATE wf__customers SET region_id = 5 WHERE id = 11")
    spec = two("inner")
    spec["joins"][0]["on"].append(["id", "region_id"])    # Bob's order 2 no longer matches
    _, rows = run(db, spec, oc)
    assert rows == [(1, 10, 5.0, 10, "Ada", 1)]


def test_columns_subset_keeps_unique_names_unchanged(db, oc):
    spec = two("inner", columns=["customers.name", "orders.amount", "orders.id"])
    names, rows = run(db, spec, oc)
    assert names == ["name", "amount", "id"]
    assert rows == [("Ada", 5.0, 1), ("Bob", 7.5, 2)]


def test_same_name_columns_are_all_renamed_and_a_clash_gets_a_suffix():
    selected = [("orders", "id"), ("customers", "ID"), ("x", "orders_id"), ("orders", "name")]
    assert output_names(selected) == ["orders_id_2", "customers_ID", "orders_id", "name"]


def test_a_renamed_clash_is_kept_in_the_real_result(db):
    db.execute("CREATE TABLE wf__extra (cid INTEGER, orders_id TEXT)")
    db.execute("INSERT INTO wf__extra VALUES (10, 'kept')")
    inputs = inputs_of(db, ("orders", "wf__orders"), ("extra", "wf__extra"))
    spec = {"joins": [{"left": "orders", "right": "extra", "on": [["customer_id", "cid"]]}],
            "columns": ["orders.id", "extra.orders_id", "extra.cid"]}
    names, rows = run(db, spec, inputs)
    assert names == ["id", "orders_id", "cid"]          # no clash: 'id' is kept from one input
    spec["columns"] = []                                # all columns
    db.execute("ALTER TABLE wf__extra ADD COLUMN id INTEGER")
    inputs = inputs_of(db, ("orders", "wf__orders"), ("extra", "wf__extra"))
    names, rows = run(db, spec, inputs)
    assert names == ["orders_id_2", "customer_id", "amount", "cid", "orders_id", "extra_id"]
    assert rows == [(1, 10, 5.0, 10, "kept", None)]


def test_a_table_joined_to_itself(db):
    inputs = [("a", "wf__customers", ["id", "name", "region_id"]),
              ("b", "wf__customers", ["id", "name", "region_id"])]
    spec = {"joins": [{"left": "a", "right": "b", "on": [["region_id", "region_id"]]}],
            "columns": ["a.name", "b.name"]}
    names, rows = run(db, spec, inputs)
    assert names == ["a_name", "b_name"]
    assert ("Ada", "Cy") in rows and len(rows) == 5


# --- hostile names ---------------------------------------------------------------------------

def test_hostile_table_and_column_names_work_and_are_not_injectable(db):
    evil_table = 'x"; DROP TABLE wf__orders; --'
    db.execute(f'CREATE TABLE {quote_ident(evil_table)} ("select" INTEGER, "a ""b""" TEXT, '
               f'"from t1" TEXT, "t2.id" TEXT)')
    db.execute(f"INSERT INTO {quote_ident(evil_table)} VALUES (10, 'q', 'w', 'e')")
    db.execute('CREATE TABLE "t1" (id INTEGER, "order" TEXT)')   # a table named like an alias
    db.execute("INSERT INTO t1 VALUES (1, 'o1')")
    inputs = inputs_of(db, ("t2", "t1"), ("evil", evil_table), ("orders", "wf__orders"))
    spec = {"joins": [{"left": "t2", "right": "orders", "on": [["id", "id"]]},
                      {"left": "orders", "right": "evil", "type": "left",
                       "on": [["customer_id", "select"]]}],
            "columns": ["t2.order", "evil.a \"b\"", "evil.from t1", "evil.t2.id", "evil.select"]}
    names, rows = run(db, spec, inputs)
    assert names == ["order", 'a "b"', "from t1", "t2.id", "select"]
    assert rows == [("o1", "q", "w", "e", 10)]
    assert db.execute("SELECT count(*) FROM wf__orders").fetchone() == (3,)


# --- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("join, message", [
    ({"left": "nope", "right": "customers", "on": [["a", "b"]]},
     r"join 1: left input 'nope' is not an input of this node \(inputs: orders, customers\)"),
    ({"left": "orders", "right": "nope", "on": [["a", "b"]]},
     r"right input 'nope' is not an input"),
    ({"left": "orders", "right": "customers", "type": "cross", "on": [["a", "b"]]},
     r"join 1: unknown join type 'cross' \(use inner, left, right, full\)"),
    ({"left": "orders", "right": "customers", "on": []}, r"join 1: 'on' needs at least one"),
    ({"left": "orders", "right": "customers"}, r"'on' needs at least one"),
    ({"left": "orders", "right": "customers", "on": [["customer_id"]]},
     r"on pair 1 must be \[left column, right column\]"),
    ({"left": "orders", "right": "orders", "on": [["id", "id"]]},
     r"joins input 'orders' with itself"),
])
def test_bad_join_is_refused_naming_it(db, oc, join, message):
    with pytest.raises(JoinSpecError, match=message):
        build_join_sql({"joins": [join]}, oc)


def test_join_spec_error_is_a_node_error_and_a_value_error():
    assert issubclass(JoinSpecError, NodeError) and issubclass(JoinSpecError, ValueError)


def test_unknown_on_column_lists_the_available_columns(db, oc):
    spec = two()
    spec["joins"][0]["on"] = [["customer", "id"]]
    with pytest.raises(JoinSpecError, match=r"join 1 on: input 'orders' has no column 'customer' "
                                            r"\(its columns: id, customer_id, amount\)"):
        build_join_sql(spec, oc)
    spec["joins"][0]["on"] = [["customer_id", "ident"]]
    with pytest.raises(JoinSpecError, match=r"input 'customers' has no column 'ident'"):
        build_join_sql(spec, oc)


def test_unknown_selected_column_lists_the_available_columns(db, oc):
    with pytest.raises(JoinSpecError, match=r"column 'customers.nam': input 'customers' has no "
                                            r"column 'nam' \(its columns: id, name, region_id\)"):
        build_join_sql(two(columns=["customers.nam"]), oc)


@pytest.mark.parametrize("columns, message", [
    (["name"], r"column 'name' must be written '<input node id>.<column>'"),
    (["shop.name"], r"column 'shop.name': 'shop' is not an input of this node"),
    (["orders.id", "orders.id"], r"column 'orders.id' is listed 2 times"),
    ("orders.id", r"columns must be a list"),
])
def test_malformed_columns_are_refused(db, oc, columns, message):
    with pytest.raises(JoinSpecError, match=message):
        build_join_sql(two(columns=columns), oc)


def test_every_input_must_be_joined(db):
    inputs = inputs_of(db, ("orders", "wf__orders"), ("customers", "wf__customers"),
                       ("regions", "wf__regions"))
    with pytest.raises(JoinSpecError, match=r"input 'regions' is not joined"):
        build_join_sql(two(), inputs)


def test_an_input_joined_twice_is_refused(db, oc):
    spec = two()
    spec["joins"].append({"left": "orders", "right": "customers", "on": [["id", "id"]]})
    with pytest.raises(JoinSpecError, match=r"join 2: input 'customers' is joined twice"):
        build_join_sql(spec, oc)


def test_a_later_left_must_already_be_joined(db):
    inputs = inputs_of(db, ("orders", "wf__orders"), ("customers", "wf__customers"),
                       ("regions", "wf__regions"))
    spec = {"joins": [{"left": "orders", "right": "customers", "on": [["customer_id", "id"]]},
                      {"left": "regions", "right": "customers", "on": [["id", "region_id"]]}]}
    with pytest.raises(JoinSpecError, match=r"join 2: left input 'regions' is not joined yet "
                                            r"\(joined so far: orders, customers\)"):
        build_join_sql(spec, inputs)


def test_no_joins_and_duplicate_inputs_are_refused(db, oc):
    with pytest.raises(JoinSpecError, match=r"at least one join is required"):
        build_join_sql({"joins": []}, oc)
    with pytest.raises(JoinSpecError, match=r"input 'orders' is connected more than once"):
        build_join_sql(two(), [oc[0], oc[1], oc[0]])


def test_validate_reports_every_problem_with_its_field_without_columns():
    spec = {"joins": [{"left": "orders", "right": "shop", "type": "outer", "on": []}],
            "columns": ["orders.id", "nodot"]}
    problems = validate_join_spec(spec, ["orders", "customers"])
    fields = [f for f, _ in problems]
    text = "\n".join(m for _, m in problems)
    assert fields == ["joins", "joins", "joins", "joins", "joins", "columns"]
    for part in ("right input 'shop'", "unknown join type 'outer'", "'on' needs at least one",
                 "input 'orders' is not joined", "input 'customers' is not joined", "'nodot'"):
        assert part in text


def test_validate_accepts_a_good_spec_and_refuses_a_non_mapping():
    assert validate_join_spec(two(columns=["orders.id"]), ["orders", "customers"]) == []
    assert validate_join_spec([], ["orders"]) == [
        ("joins", "the join configuration must be a mapping")]


# --- statements ------------------------------------------------------------------------------

def test_split_simple_statements_without_their_semicolons():
    assert split_statements("SELECT 1; SELECT 2;\n") == ["SELECT 1", "SELECT 2"]
    assert split_statements("SELECT 1;\nSELECT 2") == ["SELECT 1", "SELECT 2"]


def test_semicolons_inside_strings_identifiers_and_comments_do_not_split():
    sql = ("CREATE TABLE \"a;b\" (x TEXT);\n"
           "INSERT INTO \"a;b\" VALUES ('semi;colon'), ('it''s; fine');\n"
           "-- a comment; with a semicolon\n"
           "SELECT x /* ; */ FROM \"a;b\" ORDER BY x;")
    statements = split_statements(sql)
    assert len(statements) == 3
    assert statements[2].startswith("-- a comment; with a semicolon\nSELECT x /* ; */")
    conn = sqlite3.connect(":memory:")
    try:
        rows = [conn.execute(s).fetchall() for s in statements][-1]
    finally:
        conn.close()
    assert rows == [("it's; fine",), ("semi;colon",)]


def test_a_trigger_body_is_one_statement():
    sql = """CREATE TABLE t (x); CREATE TABLE log (y);
             CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN
                 INSERT INTO log VALUES (new.x); INSERT INTO log VALUES (new.x * 10);
             END;
             INSERT INTO t VALUES (2);"""
    statements = split_statements(sql)
    assert len(statements) == 4 and statements[2].endswith("END")
    conn = sqlite3.connect(":memory:")
    try:
        for statement in statements:
            conn.execute(statement)
        assert conn.execute("SELECT y FROM log ORDER BY y").fetchall() == [(2,), (20,)]
    finally:
        conn.close()


def test_empty_and_comment_only_statements_are_dropped():
    assert split_statements("") == []
    assert split_statements(" ;; \n ; -- only; a comment\n; /* block; */ ;\n-- trailing") == []
    assert split_statements("SELECT 1; -- done") == ["SELECT 1"]


def test_an_unterminated_statement_is_returned_for_sqlite_to_report():
    assert split_statements("SELECT 1; SELECT 'open;") == ["SELECT 1", "SELECT 'open;"]
