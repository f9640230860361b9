"""What SQL an AI proposal may contain, decided by parsing it before anything runs.

A proposal for a Transformer, a Join or a Branch is checked by :func:`check_select` (a
Branch condition by :func:`check_condition`) with `sqlglot` in the dialect it will run in
— ``sqlite`` for the workspace, ``postgresql`` or ``mysql`` (MariaDB) for ``storage:
database`` — before the engine tries it on the sample. It passes only when it is:

* exactly **one** statement (``multiple_statements``), that parses (``unparsable``);
* a ``SELECT`` — possibly ``WITH … SELECT`` or a ``UNION``/``INTERSECT``/``EXCEPT`` of
  selects (``not_select`` otherwise; ``pragma`` and ``attach`` are named on their own);
* with no write hidden inside: no data-changing CTE (``WITH d AS (DELETE …)``), no
  ``SELECT … INTO``, no ``FOR UPDATE`` lock (``writes``);
* calling no function that reaches outside the query — files, extensions, server
  settings, sequences, sleeping (``function``; the lists are :data:`DENIED_FUNCTIONS`);
  in SQLite no ``pragma_*`` table-valued function either (``pragma``);
* reading only the node's inputs (``other_table``): the template references
  ``{{ input }}``, ``{{ input.N }}``, ``{{ input.<node id> }}``, or an input table named
  directly (``{{ table.<name> }}`` of an input too), plus its own CTEs;
* with no ``{{ secret.… }}`` (``secret``) and no ``{{ self }}`` (``other_table``).

A refusal is a :class:`SqlRefused` with ``reason`` (one of :data:`REASONS`) and a
sentence saying what was found. This is the first line; the workspace's SQLite
authorizer (:mod:`engine.sql.guard`) still guards the try itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from engine import templates
from engine.errors import DagfluxError, TemplateError

REASONS = ("unparsable", "multiple_statements", "not_select", "writes", "attach", "pragma", "function",
           "other_table", "secret")
DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres", "postgres": "postgres", "mysql": "mysql",
            "mariadb": "mysql"}
DENIED_FUNCTIONS = {
    "sqlite": {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "sqlite_compileoption_get"},
    "postgres": {"pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "lo_import", "lo_export",
                 "lo_get", "lo_put", "lo_unlink", "dblink", "dblink_exec", "set_config", "pg_sleep",
                 "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "nextval", "setval",
                 "pg_advisory_lock", "pg_notify", "query_to_xml", "current_setting"},
    "mysql": {"load_file", "sleep", "benchmark", "get_lock", "release_lock", "sys_exec", "sys_eval"},
}
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Merge, exp.Alter, exp.TruncateTable,
           exp.Command, exp.Into, exp.Lock)
_MARK = "__dfref_{}__"


class SqlRefused(DagfluxError):
    """A proposal's SQL was refused before it ran; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class InputRef:
    """One input of the node: the upstream node id and the table it reads."""

    node_id: str
    table: str


def check_select(sql: str, dialect: str, inputs: Iterable[InputRef]) -> None:
    """Refuse ``sql`` (see the module doc) unless it is one read-only SELECT of ``inputs``."""
    inputs = list(inputs)
    read = _dialect(dialect)
    text, marks = _untemplate(sql, inputs)
    statements = _parse(text, read)
    if len(statements) != 1:
        raise SqlRefused("multiple_statements", f"the SQL must be one SELECT statement; it has "
                                                f"{len(statements)} statements")
    tree = statements[0]
    _check_root(tree)
    _check_inside(tree, read)
    _check_tables(tree, read, inputs, marks)


def check_condition(condition: str, dialect: str, inputs: Iterable[InputRef]) -> None:
    """A Branch condition: checked as ``SELECT (<condition>) FROM {{ input }}``."""
    if len(_parse(f"SELECT {_untemplated_for_split(condition)}", _dialect(dialect))) > 1:
        raise SqlRefused("multiple_statements", "a condition is one expression, not statements")
    check_select(f"SELECT ({condition}) FROM {{{{ input }}}}", dialect, inputs)


# --- steps ----------------------------------------------------------------------------------
def _dialect(dialect: str) -> str:
    try:
        return DIALECTS[dialect.lower()]
    except KeyError:
        raise DagfluxError(f"no SQL guard for dialect '{dialect}' (known: {', '.join(sorted(DIALECTS))})") from None


def _template_error(exc: TemplateError) -> SqlRefused:
    return SqlRefused("unparsable", f"the SQL has a malformed reference: {exc}")


def _untemplate(sql: str, inputs: list[InputRef]) -> tuple[str, dict[str, str]]:
    """The SQL with every ``{{ … }}`` replaced by a plain identifier (``marks``: identifier →
    the input table it stands for, or "" for a reference that is not an input)."""
    marks: dict[str, str] = {}

    def resolve(ref: templates.Reference) -> str:
        if ref.kind == "secret":
            raise SqlRefused("secret", f"{ref.text}: a secret may never appear in SQL")
        if ref.kind == "param":
            return "NULL"
        mark = _MARK.format(len(marks))
        marks[mark] = _input_of(ref, inputs)
        return mark

    try:
        return templates.render(sql, resolve), marks
    except TemplateError as exc:
        raise _template_error(exc) from None


