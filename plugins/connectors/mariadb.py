"""MariaDB / MySQL connector (PyMySQL, pure Python).

Guarantees:

* **One pooled connection per instance**, opened on first use (5 s to connect and to
  complete the handshake), closed by :meth:`MariaDBConnector.close`; a lost
  connection, or one idle for a minute that no longer answers, is replaced on the
  next call. The session runs in autocommit mode
  with ``STRICT_ALL_TABLES`` added to its ``sql_mode``, so a bad value is an error,
  never a silently truncated one.
* **Only the password is secret** here (host and user are plain settings). Every
  driver error becomes a :class:`ConnectorError` naming the connection and the
  cause; server text passed on has the password replaced by ``***``, and the
  driver exception is not chained.
* **Plain values.** Rows hold only ``int``, ``float``, ``str``, ``bytes`` and ``None``:
  DECIMAL keeps every digit (:func:`engine.decimals.from_text`: an int, a float that spells
  it exactly, or its exact text, each marked as a decimal so a pull declares the column
  ``DECIMAL BLOB``); DATE, DATETIME, TIMESTAMP and TIME come back as the server's text.
* **Streaming reads.** :meth:`read_batches` uses an unbuffered ``SSCursor``, so memory
  holds one batch; it yields at least one (possibly empty) batch. Leaving a read
  early drops the connection (cheaper than draining the rest of the stream).
* **Writes leave the destination as it was on failure.** DDL commits implicitly in
  MariaDB, so ``create``/``replace`` (and ``append`` to a missing table) load a
  uniquely named staging table in one transaction and then swap it in with one
  atomic ``RENAME TABLE``; the staging table is dropped if anything fails.
  ``append`` to an existing table inserts in one transaction (transactional
  engines such as InnoDB only). :meth:`execute_many` is all-or-nothing for DML.
* Object names are tables and views of the configured database; ``db.table``
  reaches another database on the same server.
"""

from __future__ import annotations

import functools
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import pymysql
import pymysql.cursors
from pymysql import converters
from pymysql.constants import FIELD_TYPE

from engine import decimals
from engine.connectors.base import (
    WRITE_MODES,
    Columns,
    Connector,
    ConnectorError,
    FieldSpec,
    Row,
    split_qualified,
)
from engine.retry import reason_transient

from .mariadb_parts import _code_and_message, _object_name, _Stream, bit_value, mariadb_type

CONNECT_TIMEOUT = 5
IDLE_CHECK_S = 60.0                             # a pooled connection idle this long is pinged before use
STAGING_PREFIX = "_dfstage_"
RETIRED_PREFIX = "_dfold_"
_HIDDEN = "***"
# Decimals keep every digit; dates and times come back as the server's text; BIT(n) an integer.
_CONVERSIONS = {**converters.conversions, FIELD_TYPE.DECIMAL: decimals.from_text,
                FIELD_TYPE.NEWDECIMAL: decimals.from_text, **dict.fromkeys(
    (FIELD_TYPE.DATE, FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP, FIELD_TYPE.TIME), converters.through),
    FIELD_TYPE.BIT: bit_value}
_STRICT = "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES')"
_DRIVER_ERRORS = (pymysql.err.MySQLError,)

F = TypeVar("F", bound=Callable[..., Any])


