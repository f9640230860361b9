"""The Python code skill: run a user's ``transform(rows)`` over one workspace table.

A Transformer configured ``{"language": "python", "code": "…", "limits":
{"cpu_seconds": 60, "memory_mb": 1024}}`` runs its code through this module, in a
fresh worker process that is discarded afterwards. The worker calls, in order:
:func:`apply_sandbox` → :func:`compile_skill` → :func:`run_transform`.

User code
    defines ``def transform(rows):``. ``rows`` is an iterator of dicts (column →
    value), one per input row, read lazily; a decimal column (declared ``DECIMAL BLOB``,
    :mod:`engine.decimals`: a database ``numeric`` pulled into the workspace) gives
    :class:`decimal.Decimal` values with every digit; the function returns an iterable of
    dicts (a list, any iterable) or is a generator that yields them.

Output table (:func:`run_transform`)
    * Columns are the first row's keys, then every new key in the order it first
      appears (``ALTER TABLE … ADD COLUMN``); keys match columns ignoring ASCII
      case, as SQLite does; a key a row lacks is NULL.
    * A column's declared type comes from its first non-null value in the batch
      that introduced it: INTEGER (int, bool), REAL (float), TEXT (str, dict/list/
      tuple as JSON, date/time as ISO 8601), BLOB (bytes), ``DECIMAL BLOB``
      (:class:`decimal.Decimal`, stored exactly as :mod:`engine.decimals` says); a column that is all
      NULL in that batch gets no declared type and stores later values as given.
      bool is stored as 0/1. Any other value type is an error naming its row and
      column — never a silent ``str()``.
    * Zero output rows: SQLite has no table without columns, so the table gets the
      input table's columns and declared types, and no rows.
    * Rows are written in batches, each in its own short
      :func:`engine.workspace.write_transaction`. The input is read through a
      separate read-only connection (one consistent WAL snapshot), so no write
      transaction is started inside an open read statement, and the write lease is
      never held while user code runs. On failure the partly written staging table
      is left to the caller (``NodeContext.building_table`` drops it).

Errors (all :class:`engine.errors.NodeError`, naming the node label)
    a syntax error (line number and the offending line), code without a
    ``transform`` function, an exception in user code (its type, message and the
    innermost user-code line — never the engine's traceback), a result that is not
    an iterable of dicts (the output row, counting from 1), a value that cannot be
    stored.

Trust model (ARCHITECTURE §5): a trust boundary for *secrets*, not a sandbox
    Running a workflow's code is like running a script the user was given: the code
    can read and write the user's files and open network connections. What
    :func:`apply_sandbox` guarantees is narrower: (1) CPU time and address space
    are capped (POSIX ``setrlimit``; not applied on Windows, and macOS does not
    enforce ``RLIMIT_AS``), and (2) the process forgets every environment variable
    that leads to the user's keychain or login session (:data:`SESSION_ENV_VARS`,
    :data:`SESSION_ENV_PREFIXES`, and every ``DAGFLUX_*`` variable except
    :data:`KEPT_DAGFLUX_VARS`), also for processes the code starts. Keyring
    libraries then find no Secret Service, and only the secrets of the connections
    the node declares (substituted by the worker) reach the code. Code written to
    find the session bus socket on purpose (``/run/user/<uid>/bus``) can still do
    so, and on macOS and Windows the keychain is tied to the login session rather
    than to an environment variable.
"""

from __future__ import annotations

import inspect
import itertools
import linecache
import math
import os
import sqlite3
import sys
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

from engine import decimals, workspace
from engine.errors import NodeError
from engine.io.rows import RowWriter
from engine.skills import sandbox_fs
from engine.workspace import quote_ident

__all__ = ["DEFAULT_LIMITS", "KEPT_DAGFLUX_VARS", "SESSION_ENV_PREFIXES", "SESSION_ENV_VARS",
           "apply_sandbox", "compile_skill", "run_transform", "scrub_environment"]

DEFAULT_LIMITS: Mapping[str, int] = {"cpu_seconds": 60, "memory_mb": 1024, "processes": 64}
CPU_GRACE_SECONDS = 1
"""After the soft CPU limit (SIGXCPU) the hard limit (SIGKILL) follows this much later."""

