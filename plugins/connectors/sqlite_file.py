"""SQLite file connector (stdlib ``sqlite3``) — any SQLite database file, not the workspace.

Guarantees:

* The ``path`` setting must be absolute after ``~`` expansion. Reading, listing and
  testing need an existing SQLite file (a missing path is an error, never a new
  empty file); :meth:`SQLiteFileConnector.write` creates the file when it is missing.
* **One connection per instance**, opened on first use (in autocommit mode, with a
  busy timeout), closed by :meth:`close`.
* No field is secret; errors are :class:`ConnectorError` naming the connection and
  the cause (``table "x" does not exist``, ``… is not a SQLite database``).
* **Writes are one transaction** (``BEGIN IMMEDIATE`` … ``COMMIT``): ``create`` /
  ``replace`` (drop and re-create inside the transaction — SQLite's DDL is
  transactional) / ``append`` (creates the table when missing). On any failure the
  destination is exactly as it was. Declared column types are kept as they are
  (SQLite accepts any and derives the affinity from the text); one that is not a
  plain type name like ``VARCHAR(20)`` is written quoted, so a type name from
  another database (``int(11) unsigned``, ``integer[]``) can never inject SQL.
* :meth:`read_batches` fetches with ``fetchmany`` (memory holds one batch) and yields
  at least one (possibly empty) batch.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from engine import decimals
from engine.connectors.base import WRITE_MODES, Columns, Connector, ConnectorError, FieldSpec, Row, split_qualified
from engine.connectors.sqlite_range import out_of_range
from engine.sql import guard

BUSY_TIMEOUT_S = 30.0
_TYPE_NAME = re.compile(r"([A-Za-z][A-Za-z0-9_ ]*(\(\s*[+-]?\d+\s*(,\s*[+-]?\d+\s*)?\))?)?")

F = TypeVar("F", bound=Callable[..., Any])


def _translated(method: F) -> F:
    """Turn sqlite3 errors raised by ``method`` into ConnectorErrors."""

    @functools.wraps(method)
    def wrapper(self: SQLiteFileConnector, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    return wrapper  # type: ignore[return-value]


class SQLiteFileConnector(Connector):
    type_name = "sqlite"
    label = "SQLite file"
    dialect = "sqlite"
    fields = (
        FieldSpec("path", "Database file", help="Absolute path of the SQLite file (~ is expanded)"),
    )

    def __init__(self, connection_id: str, name: str, settings: Any) -> None:
        super().__init__(connection_id, name, settings)
        self._guard: Any = None
        self._connection: sqlite3.Connection | None = None

    # --- lifecycle ------------------------------------------------------------------
    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    @property
    def path(self) -> Path:
        raw = str(self.settings.get("path") or "").strip()
        path = Path(raw).expanduser()
        if not raw or not path.is_absolute():
            raise ConnectorError(f"connection '{self.name}': the database file must be an absolute path, "
                                 f"not \"{raw}\"")
        return path

    def _conn(self, create: bool = False) -> sqlite3.Connection:
        if self._connection is None:
            path = self.path
            if not create and not path.is_file():
                raise ConnectorError(f"connection '{self.name}': {path} does not exist")
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                               check_same_thread=False)
            self._guard = guard.bind_to_file(self._connection)  # no ATTACH to other files
            decimals.register_exact_aggregates(self._connection)  # exact sum/avg (engine.decimals)
        return self._connection

    # --- operations ----------------------------------------------------------------
    @_translated
    def test(self) -> str:
        tables = self._conn().execute("SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view')"
                                      ).fetchone()[0]
        return f"SQLite {sqlite3.sqlite_version}, {self.path.name} ({tables} tables and views)"

    @_translated
    def list_objects(self) -> list[str]:
        rows = self._conn().execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                                    "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").fetchall()
        return [_object_name(name) for (name,) in rows]

    @_translated
    def list_fields(self, obj: str) -> Columns:
        schema, table = self._split(obj)
        rows = self._conn().execute("SELECT name, type FROM pragma_table_info(?, ?) ORDER BY cid",
                                    (table, schema)).fetchall()
        if not rows:
            raise self._missing(obj)
        return [(name, type_) for name, type_ in rows]

    @_translated
    def sample(self, obj: str, limit: int = 5) -> tuple[list[str], list[Row]]:
        cursor = self._conn().execute(f"SELECT * FROM {self.qualified(obj)} LIMIT {int(limit)}")
        try:
            return [d[0] for d in cursor.description or ()], cursor.fetchall()
        finally:
            cursor.close()

    def read_batches(self, sql: str, params: Sequence[Any] = (), batch_size: int = 10_000
                     ) -> Iterator[tuple[list[str], list[Row]]]:
        bindings = params if isinstance(params, Mapping) else tuple(params)   # named (a mapping) or positional
        cursor = self._guarded(lambda: self._conn().execute(sql, bindings))
        try:
            names = [d[0] for d in cursor.description or ()]
            rows = self._guarded(lambda: cursor.fetchmany(batch_size))
            yield names, rows
            while len(rows) == batch_size:
                rows = self._guarded(lambda: cursor.fetchmany(batch_size))
                if rows:
                    yield names, rows
        finally:
            cursor.close()

    @_translated
    def write(self, table: str, columns: Columns, batches: Iterable[list[Row]], mode: str = "create") -> int:
        self._check_write(table, columns, mode)
        return self._write_all_or_nothing(table, columns, batches, mode)

    @_translated
    def write_temporary(self, table: str, columns: Columns, batches: Iterable[list[Row]]) -> int:
        self._check_write(table, columns, "replace")
        return self._write_all_or_nothing(table, columns, batches, "replace", temporary=True)

    def _write_all_or_nothing(self, table: str, columns: Columns, batches: Iterable[list[Row]], mode: str,
                              temporary: bool = False) -> int:
        connection = self._conn(create=True)
        connection.execute("BEGIN" if temporary else "BEGIN IMMEDIATE")   # TEMP needs no file lock
        try:
            count = self._write_in_transaction(connection, table, columns, batches, mode, temporary)
            connection.execute("COMMIT")
        except BaseException:                   # any failure: undo, then re-raise it unchanged
            self._rollback(connection)
            raise
        return count

    @_translated
    def drop_temporary(self, table: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS temp.{self.quote_ident(table)}")

    def _write_in_transaction(self, connection: sqlite3.Connection, table: str, columns: Columns,
                              batches: Iterable[list[Row]], mode: str, temporary: bool = False) -> int:
        if temporary:       # this connection's own TEMP schema: replaced, gone with the connection
            target, exists = f"temp.{self.quote_ident(table)}", False
            connection.execute(f"DROP TABLE IF EXISTS {target}")
        else:
            target, exists = self.qualified(table), self._exists(connection, table)
        if exists and mode == "create":
            raise ConnectorError(f"connection '{self.name}': table \"{table}\" already exists "
                                 "(write with mode replace or append)")
        if exists and mode == "replace":
            connection.execute(f"DROP TABLE {target}")
        if not exists or mode == "replace":
            body = ", ".join(f"{self.quote_ident(name)} {self._declared(type_)}" for name, type_ in columns)
            connection.execute(f"CREATE TABLE {target} ({body})")
        names = ", ".join(self.quote_ident(name) for name, _ in columns)
        statement = f"INSERT INTO {target} ({names}) VALUES ({', '.join('?' * len(columns))})"
        count = 0
        for batch in batches:
            try:
                connection.executemany(statement, batch)
            except OverflowError:
                raise out_of_range(f"connection '{self.name}', table \"{table}\"", [n for n, _ in columns],
                                   batch) or ConnectorError(f"connection '{self.name}': a value is too large "
                                                            "to store") from None
            count += len(batch)
        return count

    def _check_write(self, table: str, columns: Columns, mode: str) -> None:
        if mode not in WRITE_MODES:
            raise ConnectorError(f"connection '{self.name}': unknown write mode \"{mode}\" "
                                 f"(use {', '.join(WRITE_MODES)})")
        if not columns:
            raise ConnectorError(f"connection '{self.name}': writing \"{table}\" needs at least one column")

    def _declared(self, type_: str) -> str:
        """A declared type as SQLite should see it: a plain type name as it is, anything
        else quoted (SQLite keeps the text and takes the column affinity from it)."""
        type_ = (type_ or "").strip()
        return type_ if _TYPE_NAME.fullmatch(type_) else self.quote_ident(type_)

    @_translated
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        connection = self._conn()
        connection.execute("BEGIN")
        try:
            count = connection.execute(sql, tuple(params)).rowcount
            connection.execute("COMMIT")
        except BaseException:                   # any failure: undo, then re-raise it unchanged
            self._rollback(connection)
            raise
        return count

    @_translated
    def execute_many(self, statements: Sequence[str]) -> None:
        connection = self._conn()
        connection.execute("BEGIN")
        try:
            for statement in statements:
                connection.execute(statement)
            connection.execute("COMMIT")
        except BaseException:                   # any failure: undo, then re-raise it unchanged
            self._rollback(connection)
            raise

    def quote_ident(self, name: str) -> str:
        if "\x00" in name:
            raise ConnectorError(f"connection '{self.name}': an identifier cannot contain a NUL byte: {name!r}")
        return '"' + name.replace('"', '""') + '"'

    @_translated
    def table_exists(self, obj: str) -> bool:
        return self._exists(self._conn(), obj)

    # --- helpers --------------------------------------------------------------------
    def _exists(self, connection: sqlite3.Connection, obj: str) -> bool:
        schema, table = self._split(obj)
        master = f"{self.quote_ident(schema)}.sqlite_master" if schema else "sqlite_master"
        row = connection.execute(f"SELECT 1 FROM {master} WHERE type IN ('table', 'view') AND name = ? "
                                 "COLLATE NOCASE", (table,)).fetchone()
        return row is not None

    @staticmethod
    def _split(obj: str) -> tuple[str | None, str]:
        parts = split_qualified(obj)
        return (parts[-2] if len(parts) > 1 else None), parts[-1]

    @staticmethod
    def _rollback(connection: sqlite3.Connection) -> None:
        # A statement may have failed before BEGIN took effect, or SQLite may have rolled
        # back already (e.g. on SQLITE_FULL): only roll back an open transaction.
        if connection.in_transaction:
            connection.execute("ROLLBACK")

    def _guarded(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def _missing(self, obj: str) -> ConnectorError:
        return ConnectorError(f"connection '{self.name}': table \"{obj}\" does not exist")

    def _error(self, exc: sqlite3.Error) -> ConnectorError:
        message = guard.explain(exc, self._guard) if self._guard is not None else str(exc)
        missing = re.fullmatch(r"no such table: (?:main\.)?(.*)", message)
        if missing:
            message = f"table \"{missing.group(1)}\" does not exist"
        elif "file is not a database" in message:
            message = f"{self.settings.get('path')} is not a SQLite database"
        elif "unable to open database file" in message:
            message = f"cannot open {self.settings.get('path')}"
        return ConnectorError(f"connection '{self.name}': {message}")


def _object_name(*parts: str) -> str:
    """``schema.table`` as :func:`split_qualified` reads it back (quote parts with ``.`` or ``"``)."""
    return ".".join('"' + p.replace('"', '""') + '"' if ("." in p or '"' in p) else p for p in parts)
