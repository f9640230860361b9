"""CSV (and TSV) files as a stream of :class:`Batch` es of raw strings.

Two parsers give the same rows:

* the **fast path** reads 8 Ki-character blocks and, when a block has no quote character and
  every line has exactly the header's number of delimiters, splits it with two C-level
  ``str`` calls (about twice as fast as ``csv.reader``, and no per-row lists);
* the **csv module** takes over, from that block to the end of the file, as soon as a
  block needs it (quotes, blank lines, a bare ``\\r`` line end, a ragged line, a line
  longer than a block). It is the authority for every error.

Guarantees: memory is bounded by the batch size and :data:`~._text.LINE_LIMIT`, never by
the file size; errors name the file and the physical line (``orders.csv line 17: expected
8 fields, found 9``); the first :data:`INFER_ROWS` rows decide the column types.

Options: ``delimiter`` (default ``,``; ``\\t`` for ``.tsv``), ``quote`` (default ``"``;
empty or ``None`` for no quoting), ``encoding`` (default utf-8, BOM stripped), ``header``
(default true; false names the columns ``col_1`` … ``col_n``), ``null_values`` and
``default_nulls`` (the null markers, see :mod:`._options`), ``skip_rows`` (lines skipped
before the header or first row), ``max_field_chars`` (the longest field, default 131,072; a
physical line may hold twice that, and at least :data:`~._text.LINE_LIMIT`). ``columns`` and
``all_text`` (the user's column types) are applied by the sink.
"""

from __future__ import annotations

import csv
from collections.abc import Generator, Iterator, Mapping
from operator import methodcaller
from pathlib import Path
from typing import IO, Any

from engine.errors import NodeError
from engine.io import columns as colmod
from engine.io.readers._options import flag, null_markers
from engine.io.readers._sink import Batch, markers_to_none
from engine.io.readers._text import (
    LINE_LIMIT,
    LineSource,
    check_not_empty,
    decode_error,
    field_too_long,
    open_text,
    resolve_encoding,
)

BLOCK_CHARS = 1 << 13
"""Fast-path block size. Small, so each C-level str call is short and the writing thread
gets the GIL back quickly; below csv's field limit, so no fast-path field exceeds it."""
BATCH_VALUES = 1 << 16
"""Values per batch handed to the writer (8192 rows of 8 columns)."""
INFER_ROWS = 5000
FIELD_CHARS = 131_072
"""Default longest CSV field (the option ``max_field_chars``; the csv module's own default)."""
MAX_FIELD_CHARS = 256 * 1024 * 1024
"""Upper bound of ``max_field_chars``: a field is held in memory whole."""


class CsvOptions:
    """The validated options of one CSV import."""

    def __init__(self, path: Path, options: Mapping[str, object]) -> None:
        self.path = path
        default_delim = "\t" if path.suffix.lower() == ".tsv" else ","
        self.delimiter = self._char(options.get("delimiter"), "delimiter", default_delim)
        quote = options.get("quote", '"')
        self.quote = None if quote in (None, "") else self._char(quote, "quote", '"')
        if self.quote == self.delimiter:
            raise self._bad("quote", "must differ from the delimiter")
        self.encoding = resolve_encoding(path, options.get("encoding"))
        self.header = self._flag(options.get("header", True), "header")
        self.null_values: list[str] = null_markers(path.name, options)
        skip: Any = options.get("skip_rows") or 0
        if isinstance(skip, str) and skip.strip().isdigit():
            skip = int(skip)
        if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
            raise self._bad("skip_rows", "must be a whole number ≥ 0")
        self.skip_rows = skip
        field: Any = options.get("max_field_chars") or FIELD_CHARS
        if isinstance(field, str) and field.strip().isdigit():
            field = int(field)
        if not isinstance(field, int) or isinstance(field, bool) or not 1 <= field <= MAX_FIELD_CHARS:
            raise self._bad("max_field_chars", f"must be a whole number from 1 to {MAX_FIELD_CHARS:,}")
        self.max_field_chars = field
        # A physical line may hold a whole field (and some more): never shorter than that.
        self.line_limit = max(LINE_LIMIT, 2 * field)

    def _bad(self, name: str, problem: str) -> NodeError:
        return NodeError(f"{self.path.name}: option '{name}' {problem}")

    def _char(self, value: object, name: str, default: str) -> str:
        if value is None or value == "":
            return default
        if value in ("\\t", "tab"):  # what a user types into a form field
            return "\t"
        if not isinstance(value, str) or len(value) != 1 or value in "\r\n":
            raise self._bad(name, f"must be one character, got {value!r}")
        return value

    def _flag(self, value: object, name: str) -> bool:
        return flag(self.path.name, name, value)

    def dialect(self) -> dict[str, Any]:
        if self.quote is None:
            return {"delimiter": self.delimiter, "quoting": csv.QUOTE_NONE}
        return {"delimiter": self.delimiter, "quotechar": self.quote, "doublequote": True}