def _translated(method: F) -> F:
    """Turn PyMySQL errors raised by ``method`` into ConnectorErrors (not chained)."""

    @functools.wraps(method)
    def wrapper(self: MariaDBConnector, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except _DRIVER_ERRORS as exc:
            error = self._error(exc)
        raise error from None                   # outside the except: no driver error as __context__

    return wrapper  # type: ignore[return-value]


class MariaDBConnector(Connector):
    type_name = "mariadb"
    label = "MariaDB / MySQL"
    dialect = "mysql"
    fields = (
        FieldSpec("host", "Host"),
        FieldSpec("port", "Port", kind="int", default=3306),
        FieldSpec("database", "Database"),
        FieldSpec("user", "User"),
        FieldSpec("password", "Password", secret=True, required=False,
                  help="Leave empty for an account without a password"),
    )
    connect_timeout: float = CONNECT_TIMEOUT    # seconds, for the TCP connect and for the handshake

    def __init__(self, connection_id: str, name: str, settings: Any) -> None:
        super().__init__(connection_id, name, settings)
        self._connection: pymysql.connections.Connection | None = None
        self._reading = False
        self._last_used = 0.0

    # --- lifecycle ------------------------------------------------------------------
    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and connection.open:
            try:
                connection.close()
            except _DRIVER_ERRORS:              # the server is gone already; the socket is closed anyway
                pass

    def _conn(self) -> pymysql.connections.Connection:
        if self._reading:
            raise ConnectorError(f"connection '{self.name}': a read is still in progress on this connection; "
                                 "finish it before running anything else")
        if self._connection is not None and not self._usable(self._connection):
            self.close()
        if self._connection is None:
            self._connection = self._connect()
        self._last_used = time.monotonic()
        return self._connection

    def _usable(self, connection: pymysql.connections.Connection) -> bool:
        """False for a closed connection, or an idle one the server has dropped (wait_timeout)."""
        if not connection.open:
            return False
        if time.monotonic() - self._last_used < IDLE_CHECK_S:
            return True
        try:
            connection.ping(reconnect=False)
        except _DRIVER_ERRORS:                  # dropped (idle timeout, server restart): reconnect instead
            return False
        return True

    def _connect(self) -> pymysql.connections.Connection:
        settings = self.settings
        try:
            connection = pymysql.connect(
                host=settings.get("host") or "localhost", port=int(settings.get("port") or 3306),
                user=settings.get("user") or None, password=settings.get("password") or "",
                database=settings.get("database") or None, charset="utf8mb4", autocommit=True,
                connect_timeout=self.connect_timeout, read_timeout=self.connect_timeout, init_command=_STRICT,
                conv=_CONVERSIONS, program_name="DagFlux")
        except _DRIVER_ERRORS as exc:
            reason = self._connect_reason(exc)
            error = ConnectorError(f"connection '{self.name}': {reason}", transient=reason_transient(reason))
        else:
            # PyMySQL has no handshake timeout of its own: read_timeout bounded the handshake
            # above, and is lifted now so long queries are not cut off.
            connection._read_timeout = None
            return connection
        raise error from None

    # --- operations ----------------------------------------------------------------
    @_translated
    def test(self) -> str:
        version = str(self._fetch("SELECT VERSION()")[0][0])
        product = "MariaDB" if "mariadb" in version.lower() else "MySQL"
        return f"{product} {version.split('-')[0]}, database {self.settings.get('database')}"

    @_translated
    def list_objects(self) -> list[str]:
        rows = self._fetch("SELECT table_name FROM information_schema.tables "
                           "WHERE table_schema = DATABASE() ORDER BY table_name")
        return [_object_name(name) for (name,) in rows]

    @_translated
    def list_fields(self, obj: str) -> Columns:
        schema, table = self._split(obj)
        rows = self._fetch("SELECT column_name, column_type FROM information_schema.columns "
                           "WHERE table_schema = COALESCE(%s, DATABASE()) AND table_name = %s "
                           "ORDER BY ordinal_position", (schema, table))
        if not rows:
            raise self._missing(obj)
        return [(str(name), str(type_)) for name, type_ in rows]

    @_translated
    def sample(self, obj: str, limit: int = 5) -> tuple[list[str], list[Row]]:
        with self._conn().cursor() as cursor:
            cursor.execute(f"SELECT * FROM {self.qualified(obj)} LIMIT {int(limit)}")
            return [d[0] for d in cursor.description or ()], list(cursor.fetchall())

    def read_batches(self, sql: str, params: Sequence[Any] = (), batch_size: int = 10_000
                     ) -> Iterator[tuple[list[str], list[Row]]]:
        cursor = self._conn().cursor(pymysql.cursors.SSCursor)
        self._reading = True
        stream = _Stream(cursor, batch_size)
        try:
            yield from stream.batches(sql, params)
        except _DRIVER_ERRORS as exc:
            error = self._error(exc)
        else:
            return
        finally:
            self._reading = False
            if stream.exhausted:
                cursor.close()
            else:                               # left early (or failed): do not drain the rest
                self._abandon(cursor)
        raise error from None

    def _abandon(self, cursor: pymysql.cursors.SSCursor) -> None:
        """Drop the connection under an unfinished unbuffered result without reading it.

        PyMySQL's cursor and result would otherwise read every remaining row when
        closed or collected; marking the result finished (private attributes of
        PyMySQL 1.x/2.x) lets the socket simply be closed instead.
        """
        connection = self._connection
        result = getattr(connection, "_result", None)
        if result is not None:
            result.unbuffered_active = False
            connection._result = None           # type: ignore[union-attr]
        self.close()
        cursor.close()

    @_translated
    def write(self, table: str, columns: Columns, batches: Iterable[list[Row]], mode: str = "create") -> int:
        self._check_write(table, columns, mode)
        exists = self._exists(table)
        if exists and mode == "create":
            raise ConnectorError(f"connection '{self.name}': table \"{table}\" already exists "
                                 "(write with mode replace or append)")
        if exists and mode == "append":
            return self._insert_in_transaction(self.qualified(table), columns, batches)
        return self._write_staged(table, columns, batches, replace=exists)

    def _write_staged(self, table: str, columns: Columns, batches: Iterable[list[Row]], replace: bool) -> int:
        parts = split_qualified(table)
        staging = self._sibling(parts, STAGING_PREFIX)
        self._execute(f"CREATE TABLE {staging} ({self._column_sql(columns)})")
        try:
            count = self._insert_in_transaction(staging, columns, batches)
            self._swap_in(staging, self.qualified(table), self._sibling(parts, RETIRED_PREFIX) if replace else None)
        except BaseException:                   # any failure, even KeyboardInterrupt: clean up, re-raise
            self._drop_quietly(staging)
            raise
        return count

    @_translated
    def write_temporary(self, table: str, columns: Columns, batches: Iterable[list[Row]]) -> int:
        self._check_write(table, columns, "replace")
        target = self.quote_ident(table)
        self._execute(f"DROP TEMPORARY TABLE IF EXISTS {target}")
        self._execute(f"CREATE TEMPORARY TABLE {target} ({self._column_sql(columns)})")
        return self._insert_in_transaction(target, columns, batches)

    @_translated
    def drop_temporary(self, table: str) -> None:
        self._execute(f"DROP TEMPORARY TABLE IF EXISTS {self.quote_ident(table)}")

    @_translated
    def replace_table_as(self, table: str, select_sql: str) -> None:
        """DDL commits implicitly here: build the result in a staging table, then swap it in
        with one atomic RENAME (see the module doc); the staging table goes if anything fails."""
        parts = split_qualified(table)
        staging = self._sibling(parts, STAGING_PREFIX)
        exists = self._exists(table)
        try:
            self._execute(f"CREATE TABLE {staging} AS {select_sql}")
            self._swap_in(staging, self.qualified(table), self._sibling(parts, RETIRED_PREFIX) if exists else None)
        except BaseException:
            self._drop_quietly(staging)
            raise

    def _swap_in(self, staging: str, target: str, retired: str | None) -> None:
        if retired is None:
            self._execute(f"RENAME TABLE {staging} TO {target}")
            return
        # One RENAME TABLE with two renames is atomic: readers see the old or the new table.
        self._execute(f"RENAME TABLE {target} TO {retired}, {staging} TO {target}")
        self._drop_quietly(retired)             # the new table is in place: the write succeeded

    def _insert_in_transaction(self, target: str, columns: Columns, batches: Iterable[list[Row]]) -> int:
        names = ", ".join(self.quote_ident(name) for name, _ in columns)
        # PyMySQL %-formats the statement: a % inside an identifier must be doubled.
        statement = (f"INSERT INTO {target} ({names})".replace("%", "%%")
                     + f" VALUES ({', '.join(['%s'] * len(columns))})")
        connection = self._conn()
        connection.begin()
        try:
            count = 0
            with connection.cursor() as cursor:
                for batch in batches:
                    if batch:
                        cursor.executemany(statement, batch)
                        count += len(batch)
            connection.commit()
        except BaseException:                   # any failure: undo, then re-raise it unchanged
            self._rollback_quietly(connection)
            raise
        return count

    def _column_sql(self, columns: Columns) -> str:
        return ", ".join(f"{self.quote_ident(name)} {mariadb_type(declared)}" for name, declared in columns)

    def _check_write(self, table: str, columns: Columns, mode: str) -> None:
        if mode not in WRITE_MODES:
            raise ConnectorError(f"connection '{self.name}': unknown write mode {mode!r} "
                                 f"(use {', '.join(WRITE_MODES)})")
        if not columns:
            raise ConnectorError(f"connection '{self.name}': writing \"{table}\" needs at least one column")

    @_translated
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        connection = self._conn()
        connection.begin()
        try:
            with connection.cursor() as cursor:
                count = cursor.execute(sql, tuple(params) if params else None)
            connection.commit()
        except BaseException:                   # any failure: undo, then re-raise it unchanged
            self._rollback_quietly(connection)
            raise
        return int(count) if count is not None else -1

    @_translated
    def execute_many(self, statements: Sequence[str]) -> None:
        connection = self._conn()
        connection.begin()
        try:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
            connection.commit()
        except BaseException:                   # any failure: undo, then re-raise it unchanged
            self._rollback_quietly(connection)
            raise

    def quote_ident(self, name: str) -> str:
        if "\x00" in name:
            raise ConnectorError(f"connection '{self.name}': an identifier cannot contain a NUL byte: {name!r}")
        return "`" + name.replace("`", "``") + "`"

    @_translated
    def table_exists(self, obj: str) -> bool:
        return self._exists(obj)

    # --- helpers --------------------------------------------------------------------
    def _fetch(self, sql: str, params: Sequence[Any] | None = None) -> list[Row]:
        with self._conn().cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def _execute(self, sql: str) -> None:
        with self._conn().cursor() as cursor:
            cursor.execute(sql)

    def _exists(self, obj: str) -> bool:
        schema, table = self._split(obj)
        return bool(self._fetch("SELECT 1 FROM information_schema.tables "
                                "WHERE table_schema = COALESCE(%s, DATABASE()) AND table_name = %s",
                                (schema, table)))

    @staticmethod
    def _split(obj: str) -> tuple[str | None, str]:
        parts = split_qualified(obj)
        return (parts[-2] if len(parts) > 1 else None), parts[-1]

    def _sibling(self, parts: list[str], prefix: str) -> str:
        """A fresh, unique table name in the same database as ``parts``."""
        return ".".join(self.quote_ident(p) for p in [*parts[:-1], f"{prefix}{secrets.token_hex(6)}"])

    def _drop_quietly(self, table: str) -> None:
        try:
            self._execute(f"DROP TABLE IF EXISTS {table}")
        except (ConnectorError, *_DRIVER_ERRORS):   # the original failure is the one to report
            pass

    @staticmethod
    def _rollback_quietly(connection: pymysql.connections.Connection) -> None:
        try:
            connection.rollback()
        except _DRIVER_ERRORS:                  # a lost connection rolls back on the server anyway
            pass

    def _missing(self, obj: str) -> ConnectorError:
        return ConnectorError(f"connection '{self.name}': table \"{obj}\" does not exist")

    def _error(self, exc: pymysql.err.MySQLError) -> ConnectorError:
        reason = self._describe(exc)
        return ConnectorError(f"connection '{self.name}': {reason}", transient=reason_transient(reason))

    def _describe(self, exc: pymysql.err.MySQLError) -> str:
        code, message = _code_and_message(exc)
        if code == 1146:                        # "Table 'db.x' doesn't exist"
            table = re.search(r"'(?:[^'.]*\.)?(.*)' doesn't exist", message)
            return f"table \"{table.group(1) if table else '?'}\" does not exist"
        if code in (2006, 2013, 2055) or (code == 0 and not message):
            return "lost the connection to the server"
        return self._scrub(message or type(exc).__name__)

    def _connect_reason(self, exc: pymysql.err.MySQLError) -> str:
        code, message = _code_and_message(exc)
        low = message.lower()
        if code in (1045, 1698):
            return "authentication failed for the configured user"
        if code == 1049:
            return f"database \"{self.settings.get('database')}\" does not exist"
        if code == 1044:
            return f"the configured user may not use database \"{self.settings.get('database')}\""
        if code in (1040, 1203):
            return "the server has no free connection slots"
        for needles, reason in _CONNECT_REASONS:
            if any(n in low for n in needles):
                return reason.format(timeout=self.connect_timeout)
        return f"cannot connect ({self._scrub(message or type(exc).__name__)})"

    def _scrub(self, text: str) -> str:
        password = str(self.settings.get("password") or "")
        return text.replace(password, _HIDDEN) if password else text


_CONNECT_REASONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("connection refused",), "cannot reach the server (connection refused)"),
    (("timed out", "timeout"), "cannot reach the server (no answer within {timeout} s)"),
    (("name or service not known", "temporary failure in name resolution", "nodename nor servname",
      "getaddrinfo"), "cannot resolve the configured host name"),
    (("no route to host", "network is unreachable"), "cannot reach the server (no route to host)"),
    (("lost connection", "connection reset"), "the server closed the connection during the handshake"),
)
