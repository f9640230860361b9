"""CSV, JSON (an array of objects) and JSON Lines writers, UTF-8, streamed batch by batch.

Value mapping: NULL → empty CSV field / JSON ``null``; BLOB → base64 text; integers and
floats → numbers. JSON has no infinity, so ±inf (which SQLite can store) is written as
``null``, as pandas does. CSV follows RFC 4180 through the ``csv`` module (CRLF row ends,
fields with the delimiter, quotes or newlines quoted); NULL and the empty string both
become an empty field.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

from engine.atomic import atomic_open
from engine.errors import NodeError
from engine.io.writers._source import BLOB, TableSource, blob_text


def write_csv(source: TableSource, path: Path, target: Path, options: Mapping) -> int:
    delimiter = _delimiter(options, target)
    blobs = [i for i, column in enumerate(source.columns()) if BLOB in column.storage]
    rows = 0
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(source.names)
        for batch in source.batches():
            writer.writerows(_without_blobs(batch, blobs) if blobs else batch)
            rows += len(batch)
    return rows


def write_json(source: TableSource, path: Path, target: Path, options: Mapping) -> int:
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("[")
        rows = _write_objects(fh, source, first="\n", between=",\n")
        fh.write("\n]\n" if rows else "]\n")
    return rows


def write_jsonl(source: TableSource, path: Path, target: Path, options: Mapping) -> int:
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as fh:
        rows = _write_objects(fh, source, first="", between="\n")
        if rows:
            fh.write("\n")
    return rows


def _delimiter(options: Mapping, target: Path) -> str:
    default = "\t" if target.suffix.lower() == ".tsv" else ","
    delimiter = options.get("delimiter") or default
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n':
        raise NodeError(f"CSV delimiter must be one character other than a quote or a "
                        f"line break, not {delimiter!r}")
    return delimiter


def _without_blobs(batch: list[tuple], blobs: list[int]) -> Iterator[list]:
    """Rows with the BLOBs of the columns that hold some (``blobs``) as base64 text."""
    for row in batch:
        values = list(row)
        for i in blobs:
            if type(values[i]) is bytes:
                values[i] = blob_text(values[i])
        yield values


def _json_default(value: object) -> str:
    if isinstance(value, bytes):
        return blob_text(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(", ", ": "),
                            default=_json_default)


def _write_objects(fh: IO[str], source: TableSource, first: str, between: str) -> int:
    names = source.names
    rows = 0
    for batch in source.batches():
        lines = [_json_object(names, row) for row in batch]
        fh.write((first if rows == 0 else between) + between.join(lines))
        rows += len(batch)
    return rows


def _json_object(names: list[str], row: tuple) -> str:
    try:
        return _ENCODER.encode(dict(zip(names, row, strict=True)))
    except ValueError:  # only ±inf can fail here (NaN never comes out of SQLite)
        cleaned = [None if type(v) is float and math.isinf(v) else v for v in row]
        return _ENCODER.encode(dict(zip(names, cleaned, strict=True)))
