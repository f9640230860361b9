"""PostgreSQL connector (psycopg 3).

Guarantees:

* **One pooled connection per instance**, opened on first use (``connect_timeout``
  5 s), closed by :meth:`PostgresConnector.close`; a broken connection, or one idle
  for a minute that no longer answers, is replaced on the next call. Credentials go
  to psycopg as keyword arguments, never inside a DSN string built here.
* **Secrets stay out of messages.** Host, user and password are secret fields for
  PostgreSQL. Every driver error becomes a :class:`ConnectorError` that names the
  connection (``connection 'sales db': …``) and the cause in our own words; any
  server text that is passed on has those values replaced by ``***``. The driver
  exception is not chained (it carries the connection parameters).
* **Plain values.** Rows hold only ``int``, ``float``, ``bool``, ``str``, ``bytes`` and
  ``None``: ``numeric`` becomes what :mod:`engine.decimals` stores it as — an ``int``, a
  ``float`` that spells it exactly (≤ 15 significant digits), or its exact text —
  marked (``DecimalInt``/``DecimalFloat``/``DecimalText``, subclasses of those types) so a
  pull declares the column a decimal; every other type (dates, json, uuid, arrays …)
  PostgreSQL's text for it, so rows can go straight into SQLite or msgpack. Booleans are written as 1/0, which boolean,
  integer and text columns all accept.
* **Streaming reads.** :meth:`read_batches` uses a server-side cursor and
  ``fetchmany``, so memory holds one batch; it yields at least one (possibly empty)
  batch, so callers always learn the column names.
* **Transactional writes.** :meth:`write` loads rows with ``COPY … FROM STDIN`` in one
  transaction. ``replace`` builds a staging table and swaps it in (drop + rename) in
  that same transaction; ``append`` creates the table when it is missing. On any
  failure — bad value, constraint, a source that fails mid-stream — the destination
  is exactly as it was.
* Object names are ``table`` for the ``public`` schema and ``schema.table`` otherwise;
  a part containing ``.`` or ``"`` is double-quoted (the grammar of
  :func:`engine.connectors.base.split_qualified`).
"""

from __future__ import annotations

import functools
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg

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

from .postgresql_parts import _BoolAsDigit, _load_as_text, _object_name, postgres_type

CONNECT_TIMEOUT = 5
IDLE_CHECK_S = 60.0                             # a pooled connection idle this long is checked before use
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
STAGING_PREFIX = "_dfstage_"
_HIDDEN = "***"
F = TypeVar("F", bound=Callable[..., Any])


