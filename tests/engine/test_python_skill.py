"""The Python code skill: compile, run over a real workspace, and the worker sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import workspace
from engine.errors import NodeError
from engine.skills.python_skill import compile_skill, run_transform

REPO = Path(__file__).resolve().parents[2]
LABEL = "Clean orders"
INPUT = "wf__orders"
STAGING = "_dfstage_wf__clean_x"


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[tuple]:
    path = tmp_path / "ws.sqlite"
    conn = workspace.connect(path)
    lease = workspace.WriteLease(path)
    with workspace.write_transaction(conn, lease):
        conn.execute(f"CREATE TABLE {INPUT} (id INTEGER, item TEXT, amount REAL)")
        conn.executemany(f"INSERT INTO {INPUT} VALUES (?, ?, ?)",
                         [(1, "pen", 2.5), (2, "ink", 0.0), (3, "pad", 4.0), (4, "cap", 1.0)])
    yield conn, lease, path
    lease.close()
    conn.close()


def transform(ws: tuple, code: str, **kwargs: object) -> tuple[int, list[tuple[str, str]], list]:
    """Compile and run ``code``; returns (count, staging columns, staging rows)."""
    conn, lease, _ = ws
    fn = compile_skill(textwrap.dedent(code), LABEL)
    count = run_transform(fn, conn, lease, INPUT, STAGING, LABEL, **kwargs)
    rows = conn.execute(f"SELECT * FROM {STAGING} ORDER BY rowid").fetchall()
    return count, workspace.columns(conn, STAGING), rows


def python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (the sandbox changes a process for good)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


# --- transforming ------------------------------------------------------------------------------

def test_a_generator_filters_rows_and_adds_a_computed_column(ws):
    count, columns, rows = transform(ws, """
        def transform(rows):
            for row in rows:
                if row["amount"] > 0:
                    yield {**row, "with_tax": row["amount"] * 1.2, "big": row["amount"] > 2}
    """)
    assert count == 3
    assert columns == [("id", "INTEGER"), ("item", "TEXT"), ("amount", "REAL"),
                       ("with_tax", "REAL"), ("big", "INTEGER")]
    assert rows == [(1, "pen", 2.5, 3.0, 1), (3, "pad", 4.0, 4.8, 1), (4, "cap", 1.0, 1.2, 0)]


def test_a_list_return_and_small_batches(ws):
    count, columns, rows = transform(ws, """
        def transform(rows):
            return [{"item": r["item"].upper()} for r in rows]
    """, batch_size=3)
    assert count == 4
    assert columns == [("item", "TEXT")]
    assert rows == [("PEN",), ("INK",), ("PAD",), ("CAP",)]


def test_later_keys_add_columns_and_missing_keys_are_null(ws):
    count, columns, rows = transform(ws, """
        def transform(rows):
            yield {"a": 1, "b": None}
            yield {"A": 2, "c": "x"}              # 'A' is column 'a'; 'c' is new
            yield {"b": 3.5, "d": b"\\x00\\x01"}
    """, batch_size=1)
    assert count == 3
    assert columns == [("a", "INTEGER"), ("b", ""), ("c", "TEXT"), ("d", "BLOB")]
    assert rows == [(1, None, None, None), (2, None, "x", None), (None, 3.5, None, b"\x00\x01")]


def test_types_come_from_the_first_non_null_value_of_the_batch(ws):
    _, columns, _ = transform(ws, """
        def transform(rows):
            yield {"n": None}
            yield {"n": 7}
    """)
    assert columns == [("n", "INTEGER")]


def test_values_are_converted_for_sqlite(ws):
    _, columns, rows = transform(ws, """
        import datetime, enum
        class Colour(str, enum.Enum):
            RED = "red"
        def transform(rows):
            yield {"ok": True, "meta": {"tags": ["a", "é"], "on": datetime.date(2024, 5, 1)},
                   "when": datetime.datetime(2024, 5, 1, 12, 30), "colour": Colour.RED,
                   "raw": bytearray(b"hi")}
    """)
    assert columns == [("ok", "INTEGER"), ("meta", "TEXT"), ("when", "TEXT"), ("colour", "TEXT"),
                       ("raw", "BLOB")]
    ok, meta, when, colour, raw = rows[0]
    assert (ok, when, colour, raw) == (1, "2024-05-01T12:30:00", "red", b"hi")
    assert json.loads(meta) == {"tags": ["a", "é"], "on": "2024-05-01"}


def test_zero_rows_give_a_table_with_the_input_columns(ws):
    count, columns, rows = transform(ws, """
        def transform(rows):
            return []
    """)
    assert (count, rows) == (0, [])
    assert columns == [("id", "INTEGER"), ("item", "TEXT"), ("amount", "REAL")]


def test_the_write_lease_is_free_while_user_code_runs(ws):
    _, _, path = ws
    _, _, rows = transform(ws, f"""
        import fcntl, os
        def transform(rows):
            fd = os.open({str(path) + ".lease"!r}, os.O_RDWR)
            try:
                for row in rows:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # raises if the lease is held
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    yield {{"id": row["id"]}}
            finally:
                os.close(fd)
    """, batch_size=1)
    assert rows == [(1,), (2,), (3,), (4,)]


# --- errors ------------------------------------------------------------------------------------

def test_each_skill_gets_a_fresh_namespace(ws):
    compile_skill("secret = 'first'\ndef transform(rows):\n    return rows\n", "first")
    with pytest.raises(NodeError, match=r"NameError: name 'secret' is not defined "
                                        r"at line 3 in transform"):
        transform(ws, """
            def transform(rows):
                return [{"leak": secret}]
        """)


def test_a_syntax_error_names_the_node_line_and_text():
    code = "def transform(rows):\n    return [r for r in rows if r['a'] = 1]\n"
    with pytest.raises(NodeError, match=r"(?s)node 'Clean orders': syntax error on line 2: .*"
                                        r"return \[r for r in rows if r\['a'\] = 1\]"):
        compile_skill(code, LABEL)


def test_an_indentation_error_is_reported_as_such():
    with pytest.raises(NodeError, match=r"node 'Clean orders': indentation error on line 2"):
        compile_skill("def transform(rows):\nreturn rows\n", LABEL)


def test_code_without_transform_is_refused():
    with pytest.raises(NodeError, match=r"node 'Clean orders': the code must define a function "
                                        r"'def transform\(rows\):'"):
        compile_skill("def transfrom(rows):\n    return rows\n", LABEL)
    with pytest.raises(NodeError, match=r"transform must take exactly one argument, rows"):
        compile_skill("def transform(rows, extra):\n    return rows\n", LABEL)


def test_an_error_while_loading_names_its_line():
    with pytest.raises(NodeError, match=r"node 'Clean orders': ModuleNotFoundError: No module "
                                        r"named 'no_such_mod' while loading the code at line 2: "
                                        r"import no_such_mod"):
        compile_skill("x = 1\nimport no_such_mod\n", LABEL)


def test_a_runtime_error_names_the_innermost_user_line_without_a_traceback(ws):
    with pytest.raises(NodeError) as info:
        transform(ws, """
            def share(row):
                return 1 / row["amount"]

            def transform(rows):
                for row in rows:
                    yield {"share": share(row)}
        """)
    message = str(info.value)
    assert message == ("node 'Clean orders': ZeroDivisionError: float division by zero "
                       "at line 3 in share: return 1 / row[\"amount\"]")
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_a_non_dict_row_names_its_position(ws):
    with pytest.raises(NodeError, match=r"node 'Clean orders': output row 3 is a tuple, "
                                        r"not a dict"):
        transform(ws, """
            def transform(rows):
                return [{"a": 1}, {"a": 2}, (3,)]
        """)


@pytest.mark.parametrize("body, message", [
    ("return None", r"transform returned None; return a list of dicts or yield them"),
    ("return {'a': 1}", r"transform returned a dict; return a list of dicts"),
    ("return 5", r"transform returned a int, which is not iterable"),
    ("return [{'when': object()}]", r"output row 1, column 'when': a object cannot be stored"),
    ("return [{'n': 2**70}]", r"output row 1, column 'n': integer \d+ does not fit"),
    ("return [{'j': {'s': {1, 2}}}]", r"output row 1, column 'j': cannot be stored as JSON"),
    ("return [{'a': 1, 'A': 2}]", r"keys 'a' and 'A' differ only in case"),
    ("return [{1: 'x'}]", r"output row 1: key 1 cannot be a column name"),
])
def test_bad_results_are_refused_naming_the_node(ws, body, message):
    with pytest.raises(NodeError, match=rf"node 'Clean orders': .*{message}"):
        transform(ws, f"def transform(rows):\n    {body}\n")


def test_a_missing_input_table_is_named(ws):
    conn, lease, _ = ws
    fn = compile_skill("def transform(rows):\n    return rows\n", LABEL)
    with pytest.raises(NodeError, match=r"input table 'wf__nope' does not exist"):
        run_transform(fn, conn, lease, "wf__nope", STAGING, LABEL)


# --- sandbox (always in a fresh interpreter) ---------------------------------------------------

def test_the_cpu_limit_kills_an_endless_loop_quickly():
    started = time.monotonic()
    result = python("""
        from engine.skills.python_skill import apply_sandbox
        apply_sandbox({"cpu_seconds": 1})
        while True:
            pass
    """)
    assert result.returncode in (-signal.SIGXCPU, -signal.SIGKILL), result.stderr
    assert time.monotonic() - started < 20


def test_the_memory_limit_raises_memory_error():
    result = python("""
        from engine.skills.python_skill import apply_sandbox
        apply_sandbox({"memory_mb": 200})
        try:
            block = bytearray(2 * 1024 ** 3)
        except MemoryError:
            print("MemoryError")
    """)
    assert result.stdout.strip() == "MemoryError", result.stderr


def test_limits_are_clamped_to_the_hard_limits_and_cannot_be_raised_again():
    result = python("""
        import resource
        from engine.skills.python_skill import apply_sandbox
        resource.setrlimit(resource.RLIMIT_CPU, (30, 30))
        apply_sandbox({"cpu_seconds": 1000, "memory_mb": 512})
        print(resource.getrlimit(resource.RLIMIT_CPU), resource.getrlimit(resource.RLIMIT_AS))
        try:
            resource.setrlimit(resource.RLIMIT_AS, (2**40, 2**40))
        except ValueError:
            print("refused")
    """)
    assert result.stdout.split("\n")[:2] == [f"(30, 30) {(512 * 2**20, 512 * 2**20)}", "refused"], \
        result.stderr


def test_session_and_secret_variables_are_scrubbed_also_for_child_processes():
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": "unix:path=/tmp/bus", "SSH_AUTH_SOCK": "/s",
           "XDG_RUNTIME_DIR": "/run/user/1", "DAGFLUX_AUTH_KEY": "k", "DAGFLUX_HOME": "/h",
           "KEYRING_PROPERTY_X": "1"}
    result = python("""
        import os, subprocess
        from engine.skills.python_skill import apply_sandbox
        apply_sandbox({})
        child = subprocess.run(["env"], capture_output=True, text=True).stdout
        for name in ("DBUS_SESSION_BUS_ADDRESS", "SSH_AUTH_SOCK", "XDG_RUNTIME_DIR",
                     "DAGFLUX_AUTH_KEY", "KEYRING_PROPERTY_X", "DAGFLUX_HOME"):
            print(name, name in os.environ, f"{name}=" in child)
    """, env=env)
    assert result.stdout.splitlines() == [
        "DBUS_SESSION_BUS_ADDRESS False False", "SSH_AUTH_SOCK False False",
        "XDG_RUNTIME_DIR False False", "DAGFLUX_AUTH_KEY False False",
        "KEYRING_PROPERTY_X False False", "DAGFLUX_HOME True True"], result.stderr


def test_bad_limits_are_refused_before_anything_changes():
    result = python("""
        import os, resource
        from engine.errors import NodeError
        from engine.skills.python_skill import apply_sandbox
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=/tmp/bus"
        before = resource.getrlimit(resource.RLIMIT_AS), resource.getrlimit(resource.RLIMIT_CPU)
        for limits in ({"cpu_seconds": 0}, {"memory_mb": -5}, {"cpu_seconds": "60"},
                       {"memory_mb": True}, {"cpu_seconds": float("inf")}):
            try:
                apply_sandbox(limits)
            except NodeError as exc:
                print(exc)
        after = resource.getrlimit(resource.RLIMIT_AS), resource.getrlimit(resource.RLIMIT_CPU)
        print(before == after, "DBUS_SESSION_BUS_ADDRESS" in os.environ)
    """)
    assert result.stdout.splitlines() == [
        "limits.cpu_seconds must be a positive number, got 0",
        "limits.memory_mb must be a positive number, got -5",
        "limits.cpu_seconds must be a positive number, got '60'",
        "limits.memory_mb must be a positive number, got True",
        "limits.cpu_seconds must be a positive number, got inf",
        "True True"], result.stderr
