"""Files in object storage (S3, Azure Blob …) read by Data Source and written by Output.

A connector with ``object_store = True`` moves bytes; this module turns them into tables
and back with the same readers and writers local files use, so an object in a bucket
gives exactly the table the same file on disk would (types, null markers, findings).

* Reading (Data Source ``source: storage``): ``path`` names one object, or a prefix
  ending in ``/`` whose objects are read one after the other into one table (they must
  have the same columns). Each object is streamed in chunks into a private temporary file
  in the worker, read in batches, and deleted before the next — an object is never whole
  in memory, and at most one is on disk at a time.
* Writing (Output with a storage connection): the table is exported to a temporary file,
  then streamed to the object (the connector uploads in parts when it is large).
* Sampling (the connection browser, the node panel's preview): the first rows of an object,
  as an import of the whole object would give them. For CSV and JSON Lines only the object's
  first :data:`SAMPLE_HEAD` bytes are fetched (cut at the last line break). For Parquet, when
  the store reads byte ranges (:meth:`~engine.connectors.base.Connector.open_ranged`), only
  the footer and the pages of the rows a preview reads (the reader's first batch) are
  fetched, whatever the object's size; those rows become a small local Parquet file with the
  same schema. JSON, and Parquet from a store without ranged reads, need the whole object, up
  to :data:`SAMPLE_LIMIT`.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from engine import workspace
from engine.connectors.base import Connector, ConnectorError, Row
from engine.errors import NodeError
from engine.io import readers, writers
from engine.io.readers.preview import FilePreview, preview_file

SAMPLE_HEAD = 256 * 1024
SAMPLE_LIMIT = 64 * 1024 * 1024
PARQUET_BUFFER = 1024 * 1024
"""A ranged Parquet sample reads each column's pages in pieces of this size (not whole column
chunks, which can be hundreds of MiB)."""
_LINE_FORMATS = ("csv", "jsonl")


def object_format(key: str, fmt: str | None) -> str:
    """The reading format of ``key``: ``fmt`` when given, else its extension's."""
    if fmt:
        return fmt
    try:
        return readers.detect_format(Path(PurePosixPath(key).name or "object"))
    except NodeError as exc:
        raise NodeError(f"object '{key}': {exc}") from None


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="dagflux-object-") as folder:
        yield Path(folder)


def _local_name(key: str) -> str:
    name = PurePosixPath(key).name
    return name if name not in ("", ".", "..") else "object"


def read_objects(ctx: Any, store: Connector, path: str, fmt: str | None,
                 options: Mapping[str, Any]) -> tuple[int, list[list[str]], list[str]]:
    """Import the object ``path`` (or every object under the prefix ``path``) into the node's
    output table. Returns (records, columns, warnings)."""
    keys = store.object_keys(path)
    if not keys:
        raise NodeError(f"node '{ctx.label}': connection '{store.name}' has no object at '{path}'")
    warnings: list[str] = []
    columns: list[tuple[str, str]] = []
    with ctx.building_table() as staging, _scratch() as folder, _dropped(ctx, workspace.staging_name(staging)) as part:
        for n, key in enumerate(keys):
            local = folder / _local_name(key)
            store.download(key, local)
            try:
                result = readers.import_file(ctx.conn, ctx.lease, local, staging if n == 0 else part,
                                             object_format(key, fmt), options)
            finally:
                local.unlink(missing_ok=True)
            warnings += [f"{key}: {f['message']}" for f in result.findings]
            if n == 0:
                columns = list(result.columns)
                continue
            _append_part(ctx, staging, part, columns, result.columns, key, keys[0])
        records = ctx.publish(staging)
    if records == 0:
        warnings.append(f"0 rows read from '{path}': the table has its columns and no rows")
    return records, [list(c) for c in columns], warnings


def _append_part(ctx: Any, staging: str, part: str, first: list[tuple[str, str]],
                 these: list[tuple[str, str]], key: str, first_key: str) -> None:
    names = [c for c, _ in first]
    q = workspace.quote_ident
    if sorted(names) != sorted(c for c, _ in these):
        raise NodeError(f"node '{ctx.label}': '{key}' has columns {', '.join(c for c, _ in these)}; "
                        f"'{first_key}' has {', '.join(names)} — the objects under a prefix must share "
                        f"their columns")
    listed = ", ".join(q(c) for c in names)
    with ctx.write():
        ctx.conn.execute(f"INSERT INTO {q(staging)} ({listed}) SELECT {listed} FROM {q(part)}")
        ctx.conn.execute(f"DROP TABLE {q(part)}")


