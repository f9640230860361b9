"""MariaDB/MySQL connector helpers: the streaming reader, error parts, object names and the
mapping of declared column types to MariaDB types (:mod:`.mariadb` uses them)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pymysql
import pymysql.cursors

from engine.connectors.base import Row, is_unsigned_bigint, map_declared_type


class _Stream:
    """Batches from an unbuffered cursor; ``exhausted`` once the server sent the last row."""

    def __init__(self, cursor: pymysql.cursors.SSCursor, batch_size: int) -> None:
        self.cursor, self.batch_size, self.exhausted = cursor, batch_size, False

    def batches(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[list[str], list[Row]]]:
        # No params → no %-formatting, so a literal % needs no doubling.
        # Named parameters (a mapping) are %(name)s in the SQL (engine.plugin_api.render_bound).
        self.cursor.execute(sql, (params if isinstance(params, Mapping) else tuple(params)) if params else None)
        names = [d[0] for d in self.cursor.description or ()]
        rows = self._next()
        yield names, rows
        while not self.exhausted:
            rows = self._next()
            if rows:
                yield names, rows

    def _next(self) -> list[Row]:
        rows = list(self.cursor.fetchmany(self.batch_size))
        self.exhausted = len(rows) < self.batch_size
        return rows


def _code_and_message(exc: pymysql.err.MySQLError) -> tuple[int, str]:
    args = exc.args
    if len(args) >= 2 and isinstance(args[0], int):
        return args[0], str(args[1])
    return 0, str(args[0]) if args else ""


def _object_name(*parts: str) -> str:
    """``db.table`` as :func:`split_qualified` reads it back (quote parts with ``.`` or ``"``)."""
    return ".".join('"' + p.replace('"', '""') + '"' if ("." in p or '"' in p) else p for p in parts)


# Declared types (SQLite-style, or another database's) → MariaDB column types.
_EXACT_TYPES = {
    **dict.fromkeys(("int", "integer", "int2", "int4", "int8", "smallint", "bigint", "tinyint", "mediumint",
                     "serial", "bigserial", "smallserial"), "BIGINT"),
    **dict.fromkeys(("real", "float", "float4", "float8", "double", "double precision"), "DOUBLE"),
    **dict.fromkeys(("numeric", "decimal"), "DECIMAL(65,30)"),
    **dict.fromkeys(("bool", "boolean"), "BOOLEAN"),
    **dict.fromkeys(("blob", "bytea", "binary", "varbinary", "tinyblob", "mediumblob", "longblob"), "LONGBLOB"),
}


def bit_value(raw: bytes | str) -> int:
    """A ``BIT(n)`` value (big-endian bytes on the wire) as the integer it stands for."""
    return int.from_bytes(raw.encode("latin-1") if isinstance(raw, str) else raw, "big")


def mariadb_type(declared: str) -> str:
    """The MariaDB type for a declared column type.

    Known names map by family (integers → ``BIGINT``, floats → ``DOUBLE``,
    numeric/decimal → ``DECIMAL(65,30)``, booleans, blobs → ``LONGBLOB``;
    ``BIGINT UNSIGNED`` stays unsigned); anything else
    follows SQLite's affinity rules and otherwise becomes ``LONGTEXT`` (dates, json,
    ``''`` …), so a write never fails on a type name.
    """
    if is_unsigned_bigint(declared):
        return "BIGINT UNSIGNED"
    return map_declared_type(declared, _EXACT_TYPES, integer="BIGINT", real="DOUBLE", blob="LONGBLOB",
                             text="LONGTEXT")
