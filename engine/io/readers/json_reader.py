"""JSON (a top-level array of objects) and JSON Lines files as :class:`Batch` es.

Guarantees: the file is never loaded whole — the array is scanned in 1 MiB reads and
each record decoded with ``json.JSONDecoder.raw_decode``, so memory holds one batch and
one record; a record over :data:`RECORD_LIMIT` characters is an error. Columns are the
union of the records' keys in first-seen order (a key first seen in a later batch adds a
column); missing keys are NULL; nested objects and arrays are stored as JSON text,
booleans as 1/0, integers beyond 64 bits as text. Errors name the file, line and column.

Options: ``encoding`` (default utf-8).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from engine.errors import NodeError
from engine.io import columns as colmod
from engine.io.readers._sink import Batch
from engine.io.readers._text import LineSource, check_not_empty, decode_error, open_text, resolve_encoding

RECORD_LIMIT = 64 * 1024 * 1024
READ_CHARS = 1 << 20
BATCH_VALUES = 1 << 16
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_INT64 = (-(2 ** 63), 2 ** 63 - 1)
_PLAIN = frozenset({str, float, int, bool, type(None)})
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def read_json(path: Path, options: Mapping[str, object]) -> Iterator[Batch]:
    yield from _read(path, options, lambda stream: _ArrayScanner(path, stream).records())


def read_jsonl(path: Path, options: Mapping[str, object]) -> Iterator[Batch]:
    yield from _read(path, options, lambda stream: _jsonl_records(path, stream))


def _read(path: Path, options: Mapping[str, object],
          records: Callable[[IO[str]], Iterator[dict]]) -> Iterator[Batch]:
    encoding = resolve_encoding(path, options.get("encoding"))
    check_not_empty(path)
    with open_text(path, encoding) as stream:
        try:
            yield from _RecordBatcher(path).batches(records(stream))
        except UnicodeDecodeError:
            raise decode_error(path, encoding) from None


def _cell(value: Any) -> Any:
    """A JSON value as SQLite stores it (see the module doc)."""
    kind = type(value)
    if kind is str or kind is float or value is None:
        return value
    if kind is int:
        return value if _INT64[0] <= value <= _INT64[1] else str(value)
    if kind is bool:
        return int(value)
    return _ENCODER.encode(value)


def _make_bindable(values: list[object], ncols: int) -> None:
    """Convert, in place, the columns of ``values`` that hold something SQLite cannot
    bind as it is; other columns are left alone (no per-value Python call)."""
    for i in range(ncols):
        column = values[i::ncols]
        kinds = set(map(type, column))
        if kinds <= _PLAIN:
            ints = [v for v in column if type(v) is int] if int in kinds else ()
            if not ints or (_INT64[0] <= min(ints) and max(ints) <= _INT64[1]):
                continue
        values[i::ncols] = list(map(_cell, column))


class _RecordBatcher:
    """Turns dict records into flat batches, growing the column list as keys appear."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns: list[str] = []
        self.types: list[str] = []
        self._known: set[str] = set()

    def batches(self, records: Iterator[dict]) -> Iterator[Batch]:
        chunk: list[dict] = []
        size = 0
        for record in records:
            chunk.append(record)
            size += len(record) or 1
            if size >= BATCH_VALUES:
                yield self._batch(chunk)
                chunk, size = [], 0
        if chunk or not self.columns:
            yield self._batch(chunk)

    def _batch(self, records: list[dict]) -> Batch:
        start = len(self.columns)
        for record in records:
            if len(record) > len(self._known) or not self._known.issuperset(record):
                for key in record:
                    if key not in self._known:
                        self._known.add(key)
                        self.columns.append(key)
        if not self.columns:
            raise NodeError(f"{self.path.name}: no records with any field; nothing to import")
        values: list[object] = []
        extend, columns = values.extend, self.columns
        for record in records:
            extend(map(record.get, columns))
        ncols = len(columns)
        _make_bindable(values, ncols)
        self.types.extend(colmod.infer_value_type(values[i::ncols]) for i in range(start, ncols))
        return Batch(list(columns), list(self.types), values, len(records))


class _ArrayScanner:
    """Yields the objects of a top-level JSON array, reading the text incrementally."""

    def __init__(self, path: Path, stream: IO[str]) -> None:
        self.path = path
        self.stream = stream
        self.decoder = json.JSONDecoder()
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.base_line = 1    # line of buf[0]
        self.base_col = 1     # column of buf[0]

    def records(self) -> Iterator[dict]:
        if self._next_char() != "[":
            raise self._error("expected '[' (a JSON array of objects)")
        self.pos += 1
        index = 0
        while True:
            char = self._next_char()
            if char == "]":
                break
            if index:
                if char != ",":
                    raise self._error("expected ',' or ']' after an array element")
                self.pos += 1
                char = self._next_char()
            if char != "{":
                raise self._error(f"array element {index + 1} is not an object")
            yield self._decode_object()
            index += 1
        self.pos += 1
        if self._next_char() != "":
            raise self._error("extra data after the closing ']'")

    def _next_char(self) -> str:
        """Skip whitespace; the next character ('' at the end of the file)."""
        while True:
            blank = _WHITESPACE.match(self.buf, self.pos)   # matches '' at least
            self.pos = blank.end() if blank else self.pos
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._read_more(READ_CHARS):
                return ""

    def _decode_object(self) -> dict:
        while True:
            try:
                record, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof or not self._maybe_truncated(exc):
                    self.pos = exc.pos
                    raise self._error(exc.msg) from None
                if len(self.buf) - self.pos > RECORD_LIMIT:
                    raise self._error(f"a record is larger than {RECORD_LIMIT // 2 ** 20} MiB "
                                      f"(or a string is never closed)") from None
                self._read_more(max(READ_CHARS, len(self.buf) - self.pos))
                continue
            self.pos = end
            return record

    def _maybe_truncated(self, exc: json.JSONDecodeError) -> bool:
        """True when the record may just continue past the text read so far."""
        # A cut through a string reports where the string starts; any other cut (a
        # literal, a number, an escape, a missing delimiter) fails within the last few
        # characters. Reading further settles it either way.
        return exc.msg.startswith("Unterminated string") or exc.pos >= len(self.buf) - 6

    def _read_more(self, size: int) -> bool:
        """Append up to ``size`` characters, dropping what was consumed; False at EOF."""
        if self.pos:
            consumed = self.buf[: self.pos]
            newlines = consumed.count("\n")
            self.base_line += newlines
            self.base_col = (self.pos - consumed.rfind("\n")) if newlines else self.base_col + self.pos
            self.buf, self.pos = self.buf[self.pos:], 0
        chunk = self.stream.read(size)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _error(self, message: str) -> NodeError:
        newlines = self.buf.count("\n", 0, self.pos)
        line = self.base_line + newlines
        col = self.pos - self.buf.rfind("\n", 0, self.pos) if newlines else self.base_col + self.pos
        return NodeError(f"{self.path.name} line {line} column {col}: {message}")


def _jsonl_records(path: Path, stream: IO[str]) -> Iterator[dict]:
    lines = LineSource(path, stream, limit=RECORD_LIMIT)
    loads = json.loads
    for text in lines:
        if text.isspace():
            continue
        try:
            record = loads(text)
        except json.JSONDecodeError as exc:
            raise NodeError(f"{path.name} line {lines.consumed} column {exc.colno}: {exc.msg}") from None
        if type(record) is not dict:
            kind = type(record).__name__.replace("NoneType", "null")
            raise NodeError(f"{path.name} line {lines.consumed}: expected a JSON object, found {kind}")
        yield record
