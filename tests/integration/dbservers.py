"""Throw-away PostgreSQL and MariaDB servers for tests and benchmarks.

:func:`running_postgres` and :func:`running_mariadb` are context managers that
start a real server in a fresh temporary directory, listening **only** on
``127.0.0.1`` at a free port (and on a Unix socket inside that directory), create
one database and one login with a random password, and yield a
:class:`DatabaseServer`. On exit — normal, exception or ``KeyboardInterrupt`` —
the server is stopped (escalating to ``SIGKILL``) and the directory deleted.
The server also gets a parent-death signal, so if the Python process is killed
outright the server does not outlive it; the directory it leaves behind is
deleted by the next start (each directory records its owner's pid).

When running as root the servers run as the unprivileged ``postgres`` / ``mysql``
system users (initdb refuses root); otherwise as the current user. Passwords are
really checked (scram-sha-256 for PostgreSQL over TCP, mysql_native_password for
MariaDB): tests can rely on a wrong password failing.

Missing server binaries raise :class:`ServerUnavailable`; the session-scoped pytest
fixtures :func:`postgres_server` and :func:`mariadb_server` turn that into a skip.
Nothing here depends on pytest except those two fixtures, so ``bench/`` scripts can
use the context managers directly.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
OWNER_FILE = "owner.pid"
_PR_SET_PDEATHSIG = 1


class ServerUnavailable(RuntimeError):
    """The server binaries are not installed (the reason says which and how to get them)."""


class ServerStartError(RuntimeError):
    """The server binaries exist but the server did not come up (the message has its log)."""


@dataclass
class DatabaseServer:
    """What a test needs to reach a throw-away server.

    ``host``/``port``/``database``/``user``/``password`` are a normal login over TCP
    (give them to a connector). ``socket`` is the Unix socket (a directory for
    PostgreSQL, a file for MariaDB) on which ``admin_user`` (with ``admin_password``,
    empty for PostgreSQL where the socket is trusted) can do anything; for
    PostgreSQL ``admin_dsn`` says the same as a libpq conninfo string.
    """

    kind: str
    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    socket: str
    admin_user: str
    admin_password: str = field(repr=False)
    directory: str
    log_path: str
    admin_dsn: str = ""                         # PostgreSQL only: libpq conninfo of the admin login

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def settings(self) -> dict[str, Any]:
        """Connection settings for a connector, secrets included."""
        return {"host": self.host, "port": self.port, "database": self.database,
                "user": self.user, "password": self.password}

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # Read-only mapping protocol: ``server["port"]``, ``dict(server)`` and ``{**server}`` work.
    def keys(self) -> list[str]:
        return list(self.as_dict())

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]


# --- small shared helpers --------------------------------------------------------------

def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def random_password(length: int = 32) -> str:
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _service_user(name: str) -> pwd.struct_passwd | None:
    """The account a server runs as: ``name`` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise ServerUnavailable(f"running as root needs the '{name}' system user (install the server package)") \
            from None


