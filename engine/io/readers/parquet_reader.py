"""Parquet files as :class:`Batch` es, one Arrow record batch at a time.

pyarrow is imported inside :func:`read_parquet` only: importing it costs about 60 MB of
resident memory, which a worker that never reads Parquet should not pay.

Types follow the Arrow schema, not a sample: integers and booleans → ``INTEGER``,
floats and decimals → ``REAL``, binary → ``BLOB``, strings → ``TEXT``; dates, times,
timestamps and durations → ISO-like ``TEXT``; lists, structs and maps → JSON ``TEXT``.
Errors name the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from itertools import chain
from pathlib import Path

from engine.errors import NodeError
from engine.io.columns import BLOB, INTEGER, REAL, TEXT
from engine.io.readers._sink import Batch

BATCH_VALUES = 1 << 16
_INT64_MAX = 2 ** 63 - 1


def read_parquet(path: Path, options: Mapping[str, object]) -> Iterator[Batch]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise NodeError(f"{path.name}: reading Parquet needs the pyarrow package") from None
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise NodeError(f"{path.name}: not a readable Parquet file ({exc})") from None
    try:
        yield from _batches(path, parquet)
    except (pa.ArrowException, OSError) as exc:
        raise NodeError(f"{path.name}: cannot read the Parquet data ({exc})") from None
    finally:
        parquet.close()


def rows_per_batch(columns: int) -> int:
    """Rows in each batch read from a file of ``columns`` columns."""
    return max(1, BATCH_VALUES // max(1, columns))


def _batches(path: Path, parquet) -> Iterator[Batch]:
    schema = parquet.schema_arrow
    if not schema.names:
        raise NodeError(f"{path.name}: the Parquet file has no columns")
    plans = [_plan(field.type) for field in schema]
    types = [sql_type for sql_type, _ in plans]
    columns = list(schema.names)
    batch_rows = rows_per_batch(len(columns))
    seen = False
    for record_batch in parquet.iter_batches(batch_size=batch_rows):
        lists = [convert(record_batch.column(i)) for i, (_, convert) in enumerate(plans)]
        values = list(chain.from_iterable(zip(*lists)))
        seen = True
        yield Batch(columns, types, values, record_batch.num_rows)
    if not seen:
        yield Batch(columns, types, [], 0)


def _plan(arrow_type) -> tuple[str, Callable]:
    """(declared type, array → list of bindable values) for one Arrow type."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = pa.types
    if t.is_dictionary(arrow_type):
        sql_type, convert = _plan(arrow_type.value_type)
        return sql_type, lambda arr: convert(arr.dictionary_decode())
    if t.is_boolean(arrow_type):
        return INTEGER, lambda arr: pc.cast(arr, pa.int8()).to_pylist()
    if t.is_uint64(arrow_type):
        return INTEGER, lambda arr: [v if v is None or v <= _INT64_MAX else str(v)
                                     for v in arr.to_pylist()]
    if t.is_integer(arrow_type) or t.is_floating(arrow_type):
        return (INTEGER if t.is_integer(arrow_type) else REAL), lambda arr: arr.to_pylist()
    if t.is_decimal(arrow_type):
        return REAL, lambda arr: pc.cast(arr, pa.float64()).to_pylist()
    if t.is_temporal(arrow_type):
        return TEXT, lambda arr: pc.cast(arr, pa.string()).to_pylist()
    if t.is_binary(arrow_type) or t.is_large_binary(arrow_type) or t.is_fixed_size_binary(arrow_type):
        return BLOB, lambda arr: arr.to_pylist()
    if t.is_string(arrow_type) or t.is_large_string(arrow_type) or t.is_null(arrow_type):
        return TEXT, lambda arr: arr.to_pylist()
    return TEXT, lambda arr: [None if v is None else _json_text(v) for v in arr.to_pylist()]


def _json_text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
