"""Transformer: reshapes one upstream table.

* ``language: sql``, ``mode: new_table`` — one SELECT (template references such as
  ``{{ input }}``) whose result replaces the node's table in one transaction.
* ``language: sql``, ``mode: in_place`` — UPDATE / DELETE / ALTER statements run
  on the input table in one transaction; the node's output is that table.
* ``language: python`` — a ``transform(rows)`` function run in a fresh worker
  under the code trust model (:mod:`engine.skills.python_skill`).

Where it runs: an input in the workspace is transformed there. An input that lives in
a database connection is transformed by SQL in that database's dialect; ``storage:
database`` keeps the result there (a table ``<workflow>__<node>`` in the connection),
``storage: local`` pulls the result into the workspace in batches (fetching and
inserting overlap). A secret reference (``{{ secret.<conn>.<field> }}``) is never allowed in
SQL (see :mod:`engine.model.secret_placement`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from engine import templates, workspace
from engine.connectors.transfer import transfer
from engine.errors import NodeError
from engine.plugin_api import ConfigProblem, NodeContext, NodeOutput, NodeType, require
from engine.sql import guard
from engine.sql.statements import split_statements

MODES = ("new_table", "in_place")
LANGUAGES = ("sql", "python")
STORAGES = ("local", "database")


class TransformerNode(NodeType):
    type_name = "transformer"
    label = "Transformer"

    def validate_config(self, config: Mapping[str, Any], input_ids: list[str]) -> list[ConfigProblem]:
        language = config.get("language", "sql")
        if language not in LANGUAGES:
            return [ConfigProblem("language", f"must be one of {', '.join(LANGUAGES)}, not {language!r}")]
        if config.get("storage", "local") not in STORAGES:
            return [ConfigProblem("storage", f"must be one of {', '.join(STORAGES)}")]
        if language == "python":
            return require(config, "code") or _check_python(str(config["code"]))
        problems = require(config, "sql")
        mode = config.get("mode", "new_table")
        if mode not in MODES:
            problems.append(ConfigProblem("mode", f"must be one of {', '.join(MODES)}, not {mode!r}"))
        if config.get("sql"):
            problems += [ConfigProblem("sql", m) for m in templates.check_inputs(str(config["sql"]), input_ids)]
        return problems

    def modifies_input(self, config: Mapping[str, Any]) -> bool:
        return config.get("language", "sql") == "sql" and config.get("mode") == "in_place"

    def runs_isolated(self, config: Mapping[str, Any]) -> bool:
        return config.get("language") == "python"

    def execute(self, ctx: NodeContext) -> NodeOutput:
        if ctx.config.get("language") == "python":
            return PythonSkill().run(ctx)
        source = ctx.input()
        if source.connection is not None:
            return _run_in_database(ctx, source.connection)
        if ctx.config.get("storage", "local") == "database":
            raise NodeError(f"node '{ctx.label}': storage 'database' needs an input that lives in a "
                            f"database connection; this input is in the workspace (use storage 'local')")
        sql = ctx.render(str(ctx.config["sql"]))
        if ctx.config.get("mode") == "in_place":
            return _run_in_place(ctx, sql)
        return create_table_as(ctx, sql)


def _check_python(code: str) -> list[ConfigProblem]:
    """Catch syntax errors before a run (compiling runs nothing)."""
    try:
        compile(code, "<transform>", "exec")
    except SyntaxError as exc:
        return [ConfigProblem("code", f"syntax error at line {exc.lineno}: {exc.msg}")]
    return []


def create_table_as(ctx: NodeContext, select_sql: str) -> NodeOutput:
    """Replace the node's table by the result of ``select_sql`` in one transaction."""
    statements = split_statements(select_sql)
    if len(statements) != 1:
        raise NodeError(f"node '{ctx.label}': mode 'new_table' takes exactly one SELECT statement, "
                        f"found {len(statements)}")
    body = statements[0].rstrip().rstrip(";")
    target = workspace.quote_ident(ctx.output_table)
    with ctx.write() as conn:
        ctx.set_aside(conn)
        conn.execute(f"DROP TABLE IF EXISTS {target}")
        _execute(ctx, conn, f"CREATE TABLE {target} AS {body}", shown=body, writable=[ctx.output_table])
        records = workspace.count_rows(conn, ctx.output_table)
    return NodeOutput(table=ctx.output_table, records=records)


