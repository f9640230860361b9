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
from tests.integration.helpers import RecordedCli, node, write_workflow
from tests.integration.restserver import RestServer


def _random_secret() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(32))


def _encodings(value: str, companions: list[str]) -> list[bytes]:
    forms = {value, quote(value, safe=""), quote_plus(value), base64.b64encode(value.encode()).decode().rstrip("=")}
    for other in companions:
        forms.add(base64.b64encode(f"{other}:{value}".encode()).decode().rstrip("="))
    return [f.encode() for f in forms]


def _login_with_orders(server, password: str):
    """A login of our own (we set its password) that can read a two-row ``orders`` table."""
    login = add_login(server)
    admin = postgres_admin(login)
    try:
        with admin.cursor() as cur:
            cur.execute(f"ALTER USER \"{login.user}\" PASSWORD '{password}'")
            cur.execute("DROP TABLE IF EXISTS orders")
            cur.execute("CREATE TABLE orders (id int, note text)")
            cur.execute("INSERT INTO orders VALUES (1, 'first'), (2, 'second')")
            cur.execute(f'GRANT ALL ON orders TO "{login.user}"')
        admin.commit()
    finally:
        admin.close()
    return login


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
    postgres_server = _login_with_orders(postgres_server, pg_secret)
    run = RecordedCli(cli, tmp_path, monkeypatch)
    outputs, frame_log = run.outputs, run.frame_log

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


# --- a secret can be used as a credential, never selected into data --------------------------
RULE = "secrets can only be used in a connection's credential fields"
SECRET = "{{ secret.pg.password }}"
IN_SQL = {  # each would copy the password (or a form of it no scrubber recognises) into a table
    "select": f"SELECT {SECRET} AS p FROM {{{{ input }}}}",
    "reverse": f"SELECT reverse({SECRET}) AS p FROM {{{{ input }}}}",
    "substr": f"SELECT substr({SECRET}, 2, 30) AS p FROM {{{{ input }}}}",
    "hex": f"SELECT encode(convert_to({SECRET}, 'UTF8'), 'hex') AS p FROM {{{{ input }}}}",
    "concat": f"SELECT 'x' || {SECRET} || 'y' AS p FROM {{{{ input }}}}",
}
PY_CODE = f"def transform(rows):\n    for row in rows:\n        yield {{'p': '{SECRET}'[::-1]}}\n"


def _misplaced_nodes() -> dict[str, dict]:
    nodes = {f"sql_{k}": node("leak", "transformer", {"language": "sql", "storage": "local", "sql": sql})
             for k, sql in IN_SQL.items()}
    nodes["sql_in_database"] = node("leak", "transformer", {"language": "sql", "storage": "database",
                                                            "sql": IN_SQL["select"]})
    nodes["python"] = node("leak", "transformer", {"language": "python", "code": PY_CODE})
    nodes["branch"] = node("leak", "branch", {"condition": f"length({SECRET}) > 3"})
    nodes["output_path"] = node("leak", "output", {"path": f"out_{SECRET}.csv"})
    return nodes


def _write_leak_flows(folder: Path) -> dict[str, Path]:
    start = node("start", "start", {"trigger": {"kind": "manual"}})
    orders = node("orders", "data_source", {"source": "connection", "connection": "pg", "table": "orders"})
    flows = {}
    for name, leak in _misplaced_nodes().items():
        nodes, edges = [start, orders, leak], [("start", "orders"), ("orders", "leak")]
        if leak["type"] == "branch":
            nodes += [node("t", "transformer", {"language": "sql", "sql": "SELECT 1 AS x FROM {{ input }}"}),
                      node("f", "transformer", {"language": "sql", "sql": "SELECT 0 AS x FROM {{ input }}"})]
            edges += [("leak", "t", "true"), ("leak", "f", "false")]
        flows[name] = write_workflow(folder, f"leak_{name}", nodes, edges)
    other = node("api", "data_source", {"source": "rest", "connection": "api", "path": "/echo",
                                        "headers": {"X-Stolen": SECRET}})        # another connection's secret
    flows["rest_other_connection"] = write_workflow(folder, "leak_rest_other", [start, other], [("start", "api")])
    return flows


