"""Benchmark: import a 1,000,000 × 8 CSV into the workspace, against two baselines.

Measured in one run, on the same generated file (ints, floats, short strings, ISO dates):

  (a) ``engine.io.readers.import_file`` into a fresh WAL workspace opened with
      ``engine.workspace.connect`` — the Data Source node's real path — in a fresh
      ``python`` subprocess, whose peak RSS is the memory figure. That is the native loader
      (``engine.io.readers.csv_native``) when it is built; ``DAGFLUX_NATIVE_CSV=0`` measures
      the Python reader instead;
  (b) the sqlite3 command-line shell: ``sqlite3 db ".mode csv" ".import file t"``;
  (c) stdlib ``csv.reader`` + one ``executemany`` transaction.

Each is run ``--repeat`` times, interleaved (a, b, c, a, b, c, …). A ratio is the other
method's time divided by ours (above 1: we are faster), taken per round and then the
median over rounds, so load from other processes that drifts over the run cancels out;
rows_per_s is from our median time. The table also shows best and median times. The
last line is machine-readable::

    rows_per_s=… ratio_vs_sqlite3_cli=… ratio_vs_stdlib=… peak_rss_mib=… ratio_wide_vs_sqlite3_cli=…

The **wide case** (``ratio_wide_vs_sqlite3_cli``; ``--wide-rows``, 0 skips it) is a
generated file shaped like real weather/sensor exports: 19 columns of ints, one-decimal
floats, short codes and two ISO timestamp styles, with "NA" as the null marker in six
columns (~38 MB at 337,000 rows) — ours against the sqlite3 shell, interleaved the same way;
then, once, the Python path's steps: its reader alone, its writer alone (the parsed values into a plain database, as the
shell writes: the floor of binding values through the stdlib ``sqlite3``) and the post-import
mixed-column scan (where the time goes).

DAGFLUX_HOME points at a temporary folder that is removed at the end.

    .venv/bin/python bench/import_csv.py [--rows N] [--repeat K] [--quoted] [--nulls]

``--quoted`` quotes the name column (so the csv module parses every line instead of the
fast path); ``--nulls`` leaves every 10th customer_id empty (so NULL markers are applied
in SQL). Both show the slower paths; the headline figures use neither.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEADER = "id,customer_id,amount,ratio,name,category,order_date,shipped_at\n"

_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")
_CATS = ("A1", "B2", "C3", "D4", "E5")
_DATES = [f"2024-{m:02d}-{d:02d}" for m in range(1, 13) for d in range(1, 29)]
_NAMES = [f"{_WORDS[k % 10]}_{k % 997}" for k in range(9970)]
_TIMES = [f"T{k % 24:02d}:{k % 60:02d}:00" for k in range(120)]
_CENTS = [f".{c:02d}" for c in range(100)]
_FRACTIONS = [f"{k / 10000:.4f}" for k in range(10000)]

# Runs in a fresh interpreter so that its peak RSS is the import's alone.
_CHILD = """
import json, resource, sys, time
from pathlib import Path
from engine import paths, workspace
from engine.io.readers import import_file

data = paths.ensure_data_dir(paths.default_paths())
conn = workspace.connect(data.workspace)
lease = workspace.WriteLease(data.workspace)
start = time.perf_counter()
result = import_file(conn, lease, Path(sys.argv[1]), "_dfstage_bench")
seconds = time.perf_counter() - start
types = dict(result.columns)
conn.close()
lease.close()
print(json.dumps({"seconds": seconds, "records": result.records, "types": types,
                  "native": result.native,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "pyarrow_loaded": "pyarrow" in sys.modules}))
"""

# The wide case's steps, once: the CSV reader alone (rows parsed and dropped, no SQLite), the
# writer alone (the parsed batches into a plain database) and the post-import scan for mixed
# columns (engine.io.readers._findings) run again on the table.
_STEPS_CHILD = """
import json, sqlite3, sys, time
from pathlib import Path
from engine import paths, workspace
from engine.io.readers import import_file
from engine.io.readers._findings import mixed_columns
from engine.io.readers._sink import TableSink
from engine.io.readers.csv_reader import read_csv

path = Path(sys.argv[1])
start = time.perf_counter()
for batch in read_csv(path, {}):
    pass
parse = time.perf_counter() - start
# The writer alone: the parsed batches (held in memory first) into a plain database — rollback
# journal, no auto-vacuum, one transaction — the way the shell writes, with our statements.
batches = list(read_csv(path, {}))
plain = sqlite3.connect(path.with_suffix(".plain.sqlite"), isolation_level=None)
sink = TableSink(plain, "t", path.name)
start = time.perf_counter()
plain.execute("BEGIN")
for batch in batches:
    sink.write(batch)