def read_csv(path: Path, options: Mapping[str, object]) -> Iterator[Batch]:
    """Batches of ``path``; the first one carries the columns even when there are no rows."""
    opts = CsvOptions(path, options)
    check_not_empty(path)
    # Process-wide in the csv module: a worker runs one task at a time, and the limit is put
    # back when the reader ends or is closed.
    previous = csv.field_size_limit(opts.max_field_chars)
    try:
        with open_text(path, opts.encoding) as stream:
            try:
                yield from _CsvParser(opts, stream).batches()
            except UnicodeDecodeError:
                raise decode_error(path, opts.encoding) from None
    finally:
        csv.field_size_limit(previous)


def _csv_error(opts: CsvOptions, line: int, exc: csv.Error) -> NodeError:
    if "field larger than field limit" in str(exc):
        return field_too_long(opts.path, line, opts.max_field_chars)
    return NodeError(f"{opts.path.name} line {line}: {exc}")


class _CsvParser:
    def __init__(self, opts: CsvOptions, stream: IO[str]) -> None:
        self.opts = opts
        self.name = opts.path.name
        self.stream = stream
        self.line = 0                 # physical lines consumed so far
        self.ncols = 0
        self.columns: list[str] = []
        self.types: list[str] = []

    def batches(self) -> Iterator[Batch]:
        first_row = self._read_header()
        values: list[str] = [] if first_row is None else first_row
        markers = self._markers_in(values)
        # The first batch is the type sample: INFER_ROWS rows, within a memory cap.
        threshold = max(BATCH_VALUES, min(INFER_ROWS * self.ncols, 4 * BATCH_VALUES))
        for block, block_markers in self._values():
            values.extend(block)
            markers |= block_markers
            if len(values) >= threshold:
                if not self.types:
                    self._infer(values)
                yield self._batch(values, markers)
                values, threshold, markers = [], BATCH_VALUES, frozenset()
        if not self.types:
            self._infer(values)
        yield self._batch(values, markers)

    def _batch(self, values: list[Any], markers: frozenset[str]) -> Batch:
        """A batch whose null markers are already ``None``: replaced here, in the reader
        thread, for the ``markers`` that the cheap tests could not rule out (after type
        inference, which reads the markers as such), so the writer binds values as they are."""
        markers_to_none(values, markers)
        return Batch(self.columns, self.types, values, len(values) // self.ncols, ())

    def _markers_in(self, values: list[str]) -> frozenset[str]:
        """The null markers that are among ``values``."""
        return frozenset(self.opts.null_values).intersection(values) if self.opts.null_values else frozenset()

    def _infer(self, values: list[str]) -> None:
        rows = min(len(values) // self.ncols, INFER_ROWS)
        self.types = [colmod.infer_text_type(col, self.opts.null_values)
                      for col in colmod.column_slices(values, self.ncols, rows)]

    def _read_header(self) -> list[str] | None:
        """Read the header (or first row); returns that row when it is data."""
        lines = self._lines()
        lines.skip(self.opts.skip_rows)
        reader = csv.reader(lines, **self.opts.dialect())
        row = self._next_record(reader, lines)
        if row is None:
            skipped = f" after skipping {self.opts.skip_rows} lines" if self.opts.skip_rows else ""
            raise NodeError(f"{self.name} is empty{skipped}")
        self.line = lines.consumed
        self.ncols = len(row)
        if self.opts.header:
            self.columns = row
            return None
        self.columns = [f"col_{i}" for i in range(1, self.ncols + 1)]
        return row

    def _next_record(self, reader: Iterator[list[str]], lines: LineSource) -> list[str] | None:
        try:
            for row in reader:
                if row:               # the csv module yields [] for a blank line
                    return row
        except csv.Error as exc:
            raise _csv_error(self.opts, lines.consumed, exc) from None
        return None

    def _lines(self, pending: str = "", first_line: int = 1) -> LineSource:
        return LineSource(self.opts.path, self.stream, pending, first_line, self.opts.line_limit,
                          self.opts.delimiter, self.opts.max_field_chars)

    def _values(self) -> Iterator[tuple[list[str], frozenset[str]]]:
        """(flat values, the null markers they may hold): fast path first, then the csv module."""
        pending = yield from self._fast_values()
        if pending is not None:
            yield from self._csv_values(pending)

    def _fast_values(self) -> Generator[tuple[list[str], frozenset[str]], None, str | None]:
        """Yield blocks split in C; return the text to hand to the csv module, or None at EOF."""
        read, rest = self.stream.read, ""
        if self.opts.max_field_chars < BLOCK_CHARS:
            return ""                                    # a block could hide a field over the limit
        while True:
            chunk = read(BLOCK_CHARS)
            if chunk:
                # Split the block as read (no copy of it): the partial last line waits
                # in `rest` for the next block.
                lines = chunk.split("\n")
                if len(lines) == 1:
                    rest += chunk
                    if len(rest) > BLOCK_CHARS:
                        return rest                      # a line longer than a block
                    continue
                lines[0] = rest + lines[0]
                rest = lines.pop()
            elif rest:
                lines, rest = [rest], ""                 # a last line without a line end
            else:
                return None
            split = self._split_lines(lines, chunk)
            if split is None:
                return "\n".join(lines) + ("\n" if chunk else "") + rest
            self.line += len(lines)
            yield split

    def _split_lines(self, lines: list[str], chunk: str) -> tuple[list[str], frozenset[str]] | None:
        """(flat values, the null markers they may hold) of complete lines, or None when they need
        the csv module. ``chunk`` holds all of ``lines`` but the start of the first."""
        quote, delim, first = self.opts.quote, self.opts.delimiter, lines[0]
        if quote is not None and (quote in chunk or quote in first):
            return None
        if "\r" in chunk or "\r" in first:
            text = ("\n".join(lines) + "\n").replace("\r\n", "\n")
            if "\r" in text:
                return None                              # a bare \r line end
            lines = text[:-1].split("\n")
        if self.ncols == 1:
            if "" in lines or any(delim in line for line in (chunk, first)):
                return None
            return lines, self._markers_in(lines)
        # One count per line (in C via map) proves every line has ncols fields.
        if set(map(methodcaller("count", delim), lines)) != {self.ncols - 1}:
            return None
        joined = delim.join(lines)
        return joined.split(delim), self._markers_in_text(joined, delim)

    def _markers_in_text(self, text: str, sep: str) -> frozenset[str]:
        """The null markers that may be a field of ``text`` (fields separated by ``sep``
        alone): every marker not in it as a substring is ruled out.

        A few substring tests in C, here in the reader thread, instead of hashing or
        comparing every value.
        """
        found = []
        for marker in self.opts.null_values:
            if marker:
                if marker in text:
                    found.append(marker)
            elif sep + sep in text or text.startswith(sep) or text.endswith(sep):
                found.append(marker)
        return frozenset(found)

    def _csv_values(self, pending: str) -> Iterator[tuple[list[str], frozenset[str]]]:
        base = self.line
        lines = self._lines(pending, first_line=base + 1)
        reader = csv.reader(lines, **self.opts.dialect())
        ncols = self.ncols
        values: list[str] = []
        extend = values.extend
        try:
            for row in reader:
                if len(row) != ncols:
                    if not row:
                        continue
                    raise NodeError(f"{self.name} line {base + lines.consumed}: "
                                    f"expected {ncols} fields, found {len(row)}")
                extend(row)
                if len(values) >= BATCH_VALUES:
                    yield values, self._markers_in(values)
                    values = []
                    extend = values.extend
        except csv.Error as exc:
            raise _csv_error(self.opts, base + lines.consumed, exc) from None
        if values:
            yield values, self._markers_in(values)
