"""CSV, JSON (an array of objects) and JSON Lines writers, UTF-8, streamed batch by batch.

Value mapping: NULL → empty CSV field / JSON ``null``; BLOB → base64 text; integers and
floats → numbers. JSON has no infinity, so ±inf (which SQLite can store) is written as
``null``, as pandas does. CSV follows RFC 4180 through the ``csv`` module (CRLF row ends,
fields with the delimiter, quotes or newlines quoted). Options: ``line_ending`` ``"crlf"``
(default) or ``"lf"``; ``null`` — the text written for NULL. By default NULL and the
empty string both become an empty field; with a marker such as ``"NULL"`` or ``"\\N"``
they stay distinguishable (and DagFlux reads ``NULL`` back as NULL by default).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO

from engine.atomic import atomic_open
from engine.errors import NodeError
from engine.io.writers._source import BLOB, TableSource, blob_text

LINE_ENDINGS = {"crlf": "\r\n", "lf": "\n"}


def write_csv(source: TableSource, path: Path, target: Path, options: Mapping) -> int:
    delimiter = _delimiter(options, target)
    ending = options.get("line_ending", "crlf")
    if ending not in LINE_ENDINGS:
        raise NodeError(f"CSV line_ending must be one of {', '.join(LINE_ENDINGS)}, not {ending!r}")
    null = options.get("null", "")
    if not isinstance(null, str) or any(c in null for c in f"{delimiter}\"\r\n"):
        raise NodeError(f"CSV null marker must be text without the delimiter, quotes or line breaks, "
                        f"not {null!r}")
    blobs = [i for i, column in enumerate(source.columns()) if BLOB in column.storage]
    rows = 0
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter, lineterminator=LINE_ENDINGS[ending])
        writer.writerow(source.names)
        for batch in source.batches():
            out: Iterable = _without_blobs(batch, blobs) if blobs else batch
            if null:
                out = ([null if v is None else v for v in row] for row in out)
            writer.writerows(out)
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
