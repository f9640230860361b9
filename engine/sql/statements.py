"""Split SQLite SQL text into complete statements.

Guarantees of :func:`split_statements`:

* A statement ends at a semicolon only where :func:`sqlite3.complete_statement`
  (SQLite's own tokenizer) says the text so far is complete, so a ``;`` inside a
  string, a quoted identifier, a comment or a ``CREATE TRIGGER … BEGIN … END``
  body never splits a statement.
* Each statement is returned stripped of surrounding whitespace and **without** its
  terminating semicolon; comments inside or before it are kept as written. A
  statement may therefore end with a ``--`` comment: put a newline after it
  before appending text (e.g. when wrapping it in a sub-query).
* Empty statements — only whitespace, semicolons and comments — are dropped.
* Text after the last complete statement is returned as the last statement when
  it holds code (a final statement without ``;``, or an unterminated one, which
  SQLite then reports with its own syntax error when executed).
"""

from __future__ import annotations

import sqlite3

__all__ = ["split_statements"]


def split_statements(sql: str) -> list[str]:
    """The complete, non-empty statements in ``sql``, in order (see module doc)."""
    statements: list[str] = []
    start = 0
    end = sql.find(";")
    while end != -1:
        if sqlite3.complete_statement(sql[start:end + 1]):
            _keep(statements, sql[start:end])
            start = end + 1
        end = sql.find(";", end + 1)
    _keep(statements, sql[start:])
    return statements


def _keep(statements: list[str], text: str) -> None:
    if _has_code(text):
        statements.append(text.strip())


def _has_code(text: str) -> bool:
    """True when ``text`` holds anything but whitespace, semicolons and comments."""
    pos, size = 0, len(text)
    while pos < size:
        if text.startswith("--", pos):
            newline = text.find("\n", pos)
            pos = size if newline == -1 else newline + 1
        elif text.startswith("/*", pos):
            close = text.find("*/", pos + 2)
            pos = size if close == -1 else close + 2
        elif text[pos].isspace() or text[pos] == ";":
            pos += 1
        else:
            return True
    return False
