"""One page of a result table for the output viewer: ``tables.page`` (a worker operation).

Rows ``offset`` … ``offset + limit`` of a workspace table or of a connection's table, with
the total. Optionally sorted by one column (``order_by``, ``descending``; a name the table
does not have is an error naming the columns it has) and, for workspace tables, filtered to
the rows where any column's text contains ``search`` (case-insensitive, ``%`` and ``_``
taken literally); the total is then the filtered count. Connections are sorted in their
own SQL; filtering a connection's table is refused with a clear error (its drivers differ
in how they bind and cast text).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from engine import workspace
from engine.errors import DagfluxError

PAGE_MAX = 1000


def _bounded(value: Any, low: int, high: int, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DagfluxError(f"{what} must be a whole number, not {value!r}") from None
    return max(low, min(high, number))


def _order(columns: Sequence[tuple[str, str]], order_by: str | None, descending: bool,
           quote: Callable[[str], str], where: str) -> str:
    if not order_by:
        return ""
    names = [name for name, _ in columns]
    if order_by not in names:
        raise DagfluxError(f"{where} has no column '{order_by}' to sort by (it has: {', '.join(names)})")
    return f" ORDER BY {quote(order_by)} {'DESC' if descending else 'ASC'}"


def page(state: Any, table: str, connection: str | None = None, offset: int = 0, limit: int = 100,
         order_by: str | None = None, descending: bool = False, search: str | None = None) -> dict[str, Any]:
    from engine.workers.preview_ops import table_reply

    offset = _bounded(offset, 0, 2**62, "offset")
    limit = _bounded(limit, 0, PAGE_MAX, "limit")
    if connection:
        return _page_connection(state, table, connection, offset, limit, order_by, bool(descending), search)
    conn = _workspace(state)
    if not table or not workspace.table_exists(conn, table):
        raise DagfluxError(f"the workspace has no table '{table}'")
    columns = workspace.columns(conn, table)
    where, params = "", []
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where = " WHERE " + " OR ".join(f"CAST({workspace.quote_ident(name)} AS TEXT) LIKE ? ESCAPE '\\'"
                                        for name, _ in columns)
        params = [pattern] * len(columns)
    source = f"{workspace.quote_ident(table)}{where}"
    order = _order(columns, order_by, bool(descending), workspace.quote_ident, f"workspace table '{table}'")
    rows = conn.execute(f"SELECT * FROM {source}{order} LIMIT ? OFFSET ?", (*params, limit, offset)).fetchall()
    total = int(conn.execute(f"SELECT count(*) FROM {source}", params).fetchone()[0])
    return table_reply(columns, rows, f"workspace table '{table}'", total)


def _page_connection(state: Any, table: str, connection: str, offset: int, limit: int, order_by: str | None,
                     descending: bool, search: str | None) -> dict[str, Any]:
    from engine.workers.preview_ops import table_reply

    connector = state.runtime.connector(connection)
    if not connector.relational:
        raise DagfluxError(f"connection '{connector.name}' is a REST API: it has no tables to show")
    if not table or not connector.table_exists(table):
        raise DagfluxError(f"connection '{connector.name}' has no table '{table}'")
    where = f"table '{table}' in connection '{connector.name}'"
    if search:
        raise DagfluxError(f"filtering rows by text works on workspace tables; {where} can be sorted only")
    columns = connector.list_fields(table)
    order = _order(columns, order_by, descending, connector.quote_ident, where)
    rows: list[Any] = []
    if limit:
        batches = connector.read_batches(f"SELECT * FROM {connector.qualified(table)}{order} "
                                         f"LIMIT {limit} OFFSET {offset}", (), limit)
        try:
            _, rows = next(batches)
        finally:
            batches.close()
    return table_reply(columns, rows, where, connector.count(table))


def _workspace(state: Any) -> sqlite3.Connection:
    if state.conn is None:
        raise DagfluxError(state.setup_error or "this worker has no workspace connection")
    return state.conn