def _translated(method: F) -> F:
    """Turn psycopg errors raised by ``method`` into ConnectorErrors (not chained)."""

    @functools.wraps(method)
    def wrapper(self: PostgresConnector, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except psycopg.Error as exc:
            error = self._error(exc)
        # Raised outside the except block so the driver error (which holds the
        # connection parameters) is not even attached as __context__.
        raise error from None

    return wrapper  # type: ignore[return-value]


class PostgresConnector(Connector):
    type_name = "postgresql"
    label = "PostgreSQL"
    dialect = "postgresql"
    fields = (
        FieldSpec("host", "Host", secret=True, help="Server name or address (kept in the keychain)"),
        FieldSpec("port", "Port", kind="int", default=5432),
        FieldSpec("database", "Database"),
        FieldSpec("user", "User", secret=True),
        FieldSpec("password", "Password", secret=True, required=False,
                  help="Leave empty for trust, peer or certificate authentication"),
        FieldSpec("sslmode", "SSL mode", required=False, default="prefer", kind="choice", choices=SSL_MODES),
    )
    connect_timeout: int = CONNECT_TIMEOUT      # seconds (libpq counts at least 2)

    def __init__(self, connection_id: str, name: str, settings: Any) -> None:
        super().__init__(connection_id, name, settings)
        self._connection: psycopg.Connection[Any] | None = None
        self._reading = False
        self._last_used = 0.0

    # --- lifecycle ------------------------------------------------------------------
    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _conn(self) -> psycopg.Connection[Any]:
        if self._reading:
            raise ConnectorError(f"connection '{self.name}': a read is still in progress on this connection; "
                                 "finish it before running anything else")
        if self._connection is not None and not self._usable(self._connection):
            self.close()
        if self._connection is None:
            self._connection = self._connect()
        self._last_used = time.monotonic()
        return self._connection

    def _usable(self, connection: psycopg.Connection[Any]) -> bool:
        """False for a closed or broken connection, or an idle one the server has dropped."""
        if connection.closed or connection.broken:
            return False
        if time.monotonic() - self._last_used < IDLE_CHECK_S:
            return True
        try:
            connection.execute("SELECT 1")
        except psycopg.Error:                   # dropped (idle timeout, server restart): reconnect instead
            return False
        return True

    def _connect(self) -> psycopg.Connection[Any]:
        settings = self.settings
        try:
            connection = psycopg.connect(
                host=settings.get("host") or None, port=int(settings.get("port") or 5432),
                dbname=settings.get("database") or None, user=settings.get("user") or None,
                password=settings.get("password") or None, sslmode=settings.get("sslmode") or "prefer",
                connect_timeout=self.connect_timeout, application_name="DagFlux", autocommit=True)
        except psycopg.Error as exc:
            reason = self._connect_reason(exc)
            error = ConnectorError(f"connection '{self.name}': {reason}", transient=reason_transient(reason))
        else:
            _load_as_text(connection)
            return connection
        raise error from None

    # --- operations ----------------------------------------------------------------
    @_translated
    def test(self) -> str:
        connection = self._conn()
        connection.execute("SELECT 1")
        version = connection.info.server_version
        major, minor = (version // 10000, version % 10000) if version >= 100000 else (version // 100, version % 100)
        return f"PostgreSQL {major}.{minor}, database {self.settings.get('database')}"

    @_translated
    def list_objects(self) -> list[str]:
        rows = self._conn().execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition "
            "AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' "
            "ORDER BY n.nspname <> 'public', n.nspname, c.relname").fetchall()
        return [_object_name(table) if schema == "public" else _object_name(schema, table)
                for schema, table in rows]

    @_translated
    def list_fields(self, obj: str) -> Columns:
        connection = self._conn()
        if not self._exists(connection, obj):
            raise self._missing(obj)
        rows = connection.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum", (self.qualified(obj),)).fetchall()
        return [(name, type_) for name, type_ in rows]

    @_translated
    def sample(self, obj: str, limit: int = 5) -> tuple[list[str], list[Row]]:
        with self._conn().cursor() as cursor:
            cursor.execute(f"SELECT * FROM {self.qualified(obj)} LIMIT {int(limit)}")
            return [d.name for d in cursor.description or ()], cursor.fetchall()

    def read_batches(self, sql: str, params: Sequence[Any] = (), batch_size: int = 10_000
                     ) -> Iterator[tuple[list[str], list[Row]]]:
        connection = self._conn()
        self._reading = True
        try:
            yield from self._stream(connection, sql, params, batch_size)
        except psycopg.Error as exc:
            error = self._error(exc)
        else:
            return
        finally:
            self._reading = False
        raise error from None

    def _stream(self, connection: psycopg.Connection[Any], sql: str, params: Sequence[Any],
                batch_size: int) -> Iterator[tuple[list[str], list[Row]]]:
        # A named (server-side) cursor lives in a transaction; leaving early rolls it back.
        with connection.transaction(), connection.cursor(name=f"dagflux_{secrets.token_hex(6)}") as cursor:
            cursor.execute(sql, params or None)
            names = [d.name for d in cursor.description or ()]
            rows = cursor.fetchmany(batch_size)
            yield names, rows
            while len(rows) == batch_size:
                rows = cursor.fetchmany(batch_size)
                if rows:
                    yield names, rows

    @_translated
    def write(self, table: str, columns: Columns, batches: Iterable[list[Row]], mode: str = "create") -> int:
        self._check_write(table, columns, mode)
        connection = self._conn()
        with connection.transaction():
            exists = self._exists(connection, table)
            if exists and mode == "create":
                raise ConnectorError(f"connection '{self.name}': table \"{table}\" already exists "
                                     "(write with mode replace or append)")
            if exists and mode == "append":
                return self._copy(connection, self.qualified(table), columns, batches)
            if exists:                          # replace: load a staging table, then swap it in
                return self._replace(connection, table, columns, batches)
            connection.execute(self._create_sql(self.qualified(table), columns))
            return self._copy(connection, self.qualified(table), columns, batches)

    @_translated
    def write_temporary(self, table: str, columns: Columns, batches: Iterable[list[Row]]) -> int:
        self._check_write(table, columns, "replace")
        target = f"pg_temp.{self.quote_ident(table)}"    # pg_temp: this session's own schema
        connection = self._conn()
        with connection.transaction():
            connection.execute(f"DROP TABLE IF EXISTS {target}")
            connection.execute(self._create_sql(target, columns))
            return self._copy(connection, target, columns, batches)

    @_translated
    def drop_temporary(self, table: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS pg_temp.{self.quote_ident(table)}")

    def _replace(self, connection: psycopg.Connection[Any], table: str, columns: Columns,
                 batches: Iterable[list[Row]]) -> int:
        parts = split_qualified(table)
        staging = [*parts[:-1], f"{STAGING_PREFIX}{secrets.token_hex(6)}"]
        staging_sql = ".".join(self.quote_ident(p) for p in staging)
        connection.execute(self._create_sql(staging_sql, columns))
        count = self._copy(connection, staging_sql, columns, batches)
        connection.execute(f"DROP TABLE {self.qualified(table)}")
        connection.execute(f"ALTER TABLE {staging_sql} RENAME TO {self.quote_ident(parts[-1])}")
        return count

    def _copy(self, connection: psycopg.Connection[Any], target: str, columns: Columns,
              batches: Iterable[list[Row]]) -> int:
        names = ", ".join(self.quote_ident(name) for name, _ in columns)
        with connection.cursor() as cursor:
            cursor.adapters.register_dumper(bool, _BoolAsDigit)
            return self._copy_rows(cursor, f"COPY {target} ({names}) FROM STDIN", batches)

    @staticmethod
    def _copy_rows(cursor: psycopg.Cursor[Any], statement: str, batches: Iterable[list[Row]]) -> int:
        count = 0
        with cursor.copy(statement) as copy:
            for batch in batches:
                for row in batch:
                    copy.write_row(row)
                count += len(batch)
        return count

    def _create_sql(self, target: str, columns: Columns) -> str:
        body = ", ".join(f"{self.quote_ident(name)} {postgres_type(declared)}" for name, declared in columns)
        return f"CREATE TABLE {target} ({body})"

    def _check_write(self, table: str, columns: Columns, mode: str) -> None:
        if mode not in WRITE_MODES:
            raise ConnectorError(f"connection '{self.name}': unknown write mode {mode!r} "
                                 f"(use {', '.join(WRITE_MODES)})")
        if not columns:
            raise ConnectorError(f"connection '{self.name}': writing \"{table}\" needs at least one column")

    @_translated
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        connection = self._conn()
        with connection.transaction():
            # No params → no placeholder parsing, so a literal % needs no doubling.
            return connection.execute(sql, params or None).rowcount

    @_translated
    def execute_many(self, statements: Sequence[str]) -> None:
        connection = self._conn()
        with connection.transaction():
            for statement in statements:
                connection.execute(statement)

    def quote_ident(self, name: str) -> str:
        if "\x00" in name:
            raise ConnectorError(f"connection '{self.name}': an identifier cannot contain a NUL byte: {name!r}")
        return '"' + name.replace('"', '""') + '"'

    @_translated
    def table_exists(self, obj: str) -> bool:
        return self._exists(self._conn(), obj)

    # --- helpers --------------------------------------------------------------------
    def _exists(self, connection: psycopg.Connection[Any], obj: str) -> bool:
        row = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (self.qualified(obj),)).fetchone()
        return bool(row and row[0])

    def _missing(self, obj: str) -> ConnectorError:
        return ConnectorError(f"connection '{self.name}': table \"{obj}\" does not exist")

    def _error(self, exc: psycopg.Error) -> ConnectorError:
        reason = self._describe(exc)
        return ConnectorError(f"connection '{self.name}': {reason}", transient=reason_transient(reason))

    def _describe(self, exc: psycopg.Error) -> str:
        primary = exc.diag.message_primary if exc.diag is not None else None
        if primary:                             # the server explained it (SQL error, constraint …)
            return self._scrub(re.sub(r'^relation "', 'table "', primary))
        if isinstance(exc, psycopg.OperationalError):
            return "lost the connection to the server"
        return self._scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)

    def _connect_reason(self, exc: psycopg.Error) -> str:
        """Why a connection attempt failed, in words that hold no secret value."""
        # Keep only libpq's reason after "connection to server at "HOST" (IP), port N failed:".
        text = _IP_ADDRESS.sub(_HIDDEN, self._scrub(str(exc).rsplit("failed:", 1)[-1]))
        low = text.lower()
        if 'database "' in low and "does not exist" in low:
            return f"database \"{self.settings.get('database')}\" does not exist"
        for needles, reason in _CONNECT_REASONS:
            if any(n in low for n in needles):
                return reason.format(timeout=self.connect_timeout, sslmode=self.settings.get("sslmode") or "prefer")
        detail = text.replace("FATAL:", "").strip().splitlines()
        return f"cannot connect ({detail[0].strip() if detail else type(exc).__name__})"

    def _scrub(self, text: str) -> str:
        """Replace the secret values (host, user, password) with ``***``, whole tokens only."""
        for value in sorted((str(self.settings.get(k) or "") for k in ("password", "user", "host")),
                            key=len, reverse=True):
            if value:
                text = re.sub(rf"(?<![\w.-]){re.escape(value)}(?![\w-])", _HIDDEN, text)
        return text


# Only applied to connection failures: an address can say where the (secret) host is.
_IP_ADDRESS = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b|\[?[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}\]?")
_CONNECT_REASONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("password authentication failed", "authentication failed", "no password supplied",
      "role \"", "password is required"), "authentication failed for the configured user"),
    (("pg_hba.conf",), "the server does not accept the configured user from this computer (pg_hba.conf)"),
    (("connection refused",), "cannot reach the server (connection refused)"),
    (("timeout expired", "timed out"), "cannot reach the server (no answer within {timeout} s)"),
    (("failed to resolve host", "could not translate host name", "name or service not known",
      "temporary failure in name resolution"), "cannot resolve the configured host name"),
    (("no route to host", "network is unreachable"), "cannot reach the server (no route to host)"),
    (("ssl",), "the SSL negotiation failed (sslmode {sslmode})"),
    (("too many clients", "remaining connection slots"), "the server has no free connection slots"),
    (("starting up", "shutting down", "in recovery mode"), "the server is not accepting connections right now"),
)
