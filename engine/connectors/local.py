"""The workspace seen through the connector interface, so nodes treat every location alike.

Reads use the worker's workspace connection; every write is one
:func:`engine.workspace.write_transaction` under the write lease.
"""

from __future__ import annotations

import datetime
import decimal
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from engine import decimals, kept, workspace
from engine.connectors.base import Columns, Connector, ConnectorError, Row
from engine.connectors.bulk_insert import insert_rows
from engine.connectors.sqlite_range import out_of_range
from engine.wal_checkpoint import WalCheckpointer

LOCAL = "workspace"


class WorkspaceConnector(Connector):
    type_name = LOCAL
    label = "Workspace"
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, lease: workspace.WriteLease,
                 keep: tuple[str, str | None] | None = None) -> None:
        """``keep``: (a node's output table, its run) — replacing that table keeps the result
        it replaces (:mod:`engine.kept`); other tables are replaced as they are."""
        super().__init__(LOCAL, "workspace", {})
        self.conn, self.lease, self._keep = conn, lease, keep

    def _set_aside(self, table: str) -> Callable[[sqlite3.Connection], None] | None:
        if self._keep is None or self._keep[0] != table:
            return None
        final, run_id = self._keep
        return lambda conn: kept.set_aside(conn, final, run_id)

    def replace_table_as(self, table: str, select_sql: str) -> None:
        target = self.qualified(table)
        before = self._set_aside(table)
        with workspace.write_transaction(self.conn, self.lease):
            if before is not None:
                before(self.conn)
            self.conn.execute(f"DROP TABLE IF EXISTS {target}")
            self.conn.execute(f"CREATE TABLE {target} AS {select_sql}")

    def quote_ident(self, name: str) -> str:
        return workspace.quote_ident(name)

    def qualified(self, obj: str) -> str:
        return workspace.quote_ident(obj)

    def list_objects(self) -> list[str]:
        return [t["name"] for t in workspace.list_tables(self.conn)]

    def table_exists(self, obj: str) -> bool:
        return workspace.table_exists(self.conn, obj)

    def list_fields(self, obj: str) -> Columns:
        return workspace.columns(self.conn, obj)

    def count(self, obj: str) -> int:
        return workspace.count_rows(self.conn, obj)

    def read_batches(self, sql: str, params: Sequence[Any] = (), batch_size: int = 10_000
                     ) -> Iterator[tuple[list[str], list[Row]]]:
        cursor = self.conn.execute(sql, params if isinstance(params, Mapping) else tuple(params))
        try:
            names = [d[0] for d in cursor.description or ()]
            rows = cursor.fetchmany(batch_size)
            yield names, rows  # at least one batch, so the column names are always known
            while rows := cursor.fetchmany(batch_size):
                yield names, rows
        finally:
            cursor.close()

    def sample(self, obj: str, limit: int = 5) -> tuple[list[str], list[Row]]:
        names, rows = next(self.read_batches(f"SELECT * FROM {self.qualified(obj)} LIMIT ?", (limit,)))
        return names, rows

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with workspace.write_transaction(self.conn, self.lease):
            return self.conn.execute(sql, params if isinstance(params, Mapping) else tuple(params)).rowcount

    def execute_many(self, statements: Sequence[str]) -> None:
        with workspace.write_transaction(self.conn, self.lease):
            for statement in statements:
                self.conn.execute(statement)

    def write(self, table: str, columns: Columns, batches: Iterable[list[Row]], mode: str = "create") -> int:
        """Write into a staging table batch by batch, then swap it in (replace/create)
        or append in one transaction per batch set."""
        if mode == "append":
            if not self.table_exists(table):
                raise ConnectorError(f"the workspace has no table '{table}' to append to")
            return self._insert_all(table, columns, batches)
        if mode == "create" and self.table_exists(table):
            raise ConnectorError(f"the workspace already has a table '{table}'")
        staging = workspace.staging_name(table)
        defs = ", ".join(f"{self.quote_ident(n)} {t or ''}".rstrip() for n, t in columns)
        try:
            with workspace.write_transaction(self.conn, self.lease):
                self.conn.execute(f"CREATE TABLE {self.quote_ident(staging)} ({defs})")
            count = self._insert_all(staging, columns, batches)
            workspace.publish_table(self.conn, self.lease, staging, table, self._set_aside(table))
        except BaseException:
            with workspace.write_transaction(self.conn, self.lease):
                self.conn.execute(f"DROP TABLE IF EXISTS {self.quote_ident(staging)}")
            raise
        return count

    def write_temporary(self, table: str, columns: Columns, batches: Iterable[list[Row]]) -> int:
        """A TEMP table of this worker's workspace connection (gone with the connection)."""
        target = f"temp.{self.quote_ident(table)}"
        defs = ", ".join(f"{self.quote_ident(n)} {t or ''}".rstrip() for n, t in columns)
        with workspace.write_transaction(self.conn, self.lease):
            self.conn.execute(f"DROP TABLE IF EXISTS {target}")
            self.conn.execute(f"CREATE TABLE {target} ({defs})")
        return self._insert_all(table, columns, batches)

    def drop_temporary(self, table: str) -> None:
        with workspace.write_transaction(self.conn, self.lease):
            self.conn.execute(f"DROP TABLE IF EXISTS temp.{self.quote_ident(table)}")

    def _insert_all(self, table: str, columns: Columns, batches: Iterable[list[Row]]) -> int:
        names = ", ".join(self.quote_ident(n) for n, _ in columns)
        head = f"INSERT INTO {self.quote_ident(table)} ({names}) VALUES"
        count, convert = 0, None
        # A long write's WAL is checkpointed by a helper thread, not inside each COMMIT
        # (engine.wal_checkpoint): one or two batches keep SQLite's own auto-checkpoint.
        with WalCheckpointer(self.conn) as wal:
            for batch in batches:
                if not batch:
                    continue
                if convert is None:
                    convert = storable_converters(batch)
                rows = batch if not any(convert) else [_convert_row(r, convert) for r in batch]
                try:
                    with wal.transaction(self.lease):
                        insert_rows(self.conn, head, len(columns), rows)
                except OverflowError:
                    raise out_of_range(f"workspace table \"{table}\"", [n for n, _ in columns], rows) or \
                        ConnectorError(f"workspace table \"{table}\": a value is too large to store") from None
                count += len(batch)
        return count


def storable_converters(batch: list[Row]) -> list[Any]:
    """Per column, None when sqlite3 stores the driver's values as they are, else a function.

    Databases hand back Decimal, date/time, UUID, JSON documents …; SQLite stores
    numbers, text and bytes (a Decimal as :func:`engine.decimals.storable` says: never
    rounded). Decided once from the first batch, applied per value.
    """
    width = len(batch[0])
    out: list[Any] = [None] * width
    for i in range(width):
        for row in batch:
            value = row[i]
            if value is None:
                continue
            if not isinstance(value, (int, float, str, bytes)):
                out[i] = _to_storable
            break
    return out


def _to_storable(value: Any) -> Any:
    if value is None or isinstance(value, (int, float, str, bytes)):
        return value
    if isinstance(value, decimal.Decimal):      # every digit kept: an int, an exact float or text
        return decimals.storable(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return str(value)


def _convert_row(row: Row, convert: list[Any]) -> Row:
    return tuple(v if f is None else f(v) for v, f in zip(row, convert))
