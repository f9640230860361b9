"""Parquet writer: pyarrow's ``ParquetWriter`` fed batch by batch, one row group per
:data:`ROW_GROUP_ROWS` rows.

Schema: every column is nullable and typed by the kind of value it holds (see
``_source``): integer → int64, real (or integers mixed with reals) → float64, blob → binary,
anything else → string (numbers or blobs found among text are written as text, blobs in
base64). A column holding only NULLs is typed by its declared SQLite type. Because the kinds
come from a scan of the whole column, no value met later can contradict the schema.

pyarrow is imported when an export runs, never when this module is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from engine.errors import NodeError
from engine.io.writers._source import BLOB, INTEGER, REAL, Column, TableSource, as_text

ROW_GROUP_ROWS = 100_000
COMPRESSIONS = ("snappy", "zstd", "gzip", "none")


def write_parquet(source: TableSource, path: Path, target: Path, options: Mapping) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    compression = _compression(options)
    columns = source.columns()
    schema = pa.schema([pa.field(c.name, _arrow_type(pa, c), nullable=True) for c in columns])
    writer = pq.ParquetWriter(str(path), schema, compression=compression)
    rows = 0
    try:
        pending: list = []
        for batch in source.batches():
            pending.append(_record_batch(pa, schema, columns, batch))
            rows += len(batch)
            if sum(b.num_rows for b in pending) >= ROW_GROUP_ROWS:
                writer.write_table(pa.Table.from_batches(pending, schema))
                pending = []
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema))
    finally:
        writer.close()
    return rows


def _compression(options: Mapping) -> str:
    compression = options.get("compression") or "snappy"
    if compression not in COMPRESSIONS:
        raise NodeError(f"Parquet compression {compression!r} is not one of "
                        f"{', '.join(COMPRESSIONS)}")
    return compression


def _arrow_type(pa, column: Column):
    if column.kind == INTEGER:
        return pa.int64()
    if column.kind == REAL:
        return pa.float64()
    if column.kind == BLOB:
        return pa.binary()
    return pa.string()


def _record_batch(pa, schema, columns: list[Column], batch: list[tuple]):
    arrays = []
    for column, field, values in zip(columns, schema, zip(*batch, strict=True), strict=True):
        if column.needs_text_conversion:
            values = tuple(v if v is None or type(v) is str else as_text(v) for v in values)
        try:
            arrays.append(pa.array(values, type=field.type))
        except pa.ArrowException as exc:  # the table changed since the scan
            raise NodeError(f"cannot write column '{column.name}' as Parquet "
                            f"{field.type}: {exc}") from exc
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