def test_a_secret_is_refused_wherever_it_could_become_data_and_still_works_as_a_credential(
        keyring_ready, postgres_server, cli, dagflux_home, tmp_path, monkeypatch):
    from engine.messages import RunNode
    from engine.workers.pool import WorkerPool

    password, token = _random_secret(), _random_secret()
    postgres_server = _login_with_orders(postgres_server, password)
    outputs: list[str] = []
    pg_settings = ["--set", f"port={postgres_server.port}", "--set", f"database={postgres_server.database}"]
    added = cli("connections", "add", "postgresql", "pg", *pg_settings,
                input=f"{postgres_server.host}\n{postgres_server.user}\n{password}\n")
    assert added.returncode == 0, added.stderr
    with RestServer(token=token) as server:
        assert cli("connections", "add", "rest", "api", "--set", f"base_url={server.url}", "--set", "auth=bearer",
                   "--secret", "token", input=f"{token}\n").returncode == 0
        for name, flow in _write_leak_flows(tmp_path).items():
            checked, ran = cli("validate", str(flow)), cli("run", "--json", str(flow))
            outputs += [checked.stdout, checked.stderr, ran.stdout, ran.stderr]
            assert checked.returncode == 2 and RULE in checked.stdout + checked.stderr, (name, checked.stdout)
            assert "node 'leak'" in checked.stdout + checked.stderr or name == "rest_other_connection"
            assert ran.returncode == 2 and RULE in ran.stderr, (name, ran.stderr)

        # Defence in depth: a node that never went through validation (as a hand-edited file
        # handed straight to a worker would) is refused by the worker before it touches data.
        pool = WorkerPool(dagflux_home / "workspace.sqlite", size=1)
        try:
            for name, leak in _misplaced_nodes().items():
                task = RunNode(id=1, run_id="bypass", workflow_id="bypass", node_id="leak", node_type=leak["type"],
                               title="leak", config=leak["config"], base_dir=str(tmp_path),
                               inputs=[{"node_id": "orders", "table": "orders", "records": 2, "connection": "pg"}],
                               output_table="bypass__leak")
                result = pool.submit(task).result(timeout=120)
                outputs.append(str(result.error))
                assert result.status == "failed" and RULE in (result.error or ""), (name, result.error)
        finally:
            pool.close()

        # Positive controls: the same secrets still work as credentials of their own connection.
        start = node("start", "start", {"trigger": {"kind": "manual"}})
        orders = node("orders", "data_source", {"source": "connection", "connection": "pg", "table": "orders"})
        pull = node("pull", "transformer", {"language": "sql", "storage": "local",
                                            "sql": "SELECT id, note FROM {{ input }}"})
        own = node("api", "data_source", {"source": "rest", "connection": "api", "path": "/secure/header",
                                          "records_path": "data",   # answers only with X-API-Key = token
                                          "headers": {"X-API-Key": "{{ secret.api.token }}"}})
        good = write_workflow(tmp_path, "good", [start, orders, pull, own],
                              [("start", "orders"), ("orders", "pull"), ("start", "api")])
        ran = cli("run", "--json", str(good))
        outputs += [ran.stdout, ran.stderr]
        assert ran.returncode == 0, ran.stderr
        assert {n["id"]: n["records"] for n in json.loads(ran.stdout)["nodes"]}["api"] > 0
    shown = cli("workspace", "show", "good__pull")
    assert "first" in shown.stdout and "second" in shown.stdout
    tables = json.loads(cli("workspace", "list", "--all", "--json").stdout)
    assert not [t["name"] for t in tables if "leak" in t["name"] or "bypass" in t["name"]]
    haystack = b"\n".join(p.read_bytes() for p in dagflux_home.rglob("*") if p.is_file())
    haystack += "\n".join(outputs).encode()
    for form in _encodings(password, [postgres_server.user]) + _encodings(password[::-1], []):
        assert form not in haystack
    assert token.encode() not in haystack


