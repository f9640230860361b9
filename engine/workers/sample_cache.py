"""Inputs computed on a sample, for "try on sample" before the workflow ever ran.

When an input of the tried node has no output table (the workflow never ran), the worker
computes it from the plan the engine made (:mod:`engine.service.sample_plan`): each
upstream node runs its own ``execute`` — the same code as in a run — with every Data
Source reading at most ``SOURCE_SAMPLE_MAX`` rows (``NodeContext.sample_rows``).

Guarantees:

* **Never a real output.** Results go to a separate SQLite file beside the workspace,
  ``try-samples.sqlite``, in tables named ``sample__<fingerprint>``; the workspace and the
  execution log are not written, so nothing here replaces a node's output or shows up in
  History. A Data Source that reads a workspace or database table in place gets a copy of
  that table's first rows; an in-place Transformer changes a copy of its input.
* **Cached by fingerprint.** A step whose fingerprint is in the cache (and whose table is
  still there) is re-used, not run; the fingerprint changes with the node's config, with
  anything above it, and with the size and modification time of a file a node reads.
* **Bounded.** At most ``MAX_ENTRIES`` entries are kept (the least recently used go
  first) and an entry unused for ``MAX_AGE_S`` is dropped, each time something is stored;
  the file is compacted when most of it is free space after that.
* **One writer at a time.** Computation holds the cache file's write lease, so two
  workers trying at once compute a shared step once.
* **Clear errors**: a step that fails says which node failed while preparing the sample.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import decimals, workspace
from engine.errors import DagfluxError
from engine.model.secret_placement import misplaced_secrets
from engine.plugin_api import PREVIEW_RUN, InputTable, NodeContext

CACHE_FILE = "try-samples.sqlite"
MAX_ENTRIES = 200
MAX_AGE_S = 7 * 24 * 3600.0
VACUUM_FREE_PAGES = 2048
TABLE_PREFIX = "sample__"
_META = ("CREATE TABLE IF NOT EXISTS sample_entries (fingerprint TEXT PRIMARY KEY, node_id TEXT, tbl TEXT, "
         "records INTEGER, branch TEXT, source_note TEXT, used REAL)")


@dataclass
class Entry:
    table: str
    records: int | None
    branch: str | None
    source_note: str      # for a Data Source: "1,000-row sample of Orders (CSV)"; else ""


@dataclass
class Computed:
    """An input computed on a sample: its table in the cache and how it was obtained."""

    table: str
    records: int | None
    note: str             # "computed from a 1,000-row sample of Orders (CSV)"
    cached: bool          # every step came from the cache


def cache_path(state: Any) -> Path:
    return Path(state.workspace_path).with_name(CACHE_FILE)


class SampleCache:
    """The cache file, opened for one operation (``with SampleCache(path) as cache``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> SampleCache:
        self.conn = workspace.connect(self.path)
        self.lease = workspace.WriteLease(self.path)
        with workspace.write_transaction(self.conn, self.lease):
            self.conn.execute(_META)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()
        self.lease.close()

    def lookup(self, fingerprint: str) -> Entry | None:
        row = self.conn.execute("SELECT tbl, records, branch, source_note FROM sample_entries WHERE fingerprint = ?",
                                (fingerprint,)).fetchone()
        if row is None or not workspace.table_exists(self.conn, row[0]):
            return None
        with workspace.write_transaction(self.conn, self.lease):
            self.conn.execute("UPDATE sample_entries SET used = ? WHERE fingerprint = ?", (time.time(), fingerprint))
        return Entry(row[0], row[1], row[2], row[3] or "")

    def store(self, fingerprint: str, node_id: str, entry: Entry) -> None:
        with workspace.write_transaction(self.conn, self.lease):
            self.conn.execute("INSERT OR REPLACE INTO sample_entries VALUES (?,?,?,?,?,?,?)",
                              (fingerprint, node_id, entry.table, entry.records, entry.branch, entry.source_note,
                               time.time()))
        self.prune()

    def prune(self, max_entries: int = MAX_ENTRIES, max_age_s: float = MAX_AGE_S) -> int:
        """Drop entries beyond ``max_entries`` (least recently used first) or older than
        ``max_age_s``, with the tables they own; how many were dropped."""
        rows = self.conn.execute("SELECT fingerprint, used FROM sample_entries ORDER BY used DESC").fetchall()
        cutoff = time.time() - max_age_s
        gone = [fp for i, (fp, used) in enumerate(rows) if i >= max_entries or (used or 0) < cutoff]
        if not gone:
            return 0
        with workspace.write_transaction(self.conn, self.lease):
            for fp in gone:
                self.conn.execute(f"DROP TABLE IF EXISTS {workspace.quote_ident(TABLE_PREFIX + fp)}")
                self.conn.execute("DELETE FROM sample_entries WHERE fingerprint = ?", (fp,))
        free, pages = (self.conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("freelist_count", "page_count"))
        if free > VACUUM_FREE_PAGES and free * 2 > pages:     # mostly empty space: give it back to the disk
            with self.lease:
                self.conn.execute("VACUUM")
        return len(gone)


def compute(state: Any, cache: SampleCache, workflow_id: str, base_dir: str, plan: Mapping[str, Any],
            params: Mapping[str, Any] | None, for_label: str) -> Computed:
    """The plan's target computed on a sample (or found in the cache), under the cache's lease."""
    steps = list(plan.get("steps") or [])
    if not steps:
        raise DagfluxError(f"no plan to compute the input of '{for_label}'")
    sample = int(plan.get("sample") or 1000)
    done: dict[str, Entry] = {}
    cached = True
    with cache.lease:
        for step in steps:
            entry = cache.lookup(str(step["fingerprint"]))
            if entry is None:
                cached = False
                entry = _run_step(state, cache, workflow_id, base_dir, step, done, sample, params, for_label)
                cache.store(str(step["fingerprint"]), str(step["id"]), entry)
            done[str(step["id"])] = entry
    target = done[str(plan["target"])]
    if not target.table:
        raise DagfluxError(f"the input '{plan['target']}' of '{for_label}' makes no table to try on")
    return Computed(target.table, target.records, _note(steps, done), cached)


def _note(steps: list[Mapping[str, Any]], done: Mapping[str, Entry]) -> str:
    sources = [done[str(s["id"])].source_note for s in steps if done[str(s["id"])].source_note]
    if not sources:
        return "computed on a sample"
    joined = sources[0] if len(sources) == 1 else ", ".join(sources[:-1]) + " and " + sources[-1]
    return f"computed from {joined}"


def _run_step(state: Any, cache: SampleCache, workflow_id: str, base_dir: str, step: Mapping[str, Any],
              done: Mapping[str, Entry], sample: int, params: Mapping[str, Any] | None, for_label: str) -> Entry:
    label = str(step.get("title") or step["id"])
    try:
        return _execute(state, cache, workflow_id, base_dir, step, done, sample, params, label)
    except Exception as exc:  # noqa: BLE001 - said with the node that failed, then raised as one error
        text = str(exc) or type(exc).__name__
        raise DagfluxError(f"could not prepare the sample input of '{for_label}': node '{label}' failed on "
                           f"the sample: {text}") from None


def _execute(state: Any, cache: SampleCache, workflow_id: str, base_dir: str, step: Mapping[str, Any],
             done: Mapping[str, Entry], sample: int, params: Mapping[str, Any] | None, label: str) -> Entry:
    node_type = state.registry.node_type(str(step["type"]))
    config = dict(step.get("config") or {})
    misplaced = misplaced_secrets(config, node_type.credential_fields(config))
    if misplaced:
        raise DagfluxError(misplaced[0].message(f"'{label}'"))
    problems = node_type.validate_config(config, [str(i["node_id"]) for i in step.get("inputs") or []])
    if problems:
        raise DagfluxError("its settings are not complete: " + "; ".join(f"{p.field}: {p.message}" for p in problems))
    own = TABLE_PREFIX + str(step["fingerprint"])
    inputs = [_input_of(item, done, label) for item in step.get("inputs") or []]
    if step["type"] == "data_source" and config.get("source") in ("workspace", "connection"):
        return _copy_source(state, cache, config, own, sample, label)
    if config.get("mode") == "in_place" and len(inputs) == 1:      # change a copy, never the cached input
        _copy_table(cache, inputs[0].table, own)
        inputs = [InputTable(inputs[0].node_id, own, inputs[0].records)]
    ctx = NodeContext(workflow_id=workflow_id, run_id=PREVIEW_RUN, node_id=str(step["id"]),
                      node_type=str(step["type"]), title=str(step.get("title") or ""), config=config,
                      base_dir=Path(base_dir), inputs=inputs, output_table=own, conn=cache.conn, lease=cache.lease,
                      workspace_path=cache.path, isolated=bool(state.isolated), connections=state.runtime,
                      params=params)
    if step["type"] == "data_source":
        ctx.sample_rows = sample
    out = node_type.execute(ctx)
    if out.connection:
        raise DagfluxError(f"its result stays in connection '{out.connection}'; run the workflow to try below it")
    if out.table is None:
        return Entry("", 0, out.branch, "")
    if step["type"] == "data_source" and out.records is not None and out.records > sample:
        out.records = _keep_first(cache, out.table, sample)
    note = _source_note(ctx, config, out.records) if step["type"] == "data_source" else ""
    return Entry(out.table, out.records, out.branch, note)


def _input_of(item: Mapping[str, Any], done: Mapping[str, Entry], label: str) -> InputTable:
    source, port = str(item["node_id"]), str(item.get("port") or "out")
    entry = done[source]
    if entry.branch is not None and port in ("true", "false") and entry.branch != port:
        raise DagfluxError(f"on the sample, Branch '{source}' takes its '{entry.branch}' side, so nothing reaches "
                           f"'{label}' through '{port}'")
    if not entry.table:
        raise DagfluxError(f"its input '{source}' gives no table")
    return InputTable(source, entry.table, entry.records)


def _copy_source(state: Any, cache: SampleCache, config: Mapping[str, Any], own: str, sample: int,
                 label: str) -> Entry:
    """A table read in place (workspace or database): a copy of its first rows."""
    table = str(config.get("table") or "")
    if config.get("source") == "workspace":
        if state.conn is None or not workspace.table_exists(state.conn, table):
            raise DagfluxError(f"the workspace has no table '{table}'")
        columns = workspace.columns(state.conn, table)
        rows = state.conn.execute(f"SELECT * FROM {workspace.quote_ident(table)} LIMIT ?", (sample,)).fetchall()
        kind = "workspace table"
    else:
        db = state.runtime.connector(str(config.get("connection")))
        if not db.table_exists(table):
            raise DagfluxError(f"connection '{db.name}' has no table '{table}'")
        names, rows = db.sample(table, sample)
        declared = dict(db.list_fields(table))
        columns = [(n, decimals.EXACT_DECIMAL if decimals.is_decimal_declared(declared.get(n, ""))
                    else declared.get(n, "")) for n in names]      # every digit kept (engine.decimals)
        kind = f"table in {db.name}"
    _create(cache, own, columns, rows)
    return Entry(own, len(rows), None, f"a {len(rows):,}-row sample of {label} ({kind} '{table}')")


def _create(cache: SampleCache, table: str, columns: list[tuple[str, str]], rows: list[Any]) -> None:
    from engine.io.readers.sqlite_reader import declared_type

    quoted = workspace.quote_ident(table)
    defs = ", ".join(f"{workspace.quote_ident(n)} {declared_type(t or '')}".rstrip() for n, t in columns)
    with workspace.write_transaction(cache.conn, cache.lease):
        cache.conn.execute(f"DROP TABLE IF EXISTS {quoted}")
        cache.conn.execute(f"CREATE TABLE {quoted} ({defs})")
        if rows:
            cache.conn.executemany(f"INSERT INTO {quoted} VALUES ({', '.join('?' * len(columns))})",
                                   [tuple(r) for r in rows])


def _copy_table(cache: SampleCache, source: str, target: str) -> None:
    columns = workspace.columns(cache.conn, source)
    rows = cache.conn.execute(f"SELECT * FROM {workspace.quote_ident(source)}").fetchall()
    _create(cache, target, columns, rows)


def _keep_first(cache: SampleCache, table: str, sample: int) -> int:
    with workspace.write_transaction(cache.conn, cache.lease):
        cache.conn.execute(f"DELETE FROM {workspace.quote_ident(table)} WHERE rowid > ?", (sample,))
    return workspace.count_rows(cache.conn, table)


def _source_note(ctx: NodeContext, config: Mapping[str, Any], records: int | None) -> str:
    source = config.get("source", "file")
    if source == "file":
        from engine.io import readers

        fmt = config.get("format")
        if not fmt:
            with contextlib.suppress(DagfluxError):
                fmt = readers.detect_format(ctx.resolve_path(str(config.get("path") or "")))
        kind = {"excel": "Excel", "parquet": "Parquet", "sqlite": "SQLite", "jsonl": "JSON Lines"}.get(
            str(fmt), str(fmt or "file").upper())
    else:
        kind = {"rest": "REST API", "storage": "object storage"}.get(str(source), str(source))
    return f"a {records or 0:,}-row sample of {ctx.label} ({kind})"
