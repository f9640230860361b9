"""What the workspace's exact ``sum``/``avg`` (:mod:`engine.decimals`) cost against SQLite's
built-in ones, on 1,000,000 rows, in the same run and the same file.

Table: ``amount DECIMAL BLOB`` — cent amounts as the workspace stores a pulled
``numeric(12,2)`` (REALs), an integer ``qty`` and a ``grp`` of 1,000 groups. Each query runs on
a plain ``sqlite3`` connection (the built-ins) and on a workspace connection
(:func:`engine.workspace.connect`, which registers the exact versions); best of
:data:`REPEAT` runs each. The built-in's answer is shown beside ours: the point of paying.

Also the pull side: PostgreSQL's ``numeric`` text loaded by the connector's exact loader
(``plugins/connectors/postgresql.py``) against psycopg's ``FloatLoader`` (what it used
before), on 1,000,000 cent amounts.

Last line: ``ratio_sum=… ratio_group_sum=… ratio_avg=… ratio_int_sum=… ratio_scan=…
ratio_numeric_load=…`` — ours over the baseline (1.0 = free); ``ratio_scan`` is a query with
no aggregate (``count(*)`` with a filter), which must stay ≈ 1.
"""

from __future__ import annotations

import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine import decimals, workspace  # noqa: E402

ROWS = 1_000_000
REPEAT = 3
QUERIES = {
    "sum": "SELECT sum(amount) FROM t",
    "group_sum": "SELECT grp, sum(amount) FROM t GROUP BY grp ORDER BY grp",
    "avg": "SELECT avg(amount) FROM t",
    "int_sum": "SELECT sum(qty) FROM t",
    "scan": "SELECT count(*) FROM t WHERE amount > 500",
}


def build(path: Path) -> None:
    rng = random.Random(7)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute('CREATE TABLE t (grp INTEGER, qty INTEGER, amount "DECIMAL BLOB")')
    conn.execute("BEGIN")
    cents = (f"{rng.randrange(100_000)}.{rng.randrange(100):02d}" for _ in range(ROWS))
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)",
                     ((i % 1000, rng.randrange(100), decimals.from_text(text)) for i, text in enumerate(cents)))
    conn.execute("COMMIT")
    conn.close()


def best(conn: sqlite3.Connection, sql: str) -> tuple[float, object]:
    times, result = [], None
    for _ in range(REPEAT):
        start = time.perf_counter()
        rows = conn.execute(sql).fetchall()
        times.append(time.perf_counter() - start)
        result = rows[0] if len(rows) == 1 else rows[1]
    return min(times), result


def loaders() -> float:
    from psycopg.types.numeric import FloatLoader

    from plugins.connectors.postgresql_parts import _ExactNumericLoader

    rng = random.Random(11)
    data = [f"{rng.randrange(100_000)}.{rng.randrange(100):02d}".encode() for _ in range(ROWS)]
    times = {}
    for cls in (FloatLoader, _ExactNumericLoader):
        load = cls(1700).load
        runs = []
        for _ in range(REPEAT):
            start = time.perf_counter()
            for value in data:
                load(value)
            runs.append(time.perf_counter() - start)
        times[cls.__name__] = min(runs)
    ratio = times["_ExactNumericLoader"] / times["FloatLoader"]
    print(f"{'numeric load':<12}{times['FloatLoader']:>12.3f}{times['_ExactNumericLoader']:>10.3f}{ratio:>8.2f}"
          f"   (FloatLoader / exact loader, per 1M values)")
    return ratio


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "workspace.sqlite"
        build(path)
        plain = sqlite3.connect(path)
        ours = workspace.connect(path)
        ratios = {}
        print(f"{'query':<12}{'built-in s':>12}{'exact s':>10}{'ratio':>8}   built-in answer / exact answer")
        for name, sql in QUERIES.items():
            base_s, base = best(plain, sql)
            ours_s, exact = best(ours, sql)
            ratios[name] = ours_s / base_s
            print(f"{name:<12}{base_s:>12.3f}{ours_s:>10.3f}{ratios[name]:>8.2f}   {base} / {exact}")
        plain.close()
        ours.close()
    ratios["numeric_load"] = loaders()
    print(f"\nrows={ROWS}")
    print(" ".join(f"ratio_{name}={ratio:.2f}" for name, ratio in ratios.items()))


if __name__ == "__main__":
    main()
