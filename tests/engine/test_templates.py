"""The template grammar: every reference renders to one safely quoted identifier.

Rendering uses the real table resolver with the workspace's ``quote_ident``, and the
hostile-name cases are executed against a real SQLite database to show that a table
name can never inject SQL.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import pytest

from engine import templates
from engine.errors import TemplateError
from engine.workspace import quote_ident

TWO_INPUTS = [("orders", "shop__orders"), ("customers", "shop__customers")]


def render(text: str, inputs=TWO_INPUTS, self_table: str | None = "shop__report") -> str:
    return templates.render(text, templates.table_resolver(inputs, self_table, quote_ident))


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    try:
        yield conn
    finally:
        conn.close()


# --- each form ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, inputs, expected", [
    ("{{ input }}", [("orders", "shop__orders")], '"shop__orders"'),
    ("{{input}}", [("orders", "shop__orders")], '"shop__orders"'),
    ("{{   input   }}", [("orders", "shop__orders")], '"shop__orders"'),
    ("{{ input.1 }}", TWO_INPUTS, '"shop__orders"'),
    ("{{ input.2 }}", TWO_INPUTS, '"shop__customers"'),
    ("{{ input.customers }}", TWO_INPUTS, '"shop__customers"'),
    ("{{ input.orders }}", TWO_INPUTS, '"shop__orders"'),
    ("{{ table.other_flow__totals }}", TWO_INPUTS, '"other_flow__totals"'),
    ("{{ table.MixedCase_9 }}", TWO_INPUTS, '"MixedCase_9"'),
    ('{{ table."my table" }}', TWO_INPUTS, '"my table"'),
    ("{{ self }}", TWO_INPUTS, '"shop__report"'),
])
def test_each_reference_form_renders_a_quoted_identifier(text: str, inputs, expected: str) -> None:
    assert render(text, inputs) == expected


def test_text_around_references_is_kept_verbatim() -> None:
    sql = "SELECT o.*, c.name\nFROM {{ input.orders }} o JOIN {{input.2}} c USING (customer_id) -- {x}"
    assert render(sql) == ('SELECT o.*, c.name\nFROM "shop__orders" o JOIN "shop__customers" c '
                           "USING (customer_id) -- {x}")


def test_input_position_counts_from_one_in_input_order() -> None:
    reversed_inputs = list(reversed(TWO_INPUTS))
    assert render("{{ input.1 }}", reversed_inputs) == '"shop__customers"'


# --- escapes -------------------------------------------------------------------------------
def test_escaped_braces_render_as_a_literal_reference() -> None:
    text = r"SELECT '\{{ input }}' AS shown, * FROM {{ input.1 }}"
    assert render(text) == """SELECT '{{ input }}' AS shown, * FROM "shop__orders\""""


def test_an_escaped_reference_is_not_parsed() -> None:
    assert templates.parse(r"\{{ inptu }} and \{{ self }}") == []


def test_an_escaped_opening_without_a_closing_renders_as_literal_braces() -> None:
    assert render(r"SELECT '\{{' AS opener") == "SELECT '{{' AS opener"


def test_braces_that_form_no_reference_are_left_alone() -> None:
    assert render("SELECT '{' || '{ x' || '}}'") == "SELECT '{' || '{ x' || '}}'"


# --- resolution errors ---------------------------------------------------------------------
def test_bare_input_is_ambiguous_with_two_inputs() -> None:
    with pytest.raises(TemplateError, match=r"^\{\{ input \}\} is ambiguous: this node has 2 inputs; "
                                            r"use \{\{ input\.N \}\} or \{\{ input\.<node id> \}\}$"):
        render("SELECT * FROM {{ input }}")


def test_bare_input_needs_an_input() -> None:
    with pytest.raises(TemplateError, match=r"^\{\{ input \}\} is ambiguous: this node has 0 inputs"):
        render("SELECT * FROM {{ input }}", inputs=[])


def test_an_input_position_past_the_last_input_is_refused() -> None:
    with pytest.raises(TemplateError, match=r"^\{\{ input\.3 \}\}: this node has only 2 input\(s\)$"):
        render("SELECT * FROM {{ input.3 }}")


def test_an_input_from_an_unknown_node_is_refused_listing_the_inputs() -> None:
    with pytest.raises(TemplateError, match=r"^\{\{ input\.refunds \}\}: no input comes from node "
                                            r"'refunds' \(inputs: orders, customers\)$"):
        render("SELECT * FROM {{ input.refunds }}")


def test_an_input_from_a_node_when_there_are_none() -> None:
    with pytest.raises(TemplateError, match=r"no input comes from node 'orders' \(inputs: none\)$"):
        render("SELECT * FROM {{ input.orders }}", inputs=[])


def test_self_is_refused_where_the_node_has_no_table() -> None:
    with pytest.raises(TemplateError, match=r"^\{\{ self \}\} is not available here$"):
        render("SELECT * FROM {{ self }}", self_table=None)