plain.execute("COMMIT")
write = time.perf_counter() - start
plain.close()
path.with_suffix(".plain.sqlite").unlink()
del batches
data = paths.ensure_data_dir(paths.default_paths())
conn = workspace.connect(data.workspace)
lease = workspace.WriteLease(data.workspace)
result = import_file(conn, lease, path, "t")
start = time.perf_counter()
mixed_columns(conn, "t", result.columns)
findings = time.perf_counter() - start
conn.close()
lease.close()
print(json.dumps({"parse_s": parse, "write_s": write, "findings_s": findings}))
"""


def _line(i: int, quoted: bool = False, nulls: bool = False) -> str:
    cents = i * 2654435761 % 1000003
    day = _DATES[i % 336]
    name = f'"{_NAMES[i % 9970]}"' if quoted else _NAMES[i % 9970]
    customer = "" if nulls and i % 10 == 0 else i * 7919 % 100003
    return (f"{i},{customer},{cents // 100}{_CENTS[cents % 100]},"
            f"{_FRACTIONS[i * 40503 % 9973]},{name},{_CATS[i % 5]},"
            f"{day},{day}{_TIMES[i % 120]}\n")


def write_csv(path: Path, rows: int, quoted: bool = False, nulls: bool = False) -> None:
    """The deterministic benchmark file: the same bytes on every run."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(HEADER)
        for start in range(1, rows + 1, 50_000):
            fh.write("".join(_line(i, quoted, nulls) for i in range(start, min(start + 50_000, rows + 1))))


WIDE_HEADER = ("id,station,year,month,day,hour,temp_c,dew_c,pressure_hpa,wind_dir,wind_ms,gust_ms,"
               "precip_mm,cloud_code,visibility_km,quality,observed_at,updated_at,flag\n")
_CLOUDS = ("OVC", "BKN", "SCT", "FEW", "CLR", "NA")


def _wide_line(i: int) -> str:
    h = i * 2654435761 % 1000003
    year, month, day, hour = 2000 + i % 24, 1 + i % 12, 1 + i % 28, i % 24

    def maybe(every: int, text: str) -> str:
        return "NA" if h % every == 0 else text

    stamp = f"{year}-{month:02d}-{day:02d}"
    return (f"{i},ST{h % 500:04d},{year},{month},{day},{hour},{maybe(53, f'{(h % 700 - 200) / 10:.1f}')},"
            f"{maybe(41, f'{(h % 500 - 250) / 10:.1f}')},{950 + (h % 1000) / 10:.1f},{maybe(17, str(h % 360))},"
            f"{(h % 300) / 10:.1f},{maybe(3, f'{(h % 500) / 10:.1f}')},"
            f"{(h % 200) / 10 if h % 4 == 0 else 0.0:.1f},{_CLOUDS[h % 6]},{maybe(29, f'{(h % 150) / 10:.1f}')},"
            f"{'AB'[h % 2]}{h % 9},{stamp}T{hour:02d}:{h % 60:02d}:00,"
            f"{stamp} {hour:02d}:{(h // 7) % 60:02d}:{h % 60:02d},{h % 2}\n")