def _untemplated_for_split(sql: str) -> str:
    try:
        return templates.render(sql, lambda ref: "NULL" if ref.kind == "param" else "x")
    except TemplateError as exc:
        raise _template_error(exc) from None


def _input_of(ref: templates.Reference, inputs: list[InputRef]) -> str:
    if ref.kind == "input" and len(inputs) == 1:
        return inputs[0].table
    if ref.kind == "input_pos" and 0 < int(ref.arg or 0) <= len(inputs):
        return inputs[int(ref.arg or 0) - 1].table
    if ref.kind == "input_node":
        return next((i.table for i in inputs if i.node_id == ref.arg), "")
    if ref.kind == "table":
        name = (ref.arg or "").strip('"').replace('""', '"')
        return next((i.table for i in inputs if i.table.lower() == name.lower()), "")
    return ""


def _parse(text: str, read: str) -> list[exp.Expression]:
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)      # "falling back to a Command": we refuse those ourselves
    try:
        return [s for s in sqlglot.parse(text, read=read) if s is not None]
    except (ParseError, TokenError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SqlRefused("unparsable", f"the SQL does not parse as {read}: {first}") from None
    finally:
        logger.setLevel(level)


def _check_root(tree: exp.Expression) -> None:
    if isinstance(tree, exp.Pragma):
        raise SqlRefused("pragma", "PRAGMA statements are not allowed in a proposal")
    if isinstance(tree, exp.Attach | exp.Detach):
        raise SqlRefused("attach", "ATTACH and DETACH are not allowed in a proposal")
    if isinstance(tree, exp.Command) and str(tree.this).upper() in ("ATTACH", "DETACH", "VACUUM"):
        raise SqlRefused("attach", f"{str(tree.this).upper()} is not allowed in a proposal")
    if not isinstance(tree, exp.Select | exp.SetOperation):
        what = str(tree.this).upper() if isinstance(tree, exp.Command) else tree.key.upper()
        raise SqlRefused("not_select" if not isinstance(tree, _WRITES) else "writes",
                         f"a proposal must be one SELECT (or WITH … SELECT); this is not a SELECT "
                         f"(it reads as {what}: {_first_words(tree.sql())})")


def _first_words(sql: str, limit: int = 60) -> str:
    one_line = " ".join(sql.split())
    return one_line if len(one_line) <= limit else one_line[:limit] + " …"


def _check_inside(tree: exp.Expression, read: str) -> None:
    for node in tree.walk():
        if isinstance(node, exp.Into):
            raise SqlRefused("writes", "SELECT … INTO writes a table; a proposal only reads")
        if isinstance(node, exp.Lock):
            raise SqlRefused("writes", "SELECT … FOR UPDATE/SHARE locks rows; a proposal only reads")
        if isinstance(node, _WRITES):
            raise SqlRefused("writes", f"the SQL contains a {node.key.upper()} inside its SELECT; "
                                       f"a proposal only reads")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in DENIED_FUNCTIONS[read]:
                raise SqlRefused("function", f"the SQL function {name}() is not allowed in a proposal")
            if read == "sqlite" and name.startswith("pragma_"):
                raise SqlRefused("pragma", f"{name}() reads a PRAGMA; it is not allowed in a proposal")


def _check_tables(tree: exp.Expression, read: str, inputs: list[InputRef], marks: dict[str, str]) -> None:
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    allowed = {i.table.lower() for i in inputs}
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):      # a table-valued function
            name = table.this.name if isinstance(table.this, exp.Anonymous) else table.this.key
            if read == "sqlite" and str(name).lower().startswith("pragma_"):
                raise SqlRefused("pragma", f"{name}() reads a PRAGMA; it is not allowed in a proposal")
            continue            # its arguments are walked (and checked) like any expression
        name = table.name
        if name in marks:
            if not marks[name]:
                raise SqlRefused("other_table", "the SQL names a table that is not one of this node's inputs "
                                                "(use {{ input }}, {{ input.N }} or {{ input.<node id> }})")
            continue
        qualifier = (table.db or "").lower()
        bare_ok = name.lower() in ctes and not qualifier or name.lower() in allowed
        schema_ok = not qualifier or qualifier in ("main", "temp") and read == "sqlite" or any(
            i.table.lower() == f"{qualifier}.{name.lower()}" for i in inputs)
        full = f"{qualifier}.{name}".lower()
        if not (bare_ok and schema_ok) and full not in allowed:
            shown = f"{table.db}.{name}" if table.db else name
            inputs_text = ", ".join(i.table for i in inputs) or "none"
            raise SqlRefused("other_table", f"the SQL reads '{shown}', which is not one of this node's inputs "
                                            f"({inputs_text})")
