"""Avro writer: the Avro 1.x object container file, encoded here with no extra dependency.

Layout (Avro specification, "Object Container Files"): the magic ``Obj\\x01``; a metadata
map holding ``avro.schema`` (JSON) and ``avro.codec`` (``null``, or ``deflate`` when the
``codec`` option asks for it); a random 16-byte sync marker; then one block per batch of
rows — row count, byte size, the rows in Avro binary encoding (compressed with raw deflate
for that codec), the sync marker.

Schema: one record whose fields are all ``["null", T]`` unions with a ``null`` default, T
from the kind of value the column holds (see ``_source``): integer → long, real → double,
blob → bytes, anything else → string. Avro names allow only ``[A-Za-z_][A-Za-z0-9_]*``, so
column names are sanitised (other characters → ``_``, a leading digit prefixed with ``_``,
duplicates suffixed ``_2``, ``_3`` …); a renamed field keeps the column's name in its
``doc``.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

from engine.atomic import atomic_open
from engine.errors import NodeError
from engine.io.writers._source import BLOB, INTEGER, REAL, Column, TableSource, as_text

MAGIC = b"Obj\x01"
CODECS = ("null", "deflate")
_AVRO_TYPES = {INTEGER: "long", REAL: "double", BLOB: "bytes"}
_NULL_BRANCH, _VALUE_BRANCH = b"\x00", b"\x02"   # union indexes 0 and 1, zigzag-encoded


def write_avro(source: TableSource, path: Path, target: Path, options: Mapping) -> int:
    codec = options.get("codec") or "null"
    if codec not in CODECS:
        raise NodeError(f"Avro codec {codec!r} is not one of {', '.join(CODECS)}")
    columns = source.columns()
    encoders = [_value_encoder(column) for column in columns]
    sync = os.urandom(16)
    rows = 0
    with atomic_open(path, "wb") as fh:
        fh.write(_header(avro_schema(source.table, columns), codec, sync))
        for batch in source.batches():
            body = _encode_batch(encoders, batch, source.table)
            if codec == "deflate":
                body = _deflate(body)
            fh.write(encode_long(len(batch)) + encode_long(len(body)) + body + sync)
            rows += len(batch)
    return rows


def avro_schema(table: str, columns: list[Column]) -> dict:
    names = _avro_names([c.name for c in columns])
    fields = []
    for column, name in zip(columns, names, strict=True):
        field: dict = {"name": name, "type": ["null", _AVRO_TYPES.get(column.kind, "string")],
                       "default": None}
        if name != column.name:
            field["doc"] = column.name
        fields.append(field)
    return {"type": "record", "name": _avro_names([table])[0], "namespace": "dagflux",
            "fields": fields}


def encode_long(value: int) -> bytes:
    """Avro ``long``: zigzag, then base-128 varint, low group first."""
    number = (value << 1) ^ (value >> 63)
    out = bytearray()
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _header(schema: dict, codec: str, sync: bytes) -> bytes:
    meta = {"avro.schema": json.dumps(schema).encode("utf-8"), "avro.codec": codec.encode()}
    parts = [MAGIC, encode_long(len(meta))]
    for key, value in meta.items():
        parts += [_encode_bytes(key.encode("utf-8")), _encode_bytes(value)]
    parts += [encode_long(0), sync]
    return b"".join(parts)


def _encode_bytes(data: bytes) -> bytes:
    return encode_long(len(data)) + data


def _encode_text(value: object) -> bytes:
    text = value if type(value) is str else as_text(value)
    return _encode_bytes(text.encode("utf-8"))  # type: ignore[union-attr]


def _encode_double(value: object) -> bytes:
    return struct.pack("<d", value)


def _value_encoder(column: Column) -> Callable[[object], bytes]:
    if column.kind == INTEGER:
        return encode_long  # type: ignore[return-value]
    if column.kind == REAL:
        return _encode_double
    if column.kind == BLOB:
        return _encode_bytes  # type: ignore[return-value]
    return _encode_text


def _encode_batch(encoders: list[Callable[[object], bytes]], batch: list[tuple],
                  table: str) -> bytes:
    try:
        return b"".join(_encode_row(encoders, row) for row in batch)
    except (struct.error, TypeError) as exc:  # a value of another kind than the scan found
        raise NodeError(f"cannot write Avro: table '{table}' changed during the export "
                        f"({exc})") from exc


def _encode_row(encoders: list[Callable[[object], bytes]], row: tuple) -> bytes:
    parts = []
    for encode, value in zip(encoders, row, strict=True):
        if value is None:
            parts.append(_NULL_BRANCH)
        else:
            parts += (_VALUE_BRANCH, encode(value))
    return b"".join(parts)


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)   # raw deflate, as Avro specifies
    return compressor.compress(data) + compressor.flush()


def _avro_names(names: list[str]) -> list[str]:
    out: list[str] = []
    taken: set[str] = set()
    for name in names:
        clean = re.sub(r"[^A-Za-z0-9_]", "_", name) or "_"
        if clean[0].isdigit():
            clean = "_" + clean
        candidate, n = clean, 1
        while candidate in taken:
            n += 1
            candidate = f"{clean}_{n}"
        taken.add(candidate)
        out.append(candidate)
    return out
