"""PostgreSQL's values and types for the PostgreSQL connector: how rows are loaded (numeric
exactly, :mod:`engine.decimals`; other non-plain types as PostgreSQL's text), how booleans are
copied in, and which PostgreSQL column type a declared type becomes."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg.types.string import TextLoader

from engine import decimals
from engine.connectors.base import is_unsigned_bigint, map_declared_type

# Types whose psycopg Python value is already plain; numeric is exact (engine.decimals), the rest text.
_PLAIN_TYPES = {"bool", "int2", "int4", "int8", "oid", "float4", "float8", "text", "varchar", "bpchar",
                "name", '"char"', "bytea"}


class _BoolAsDigit(Dumper):
    """COPY booleans as 1/0: accepted by boolean, integer and text columns alike (rows
    from SQLite or another database may carry a bool into an INTEGER column)."""

    def dump(self, obj: bool) -> bytes:
        return b"1" if obj else b"0"


def _object_name(*parts: str) -> str:
    """``schema.table`` as :func:`split_qualified` reads it back (quote parts with ``.`` or ``"``)."""
    return ".".join('"' + p.replace('"', '""') + '"' if ("." in p or '"' in p) else p for p in parts)


class _ExactNumericLoader(Loader):
    """numeric → int, exact float or exact text (:func:`engine.decimals.from_text`)."""

    def load(self, data: Any, _short: int = decimals.DOUBLE_DIGITS + 1,
             _exact_float: type = decimals.DecimalFloat) -> Any:
        if len(data) <= _short and b"." in data:       # ≤ 15 digits: the common case, inlined
            return _exact_float(data)
        return decimals.from_text(bytes(data).decode("ascii"))


def _load_as_text(connection: psycopg.Connection[Any]) -> None:
    """Return numeric exactly (:class:`_ExactNumericLoader`) and every other non-plain type
    (and every array) as PostgreSQL's text for it."""
    for info in psycopg.postgres.types:
        if info.name == "numeric":  # a number stays a number, with every digit it has
            connection.adapters.register_loader(info.oid, _ExactNumericLoader)
        elif info.name not in _PLAIN_TYPES:
            connection.adapters.register_loader(info.oid, TextLoader)
        if info.array_oid:
            connection.adapters.register_loader(info.array_oid, TextLoader)


# Declared types (SQLite-style, or another database's) → PostgreSQL column types.
_EXACT_TYPES = {
    **dict.fromkeys(("int", "integer", "int2", "int4", "int8", "smallint", "bigint", "tinyint", "mediumint",
                     "serial", "bigserial", "smallserial"), "bigint"),
    **dict.fromkeys(("real", "float", "float4", "float8", "double", "double precision"), "double precision"),
    **dict.fromkeys(("numeric", "decimal"), "numeric"),
    **dict.fromkeys(("bool", "boolean"), "boolean"),
    **dict.fromkeys(("blob", "bytea", "binary", "varbinary", "tinyblob", "mediumblob", "longblob"), "bytea"),
}


def postgres_type(declared: str) -> str:
    """The PostgreSQL type for a declared column type.

    Known names map by family (any integer → ``bigint``, floats → ``double precision``,
    ``numeric``/``decimal`` → ``numeric``, booleans, blobs → ``bytea``); anything else
    follows SQLite's affinity rules (``INT`` → ``bigint``, ``REAL``/``FLOA``/``DOUB`` →
    ``double precision``, ``BLOB`` → ``bytea``) and otherwise becomes ``text`` (dates,
    json, uuid, ``''`` …), so a write never fails on a type name.
    """
    if is_unsigned_bigint(declared):   # up to 2⁶⁴ − 1: beyond bigint
        return "numeric(20,0)"
    return map_declared_type(declared, _EXACT_TYPES, integer="bigint", real="double precision", blob="bytea",
                             text="text")