@pytest.mark.parametrize("reference", [
    "{{ inptu }}", "{{ input.0 }}", "{{ input.-1 }}", "{{ input.Orders }}", "{{ table. }}",
    "{{ table.a b }}", "{{ }}", "{{ self.x }}", '{{ table."" }}',
])
def test_a_malformed_reference_is_named_in_the_error(reference: str) -> None:
    escaped = re.escape(reference)
    with pytest.raises(TemplateError, match=rf"^unknown reference {escaped}: use "):
        render(f"SELECT * FROM {reference}")
    with pytest.raises(TemplateError, match=rf"^unknown reference {escaped}"):
        templates.parse(f"SELECT * FROM {reference}")


# --- hostile names -------------------------------------------------------------------------
def test_a_quoted_table_name_with_a_doubled_quote_renders_escaped() -> None:
    assert render('{{ table."a""b" }}') == '"a""b"'
    [ref] = templates.parse('{{ table."a""b" }}')
    assert (ref.kind, ref.arg) == ("table", 'a"b')


def test_hostile_table_names_reach_sqlite_as_one_identifier(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE keep (x)")
    db.execute('CREATE TABLE "a""b" (x)')
    db.execute("INSERT INTO \"a\"\"b\" VALUES ('quoted')")
    assert db.execute(render('SELECT x FROM {{ table."a""b" }}')).fetchall() == [("quoted",)]
    hostile = render('SELECT * FROM {{ table."keep""; DROP TABLE keep; --" }}')
    with pytest.raises(sqlite3.OperationalError, match=r'no such table: keep"; DROP TABLE keep; --'):
        db.executescript(hostile)
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'keep'").fetchall() == [("keep",)]


@pytest.mark.parametrize("reference", [
    '{{ table.keep"; DROP TABLE keep; -- }}',
    '{{ table."unterminated }}',
    '{{ table."x"" }}',
    "{{ table.a;b }}",
])
def test_an_unquoted_or_broken_hostile_name_is_refused(reference: str) -> None:
    with pytest.raises(TemplateError, match=r"^unknown reference"):
        render(reference)


def test_an_input_table_name_is_quoted_whatever_it_contains(db: sqlite3.Connection) -> None:
    evil = 'x" ; DROP TABLE keep; --'
    db.execute("CREATE TABLE keep (x)")
    db.execute(f"CREATE TABLE {quote_ident(evil)} (v)")
    sql = render("SELECT count(*) FROM {{ input }}", inputs=[("up", evil)])
    assert sql == 'SELECT count(*) FROM "x"" ; DROP TABLE keep; --"'
    assert db.execute(sql).fetchone() == (0,)


# --- parse ---------------------------------------------------------------------------------
def test_parse_reports_each_reference_with_its_span() -> None:
    text = "A {{ input.2 }} B {{table.\"t t\"}} C {{ self }}"
    refs = templates.parse(text)
    assert [(r.kind, r.arg) for r in refs] == [("input_pos", "2"), ("table", "t t"), ("self", None)]
    assert [text[r.start:r.end] for r in refs] == [r.text for r in refs]
    assert [r.text for r in refs] == ["{{ input.2 }}", '{{table."t t"}}', "{{ self }}"]


def test_the_secret_form_parses_but_the_table_resolver_refuses_it() -> None:
    [ref] = templates.parse("password={{ secret.warehouse_pg.password }}")
    assert (ref.kind, ref.arg, ref.field) == ("secret", "warehouse_pg", "password")
    with pytest.raises(TemplateError, match=r"^\{\{ secret\.warehouse_pg\.password \}\}: secret references "
                                            r"are resolved by connectors only$"):
        render("password={{ secret.warehouse_pg.password }}")


# --- check_inputs (validation) -------------------------------------------------------------
@pytest.mark.parametrize("text, input_ids, problems", [
    ("SELECT * FROM {{ input }}", ["a"], []),
    ("SELECT * FROM {{ input.1 }} JOIN {{ input.b }}", ["a", "b"], []),
    ("SELECT * FROM {{ table.anything }} JOIN {{ self }}", [], []),
    ("{{ secret.pg.password }}", [], []),
    ("SELECT * FROM {{ input }}", ["a", "b"], ["{{ input }} needs exactly one input (the node has 2)"]),
    ("SELECT * FROM {{ input }}", [], ["{{ input }} needs exactly one input (the node has 0)"]),
    ("SELECT * FROM {{ input.3 }}", ["a", "b"], ["{{ input.3 }}: the node has only 2 input(s)"]),
    ("SELECT * FROM {{ input.c }}", ["a", "b"], ["{{ input.c }}: no input comes from node 'c'"]),
    ("{{ input.2 }} {{ input.zz }}", ["a"], ["{{ input.2 }}: the node has only 1 input(s)",
                                             "{{ input.zz }}: no input comes from node 'zz'"]),
])
def test_check_inputs_lists_every_problem(text: str, input_ids: list[str], problems: list[str]) -> None:
    assert templates.check_inputs(text, input_ids) == problems


def test_check_inputs_reports_a_malformed_reference() -> None:
    [problem] = templates.check_inputs("SELECT * FROM {{ inptu }}", ["a"])
    assert problem.startswith("unknown reference {{ inptu }}: use {{ input }}")