def _die_with_parent() -> None:
    """``preexec_fn``: the server gets SIGKILL-free cleanup if the test process dies.

    Runs in the child after ``setuid`` (Popen's ``user=``), so the kernel keeps it.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _popen(args: list[str], account: pwd.struct_passwd | None, log: Path,
           die_with_parent: bool = False) -> subprocess.Popen[bytes]:
    ids: dict[str, Any] = {}
    if account is not None:
        ids = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    with log.open("ab") as out:
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_die_with_parent if die_with_parent else None,
                                **ids)


def _run(args: list[str], account: pwd.struct_passwd | None, log: Path, what: str) -> None:
    proc = _popen(args, account, log)
    if proc.wait(120) != 0:
        raise ServerStartError(f"{what} failed with exit code {proc.returncode}:\n{_tail(log)}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _make_dir(prefix: str, account: pwd.struct_passwd | None) -> Path:
    # Not pytest's tmp_path: as root it lives under a 0700 directory the server user cannot enter.
    _sweep_stale(prefix)
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    (directory / OWNER_FILE).write_text(str(os.getpid()))
    if account is not None:
        os.chown(directory, account.pw_uid, account.pw_gid)
    return directory


def _sweep_stale(prefix: str) -> None:
    """Delete directories left by a process that was killed outright (its server died with it)."""
    for directory in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            owner = int((directory / OWNER_FILE).read_text())
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(directory, ignore_errors=True)
        except (OSError, ValueError):           # not ours, unreadable, or the owner is alive: leave it
            continue


def _stop(proc: subprocess.Popen[bytes], first_signal: signal.Signals) -> None:
    """Stop ``proc`` politely, then firmly; returns once it has exited."""
    for sig, wait in ((first_signal, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)


def _wait_until(ready: Any, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(f"{what} exited with code {proc.returncode}:\n{_tail(log)}")
        if ready():
            return
        time.sleep(0.03)
    raise ServerStartError(f"{what} was not ready within {STARTUP_TIMEOUT:.0f} s:\n{_tail(log)}")


# --- PostgreSQL --------------------------------------------------------------------------

def postgres_bin_dir() -> Path:
    for candidate in PG_BIN_DIRS:
        if (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise ServerUnavailable("PostgreSQL server binaries not found (looked in "
                            f"{', '.join(PG_BIN_DIRS)} and PATH); install the 'postgresql' package")


@contextlib.contextmanager
def running_postgres(database: str = "dagflux_test", user: str = "dagflux_user") -> Iterator[DatabaseServer]:
    """A fresh PostgreSQL cluster; TCP logins need the password, the socket is trusted."""
    bindir = postgres_bin_dir()
    account = _service_user("postgres")
    directory = _make_dir("dagflux-pg-", account)
    proc: subprocess.Popen[bytes] | None = None
    try:
        log = directory / "server.log"
        _run([str(bindir / "initdb"), "-D", str(directory / "data"), "-U", "postgres", "-E", "UTF8",
              "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
              "--no-instructions"], account, log, "initdb")
        proc, port = _start_postgres(bindir, directory, account, log)
        server = DatabaseServer("postgresql", "127.0.0.1", port, database, user, random_password(),
                                str(directory), "postgres", "", str(directory), str(log),
                                admin_dsn=f"host={directory} port={port} user=postgres dbname={database}")
        _bootstrap_postgres(server)
        yield server
    finally:
        if proc is not None:
            _stop(proc, signal.SIGINT)          # SIGINT = PostgreSQL's "fast" shutdown
        shutil.rmtree(directory, ignore_errors=True)


def _start_postgres(bindir: Path, directory: Path, account: pwd.struct_passwd | None,
                    log: Path) -> tuple[subprocess.Popen[bytes], int]:
    last_error: Exception | None = None
    for _attempt in range(3):                   # another process may take the port we picked
        port = free_port()
        proc = _popen([str(bindir / "postgres"), "-D", str(directory / "data"), "-p", str(port),
                       "-c", "listen_addresses=127.0.0.1", "-k", str(directory),
                       "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                       "-c", "max_connections=40", "-c", "shared_buffers=32MB"],
                      account, log, die_with_parent=True)
        try:
            _wait_until(lambda p=port: _pg_ready(directory, p), proc, log, "postgres")
            return proc, port
        except ServerStartError as exc:
            last_error = exc
            _stop(proc, signal.SIGQUIT)
    raise ServerStartError(str(last_error))


def _pg_ready(directory: Path, port: int) -> bool:
    return (directory / f".s.PGSQL.{port}").exists() and _pg_admin_ok(str(directory), port)


def _pg_admin_ok(socket_dir: str, port: int) -> bool:
    import psycopg

    try:
        with psycopg.connect(host=socket_dir, port=port, user="postgres", dbname="postgres", connect_timeout=2):
            return True
    except psycopg.OperationalError:            # still starting up
        return False


def postgres_admin(server: DatabaseServer, database: str | None = None) -> Any:
    """A psycopg connection as the superuser over the socket, autocommit on (close it)."""
    import psycopg

    return psycopg.connect(host=server.socket, port=server.port, user=server.admin_user,
                           dbname=database or server.database, autocommit=True)


def _bootstrap_postgres(server: DatabaseServer) -> None:
    """Create ``server.user`` (with ``server.password``) and its database ``server.database``."""
    from psycopg import sql

    with postgres_admin(server, "postgres") as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(server.user), sql.Literal(server.password)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(server.database), sql.Identifier(server.user)))


# --- MariaDB -----------------------------------------------------------------------------

def mariadb_binaries() -> tuple[str, str]:
    server = shutil.which("mariadbd") or shutil.which("mysqld") or _first_file("/usr/sbin/mariadbd",
                                                                                "/usr/sbin/mysqld")
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    if not server or not install:
        raise ServerUnavailable("MariaDB server binaries (mariadbd, mariadb-install-db) not found; "
                                "install the 'mariadb-server' package")
    return server, install


def _first_file(*paths: str) -> str | None:
    return next((p for p in paths if os.path.isfile(p)), None)


# Small InnoDB files and no durability: the data directory is thrown away anyway.
_MARIADB_TUNING = ["--innodb-log-file-size=4M", "--innodb-buffer-pool-size=32M", "--skip-name-resolve"]
_MARIADB_RUN = ["--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--skip-log-bin",
                "--max-connections=40", "--performance-schema=OFF", "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci"]


@contextlib.contextmanager
def running_mariadb(database: str = "dagflux_test", user: str = "dagflux_user") -> Iterator[DatabaseServer]:
    """A fresh MariaDB server; every account needs its password, root only on the socket."""
    server_bin, install_bin = mariadb_binaries()
    account = _service_user("mysql")
    directory = _make_dir("dagflux-maria-", account)
    proc: subprocess.Popen[bytes] | None = None
    try:
        log = directory / "server.log"
        _run([install_bin, "--no-defaults", f"--datadir={directory / 'data'}",
              "--auth-root-authentication-method=normal", "--skip-test-db", *_MARIADB_TUNING],
             account, log, "mariadb-install-db")
        proc, port = _start_mariadb(server_bin, directory, account, log)
        server = DatabaseServer("mariadb", "127.0.0.1", port, database, user, random_password(),
                                str(directory / "mysqld.sock"), "root", random_password(), str(directory),
                                str(log))
        _bootstrap_mariadb(server)
        yield server
    finally:
        if proc is not None:
            _stop(proc, signal.SIGTERM)         # SIGTERM = clean shutdown
        shutil.rmtree(directory, ignore_errors=True)


def _start_mariadb(server_bin: str, directory: Path, account: pwd.struct_passwd | None,
                   log: Path) -> tuple[subprocess.Popen[bytes], int]:
    sock = directory / "mysqld.sock"
    last_error: Exception | None = None
    for _attempt in range(3):                   # another process may take the port we picked
        port = free_port()
        proc = _popen([server_bin, "--no-defaults", f"--datadir={directory / 'data'}", f"--socket={sock}",
                       f"--port={port}", "--bind-address=127.0.0.1", f"--pid-file={directory / 'mysqld.pid'}",
                       f"--log-error={log}", *_MARIADB_TUNING, *_MARIADB_RUN], account, log, die_with_parent=True)
        try:
            _wait_until(lambda: _maria_ready(sock), proc, log, "mariadbd")
            return proc, port
        except ServerStartError as exc:
            last_error = exc
            _stop(proc, signal.SIGKILL)
    raise ServerStartError(str(last_error))


def _maria_ready(sock: Path) -> bool:
    import pymysql

    if not sock.exists():
        return False
    try:
        pymysql.connect(unix_socket=str(sock), user="root", connect_timeout=2).close()
        return True
    except pymysql.err.OperationalError:        # still starting up
        return False


def mariadb_admin(server: DatabaseServer, database: str | None = None) -> Any:
    """A pymysql connection as root over the socket, autocommit on (close it)."""
    import pymysql

    return pymysql.connect(unix_socket=server.socket, user=server.admin_user, password=server.admin_password,
                           database=database or server.database, autocommit=True, charset="utf8mb4")


def _bootstrap_mariadb(server: DatabaseServer) -> None:
    import pymysql

    conn = pymysql.connect(unix_socket=server.socket, user="root", autocommit=True, charset="utf8mb4")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT user, host FROM mysql.user WHERE user = 'root' AND host <> 'localhost'")
            for name, host in cur.fetchall():
                cur.execute("DROP USER %s@%s", (name, host))
            cur.execute("ALTER USER root@localhost IDENTIFIED BY %s", (server.admin_password,))
    finally:
        conn.close()
    _create_mariadb_login(server)


def _create_mariadb_login(server: DatabaseServer) -> None:
    """Create ``server.user`` (with ``server.password``, from anywhere) and its database."""
    conn = mariadb_admin(server, database="mysql")
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{server.database}`")
            cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (server.user, server.password))
            cur.execute(f"GRANT ALL PRIVILEGES ON `{server.database}`.* TO %s@'%%'", (server.user,))
    finally:
        conn.close()


# --- more logins -------------------------------------------------------------------------

def add_login(server: DatabaseServer) -> DatabaseServer:
    """A new user with a random password and its own new database on ``server``.

    For tests that change a login (its password …) or want tables of their own
    without disturbing the session-wide login of the fixture.
    """
    suffix = secrets.token_hex(4)
    login = dataclasses.replace(server, database=f"{server.database}_{suffix}", user=f"{server.user}_{suffix}",
                                password=random_password())
    if server.kind == "postgresql":
        login.admin_dsn = f"host={server.socket} port={server.port} user={server.admin_user} dbname={login.database}"
        _bootstrap_postgres(login)
    else:
        _create_mariadb_login(login)
    return login


# --- pytest fixtures (import them into a conftest.py) -------------------------------------

@pytest.fixture(scope="session")
def postgres_server() -> Iterator[DatabaseServer]:
    """A PostgreSQL server shared by the session; skipped when PostgreSQL is not installed."""
    yield from _fixture(running_postgres)


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[DatabaseServer]:
    """A MariaDB server shared by the session; skipped when MariaDB is not installed."""
    yield from _fixture(running_mariadb)


def _fixture(starter: Any) -> Iterator[DatabaseServer]:
    stack = contextlib.ExitStack()
    try:
        server = stack.enter_context(starter())
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    with stack:
        yield server