def _run_in_database(ctx: NodeContext, connection: str) -> NodeOutput:
    """SQL in the input's database; parameters are bound only in a SELECT read into the workspace."""
    db = ctx.location(connection)
    reads = ctx.config.get("mode") != "in_place" and ctx.config.get("storage", "local") == "local"
    sql, params = ctx.render_bound(str(ctx.config["sql"]), db) if reads else \
        (ctx.render_for(str(ctx.config["sql"]), db), {})
    statements = split_statements(sql)
    if ctx.config.get("mode") == "in_place":
        table = ctx.input().table
        db.execute_many(statements)
        return NodeOutput(table=table, connection=connection, records=db.count(table))
    if len(statements) != 1:
        raise NodeError(f"node '{ctx.label}': mode 'new_table' takes exactly one SELECT statement, "
                        f"found {len(statements)}")
    if ctx.config.get("storage", "local") == "database":
        db.replace_table_as(ctx.output_table, statements[0].rstrip().rstrip(";"))  # old or new, never none
        return NodeOutput(table=ctx.output_table, connection=connection, records=db.count(ctx.output_table))
    records = transfer(db, statements[0], ctx.location(None), ctx.output_table, "replace", params=params)
    return NodeOutput(table=ctx.output_table, records=records)


def _run_in_place(ctx: NodeContext, sql: str) -> NodeOutput:
    table = ctx.input().table
    statements = split_statements(sql)
    if not statements:
        raise NodeError(f"node '{ctx.label}': the SQL has no statement")
    with ctx.write() as conn:
        for statement in statements:
            _execute(ctx, conn, statement, writable=[table])
        records = workspace.count_rows(conn, table)
    return NodeOutput(table=table, records=records)


def _execute(ctx: NodeContext, conn: sqlite3.Connection, sql: str, shown: str | None = None,
             writable: list[str] = ()) -> None:
    """Run workflow SQL in the workspace under :mod:`engine.sql.guard` (writes only to ``writable``)."""
    with guard.guarded(conn, writable) as auth:
        try:
            conn.execute(sql, ctx.sql_params)   # parameters are bound, never pasted (engine.model.parameters)
        except sqlite3.Error as exc:
            raise NodeError(f"SQL error in node '{ctx.label}': {guard.explain(exc, auth)}\n"
                            f"  in: {_short(shown or sql)}") from None


def _short(sql: str, limit: int = 400) -> str:
    one_line = " ".join(sql.split())
    return one_line if len(one_line) <= limit else one_line[:limit] + " …"


class PythonSkill:
    """The ``python`` code skill: ``transform(rows)`` over the input table's rows."""

    def run(self, ctx: NodeContext) -> NodeOutput:
        from engine.skills import python_skill

        if ctx.isolated:
            python_skill.apply_sandbox(ctx.config.get("limits") or {}, ctx.workspace_path)
        fn = python_skill.compile_skill(str(ctx.config["code"]), ctx.label)
        source = ctx.input().table
        with ctx.building_table() as staging:
            python_skill.run_transform(fn, ctx.conn, ctx.lease, source, staging, ctx.label)
            records = ctx.publish(staging)
        if source.startswith(workspace.STAGING_PREFIX):   # the runner's copy of a database input
            with ctx.write() as conn:
                conn.execute(f"DROP TABLE IF EXISTS {workspace.quote_ident(source)}")
        return NodeOutput(table=ctx.output_table, records=records)