def test_secret_leak_nowhere_for_object_storage_keys(keyring_ready, cli, dagflux_home, tmp_path, monkeypatch):
    """The S3 catalog plugin's key pair (both halves secret) after runs that succeed and fail,
    a test, a listing and a sample, through the CLI alone and through the engine."""
    from tests.integration.helpers import start
    from tests.integration.objectstores import S3Catalog, moto_s3, plugin_copy

    pytest.importorskip("moto")
    key_id, secret_key = "AKIA" + _random_secret()[:16].upper(), _random_secret()
    run = RecordedCli(cli, tmp_path, monkeypatch)
    outputs, frame_log = run.outputs, run.frame_log

    with moto_s3() as moto, S3Catalog(tmp_path / "catalog") as catalog:
        s3 = moto.client()
        s3.create_bucket(Bucket="data")
        s3.put_object(Bucket="data", Key="in/notes.csv", Body=b"id,note\n1,first\n2,second\n")
        catalog.publish(plugin_copy(tmp_path, "s3", "1.0.0"))
        catalog.activate(monkeypatch)
        assert run("plugins", "install", "s3").returncode == 0
        assert run("connections", "add", "s3", "store", "--set", f"endpoint={moto.url}", "--set", "bucket=data",
                   input=f"{key_id}\n{secret_key}\n").returncode == 0
        assert run("connections", "add", "s3", "nobucket", "--set", f"endpoint={moto.url}", "--set",
                   "bucket=missing", input=f"{key_id}\n{secret_key}\n").returncode == 0
        read = node("notes", "data_source", {"source": "storage", "connection": "store", "path": "in/notes.csv"})
        write = node("out", "output", {"connection": "store", "path": "out/notes.parquet"})
        absent = node("notes", "data_source", {"source": "storage", "connection": "nobucket", "path": "x.csv"})
        flows = {write_workflow(tmp_path, "s3_ok", [start(), read, write],
                                [("start", "notes"), ("notes", "out")]): 0,
                 write_workflow(tmp_path, "s3_fail", [start(), absent], [("start", "notes")]): 1}
        for flow, code in flows.items():
            assert run("run", "--json", str(flow)).returncode == code
        run("connections", "test", "nobucket")
        run("connections", "objects", "store")
        assert run("connections", "sample", "store", "in/notes.csv").returncode == 0
        engine = EngineProcess(dagflux_home)
        try:
            for flow, code in flows.items():
                assert run("run", "--json", str(flow)).returncode == code
            run("connections", "test", "store")
        finally:
            engine.stop()
        outputs.append(engine.log_text())
        assert s3.head_object(Bucket="data", Key="out/notes.parquet")["ContentLength"] > 0

    assert frame_log.stat().st_size > 0
    haystacks: dict[str, bytes] = {"printed and logged": "\n".join(outputs).encode(),
                                   "frames": b"".join(frametap.read_all(str(frame_log)))}
    for path in dagflux_home.rglob("*"):
        if path.is_file():
            haystacks[str(path)] = path.read_bytes()
    assert b"NodeResult" in haystacks["frames"] and b"OpResult" in haystacks["frames"]
    assert any(b"nobucket" in data for where, data in haystacks.items() if where.endswith("connections.json"))
    needles = {"access key id": _encodings(key_id, []), "secret key": _encodings(secret_key, [key_id])}
    hits = [f"{what} in {where}" for what, forms in needles.items() for where, data in haystacks.items()
            if any(form in data for form in forms)]
    assert hits == []