@contextlib.contextmanager
def _dropped(ctx: Any, table: str) -> Iterator[str]:
    """A scratch workspace table name, dropped whatever happens."""
    try:
        yield table
    finally:
        with contextlib.suppress(Exception), ctx.write():
            ctx.conn.execute(f"DROP TABLE IF EXISTS {workspace.quote_ident(table)}")


def write_object(ctx: Any, store: Connector, key: str, fmt: str | None, options: Mapping[str, Any]) -> int:
    """Export the node's input table to the object ``key``; returns the rows written."""
    if not key or key.endswith("/"):
        raise NodeError(f"node '{ctx.label}': '{key}' is not an object name (it must not end with '/')")
    fmt = fmt or writers.format_for_path(Path(_local_name(key)))
    if fmt is None:
        raise NodeError(f"node '{ctx.label}': cannot tell the format of '{key}'; set 'format'")
    if options.get("if_exists") == "fail" and key in store.object_keys(key):
        raise NodeError(f"node '{ctx.label}': connection '{store.name}' already has '{key}' (if_exists is 'fail')")
    source = ctx.input()
    with _scratch() as folder:
        local = folder / _local_name(key)
        opts = {**options, "if_exists": "overwrite"}
        if source.connection is None:
            records = writers.export_table(ctx.conn, source.table, local, fmt, opts)
        else:
            records = writers.export_connection_table(ctx.location(source.connection), source.table, local, fmt,
                                                      opts, ctx.conn)
        store.upload(local, key)
    return records


def sample_object(store: Connector, key: str, limit: int = 5) -> tuple[list[str], list[Row]]:
    """The column names and first ``limit`` rows of the object ``key``."""
    try:
        preview = preview_object(store, key, None, {}, limit)
    except NodeError as exc:
        raise ConnectorError(f"connection '{store.name}': '{key}': {exc}") from None
    return [c for c, _ in preview.columns], list(preview.rows)


def preview_object(store: Connector, key: str, fmt: str | None, options: Mapping[str, Any],
                   limit: int = 5) -> FilePreview:
    """The first rows of the object ``key`` as a Data Source would import them (see the
    module's note on how much of the object is fetched)."""
    fmt = object_format(key, fmt)
    with _scratch() as folder:
        local = folder / _local_name(key)
        ranged = store.open_ranged(key) if fmt == "parquet" else None
        if ranged is not None:
            _parquet_head(ranged, local, limit)
        elif fmt in _LINE_FORMATS:
            got = store.download(key, local, SAMPLE_HEAD + 1)
            if got > SAMPLE_HEAD:
                data = local.read_bytes()[:SAMPLE_HEAD]
                local.write_bytes(data[:data.rfind(b"\n") + 1] or data)
        else:
            got = store.download(key, local, SAMPLE_LIMIT + 1)
            if got > SAMPLE_LIMIT:
                raise ConnectorError(f"connection '{store.name}': '{key}' is larger than "
                                     f"{SAMPLE_LIMIT // (1024 * 1024)} MiB; a {fmt} object is previewed "
                                     f"whole — read it with a Data Source instead")
        return preview_file(local, fmt, options, limit)


def _parquet_head(source: Any, local: Path, limit: int) -> None:
    """Write into the Parquet file ``local`` the rows of the ranged Parquet object ``source``
    that a preview of ``limit`` rows reads: the reader's batches until ``limit`` rows (its
    first batch, unless the first row group is smaller), fewer when their data would pass
    :data:`SAMPLE_LIMIT`. Only the footer and those rows' pages are fetched."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine.io.readers.parquet_reader import rows_per_batch

    name = local.name
    with source:
        try:
            parquet = pq.ParquetFile(source, buffer_size=PARQUET_BUFFER, pre_buffer=False)
            schema = parquet.schema_arrow
        except (pa.ArrowException, OSError) as exc:
            raise NodeError(f"{name}: not a readable Parquet file ({exc})") from None
        rows = rows_per_batch(len(schema.names))
        meta = parquet.metadata
        if meta.num_row_groups and meta.row_group(0).num_rows:
            group = meta.row_group(0)
            per_row = group.total_byte_size / group.num_rows
            if per_row * rows > SAMPLE_LIMIT:
                rows = max(1, limit, int(SAMPLE_LIMIT // per_row))
        taken: list[Any] = []
        try:
            for batch in parquet.iter_batches(batch_size=rows, use_threads=False):
                taken.append(batch)
                if sum(b.num_rows for b in taken) >= limit:
                    break
            table = pa.Table.from_batches(taken, schema=schema)
        except (pa.ArrowException, OSError) as exc:
            raise NodeError(f"{name}: cannot read the Parquet data ({exc})") from None
    try:
        pq.write_table(table, local)
    except (pa.ArrowException, OSError) as exc:
        raise NodeError(f"{name}: cannot sample the Parquet data ({exc})") from None
