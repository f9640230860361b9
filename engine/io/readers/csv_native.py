"""The CSV import's native path: the file parsed and bound in C (:mod:`._csvload`).

Why: on a wide file the Python path spends most of its time making and binding one Python
string per field; the sqlite3 shell's ``.import`` does neither and was 2.5× faster. The native
loader reads the file in chunks of :data:`CHUNK_BYTES` and binds each field straight from its
buffer, with the GIL released.

The Python reader (:mod:`.csv_reader`) stays the authority, so both paths give the same table:

* it reads the header and the type sample (the first batch) as always, and the column types
  come from it; the loader must then parse the same header and the same sample rows (null
  markers included), or the import goes the Python way;
* the loader takes the common shapes only (UTF-8; fields plain or quoted with ``""`` inside;
  ``\\n`` or ``\\r\\n`` line ends); for anything else — and for every error, which the Python
  reader reports with its line — it stops, what it wrote is dropped, and the Python reader
  imports the file from the start;
* fields are bound as text and null markers as NULL, exactly as the Python path binds them;
* a file whose size or modification time moved between the Python reader's first look and the
  end of the load is an error ("the file changed while it was imported"), not a partial table;
* it counts, per column the findings look at, the values that are certainly numbers,
  certainly not, and unsure; :func:`~._findings.mixed_columns` asks SQLite only about columns
  with unsure values.

It applies when the compiled module is there, the stdlib ``sqlite3`` uses the same SQLite
library in this process (SQLite's file locks are per library copy; checked by address), the
encoding is UTF-8, the workspace is a file and ``DAGFLUX_NATIVE_CSV`` is not ``0``. Each call
of the loader is one ``BEGIN IMMEDIATE`` transaction of its own connection under the
workspace's write lease, like a batch group of the Python path.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import NodeError
from engine.io.readers._options import type_choice
from engine.io.readers._sink import Batch, TableSink
from engine.io.readers.csv_reader import CsvOptions, read_csv
from engine.wal_checkpoint import WalCheckpointer
from engine.workspace import BUSY_TIMEOUT_MS, WriteLease, database_file, quote_ident, write_transaction

VALUES_PER_TRANSACTION = 1 << 18
"""Fields bound per transaction (the Python path's four batches of 65,536)."""
CHUNK_BYTES = 4 << 20
"""Bytes of the file read at a time (the loader's buffer grows past it only for a longer record)."""
_BOM = b"\xef\xbb\xbf"


@dataclass
class NativeImport:
    sink: TableSink
    counts: list[tuple[int, int, int, int] | None]   # per column, for the findings; None: not watched


@functools.cache
def _loader_module() -> Any:
    """The compiled module, or None when it is missing or links another SQLite than ``sqlite3``."""
    try:
        import _sqlite3

        from engine.io.readers import _csvload
    except ImportError:
        return None
    try:
        stdlib = ctypes.cast(ctypes.CDLL(_sqlite3.__file__).sqlite3_libversion, ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None      # SQLite built into the stdlib module: a second copy would break locking
    return _csvload if stdlib == _csvload.library()[0] else None


def _switched_off() -> bool:
    return os.environ.get("DAGFLUX_NATIVE_CSV", "1") == "0"


def available() -> bool:
    """Whether imports may take the native path (the module, one SQLite, not switched off)."""
    return not _switched_off() and _loader_module() is not None


def status() -> str:
    """Which path CSV imports take here, for ``dagflux engine status``."""
    if _switched_off():
        return "python reader (DAGFLUX_NATIVE_CSV=0)"
    if _loader_module() is not None:
        return "native loader"
    try:
        from engine.io.readers import _csvload  # noqa: F401
    except ImportError:
        return "python reader (the native loader is not built: bash dev setup builds it)"
    return "python reader (the native loader links another SQLite than Python's)"


def import_csv(conn: sqlite3.Connection, lease: WriteLease, path: Path, table: str,
               options: Mapping[str, object], watched: Any) -> NativeImport | None:
    """Fill ``table`` from the CSV at ``path`` natively; None when the native path does not
    apply or stopped (then ``table`` does not exist and the caller imports with the Python
    reader). ``watched(sink)`` gives, per column, whether the findings look at it."""
    if not available():
        return None
    opts = CsvOptions(path, options)
    database = database_file(conn)
    if opts.encoding != "utf-8-sig" or database is None or ord(opts.delimiter) > 127 or \
            (opts.quote is not None and ord(opts.quote) > 127):
        return None
    before = os.stat(path)
    reader = read_csv(path, options)
    try:
        first = next(reader)
    finally:
        reader.close()
    sink = TableSink(conn, table, path.name, opts.null_values, type_choice(path.name, options))
    with write_transaction(conn, lease):
        sink.write(Batch(first.columns, first.types, [], 0))
    try:
        counts = _load(conn, lease, path, database, opts, first, sink, watched(sink), before)
    except BaseException:
        _drop(conn, lease, table)
        raise
    if counts is None:
        _drop(conn, lease, table)
        return None
    return NativeImport(sink, counts)


def _load(conn: sqlite3.Connection, lease: WriteLease, path: Path, database: str, opts: CsvOptions,
          first: Batch, sink: TableSink, watch: list[bool], before: os.stat_result) -> list[Any] | None:
    module = _loader_module()
    ncols = len(first.columns)
    many, one, per = sink.insert_statements(ncols)
    with open(path, "rb") as fh:
        start = 3 if fh.read(3) == _BOM else 0
    try:
        loader = module.Loader(database, os.fspath(path), start, ord(opts.delimiter),
                               -1 if opts.quote is None else ord(opts.quote),
                               [m.encode("utf-8") for m in opts.null_values], watch, many, one, per,
                               opts.max_field_chars, opts.line_limit, BUSY_TIMEOUT_MS, CHUNK_BYTES,
                               before.st_size, before.st_mtime_ns)
        try:
            if not _same_start(loader, opts, first):
                return None
            _fill(conn, lease, loader, sink, max(1, VALUES_PER_TRANSACTION // ncols))
            return [tuple(c) if w else None for c, w in zip(loader.counts(), watch)]
        finally:
            loader.close()
    except module.Unsupported:
        return None
    except module.FileChanged:
        raise NodeError(f"{sink.label}: the file changed while it was imported (its size or time is not "
                        f"what it was at the start); import it again once it is complete") from None
    except module.LoadError as exc:
        raise NodeError(f"{sink.label}: writing table '{sink.table}' to the workspace failed: {exc}") from None


def _fill(conn: sqlite3.Connection, lease: WriteLease, loader: Any, sink: TableSink, rows: int) -> None:
    """Load every record, ``rows`` per transaction under ``lease``, the WAL checkpointed aside."""
    loader.autocheckpoint(int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]))
    with WalCheckpointer(conn) as wal:
        while True:
            wal.before_transaction()
            with lease:
                done = loader.load(rows)
            if not done:
                return
            sink.records += done
            wal.committed()
            if wal.helping:      # the helper checkpoints from now on, as for the Python path
                loader.autocheckpoint(0)


def _same_start(loader: Any, opts: CsvOptions, first: Batch) -> bool:
    """Whether the loader reads the header and the sample rows as the Python reader did; it is
    left at the first data row."""
    loader.skip_lines(opts.skip_rows)
    if opts.header and loader.record(False) != list(first.columns):
        return False
    data = loader.tell()
    sample: list[Any] = []
    for _ in range(first.rows):
        record = loader.record(True)
        if record is None:
            return False
        sample.extend(record)
    if sample != first.values:
        return False
    loader.seek(data)
    return True


def _drop(conn: sqlite3.Connection, lease: WriteLease, table: str) -> None:
    with write_transaction(conn, lease):
        conn.execute(f"DROP TABLE IF EXISTS {quote_ident(table)}")
