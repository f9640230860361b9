"""Run ids: unique under load (one process and several), strictly increasing per process."""

from __future__ import annotations

import re
import subprocess
import sys

from engine.run_ids import new_run_id

ID_RE = re.compile(r"^\d{8}-\d{6}-\d{3}-[0-9a-f]{3}-[a-z2-7]{13}$")


def test_a_million_ids_are_unique_and_strictly_increasing() -> None:
    ids = [new_run_id() for _ in range(1_000_000)]
    assert len(set(ids)) == len(ids)
    assert all(a < b for a, b in zip(ids, ids[1:]))
    assert ID_RE.match(ids[0]) and ID_RE.match(ids[-1])


def test_ids_from_several_processes_at_once_never_collide() -> None:
    code = "from engine.run_ids import new_run_id\nprint('\\n'.join(new_run_id() for _ in range(100_000)))"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    ids = [line for p in procs for line in p.communicate(timeout=120)[0].split()]
    assert [p.returncode for p in procs] == [0] * 4
    assert len(ids) == 400_000 and len(set(ids)) == 400_000


def test_ids_sort_by_time_and_their_prefix_is_the_utc_start() -> None:
    import time

    before = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time()))
    run_id = new_run_id()
    after = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() + 1))
    assert before <= run_id[:15] <= after
