"""Export one table to a file — what the Output node's data export runs.

The table lives in the workspace (:func:`export_table`) or in a connection
(:func:`export_connection_table`, read through
:class:`~engine.io.writers._connector_source.ConnectorTableSource`); every format and
guarantee below holds for both.

Guarantees, whatever the format:

* **Streaming**: the table is read with one ``SELECT *`` in batches of
  ``_source.BATCH_ROWS`` rows, so memory does not grow with the table.
* **Atomic**: the file is written under a temporary name beside the target and renamed over
  it only when complete (``engine.atomic``). On any error the previous target is untouched
  and no temporary file is left.
* **Clear errors**: every failure the user can act on is a :class:`NodeError` naming the
  file, folder, table, row or column concerned; checks that need no data (format, options,
  folder, existing file, Excel's size limits) run before anything is written.

Options (a mapping; keys not listed are ignored, so the node may pass its whole config):

* ``if_exists`` — ``"overwrite"`` (default) or ``"fail"``;
* ``create_dirs`` — create a missing folder (default false: a missing folder is an error);
* csv: ``delimiter`` — one character, default ``","`` (``"\\t"`` for a ``.tsv`` path);
* excel: ``sheet`` — the sheet name, default ``"Sheet1"``;
* sqlite: ``table`` — the table name in the new file, default the source table's name;
* parquet: ``compression`` — ``snappy`` (default), ``zstd``, ``gzip`` or ``none``;
* avro: ``codec`` — ``null`` (default) or ``deflate``.

The file gets the permissions of the file it replaces, or ``0o666`` less the umask when new
(a temporary file alone would be private to its owner) — but ``0o600`` inside the data dir,
which is private (new folders there are ``0o700``).

Each format's value mapping is documented in its module.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from engine.atomic import atomic_path
from engine.connectors.base import Connector
from engine.errors import NodeError
from engine.io.writers._connector_source import ConnectorTableSource
from engine.io.writers._source import TableSource
from engine.io.writers.avro import write_avro
from engine.io.writers.excel import write_excel
from engine.io.writers.parquet import write_parquet
from engine.io.writers.sqlite_file import write_sqlite
from engine.io.writers.text import write_csv, write_json, write_jsonl
from engine.private import PRIVATE_DIR, PRIVATE_FILE, inside_data_dir

__all__ = ["WRITE_FORMATS", "export_connection_table", "export_table", "format_for_path"]

WRITE_FORMATS = ("csv", "json", "jsonl", "excel", "sqlite", "parquet", "avro")
IF_EXISTS = ("overwrite", "fail")

_SUFFIXES = {
    ".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".xlsx": "excel", ".sqlite": "sqlite", ".sqlite3": "sqlite", ".db": "sqlite",
    ".parquet": "parquet", ".avro": "avro",
}

Writer = Callable[[TableSource | ConnectorTableSource, Path, Path, Mapping], int]
_WRITERS: dict[str, Writer] = {
    "csv": write_csv, "json": write_json, "jsonl": write_jsonl, "excel": write_excel,
    "sqlite": write_sqlite, "parquet": write_parquet, "avro": write_avro,
}


def format_for_path(path: Path) -> str | None:
    """The export format a file name implies by its extension, or None."""
    return _SUFFIXES.get(Path(path).suffix.lower())


def export_table(conn: sqlite3.Connection, table: str, path: Path, fmt: str | None = None,
                 options: Mapping | None = None) -> int:
    """Write workspace table ``table`` to ``path`` as ``fmt``; return the rows written.

    ``fmt`` defaults to :func:`format_for_path`. Raises :class:`NodeError` (see module doc).
    """
    path = Path(path)
    fmt = _format(path, fmt)
    return _export(TableSource(conn, table), conn, path, fmt, options or {})


def export_connection_table(connector: Connector, table: str, path: Path, fmt: str | None,
                            options: Mapping | None, workspace: sqlite3.Connection) -> int:
    """Write table ``table`` of ``connector`` to ``path`` as ``fmt``, streamed from the database;
    return the rows written. ``workspace`` is the workspace connection (never overwritten)."""
    path = Path(path)
    fmt = _format(path, fmt)
    own_file = getattr(connector, "path", None) if connector.dialect == "sqlite" else None
    if isinstance(own_file, Path) and path.exists() and own_file.exists() and os.path.samefile(own_file, path):
        raise NodeError(f"{path} is the database file of connection '{connector.name}'; "
                        "refusing to replace it with the export")
    return _export(ConnectorTableSource(connector, table), workspace, path, fmt, options or {})


def _export(source: TableSource | ConnectorTableSource, conn: sqlite3.Connection, path: Path, fmt: str,
            options: Mapping) -> int:
    try:
        _check_target(conn, path, options)
        with atomic_path(path) as tmp:
            rows = _WRITERS[fmt](source, tmp, path, options)
            os.chmod(tmp, _file_mode(path))
            return rows
    except sqlite3.Error as exc:   # source errors are NodeErrors already: this is the file
        raise NodeError(f"cannot write {path}: {exc}") from exc
    except OSError as exc:
        raise NodeError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        source.close()


def _format(path: Path, fmt: str | None) -> str:
    supported = ", ".join(WRITE_FORMATS)
    if fmt is None:
        found = format_for_path(path)
        if found is None:
            raise NodeError(f"cannot tell the export format of {path} from its extension; "
                            f"choose one of: {supported}")
        return found
    if fmt not in WRITE_FORMATS:
        raise NodeError(f"unknown export format {fmt!r}; supported formats: {supported}")
    return fmt


def _check_target(conn: sqlite3.Connection, path: Path, options: Mapping) -> None:
    if_exists = options.get("if_exists") or "overwrite"
    if if_exists not in IF_EXISTS:
        raise NodeError(f"if_exists must be one of {', '.join(IF_EXISTS)}, not {if_exists!r}")
    _check_folder(path.parent, bool(options.get("create_dirs")))
    if path.is_dir():
        raise NodeError(f"{path} is a folder; the export needs a file name")
    if path.exists() and if_exists == "fail":
        raise NodeError(f"{path} already exists and the node's if_exists is 'fail'")
    if _is_database_of(conn, path):
        raise NodeError(f"{path} is a database the workspace has open; refusing to replace it")


def _check_folder(folder: Path, create: bool) -> None:
    if folder.is_dir():
        return
    if folder.exists():
        raise NodeError(f"{folder} is a file, not a folder; cannot export into it")
    if not create:
        raise NodeError(f"folder {folder} does not exist; create it or turn on create_dirs")
    try:
        if inside_data_dir(folder):
            folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        else:
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NodeError(f"cannot create folder {folder}: {exc.strerror or exc}") from exc


def _file_mode(target: Path) -> int:
    if target.exists():
        return stat.S_IMODE(target.stat().st_mode)
    umask = os.umask(0o022)   # the only way to read it; restored on the next line
    os.umask(umask)
    return PRIVATE_FILE if inside_data_dir(target) else 0o666 & ~umask


def _is_database_of(conn: sqlite3.Connection, path: Path) -> bool:
    if not path.exists():
        return False
    for _, _, filename in conn.execute("PRAGMA database_list"):
        if filename and os.path.exists(filename) and os.path.samefile(filename, path):
            return True
    return False
