"""The secret-leak test: a secret in play never shows up anywhere outside the keychain.

Random 32-character secrets on a PostgreSQL connection (the real password and a wrong
one) and on a REST token; workflows that succeed and that fail (wrong password, SQL
error, an HTTP 401 that echoes the Authorization header) run through the engine and
through the CLI alone. Then every file under DAGFLUX_HOME, everything the CLI and
the engine (with its workers) printed or logged, the history, and every msgpack frame
that left a worker or the engine (the audit tap) are searched for each secret and its
common encodings: zero hits.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import string
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from engine import frametap
from tests.integration.dbservers import add_login, postgres_admin
from tests.integration.engine_harness import EngineProcess
from tests.integration.helpers import node, write_workflow
from tests.integration.restserver import RestServer


def _random_secret() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(32))


def _encodings(value: str, companions: list[str]) -> list[bytes]:
    forms = {value, quote(value, safe=""), quote_plus(value), base64.b64encode(value.encode()).decode().rstrip("=")}
    for other in companions:
        forms.add(base64.b64encode(f"{other}:{value}".encode()).decode().rstrip("="))
    return [f.encode() for f in forms]


def _flows(folder: Path) -> list[Path]:
    start = node("start", "start", {"trigger": {"kind": "manual"}})
    pg_read = node("orders", "data_source", {"source": "connection", "connection": "pg", "table": "orders"})
    pull = node("pull", "transformer", {"language": "sql", "storage": "local",
                                        "sql": "SELECT * FROM {{ input }}"})
    bad_sql = node("pull", "transformer", {"language": "sql", "storage": "local",
                                           "sql": "SELECT no_such_column FROM {{ input }}"})
    wrong = node("orders", "data_source", {"source": "connection", "connection": "pg_wrong", "table": "orders"})
    api = node("api", "data_source", {"source": "rest", "connection": "api", "path": "/secure/bearer",
                                      "records_path": "data"})
    echo = node("api", "data_source", {"source": "rest", "connection": "api", "path": "/echo401"})
    chain = [("start", "orders"), ("orders", "pull")]
    return [write_workflow(folder, "pg_ok", [start, pg_read, pull], chain),
            write_workflow(folder, "pg_sql_error", [start, pg_read, bad_sql], chain),
            write_workflow(folder, "pg_wrong_password", [start, wrong, pull], chain),
            write_workflow(folder, "api_ok", [start, api], [("start", "api")]),
            write_workflow(folder, "api_401_echo", [start, echo], [("start", "api")])]


def test_secret_leak_nowhere_after_successful_and_failing_runs(keyring_ready, postgres_server, cli,
                                                                dagflux_home, tmp_path, monkeypatch):
    pg_secret, wrong_secret, token = _random_secret(), _random_secret(), _random_secret()
    postgres_server = add_login(postgres_server)  # a login of our own: we change its password
    admin = postgres_admin(postgres_server)
    try:
        with admin.cursor() as cur:
            cur.execute(f"ALTER USER \"{postgres_server.user}\" PASSWORD '{pg_secret}'")
            cur.execute("DROP TABLE IF EXISTS orders")
            cur.execute("CREATE TABLE orders (id int, note text)")
            cur.execute("INSERT INTO orders VALUES (1, 'first'), (2, 'second')")
            cur.execute(f'GRANT ALL ON orders TO "{postgres_server.user}"')
        admin.commit()
    finally:
        admin.close()
    frame_log = tmp_path / "frames.bin"
    monkeypatch.setenv(frametap.ENV, str(frame_log))
    outputs: list[str] = []

    def run(*args: str, input: str | None = None):
        out = cli(*args, input=input)
        outputs.extend([out.stdout, out.stderr])
        return out

    pg_settings = ["--set", f"port={postgres_server.port}", "--set", f"database={postgres_server.database}"]
    secrets_for = lambda password: f"{postgres_server.host}\n{postgres_server.user}\n{password}\n"  # noqa: E731
    assert run("connections", "add", "postgresql", "pg", *pg_settings, input=secrets_for(pg_secret)).returncode == 0
    assert run("connections", "add", "postgresql", "pg_wrong", *pg_settings,
               input=secrets_for(wrong_secret)).returncode == 0
    with RestServer(token=token) as server:
        assert run("connections", "add", "rest", "api", "--set", f"base_url={server.url}", "--set", "auth=bearer",
                   "--secret", "token", input=f"{token}\n").returncode == 0
        flows = _flows(tmp_path)
        expected = {"pg_ok": 0, "pg_sql_error": 1, "pg_wrong_password": 1, "api_ok": 0, "api_401_echo": 1}
        for flow in flows:  # the CLI on its own (it holds the lock, workers are its children)
            out = run("run", "--json", str(flow))
            assert out.returncode == expected[flow.stem], (flow.stem, out.stderr)
        for conn_id in ("pg", "pg_wrong", "api"):
            run("connections", "test", conn_id)
        run("connections", "sample", "pg", "orders")
        engine = EngineProcess(dagflux_home)
        try:
            for flow in flows:  # the same through the engine
                out = run("run", "--json", str(flow))
                assert out.returncode == expected[flow.stem], (flow.stem, out.stderr)
            run("connections", "test", "pg_wrong")
            run("history", "--json")
        finally:
            engine.stop()
        outputs.append(engine.log_text())
        outputs.append(server_log := json.dumps(sorted(str(k) for k in server.hits)))
    del server_log

    errors = " ".join(outputs)
    assert "pg_wrong" in errors or "authentication" in errors.lower()  # the failures really happened
    assert frame_log.stat().st_size > 0
    haystacks: dict[str, bytes] = {"printed and logged": "\n".join(outputs).encode(),
                                   "frames": b"".join(frametap.read_all(str(frame_log)))}
    for path in dagflux_home.rglob("*"):
        if path.is_file():
            haystacks[str(path)] = path.read_bytes()
    needles = {"pg password": _encodings(pg_secret, [postgres_server.user]),
               "wrong pg password": _encodings(wrong_secret, [postgres_server.user]),
               "rest token": _encodings(token, ["alice"])}
    # positive controls: the search really covers frames, files and output
    assert b"NodeResult" in haystacks["frames"] and b"OpResult" in haystacks["frames"]
    assert any(b"pg_wrong" in data for where, data in haystacks.items() if where.endswith("connections.json"))
    assert any(b"note" in data for where, data in haystacks.items() if where.endswith("workspace.sqlite"))
    hits = [f"{what} in {where}" for what, forms in needles.items() for where, data in haystacks.items()
            if any(form in data for form in forms)]
    assert hits == []


@pytest.fixture(autouse=True)
def _no_engine_env_leak(monkeypatch):
    monkeypatch.delenv("DAGFLUX_WEBHOOK_PORT", raising=False)
    yield
    os.environ.pop(frametap.ENV, None)
