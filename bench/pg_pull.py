"""Pull a 1,000,000-row PostgreSQL table into the workspace, against a floor in the same run.

Engine path: the Transformer's ``storage: local`` path — the PostgreSQL connector's
server-side cursor feeding :func:`engine.connectors.transfer.transfer` into the real
workspace (WAL, write lease, batches), with fetching and inserting overlapped.
Floor: psycopg ``COPY … TO STDOUT`` read and discarded, plus a stdlib ``sqlite3``
``executemany`` of the same rows in one transaction — the two costs added.

Also shown (not in the ratio): the connector's read alone, which says how much of the engine's
time is the driver building Python rows (the floor's COPY builds none).

Starts its own throw-away PostgreSQL server (like the test fixture) and needs no
keychain. Last line: ``rows_per_s=… ratio_vs_floor=…`` (target ratio ≥ 0.8).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.pull_common import engine_fetch, engine_pull, floor_insert  # noqa: E402

ROWS = 1_000_000


def seed(server) -> None:
    from tests.integration.dbservers import postgres_admin

    admin = postgres_admin(server)
    try:
        with admin.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS big")
            cur.execute("CREATE TABLE big (id bigint, amount double precision, name text, day date, "
                        "qty integer, flag boolean, code text, score double precision)")
            cur.execute(f"INSERT INTO big SELECT g, g * 1.5, 'name ' || g, DATE '2026-01-01' + (g % 365), g % 97, "
                        f"g % 2 = 0, md5(g::text), g / 7.0 FROM generate_series(1, {ROWS}) g")
            cur.execute(f'GRANT SELECT ON big TO "{server.user}"')
            cur.execute("ANALYZE big")
    finally:
        admin.close()


def engine_path(server, home: Path) -> float:
    return engine_pull("postgresql", server.settings(), home, ROWS)


def floor(server, home: Path) -> tuple[float, float]:
    import psycopg

    with psycopg.connect(host=server.host, port=server.port, dbname=server.database, user=server.user,
                         password=server.password) as pg:
        started = time.perf_counter()
        size = 0
        with pg.cursor() as cur, cur.copy("COPY big TO STDOUT") as copy:
            for block in copy:
                size += len(block)
        copy_s = time.perf_counter() - started
        with pg.cursor() as cur:
            cur.execute("SELECT * FROM big")
            rows = [(r[0], r[1], r[2], r[3].isoformat(), r[4], int(r[5]), r[6], r[7]) for r in cur.fetchall()]
    insert_s = floor_insert(home, rows)
    return copy_s, insert_s


def main() -> None:
    from tests.integration.dbservers import running_postgres

    with tempfile.TemporaryDirectory(prefix="dagflux-bench-") as tmp:
        home = Path(tmp)
        os.environ["DAGFLUX_HOME"] = str(home)
        with running_postgres() as server:
            seed(server)
            floor_copy, insert_s = floor(server, home)
            engine_s = engine_path(server, home)
            fetch_s = engine_fetch("postgresql", server.settings(), ROWS)
    floor_s = floor_copy + insert_s
    print(f"PostgreSQL → workspace, {ROWS:,} rows × 8 columns")
    print(f"  engine (connector → transfer → workspace): {engine_s:.2f} s  ({ROWS / engine_s:,.0f} rows/s)")
    print(f"    of which the connector's read alone (fetchmany, rows built and dropped): {fetch_s:.2f} s")
    print(f"  floor: COPY TO STDOUT {floor_copy:.2f} s + sqlite3 executemany {insert_s:.2f} s = {floor_s:.2f} s")
    print(f"rows_per_s={ROWS / engine_s:.0f} ratio_vs_floor={floor_s / engine_s:.3f}")


if __name__ == "__main__":
    main()