SESSION_ENV_VARS = (
    # D-Bus: the Secret Service (GNOME Keyring, KWallet, KeePassXC) is on the session bus.
    "DBUS_SESSION_BUS_ADDRESS", "DBUS_SYSTEM_BUS_ADDRESS", "DBUS_STARTER_ADDRESS",
    "DBUS_STARTER_BUS_TYPE", "DBUS_SESSION_BUS_PID", "DBUS_SESSION_BUS_WINDOWID",
    # The runtime dir holds the default bus socket ($XDG_RUNTIME_DIR/bus) and agent sockets.
    "XDG_RUNTIME_DIR",
    # D-Bus autolaunch finds the session bus through the X display.
    "DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY",
    # GNOME Keyring's own control socket.
    "GNOME_KEYRING_CONTROL", "GNOME_KEYRING_PID",
    # Agents that sign or decrypt on the user's behalf.
    "SSH_AUTH_SOCK", "SSH_AGENT_PID", "GPG_AGENT_INFO",
    # Kerberos credential caches and keytabs.
    "KRB5CCNAME", "KRB5_KTNAME", "KRB5_CLIENT_KTNAME",
    # keyring's backend choice, which could name a store that needs no session.
    "PYTHON_KEYRING_BACKEND",
)
SESSION_ENV_PREFIXES = ("KEYRING_PROPERTY_",)
KEPT_DAGFLUX_VARS = frozenset({"DAGFLUX_HOME"})
"""``DAGFLUX_*`` variables that hold no secret; every other one is removed."""



# --- sandbox -----------------------------------------------------------------------------

def apply_sandbox(limits: Mapping[str, Any] | None, workspace_path: Path | None = None) -> None:
    """Cap CPU time, memory and processes, confine the filesystem view and scrub session
    variables, for good (see module doc).

    ``cpu_seconds`` counts from this call (CPU already used is added); ``memory_mb``
    caps the whole address space; ``processes`` caps how many more processes the code may
    start. All are clamped to the current hard limits. Call it once in a fresh worker
    before user code runs; the process must not run another task afterwards.
    """
    cpu_seconds = _limit_value(limits, "cpu_seconds")
    memory_mb = _limit_value(limits, "memory_mb")
    processes = _limit_value(limits, "processes")
    if sys.platform != "win32":
        _set_limits(cpu_seconds, memory_mb, processes)
        sandbox_fs.confine(workspace_path)
    scrub_environment()


def scrub_environment() -> list[str]:
    """Remove the keychain/session variables from ``os.environ``; returns their names."""
    doomed = [name for name in os.environ if _is_session_var(name)]
    for name in doomed:
        del os.environ[name]        # os.environ also unsets it for child processes
    return sorted(doomed)


def _is_session_var(name: str) -> bool:
    if name in SESSION_ENV_VARS or name.startswith(SESSION_ENV_PREFIXES):
        return True
    return name.startswith("DAGFLUX_") and name not in KEPT_DAGFLUX_VARS


