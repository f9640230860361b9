"""Text input shared by the CSV, JSON and JSON Lines readers.

Guarantees: a UTF-8 byte-order mark is stripped; no line is ever held in memory beyond
:data:`LINE_LIMIT` characters (a 100 MB file without newlines is an error, not a
MemoryError); a decoding error is reported with the file, the line and a hint.
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path
from typing import IO

from engine.errors import NodeError

LINE_LIMIT = 4 * 1024 * 1024
"""Longest physical line (in characters) the line-based readers accept."""

READ_BUFFER = 1 << 20


def resolve_encoding(path: Path, encoding: object) -> str:
    """The codec to decode ``path`` with; UTF-8 always strips a leading BOM."""
    if encoding is None or encoding == "":
        encoding = "utf-8"
    if not isinstance(encoding, str):
        raise NodeError(f"{path.name}: option 'encoding' must be text, got {encoding!r}")
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise NodeError(f"{path.name}: unknown encoding '{encoding}'") from None
    return "utf-8-sig" if name in ("utf-8", "utf-8-sig") else name


def open_text(path: Path, encoding: str) -> IO[str]:
    """Open ``path`` for reading text with untranslated newlines (as ``csv`` wants)."""
    try:
        return open(path, encoding=encoding, errors="strict", newline="",  # noqa: SIM115
                    buffering=READ_BUFFER)
    except OSError as exc:
        raise NodeError(f"{path.name}: cannot read the file ({exc.strerror or exc})") from None


def check_not_empty(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise NodeError(f"{path.name}: cannot read the file ({exc.strerror or exc})") from None
    if size == 0:
        raise NodeError(f"{path.name} is empty")


def decode_error(path: Path, encoding: str) -> NodeError:
    """A NodeError naming the first line of ``path`` that ``encoding`` cannot decode.

    Only called after decoding failed: it re-reads the file in binary, so the normal
    path pays nothing for exact line numbers.
    """
    shown = "utf-8" if encoding == "utf-8-sig" else encoding
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with open(path, "rb") as fh:
        while block := fh.read(READ_BUFFER):
            try:
                line += decoder.decode(block).count("\n")
            except UnicodeDecodeError as exc:
                line += exc.object[: exc.start].count(b"\n")
                break
    return NodeError(f"{path.name}: not valid {shown} at line {line}; "
                     f"set the 'encoding' option, e.g. latin-1")


def too_long(path: Path, line: int, limit: int = LINE_LIMIT) -> NodeError:
    """A line over ``limit``: most often a wrong delimiter or a file in another format."""
    return NodeError(f"{path.name} line {line}: the line is longer than {_size(limit)} characters; "
                     f"is this the right file and format? (a CSV field may hold at most "
                     f"{csv.field_size_limit():,} characters)")


def field_too_long(path: Path, line: int, limit: int) -> NodeError:
    """A CSV field over the field limit (the option ``max_field_chars``)."""
    return NodeError(f"{path.name} line {line}: a field is longer than {limit:,} characters, the "
                     f"CSV field limit; raise the option 'max_field_chars' if the field is meant to "
                     f"be that long")


def _size(chars: int) -> str:
    mib = chars / (1024 * 1024)
    return f"{mib:g} Mi" if mib >= 1 and mib == int(mib) else f"{chars:,}"


class LineSource:
    """Physical lines of a text stream, bounded in length, counted as they are read.

    ``pending`` is text already read from ``stream`` that comes first (it may end in
    the middle of a line). Lines keep their terminators (``\\n``, ``\\r\\n`` or
    ``\\r``), as the csv module needs. ``consumed`` counts the lines handed out.
    With ``delimiter`` and ``field_limit`` (CSV), a line over the limit that holds a
    delimiter and a field longer than ``field_limit`` is reported as that field's error.
    """

    def __init__(self, path: Path, stream: IO[str], pending: str = "", first_line: int = 1,
                 limit: int = LINE_LIMIT, delimiter: str | None = None,
                 field_limit: int | None = None) -> None:
        self.path = path
        self.first_line = first_line
        self.limit = limit
        self.delimiter = delimiter
        self.field_limit = field_limit
        self.consumed = 0
        self._readline = stream.readline
        self._buffered: io.StringIO | None = None
        if pending:
            if pending[-1] != "\n":
                # Complete the partial last line, so no line is split in two.
                pending += self._bounded_line(1 + pending.count("\n"), pending[pending.rfind("\n") + 1:])
            self._buffered = io.StringIO(pending, newline="")

    def __iter__(self) -> LineSource:
        return self

    def __next__(self) -> str:
        if self._buffered is not None:
            line = self._buffered.readline()
            if line:
                self.consumed += 1
                return line
            self._buffered = None
        line = self._bounded_line(self.consumed + 1)
        if not line:
            raise StopIteration
        self.consumed += 1
        return line

    def _bounded_line(self, number: int, head: str = "") -> str:
        """The next line (``head`` is its start, already read) or an error past the limit."""
        line = self._readline(self.limit)
        if len(line) >= self.limit and line[-1] not in "\r\n":
            where = self.first_line + number - 1
            delim, field_limit, text = self.delimiter, self.field_limit, head + line
            if delim and field_limit and delim in text and \
                    max(map(len, text.split(delim))) > field_limit:
                raise field_too_long(self.path, where, field_limit)
            raise too_long(self.path, where, self.limit)
        return line

    def skip(self, count: int) -> int:
        """Skip up to ``count`` lines; returns how many there were."""
        skipped = 0
        while skipped < count and next(self, None) is not None:
            skipped += 1
        return skipped
