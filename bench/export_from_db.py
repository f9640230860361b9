"""Export a PostgreSQL table to a file, against a floor in the same run (issue 18).

Engine path: what an Output node's worker runs for an input that lives in a connection —
:func:`engine.io.writers.export_connection_table` with the PostgreSQL connector
(server-side cursor, a reader thread fetching ahead) and the real writer, atomic rename
included. It runs in a fresh process so that its peak RSS is its own.
Floor: psycopg ``COPY … TO STDOUT`` read and discarded (the driver's raw read), plus the
same writer fed the same rows from memory (rows fetched beforehand, not timed) — the two
costs added.

Starts its own throw-away PostgreSQL server (like the test fixture), needs no keychain.
``--rows`` (default 1,000,000; the issue's figure is 10,000,000), ``--format`` (default csv).
Last line: ``rows_per_s=… ratio_vs_floor=… peak_rss_mib=…`` (targets: ratio ≥ 0.8,
peak RSS ≤ 128 MiB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SUFFIXES = {"excel": "xlsx", "sqlite": "db"}


def seed(server, rows: int) -> None:
    from tests.integration.dbservers import postgres_admin

    admin = postgres_admin(server)
    try:
        with admin.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS big")
            cur.execute("CREATE TABLE big (id bigint, amount numeric(12,2), name text, day date, "
                        "qty integer, flag boolean, code text, score double precision)")
            cur.execute(f"INSERT INTO big SELECT g, g * 1.5, 'name ' || g, DATE '2026-01-01' + (g % 365), g % 97, "
                        f"g % 2 = 0, md5(g::text), g / 7.0 FROM generate_series(1, {rows}) g")
            cur.execute(f'GRANT SELECT ON big TO "{server.user}"')
            cur.execute("ANALYZE big")
    finally:
        admin.close()


def engine_export(target: str, fmt: str) -> None:
    """In a fresh process (``--child``): export table ``big`` with the settings read from stdin;
    print ``seconds rows peak-RSS-KiB``."""
    import json
    import sqlite3

    from engine.io import writers
    from engine.plugins import load_registry

    settings = json.loads(sys.stdin.readline())
    registry = load_registry()          # keep it: the plugin modules live as long as the registry
    pg = registry.connectors["postgresql"]("bench", "bench", settings)
    workspace = sqlite3.connect(":memory:")
    try:
        started = time.perf_counter()
        count = writers.export_connection_table(pg, "big", Path(target), fmt, {}, workspace)
        elapsed = time.perf_counter() - started
    finally:
        pg.close()
        workspace.close()
    print(elapsed, count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


class MemorySource:
    """The floor's input: the table's rows already in memory, offered as the writers read a table."""

    def __init__(self, table: str, columns, rows: list[tuple]) -> None:
        self.table, self._columns, self.rows = table, columns, rows
        self.names = [c.name for c in columns]
        self.declared = [(c.name, c.declared) for c in columns]

    def columns(self):
        return self._columns

    def count(self) -> int:
        return len(self.rows)

    def batches(self):
        from engine.io.writers._source import BATCH_ROWS

        for start in range(0, len(self.rows), BATCH_ROWS):
            yield self.rows[start:start + BATCH_ROWS]

    def close(self) -> None:
        pass


def floor(settings: dict, folder: Path, fmt: str) -> tuple[float, float, int]:
    import psycopg

    from engine.io.writers import _WRITERS
    from engine.io.writers._connector_source import ConnectorTableSource
    from engine.plugins import load_registry

    with psycopg.connect(host=settings["host"], port=settings["port"], dbname=settings["database"],
                         user=settings["user"], password=settings["password"]) as raw:
        started = time.perf_counter()
        with raw.cursor() as cur, cur.copy("COPY big TO STDOUT") as copy:
            for _ in copy:
                pass
        read_s = time.perf_counter() - started
    registry = load_registry()
    pg = registry.connectors["postgresql"]("floor", "floor", settings)
    try:   # the rows as the connector hands them over (plain values), fetched untimed
        columns = ConnectorTableSource(pg, "big").columns()
        rows = [tuple(int(v) if type(v) is bool else v for v in row)
                for _, batch in pg.read_batches("SELECT * FROM big", (), 50_000) for row in batch]
    finally:
        pg.close()
    target = folder / f"floor.{SUFFIXES.get(fmt, fmt)}"
    started = time.perf_counter()
    _WRITERS[fmt](MemorySource("big", columns, rows), target, target, {})
    write_s = time.perf_counter() - started
    return read_s, write_s, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", default="csv", choices=("csv", "json", "jsonl", "excel", "sqlite", "parquet",
                                                             "avro"))
    parser.add_argument("--child", metavar="TARGET", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        engine_export(args.child, args.format)
        return
    from tests.integration.dbservers import running_postgres

    with tempfile.TemporaryDirectory(prefix="dagflux-bench-") as tmp:
        folder = Path(tmp)
        os.environ["DAGFLUX_HOME"] = str(folder / "home")
        with running_postgres() as server:
            seed(server, args.rows)
            settings = {**server.settings(), "sslmode": "disable"}
            target = folder / f"export.{SUFFIXES.get(args.format, args.format)}"
            child = subprocess.run([sys.executable, __file__, "--child", str(target), "--format", args.format],
                                   input=json.dumps(settings) + "\n", capture_output=True, text=True)
            if child.returncode != 0:
                raise SystemExit(f"the export process failed:\n{child.stderr}")
            seconds, rows, peak = child.stdout.split()
            engine_s, count, peak_kib = float(seconds), int(rows), int(peak)
            size_mib = target.stat().st_size / 2**20
            read_s, write_s, floor_rows = floor(settings, folder, args.format)
    assert count == floor_rows == args.rows, (count, floor_rows)
    floor_s = read_s + write_s
    print(f"PostgreSQL table → {args.format} file, {args.rows:,} rows × 8 columns ({size_mib:,.0f} MiB written)")
    print(f"  engine (connector → export_connection_table): {engine_s:.2f} s ({args.rows / engine_s:,.0f} rows/s), "
          f"peak RSS {peak_kib / 1024:.0f} MiB")
    print(f"  floor: COPY TO STDOUT {read_s:.2f} s + writer from memory {write_s:.2f} s = {floor_s:.2f} s")
    print(f"rows_per_s={args.rows / engine_s:.0f} ratio_vs_floor={floor_s / engine_s:.3f} "
          f"peak_rss_mib={peak_kib / 1024:.0f}")


if __name__ == "__main__":
    main()
