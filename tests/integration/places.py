"""Places a table can live in, for the tests that move data between them: connections to
the real PostgreSQL and MariaDB servers (added through the CLI, secrets in the keychain)
and SQLite files, plus a typed sample table seeded into each."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tests.integration.dbservers import DatabaseServer, add_login, mariadb_admin, postgres_admin

# id, name, amount (numeric), ok (boolean), day (date), note (text with NULLs and quotes)
SAMPLE = [(i, f"name {i}", round(i * 1.25, 2), i % 2 == 0, f"2026-02-{i % 28 + 1:02d}",
           None if i % 5 == 0 else f'say "{i}", ok') for i in range(1, 41)]
COLUMNS = ["id", "name", "amount", "ok", "day", "note"]


def add_postgres(cli: Any, server: DatabaseServer, conn_id: str) -> DatabaseServer:
    login = add_login(server)
    admin = postgres_admin(login)
    try:
        admin.execute(f'GRANT CREATE ON SCHEMA public TO "{login.user}"')
        admin.commit()
    finally:
        admin.close()
    secrets_in = "\n".join([login.host, login.user, login.password]) + "\n"
    out = cli("connections", "add", "postgresql", conn_id, "--name", f"PG {conn_id}",
              "--set", f"port={login.port}", "--set", f"database={login.database}",
              "--secret", "host", "--secret", "user", "--secret", "password", input=secrets_in)
    assert out.returncode == 0, out.stderr
    return login


def add_mariadb(cli: Any, server: DatabaseServer, conn_id: str) -> DatabaseServer:
    login = add_login(server)
    out = cli("connections", "add", "mariadb", conn_id, "--name", f"Maria {conn_id}",
              "--set", f"host={login.host}", "--set", f"port={login.port}", "--set", f"database={login.database}",
              "--set", f"user={login.user}", "--secret", "password", input=login.password + "\n")
    assert out.returncode == 0, out.stderr
    return login


def add_sqlite(cli: Any, path: Path, conn_id: str) -> Path:
    sqlite3.connect(path).close()
    out = cli("connections", "add", "sqlite", conn_id, "--name", f"File {conn_id}",
              "--set", f"path={path}")
    assert out.returncode == 0, out.stderr
    return path


def seed(kind: str, where: Any, table: str = "sample", rows: list[tuple] | None = None) -> None:
    """Create ``table`` with :data:`COLUMNS` in a server login or a SQLite file and fill it."""
    rows = SAMPLE if rows is None else rows
    if kind == "sqlite":
        conn = sqlite3.connect(where)
        conn.execute(f'CREATE TABLE "{table}" (id INTEGER, name TEXT, amount REAL, ok INTEGER, day TEXT, '
                     f'note TEXT)')
        conn.executemany(f'INSERT INTO "{table}" VALUES (?, ?, ?, ?, ?, ?)',
                         [(*r[:3], int(r[3]), *r[4:]) for r in rows])
        conn.commit()
        conn.close()
        return
    if kind == "postgresql":
        conn = postgres_admin(where)
        ddl = (f'CREATE TABLE "{table}" (id integer, name varchar(40), amount numeric(10,2), ok boolean, '
               f'day date, note text)')
        grant = f'GRANT ALL ON "{table}" TO "{where.user}"'
        insert = f'INSERT INTO "{table}" VALUES (%s, %s, %s, %s, %s, %s)'
    else:
        conn = mariadb_admin(where, database=where.database)
        ddl = (f"CREATE TABLE `{table}` (id INT, name VARCHAR(40), amount DECIMAL(10,2), ok BOOLEAN, day DATE, "
               f"note TEXT)")
        grant = None
        insert = f"INSERT INTO `{table}` VALUES (%s, %s, %s, %s, %s, %s)"
    try:
        with conn.cursor() as cur:
            cur.execute(ddl)
            cur.executemany(insert, rows)
            if grant:
                cur.execute(grant)
        conn.commit()
    finally:
        conn.close()


def fetch(kind: str, where: Any, sql: str) -> list[tuple]:
    """Rows of ``sql`` read back as an administrator (or from the SQLite file)."""
    if kind == "sqlite":
        conn = sqlite3.connect(where)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()
    conn = postgres_admin(where) if kind == "postgresql" else mariadb_admin(where, database=where.database)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()
