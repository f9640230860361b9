"""Pull a MariaDB table into the workspace, against a floor measured in the same run.

Engine path: the Transformer's ``storage: local`` path — the MariaDB connector's unbuffered
``SSCursor`` feeding :func:`engine.connectors.transfer.transfer` into the real workspace
(WAL, write lease, batches), fetching and inserting overlapped.
Floor: the driver's fastest raw read of the same rows (PyMySQL's buffered cursor, rows
discarded as they come) plus a stdlib ``sqlite3`` ``executemany`` of the same rows in one
transaction — the two costs added. (``mysqlclient``, the C driver, is not used: it builds only
with the MariaDB client headers, and the engine path already overlaps PyMySQL's decoding with
the workspace insert.)

Starts its own throw-away MariaDB server (like the test fixture) and needs no keychain.
``ROWS`` (default 300,000) can be set in the environment as ``DAGFLUX_BENCH_ROWS``.
Last line: ``rows_per_s=… ratio_vs_floor=… driver=…`` (target ratio ≥ 0.8).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.pull_common import engine_pull, floor_insert  # noqa: E402

ROWS = int(os.environ.get("DAGFLUX_BENCH_ROWS", "300000"))


def seed(server) -> None:
    from tests.integration.dbservers import mariadb_admin

    admin = mariadb_admin(server)
    try:
        with admin.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS big")
            cur.execute("CREATE TABLE big (id BIGINT, amount DOUBLE, name VARCHAR(40), day DATE, qty INT, "
                        "flag BOOLEAN, code CHAR(32), score DECIMAL(12,4))")
            cur.execute(f"INSERT INTO big SELECT seq, seq * 1.5, CONCAT('name ', seq), "
                        f"DATE '2026-01-01' + INTERVAL (seq % 365) DAY, seq % 97, seq % 2 = 0, MD5(seq), seq / 7 "
                        f"FROM seq_1_to_{ROWS}")
            cur.execute(f"GRANT SELECT ON big TO '{server.user}'@'%'")
    finally:
        admin.close()


def engine_path(server, home: Path) -> float:
    return engine_pull("mariadb", server.settings(), home, ROWS)


def floor(server, home: Path) -> tuple[float, float]:
    import pymysql

    link = pymysql.connect(host=server.host, port=server.port, user=server.user, password=server.password,
                           database=server.database, charset="utf8mb4")
    try:
        with link.cursor() as cur:
            started = time.perf_counter()
            cur.execute("SELECT * FROM big")
            read_s = time.perf_counter() - started     # the buffered cursor has read and decoded every row
            rows = [(r[0], r[1], r[2], r[3].isoformat(), r[4], r[5], r[6], str(r[7])) for r in cur.fetchall()]
    finally:
        link.close()
    insert_s = floor_insert(home, rows)
    return read_s, insert_s


def main() -> None:
    from tests.integration.dbservers import running_mariadb

    with tempfile.TemporaryDirectory(prefix="dagflux-bench-") as tmp:
        home = Path(tmp)
        os.environ["DAGFLUX_HOME"] = str(home)
        with running_mariadb() as server:
            seed(server)
            floor_read, insert_s = floor(server, home)
            engine_s = engine_path(server, home)
    floor_s = floor_read + insert_s
    print(f"MariaDB → workspace, {ROWS:,} rows × 8 columns (PyMySQL)")
    print(f"  engine (connector → transfer → workspace): {engine_s:.2f} s  ({ROWS / engine_s:,.0f} rows/s)")
    print(f"  floor: buffered read {floor_read:.2f} s + sqlite3 executemany {insert_s:.2f} s = {floor_s:.2f} s")
    print(f"rows_per_s={ROWS / engine_s:.0f} ratio_vs_floor={floor_s / engine_s:.3f} driver=pymysql")


if __name__ == "__main__":
    main()
