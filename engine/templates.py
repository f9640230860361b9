"""The one template grammar for references inside SQL and code.

A reference is ``{{ … }}`` with optional spaces inside the braces:

=============================  =====================================================
``{{ input }}``                the node's only input table (error when it has ≠ 1)
``{{ input.2 }}``              the 2nd input, counting from 1 in edge order
``{{ input.clean_orders }}``   the input that comes from upstream node ``clean_orders``
``{{ table.some_name }}``      any workspace table by its name (e.g. another
                               workflow's ``other_flow__totals``); names with other
                               characters are written quoted: ``{{ table."my table" }}``
``{{ self }}``                 this node's own output table
``{{ param.NAME }}``           a workflow parameter (:mod:`engine.model.parameters`):
                               in SQL a bound value (a placeholder), never text
=============================  =====================================================

Every table reference renders as a correctly quoted identifier, so user SQL never
contains internal table names and is never injectable through a name. A literal
``{{`` is written ``\\{{``. An unknown reference is a :class:`TemplateError`
naming it. ``{{ secret.<connection>.<field> }}`` belongs to the same grammar but is no
table reference: it is allowed only in a credential field of the node's own connection
(a REST request's headers and query values), never in SQL or code — see
:mod:`engine.model.secret_placement`; the table resolvers here refuse it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.errors import TemplateError

_REF_RE = re.compile(r"(\\\{\{)|\{\{\s*(.*?)\s*\}\}", re.S)
_NAME = r'[A-Za-z_][A-Za-z0-9_]*|"(?:[^"]|"")+"'
_FORMS = {
    "input": re.compile(r"^input$"),
    "input_pos": re.compile(r"^input\.([1-9][0-9]*)$"),
    "input_node": re.compile(r"^input\.([a-z][a-z0-9_]*)$"),
    "table": re.compile(rf"^table\.({_NAME})$"),
    "self": re.compile(r"^self$"),
    "secret": re.compile(r"^secret\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$"),
    "param": re.compile(r"^param\.([A-Za-z_][A-Za-z0-9_]*)$"),
}


@dataclass(frozen=True)
class Reference:
    kind: str           # input | input_pos | input_node | table | self | secret | param
    arg: str | None
    field: str | None
    text: str           # the reference as written, for messages
    start: int
    end: int


def parse(text: str) -> list[Reference]:
    """Every reference in ``text``; raises TemplateError for a malformed one."""
    refs = []
    for match in _REF_RE.finditer(text):
        if match.group(1):
            continue
        body = match.group(2)
        refs.append(_parse_body(body, match.group(0), match.start(), match.end()))
    return refs


def _parse_body(body: str, text: str, start: int, end: int) -> Reference:
    for kind, rx in _FORMS.items():
        m = rx.match(body)
        if not m:
            continue
        arg = m.group(1) if m.groups() else None
        field = m.group(2) if kind == "secret" else None
        if kind == "table" and arg and arg.startswith('"'):
            arg = arg[1:-1].replace('""', '"')
        return Reference(kind, arg, field, text, start, end)
    raise TemplateError(
        f"unknown reference {text}: use {{{{ input }}}}, {{{{ input.N }}}}, {{{{ input.<node id> }}}}, "
        f"{{{{ table.<name> }}}}, {{{{ self }}}} or {{{{ param.<name> }}}}")


def render(text: str, resolve: Callable[[Reference], str],
           literal: Callable[[str], str] | None = None) -> str:
    """Replace every reference by ``resolve(ref)``; ``\\{{`` becomes a literal ``{{``.
    ``literal`` (if given) rewrites the text between references, e.g. to escape it."""
    out: list[str] = []
    pos = 0
    keep = literal or (lambda part: part)
    for match in _REF_RE.finditer(text):
        out.append(keep(text[pos:match.start()]))
        if match.group(1):
            out.append(keep("{{"))
        else:
            ref = _parse_body(match.group(2), match.group(0), match.start(), match.end())
            out.append(resolve(ref))
        pos = match.end()
    out.append(keep(text[pos:]))
    return "".join(out)


def table_resolver(inputs: Sequence[tuple[str, str]], self_table: str | None,
                   quote: Callable[[str], str]) -> Callable[[Reference], str]:
    """A resolver for table references.

    ``inputs`` is ``[(upstream node id, table name), …]`` in input order.
    """

    def resolve(ref: Reference) -> str:
        if ref.kind == "input":
            if len(inputs) != 1:
                raise TemplateError(f"{ref.text} is ambiguous: this node has {len(inputs)} inputs; "
                                    f"use {{{{ input.N }}}} or {{{{ input.<node id> }}}}")
            return quote(inputs[0][1])
        if ref.kind == "input_pos":
            n = int(ref.arg or 0)
            if n > len(inputs):
                raise TemplateError(f"{ref.text}: this node has only {len(inputs)} input(s)")
            return quote(inputs[n - 1][1])
        if ref.kind == "input_node":
            for node_id, table in inputs:
                if node_id == ref.arg:
                    return quote(table)
            names = ", ".join(n for n, _ in inputs) or "none"
            raise TemplateError(f"{ref.text}: no input comes from node '{ref.arg}' (inputs: {names})")
        if ref.kind == "table":
            return quote(ref.arg or "")
        if ref.kind == "self":
            if self_table is None:
                raise TemplateError(f"{ref.text} is not available here")
            return quote(self_table)
        if ref.kind == "param":
            raise TemplateError(f"{ref.text}: parameters are bound as values by the SQL renderer only")
        raise TemplateError(f"{ref.text}: secret references are resolved by connectors only")

    return resolve


def check_inputs(text: str, input_ids: Sequence[str]) -> list[str]:
    """Problems with the references in ``text`` given the node's upstream ids (for validation)."""
    problems = []
    try:
        refs = parse(text)
    except TemplateError as exc:
        return [str(exc)]
    for ref in refs:
        if ref.kind == "input" and len(input_ids) != 1:
            problems.append(f"{ref.text} needs exactly one input (the node has {len(input_ids)})")
        elif ref.kind == "input_pos" and int(ref.arg or 0) > len(input_ids):
            problems.append(f"{ref.text}: the node has only {len(input_ids)} input(s)")
        elif ref.kind == "input_node" and ref.arg not in input_ids:
            problems.append(f"{ref.text}: no input comes from node '{ref.arg}'")
    return problems