def write_wide_csv(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(WIDE_HEADER)
        for start in range(1, rows + 1, 50_000):
            fh.write("".join(_wide_line(i) for i in range(start, min(start + 50_000, rows + 1))))


def run_ours(csv_path: Path, home: Path, child: str = _CHILD) -> dict:
    """(a) in a fresh subprocess with its own DAGFLUX_HOME (so a fresh workspace)."""
    if home.exists():
        shutil.rmtree(home)
    env = dict(os.environ, DAGFLUX_HOME=str(home), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", child, str(csv_path)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode:
        raise SystemExit(f"import_file run failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_cli(csv_path: Path, db: Path) -> float | None:
    """(b) the sqlite3 shell; None when it is not installed."""
    exe = shutil.which("sqlite3")
    if exe is None:
        return None
    db.unlink(missing_ok=True)
    start = time.perf_counter()
    subprocess.run([exe, str(db), ".mode csv", f".import {csv_path} t"], check=True, timeout=600)
    return time.perf_counter() - start


def run_stdlib(csv_path: Path, db: Path) -> float:
    """(c) csv.reader streaming into one executemany transaction."""
    db.unlink(missing_ok=True)
    start = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        with open(csv_path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            cols = ", ".join(f'"c{i}"' for i in range(len(header)))
            conn.execute(f"CREATE TABLE t ({cols})")
            conn.execute("BEGIN")
            conn.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(header))})", reader)
            conn.execute("COMMIT")
    finally:
        conn.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quoted", action="store_true", help="quote the name column")
    parser.add_argument("--nulls", action="store_true", help="empty every 10th customer_id")
    parser.add_argument("--wide-rows", type=int, default=337_000, help="rows of the wide case (0: skip it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dagflux-bench-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["DAGFLUX_HOME"] = str(tmp / "home")
        csv_path = tmp / "orders.csv"
        start = time.perf_counter()
        write_csv(csv_path, args.rows, args.quoted, args.nulls)
        print(f"generated {args.rows:,} rows × 8 columns "
              f"({csv_path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - start:.1f} s")
        ours, cli, stdlib = [], [], []
        for n in range(args.repeat):
            ours.append(run_ours(csv_path, tmp / f"home{n}"))
            cli.append(run_cli(csv_path, tmp / "cli.sqlite"))
            stdlib.append(run_stdlib(csv_path, tmp / "stdlib.sqlite"))
        wide = wide_ratio(tmp, args.wide_rows, args.repeat) if args.wide_rows else float("nan")
        report(args.rows, ours, cli, stdlib, wide)


def wide_ratio(tmp: Path, rows: int, repeat: int) -> float:
    """The wide case: the sqlite3 shell's time over ours, per round, median (nan without the shell)."""
    path = tmp / "wide.csv"
    write_wide_csv(path, rows)
    ratios, ours_s, cli_s = [], [], []
    for n in range(repeat):
        run = run_ours(path, tmp / f"wide_home{n}")
        if run["records"] != rows:
            raise SystemExit(f"bad wide import: {run}")
        cli = run_cli(path, tmp / "wide_cli.sqlite")
        if cli is None:
            return float("nan")
        ours_s.append(run["seconds"])
        cli_s.append(cli)
        ratios.append(cli / run["seconds"])
    steps = run_ours(path, tmp / "wide_steps", _STEPS_CHILD)
    print(f"\nwide case: {rows:,} rows × 19 columns ({path.stat().st_size / 2**20:.0f} MiB, 'NA' nulls): "
          f"ours median {statistics.median(ours_s):.3f} s, sqlite3 shell median {statistics.median(cli_s):.3f} s")
    print(f"  the native loader ran: {run['native']}")
    print(f"  steps of the Python path (measured once, apart): CSV reader alone {steps['parse_s']:.3f} s, "
          f"writer alone (parsed values into a plain rollback-journal database) {steps['write_s']:.3f} s, "
          f"mixed-column scan after the import {steps['findings_s']:.3f} s")
    return statistics.median(ratios)


def report(rows: int, ours: list[dict], cli: list[float | None], stdlib: list[float], wide: float) -> None:
    for run in ours:
        if run["records"] != rows or run["pyarrow_loaded"]:
            raise SystemExit(f"bad import_file run: {run}")
    ours_s = [r["seconds"] for r in ours]
    has_cli = None not in cli
    print(f"\n{'method':<30}{'best s':>9}{'median s':>10}{'M rows/s':>10}   all runs (s)")
    for name, times in (("import_file (WAL workspace)", ours_s),
                        ("sqlite3 CLI .import", cli if has_cli else []),
                        ("csv + executemany", stdlib)):
        if not times:
            print(f"{name:<30}n/a: the sqlite3 CLI is not installed")
            continue
        print(f"{name:<30}{min(times):>9.3f}{statistics.median(times):>10.3f}"
              f"{rows / statistics.median(times) / 1e6:>10.3f}   "
              + " ".join(f"{t:.2f}" for t in times))
    vs_cli = statistics.median(c / o for c, o in zip(cli, ours_s)) if has_cli else float("nan")
    vs_stdlib = statistics.median(s / o for s, o in zip(stdlib, ours_s))
    peak = max(r["peak_rss_kib"] for r in ours) / 1024
    print(f"\ncolumn types: {ours[0]['types']}; the native loader ran: {ours[0]['native']}")
    print(f"peak RSS of the importing process: {peak:.1f} MiB (max over {len(ours)} runs)")
    print(f"rows_per_s={rows / statistics.median(ours_s):.0f} ratio_vs_sqlite3_cli={vs_cli:.3f} "
          f"ratio_vs_stdlib={vs_stdlib:.3f} peak_rss_mib={peak:.1f} ratio_wide_vs_sqlite3_cli={wide:.3f}")


if __name__ == "__main__":
    main()