def _limit_value(limits: Mapping[str, Any] | None, key: str) -> int:
    value = (limits or {}).get(key)
    if value is None:
        return DEFAULT_LIMITS[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0:
        raise NodeError(f"limits.{key} must be a positive number, got {value!r}")
    return math.ceil(value)


def _set_limits(cpu_seconds: int, memory_mb: int, processes: int) -> None:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = math.ceil(usage.ru_utime + usage.ru_stime) + cpu_seconds
    _set_limit(resource.RLIMIT_CPU, cpu, cpu + CPU_GRACE_SECONDS)
    memory = memory_mb * 1024 * 1024
    _set_limit(resource.RLIMIT_AS, memory, memory)
    # RLIMIT_NPROC counts every process of the user, so the cap is "what runs now + N".
    # The kernel does not apply it to root (CAP_SYS_RESOURCE): there, the worker's process
    # group and descendant sweep (engine.workers.containment) are what bound the code.
    running = _user_process_count()
    _set_limit(resource.RLIMIT_NPROC, running + processes, running + processes)


def _user_process_count() -> int:
    import psutil

    uid = os.getuid()
    count = 0
    for proc in psutil.process_iter(["uids"]):
        uids = proc.info.get("uids")
        count += bool(uids and uids.real == uid)
    return count


def _set_limit(kind: int, soft: int, hard: int) -> None:
    """Lower both limits (clamped to the current hard one) so user code cannot raise them."""
    import resource

    _, current_hard = resource.getrlimit(kind)
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(kind, (soft, hard))


# --- compiling -----------------------------------------------------------------------------

def compile_skill(code: str, label: str) -> Callable[[Iterator[dict[str, Any]]], Any]:
    """Run ``code`` in a fresh namespace and return its ``transform`` function."""
    if "\x00" in code:
        raise NodeError(f"node '{label}': the code contains a NUL character")
    filename = _skill_filename(label)
    try:
        compiled = compile(code, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise NodeError(_syntax_message(exc, label)) from None
    # Registered so that tracebacks and our error messages can quote the user's line.
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
    namespace: dict[str, Any] = {"__name__": "dagflux_skill"}
    try:
        exec(compiled, namespace)
    except Exception as exc:  # top-level user code can raise anything; report it, not us
        raise _user_code_error(exc, label, "while loading the code") from None
    return _transform_function(namespace, label)


def _skill_filename(label: str) -> str:
    return f"<dagflux skill {label}>"


def _syntax_message(exc: SyntaxError, label: str) -> str:
    kind = type(exc).__name__.replace("Error", " error").lower()
    message = f"node '{label}': {kind} on line {exc.lineno}: {exc.msg}"
    text = (exc.text or "").strip()
    return f"{message}\n    {text}" if text else message


def _transform_function(namespace: Mapping[str, Any], label: str) -> Callable[..., Any]:
    fn = namespace.get("transform")
    if not callable(fn):
        raise NodeError(f"node '{label}': the code must define a function "
                        f"'def transform(rows):' that returns or yields dicts")
    try:
        inspect.signature(fn).bind(None)
    except TypeError:
        raise NodeError(f"node '{label}': transform must take exactly one argument, "
                        f"rows (it is defined as transform{inspect.signature(fn)})") from None
    except ValueError:
        pass  # no signature to check (a builtin); calling it will tell
    return cast(Callable[..., Any], fn)


def _user_code_error(exc: BaseException, label: str, when: str = "") -> NodeError:
    """The user's exception as a NodeError: type, message and innermost user line."""
    filename = _skill_filename(label)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    where = f" {when}" if when else ""
    if frames:
        frame = frames[-1]
        where += f" at line {frame.lineno}"
        where += f" in {frame.name}" if frame.name != "<module>" else ""
        where += f": {frame.line}" if frame.line else ""
    return NodeError(f"node '{label}': {text}{where}")


# --- running -------------------------------------------------------------------------------

def run_transform(fn: Callable[..., Any], conn: sqlite3.Connection, lease: workspace.WriteLease,
                  input_table: str, staging_table: str, label: str,
                  batch_size: int = 5000) -> int:
    """Stream ``input_table`` through ``fn`` into ``staging_table``; returns the row count.

    ``fn`` comes from :func:`compile_skill` with the same ``label`` (which locates the
    user's lines in error messages). See the module doc for the table it builds.
    """
    if staging_table == input_table:
        raise NodeError(f"node '{label}': the output table must differ from the input table")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    writer = RowWriter(conn, lease, staging_table, label)
    reader = _open_reader(conn, label)
    try:
        cursor = _select_all(reader, input_table, label)
        exact = [name for name, declared in workspace.columns(reader, input_table)
                 if decimals.is_exact_decimal(declared)]
        try:
            _write_all(fn, cursor, writer, batch_size, label, exact)
        finally:
            cursor.close()
        if writer.count == 0:
            writer.create_like(workspace.columns(reader, input_table))
    finally:
        reader.close()
    return writer.count


def _write_all(fn: Callable[..., Any], cursor: sqlite3.Cursor, writer: RowWriter,
               batch_size: int, label: str, exact: list[str] = ()) -> None:
    rows = _input_rows(cursor, batch_size, label)
    if exact:       # decimal columns (declared DECIMAL BLOB) reach user code as Decimal
        rows = _with_decimals(rows, exact)
    output = _output_rows(fn, rows, label)
    try:
        while batch := list(itertools.islice(output, batch_size)):
            writer.write(batch)
    finally:
        output.close()


def _open_reader(conn: sqlite3.Connection, label: str) -> sqlite3.Connection:
    path = workspace.database_file(conn)
    if not path:
        raise NodeError(f"node '{label}': the workspace connection has no database file; "
                        f"the Python skill reads its input through a second connection")
    return workspace.connect(path, readonly=True)


def _select_all(reader: sqlite3.Connection, table: str, label: str) -> sqlite3.Cursor:
    if not workspace.table_exists(reader, table):
        raise NodeError(f"node '{label}': input table '{table}' does not exist in the workspace")
    return reader.execute(f"SELECT * FROM {quote_ident(table)}")


def _input_rows(cursor: sqlite3.Cursor, batch_size: int, label: str) -> Iterator[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    while True:
        try:
            chunk = cursor.fetchmany(batch_size)
        except sqlite3.Error as exc:
            raise NodeError(f"node '{label}': reading the input table failed: {exc}") from None
        if not chunk:
            return
        for values in chunk:
            yield dict(zip(names, values, strict=True))


def _with_decimals(rows: Iterator[dict[str, Any]], names: list[str]) -> Iterator[dict[str, Any]]:
    for row in rows:
        for name in names:
            row[name] = decimals.as_decimal(row[name])
        yield row


def _output_rows(fn: Callable[..., Any], rows: Iterator[dict[str, Any]],
                 label: str) -> Generator[Any, None, None]:
    """The rows ``fn`` produces; an exception from user code becomes a NodeError."""
    try:
        yield from _as_iterator(fn(rows), label)
    except NodeError:
        raise                       # ours (reading the input, a bad result), already worded
    except Exception as exc:  # user code can raise anything; report it, not us
        raise _user_code_error(exc, label) from None


def _as_iterator(result: Any, label: str) -> Iterator[Any]:
    hint = "return a list of dicts or yield them"
    if result is None or isinstance(result, (Mapping, str, bytes)):
        name = "None" if result is None else f"a {type(result).__name__}"
        raise NodeError(f"node '{label}': transform returned {name}; {hint}")
    if not isinstance(result, Iterable):
        raise NodeError(f"node '{label}': transform returned a {type(result).__name__}, "
                        f"which is not iterable; {hint}")
    return iter(result)