# --- AI keys ---------------------------------------------------------------------------------
AI_PROTOCOLS = {"ai_openai": ("openai", "/v1"), "ai_claude": ("anthropic", ""), "ai_gemini": ("gemini", "")}


def test_an_ai_key_leaks_nowhere_in_chats_logs_frames_errors_or_prompts(keyring_ready, cli, dagflux_home, tmp_path,
                                                                        monkeypatch):
    """Random AI keys (a good one, and a wrong one the fake server echoes in its 401 error) used
    over the three protocols, by the CLI alone and through the engine: connection tests, chats
    that succeed, fail, drop mid-stream and are refused. Then the chat files and every other file
    in DAGFLUX_HOME, what was printed and logged, every msgpack frame, and every prompt the server
    received are searched for the keys: zero hits (the request headers, where the key belongs,
    are the positive control)."""
    from tests.integration.aifakes import AiFakeServer

    key, wrong = _random_secret(), _random_secret()
    run = RecordedCli(cli, tmp_path, monkeypatch)
    outputs, frame_log = run.outputs, run.frame_log

    with AiFakeServer(key=key) as fake:
        for conn_id, (kind, suffix) in AI_PROTOCOLS.items():
            assert run("connections", "add", kind, conn_id, "--set", f"base_url={fake.url}{suffix}",
                       "--set", "model=good", input=f"{key}\n").returncode == 0
        assert run("connections", "add", "openai", "ai_wrong", "--set", f"base_url={fake.url}/v1",
                   "--set", "model=good", input=f"{wrong}\n").returncode == 0

        def chats() -> None:
            for conn_id in [*AI_PROTOCOLS, "ai_wrong"]:
                run("connections", "test", conn_id)
                ok = run("ai", "chat", "--connection", conn_id, "-m", "hello")
                assert ok.returncode == (1 if conn_id == "ai_wrong" else 0), ok.stderr
                for model in ("echo", "drop", "down"):
                    run("ai", "chat", "--connection", conn_id, "--model", model, "-m", f"say {model}")
            run("ai", "chat", "--connection", "ai_openai", "-m", "use {{ secret.ai_openai.api_key }}")
            run("ai", "sessions", "list")
            run("ai", "usage", "--json")

        chats()                                      # the CLI alone (its own worker)
        engine = EngineProcess(dagflux_home)
        try:
            chats()                                  # through the engine and its workers
            run("history", "--json")
        finally:
            engine.stop()
        outputs.append(engine.log_text())
        received_headers = "\n".join(json.dumps(r["headers"]) for r in fake.received)
        prompts = "\n".join(r["path"] + "\n" + r["body"] for r in fake.received)

    errors = "\n".join(outputs)
    assert "the key was refused" in errors and "dropped" in errors and "HTTP 503" in errors   # failures happened
    assert "secrets can only be used in a connection's credential fields" in errors
    haystacks: dict[str, bytes] = {"printed and logged": errors.encode(), "prompts sent": prompts.encode(),
                                   "frames": b"".join(frametap.read_all(str(frame_log)))}
    for path in dagflux_home.rglob("*"):
        if path.is_file():
            haystacks[str(path)] = path.read_bytes()
    # positive controls: the search covers the streamed frames, the chat files and the prompts,
    # and the keys really travelled (as credentials, in the request headers)
    assert b"AiDelta" in haystacks["frames"] and b"AiCallFinished" in haystacks["frames"]
    chat_files = [data for where, data in haystacks.items() if "/chats/" in where]
    assert len(chat_files) >= 16 and any(b"Hello, world" in data for data in chat_files)
    assert "say echo" in prompts
    assert key in received_headers and wrong in received_headers
    needles = {"ai key": _encodings(key, []), "wrong ai key": _encodings(wrong, [])}
    hits = [f"{what} in {where}" for what, forms in needles.items() for where, data in haystacks.items()
            if any(form in data for form in forms)]
    assert hits == []
