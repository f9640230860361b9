"""The per-node assistant through a real engine, its workers and the keychain, against the
scripted loopback AI server (tests/integration/aifakes.py: the model name scripts the reply).

A proposal is verified on the sample before anyone can save it; a failed one is retried
twice with its error fed back and is never written; a write is refused before it runs; the
prompt honours "schema only" and never carries a sensitive column's values — checked on
what the fake server received."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from engine.client import EngineCallError
from tests.integration.aifakes import AiFakeServer
from tests.integration.engine_harness import EngineProcess
from tests.integration.helpers import node, source, sql, start, write_csv, write_workflow

SECRET_EMAILS = [f"person{i}@hidden-{i}.example" for i in range(1, 21)]


@pytest.fixture
def fake():
    with AiFakeServer() as server:
        yield server


@pytest.fixture
def engine(dagflux_home, keyring_ready):
    proc = EngineProcess(dagflux_home)
    yield proc
    proc.stop()


def scripted(code: str | dict, mode: str = "sql", explanation: str = "It does what was asked.") -> str:
    """The fake's model name that makes it answer with this proposal."""
    return "sql:" + json.dumps({"mode": mode, "code": code, "explanation": explanation})


def _flow(client, fake, folder: Path, settings: dict | None = None) -> str:
    """orders.csv → src → shape (SQL transformer) + check (branch); run once; AI connection 'fake'."""
    folder.mkdir(parents=True)
    write_csv(folder / "orders.csv", ["id", "customer", "email", "total"],
              [[i, f"Customer-{i:03d}", SECRET_EMAILS[i - 1], i * 10] for i in range(1, 21)])
    nodes = [start(), source("src", "orders.csv"), sql("shape", "SELECT * FROM {{ input }}"),
             node("check", "branch", {"condition": "count(*) > 0"}), sql("yes", "SELECT * FROM {{ input }}"),
             sql("no", "SELECT * FROM {{ input }}")]
    path = write_workflow(folder, "ai_flow", nodes, [("start", "src"), ("src", "shape"), ("src", "check"),
                                                     ("check", "yes", "true"), ("check", "no", "false")])
    wf_id = client.call("workflows.import", path=str(path))["id"]
    if settings:
        doc = client.call("workflows.get", id=wf_id)
        client.call("workflows.save", doc={**doc, "settings": {**doc.get("settings", {}), **settings}})
    run = client.call("runs.start", workflow_id=wf_id)
    assert client.call("runs.wait", run_id=run["run_id"], timeout=60)["status"] == "succeeded"
    client.call("connections.add", id="fake", type="openai", name="fake",
                settings={"base_url": fake.url + "/v1", "model": "good", "max_retries": 0},
                secrets={"api_key": fake.key})
    return wf_id


def _prompts(fake) -> list[str]:
    """The user messages the fake received, in order."""
    out = []
    for request in fake.received:
        if request["path"].endswith("/chat/completions"):
            body = json.loads(request["body"])
            out.append("\n".join(m["content"] for m in body["messages"] if m["role"] == "user"))
    return out


def test_a_good_proposal_is_verified_accepted_and_replays_without_ai(engine, fake, tmp_path):
    code = "SELECT customer, total * 2 AS doubled FROM {{ input }} WHERE total >= 100 ORDER BY id"
    with engine.client(timeout=60) as client:
        wf_id = _flow(client, fake, tmp_path / "p")
        chat = client.call("chats.create", title="shape's chat")["id"]
        result = client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="double big totals",
                             model=scripted(code), session=chat, timeout=120)
        assert result["status"] == "verified", result
        assert len(result["attempts"]) == 1 and result["proposal"]["code"] == code
        assert result["proposal"]["explanation"] == "It does what was asked."
        assert result["sample"]["columns"] == ["customer", "doubled"]
        assert result["sample"]["rows"][:2] == [["Customer-010", 200], ["Customer-011", 220]]
        assert result["sample"]["total"] == 11
        # the prompt: dialect, CREATE TABLE, 5 sample rows, the current code and the request
        prompt = _prompts(fake)[-1]
        assert "SQL dialect: SQLite" in prompt and 'CREATE TABLE "ai_flow__src"' in prompt
        assert "5 sample rows" in prompt and "Customer-005" in prompt and "Customer-006" not in prompt
        assert "SELECT * FROM {{ input }}" in prompt and "Request: double big totals" in prompt

        accepted = client.call("ai.accept_proposal", workflow_id=wf_id, proposal_id=result["id"])
        assert accepted["config"] == {"language": "sql", "mode": "new_table", "sql": code}
        saved = next(n for n in client.call("workflows.get", id=wf_id)["nodes"] if n["id"] == "shape")
        assert saved["config"]["sql"] == code
        assert saved["ai"]["session"] == chat and saved["ai"]["message_id"] == result["message_id"]
        # the session holds the request and the answer (the proposal, fenced, and its verification)
        messages = client.call("chats.messages", id=chat)["messages"]
        assert [(m["role"], m.get("status", "")) for m in messages] == [("user", ""), ("assistant", "complete")]
        assert messages[0]["content"] == "double big totals"
        assert f"```sql\n{code}\n```" in messages[1]["content"] and "Ran on the sample" in messages[1]["content"]
        assert messages[1]["proposal"] == result["id"] and result["session_message"] == messages[1]["id"]
        assert client.call("ai.provenance", workflow_id=wf_id) == {"shape": "generated"}

        calls = len(fake.received)
        run = client.call("runs.start", workflow_id=wf_id)
        assert client.call("runs.wait", run_id=run["run_id"], timeout=60)["status"] == "succeeded"
        assert len(fake.received) == calls                      # the run did not call the AI
        page = client.call("tables.page", table=f"{wf_id}__shape", limit=2)
        assert page["rows"] == [["Customer-010", 200], ["Customer-011", 220]] and page["total"] == 11

        doc = client.call("workflows.get", id=wf_id)
        for n in doc["nodes"]:
            if n["id"] == "shape":
                n["config"]["sql"] = code.replace("100", "150")
        client.call("workflows.save", doc=doc)
        assert client.call("ai.provenance", workflow_id=wf_id) == {"shape": "edited"}


def test_a_bad_proposal_is_retried_twice_then_failed_and_never_saved(engine, fake, tmp_path, dagflux_home):
    with engine.client(timeout=60) as client:
        wf_id = _flow(client, fake, tmp_path / "p")
        before = (dagflux_home / "workflows" / f"{wf_id}.json").read_bytes()
        result = client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="use column nope",
                             model=scripted("SELECT nope FROM {{ input }}"), timeout=120)
        assert result["status"] == "failed"
        assert len(result["attempts"]) == 3                      # the first try and two repairs
        assert "no such column: nope" in result["error"]
        prompts = [json.loads(r["body"]) for r in fake.received if r["path"].endswith("/chat/completions")]
        assert len(prompts) == 3
        repair = prompts[2]["messages"]
        assert [m["role"] for m in repair] == ["system", "user", "assistant", "user", "assistant", "user"]
        assert "did not run cleanly on the sample" in repair[-1]["content"]
        assert "no such column: nope" in repair[-1]["content"]
        with pytest.raises(EngineCallError, match=r"(?s)did not run cleanly on the sample .*cannot be saved"):
            client.call("ai.accept_proposal", workflow_id=wf_id, proposal_id=result["id"])
        assert (dagflux_home / "workflows" / f"{wf_id}.json").read_bytes() == before
        assert client.call("ai.provenance", workflow_id=wf_id) == {}


def test_a_write_is_refused_before_it_runs(engine, fake, tmp_path):
    with engine.client(timeout=60) as client:
        wf_id = _flow(client, fake, tmp_path / "p")
        result = client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="drop the small ones",
                             model=scripted("DELETE FROM {{ input }} WHERE total < 50"), timeout=120)
        assert result["status"] == "failed" and result["refused"] == "writes"
        assert all(a.get("refused") == "writes" and "sample" not in a for a in result["attempts"])
        assert "refused before running (writes)" in result["error"]
        assert client.call("tables.page", table=f"{wf_id}__src", limit=0)["total"] == 20


def test_schema_only_sends_no_rows(engine, fake, tmp_path):
    with engine.client(timeout=60) as client:
        wf_id = _flow(client, fake, tmp_path / "p", settings={"ai": {"schema_only": True}})
        result = client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="all of it",
                             model=scripted("SELECT id, total FROM {{ input }}"), timeout=120)
        assert result["status"] == "verified"
        sent = fake.everything_received()
        assert '"customer" TEXT' in _prompts(fake)[-1]          # the schema went
        assert "Customer-0" not in sent
        assert "@hidden-" not in sent
        assert "sample rows, columns" not in sent
        assert "schema only" in _prompts(fake)[-1]


def test_a_sensitive_column_is_never_sent(engine, fake, tmp_path):
    with engine.client(timeout=60) as client:
        wf_id = _flow(client, fake, tmp_path / "p", settings={"ai": {"sensitive_columns": ["src.email"]}})
        result = client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="customers",
                             model=scripted("SELECT customer FROM {{ input }}"), timeout=120)
        assert result["status"] == "verified"
        sent = fake.everything_received()
        assert "Customer-001" in sent                           # positive control: samples went
        assert "email" in sent and "sensitive: values never shown" in sent
        assert not any(email in sent for email in SECRET_EMAILS)


def test_branch_condition_must_give_one_value(engine, fake, tmp_path):
    with engine.client(timeout=60) as client:
        wf_id = _flow(client, fake, tmp_path / "p")
        good = client.call("ai.assist_node", workflow_id=wf_id, node_id="check", request="any big order?",
                           model=scripted("max(total) > 150", mode="condition"), timeout=120)
        assert good["status"] == "verified" and good["sample"]["rows"] == [[1]]
        bad = client.call("ai.assist_node", workflow_id=wf_id, node_id="check", request="big orders",
                          model=scripted("total > 150", mode="condition"), timeout=120)
        assert bad["status"] == "failed" and "exactly one value" in bad["error"]
        client.call("ai.accept_proposal", workflow_id=wf_id, proposal_id=good["id"])
        saved = next(n for n in client.call("workflows.get", id=wf_id)["nodes"] if n["id"] == "check")
        assert saved["config"] == {"condition": "max(total) > 150"}


def test_unreadable_replies_and_provider_errors_are_clear(engine, fake, tmp_path):
    with engine.client(timeout=60) as client:
        wf_id = _flow(client, fake, tmp_path / "p")
        result = client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="x", model="good",
                             timeout=120)       # "Hello, world" is no proposal
        assert result["status"] == "failed" and "no JSON object" in result["error"]
        with pytest.raises(EngineCallError, match=r"the AI call failed \(refused\).*the key was refused"):
            client.call("connections.edit", id="fake", secrets={"api_key": "wrong-key-4711"})
            client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="x", model="good",
                        timeout=120)
        with pytest.raises(EngineCallError, match="'src' is a data_source that does not read a REST API"):
            client.call("ai.assist_node", workflow_id=wf_id, node_id="src", request="x")


def test_propose_workflow_valid_or_reported(engine, fake, tmp_path):
    graph = {"name": "Totals", "explanation": "Reads, sums, writes.",
             "nodes": [{"id": "start", "type": "start", "config": {"trigger": {"kind": "manual"}}},
                       {"id": "orders", "type": "data_source", "config": {"source": "file", "path": "orders.csv"}},
                       {"id": "sums", "type": "transformer",
                        "config": {"sql": "SELECT sum(total) AS total FROM {{ input }}"}},
                       {"id": "out", "type": "output", "config": {"path": "out/sums.csv"}}],
             "edges": [{"from": "start", "to": "orders"}, {"from": "orders", "to": "sums"},
                       {"from": "sums", "to": "out"}]}
    with engine.client(timeout=60) as client:
        _flow(client, fake, tmp_path / "p")
        valid = client.call("ai.propose_workflow", request="sum the orders",
                            model="sql:" + json.dumps(graph), timeout=120)
        assert valid["status"] == "valid" and valid["workflow"]["id"] == "totals"
        assert [n["id"] for n in valid["workflow"]["nodes"]] == ["start", "orders", "sums", "out"]
        broken = {**graph, "edges": graph["edges"][:1] + [{"from": "sums", "to": "orders"}]}
        invalid = client.call("ai.propose_workflow", request="sum the orders",
                              model="sql:" + json.dumps(broken), timeout=120)
        assert invalid["status"] == "invalid" and len(invalid["attempts"]) == 2
        assert any("cycle" in p or "input" in p for p in invalid["problems"])
        second = json.loads(fake.received[-1]["body"])["messages"][-1]["content"]
        assert second.startswith("That workflow is not valid:")


def test_the_cli_asks_shows_and_accepts_with_or_without_an_engine(engine, fake, tmp_path, cli):
    code = "SELECT customer FROM {{ input }} WHERE total > 150"
    with engine.client(timeout=60) as client:
        wf_id = _flow(client, fake, tmp_path / "p")
        chat = client.call("chats.create", title="check's chat")["id"]
    out = cli("ai", "assist", wf_id, "shape", "-m", "big customers", "--model", "sql:SELECT nope FROM {{ input }}")
    assert out.returncode == 1, out.stderr
    assert "failed after 3 attempt(s)" in out.stdout and "no such column: nope" in out.stdout
    assert "nothing was saved" in out.stdout
    out = cli("ai", "assist", wf_id, "shape", "-m", "big customers", "--model", scripted(code), "--accept")
    assert out.returncode == 0, out.stderr
    assert "verified after 1 attempt(s)" in out.stdout and "Customer-016" in out.stdout
    assert f"saved into node 'shape' of workflow '{wf_id}'" in out.stdout
    engine.stop()                                   # no engine: the CLI holds the lock and runs a worker
    out = cli("ai", "assist", wf_id, "check", "-m", "any?", "--model", scripted("count(*) > 0", mode="condition"),
              "--json", "--session", chat)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "verified" and result["accepted"] is None
    out = cli("ai", "accept", wf_id, result["id"])
    assert out.returncode == 0 and "saved into node 'check'" in out.stdout, out.stderr
    saved = json.loads((Path(engine.home) / "workflows" / f"{wf_id}.json").read_text())
    nodes = {n["id"]: n for n in saved["nodes"]}
    assert nodes["shape"]["config"]["sql"] == code and nodes["check"]["ai"]["message_id"] == result["message_id"]
    # offline too, the exchange is recorded in the session the provenance links
    assert nodes["check"]["ai"]["session"] == chat
    messages = json.loads((Path(engine.home) / "chats" / f"{chat}.json").read_text())["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"] and messages[1]["proposal"] == result["id"]


def test_a_join_asks_one_question_when_the_request_leaves_the_pairing_open(engine, fake, tmp_path):
    folder = tmp_path / "j"
    folder.mkdir()
    write_csv(folder / "orders.csv", ["id", "customer_id", "total"], [[i, i % 3, i] for i in range(1, 7)])
    write_csv(folder / "customers.csv", ["id", "name"], [[0, "Ann"], [1, "Bo"], [2, "Cy"]])
    nodes = [start(), source("orders", "orders.csv"), source("customers", "customers.csv"),
             node("both", "join", {"sql": "SELECT * FROM {{ input.orders }}"})]
    path = write_workflow(folder, "join_flow", nodes, [("start", "orders"), ("start", "customers"),
                                                       ("orders", "both"), ("customers", "both")])
    with engine.client(timeout=60) as client:
        wf_id = client.call("workflows.import", path=str(path))["id"]
        run = client.call("runs.start", workflow_id=wf_id)
        assert client.call("runs.wait", run_id=run["run_id"], timeout=60)["status"] == "succeeded"
        client.call("connections.add", id="fake", type="openai", name="fake",
                    settings={"base_url": fake.url + "/v1", "max_retries": 0}, secrets={"api_key": fake.key})
        asked = client.call("ai.assist_node", workflow_id=wf_id, node_id="both", request="join them", timeout=120,
                            model="sql:" + json.dumps({"mode": "question",
                                                       "question": "Is orders.customer_id paired with customers.id?"}))
        assert asked["status"] == "question" and asked["question"].startswith("Is orders.customer_id")
        with pytest.raises(EngineCallError, match="cannot be saved"):
            client.call("ai.accept_proposal", workflow_id=wf_id, proposal_id=asked["id"])
        code = ("SELECT o.id, c.name, o.total FROM {{ input.orders }} o "
                "LEFT JOIN {{ input.customers }} c ON c.id = o.customer_id ORDER BY o.id")
        joined = client.call("ai.assist_node", workflow_id=wf_id, node_id="both", timeout=120,
                             request="yes, customer_id = id, left join, keep id, name, total", model=scripted(code))
        assert joined["status"] == "verified" and joined["sample"]["rows"][:2] == [[1, "Bo", 1], [2, "Cy", 2]]
        prompt = _prompts(fake)[-1]
        assert "{{ input.orders }} (also {{ input.1 }})" in prompt and '"customers__' not in prompt


def test_a_rest_source_gets_a_fetch_spec_and_never_a_credential(engine, fake, tmp_path):
    from tests.integration.restserver import RestServer

    token = "tok-" + secrets.token_hex(12)
    folder = tmp_path / "r"
    folder.mkdir()
    with RestServer(token=token) as server, engine.client(timeout=60) as client:
        client.call("connections.add", id="api", type="rest", name="API",
                    settings={"base_url": server.url, "auth": "bearer"}, secrets={"token": token})
        client.call("connections.add", id="fake", type="openai", name="fake",
                    settings={"base_url": fake.url + "/v1", "max_retries": 0}, secrets={"api_key": fake.key})
        nodes = [start(), node("items", "data_source", {"source": "rest", "connection": "api", "path": "/"})]
        wf_id = client.call("workflows.import", path=str(write_workflow(folder, "rest_flow", nodes,
                                                                        [("start", "items")])))["id"]
        spec = {"path": "/items", "records_path": "data.items", "pagination": "page"}
        result = client.call("ai.assist_node", workflow_id=wf_id, node_id="items", request="all items",
                             model=scripted(spec, mode="rest"), timeout=120)
        assert result["status"] == "verified", result["error"]
        assert [r[0] for r in result["sample"]["rows"]] == [1, 2, 3, 4, 5]
        sneaky = {"path": "/items", "body": {"token": "{{ secret.api.token }}"}}
        refused = client.call("ai.assist_node", workflow_id=wf_id, node_id="items", request="all items",
                              model=scripted(sneaky, mode="rest"), timeout=120)
        assert refused["status"] == "failed" and "secret" in refused["error"]
        prompt = _prompts(fake)[0]
        assert "REST connection:" in prompt and server.url in prompt
        accepted = client.call("ai.accept_proposal", workflow_id=wf_id, proposal_id=result["id"])
        assert accepted["config"] == {"source": "rest", "connection": "api", **spec}
    assert token not in fake.everything_received()


def test_the_ai_key_is_never_in_prompts_files_or_logs(engine, fake, tmp_path, dagflux_home):
    with engine.client(timeout=60) as client:
        wf_id = _flow(client, fake, tmp_path / "p")
        good = client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="ids",
                           model=scripted("SELECT id FROM {{ input }}"), timeout=120)
        client.call("ai.accept_proposal", workflow_id=wf_id, proposal_id=good["id"])
        client.call("connections.edit", id="fake", secrets={"api_key": "refused-" + fake.key})
        with pytest.raises(EngineCallError) as info:
            client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="ids", model="good",
                        timeout=120)
    leaked = "refused-" + fake.key
    assert leaked in fake.everything_received()            # positive control: the server got and echoed it
    assert leaked not in str(info.value)
    bodies = [json.loads(r["body"]) for r in fake.received if r["body"]]
    assert not any(fake.key in m["content"] for b in bodies for m in b.get("messages", []))
    for path in dagflux_home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert fake.key.encode() not in data, path


def test_storage_database_gets_postgresql_sql_guarded_in_that_dialect(engine, fake, tmp_path, postgres_server,
                                                                      cli):
    from tests.integration.dbservers import add_login, postgres_admin
    from tests.integration.test_secrets_and_connections import _add_pg, _seed_pg

    server = add_login(postgres_server)
    _seed_pg(server)                       # orders: ids 0..11, customer 'customer N % 4', total = id * 10.5
    assert _add_pg(cli, server).returncode == 0
    nodes = [start(),
             node("orders", "data_source", {"source": "connection", "connection": "sales", "table": "orders"}),
             node("shape", "transformer", {"language": "sql", "storage": "database",
                                           "sql": "SELECT * FROM {{ input }}"})]
    folder = tmp_path / "pg"
    folder.mkdir()
    with engine.client(timeout=60) as client:
        wf_id = client.call("workflows.import", path=str(write_workflow(folder, "pg_flow", nodes, [
            ("start", "orders"), ("orders", "shape")])))["id"]
        run = client.call("runs.start", workflow_id=wf_id)
        assert client.call("runs.wait", run_id=run["run_id"], timeout=60)["status"] == "succeeded"
        client.call("connections.add", id="fake", type="openai", name="fake",
                    settings={"base_url": fake.url + "/v1", "max_retries": 0}, secrets={"api_key": fake.key})
        code = ("SELECT customer, sum(total)::float8 AS revenue FROM {{ input }} GROUP BY customer "
                "ORDER BY customer")
        good = client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="revenue per customer",
                           model=scripted(code), timeout=120)
        assert good["status"] == "verified", good["error"]
        assert good["sample"]["rows"][0] == ["customer 0", 126.0]
        prompt = _prompts(fake)[-1]
        assert "SQL dialect: PostgreSQL" in prompt and 'CREATE TABLE "orders"' in prompt and "(postgresql)" in prompt
        sneaky = client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="clean up",
                             model=scripted("WITH d AS (DELETE FROM {{ input }} RETURNING *) SELECT * FROM d"),
                             timeout=120)
        assert sneaky["status"] == "failed" and sneaky["refused"] == "writes"
        accepted = client.call("ai.accept_proposal", workflow_id=wf_id, proposal_id=good["id"])
        assert accepted["config"] == {"language": "sql", "mode": "new_table", "storage": "database", "sql": code}
    admin = postgres_admin(server)
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT count(*) FROM orders")
            assert cur.fetchone()[0] == 12
    finally:
        admin.close()


def test_a_python_proposal_runs_in_the_sandboxed_try_and_a_crashing_one_fails(engine, fake, tmp_path):
    good = "def transform(rows):\n    for r in rows:\n        yield {'id': r['id'], 'half': r['total'] / 2}\n"
    bad = "def transform(rows):\n    for r in rows:\n        yield {'id': r['id'], 'x': r['missing']}\n"
    with engine.client(timeout=60) as client:
        wf_id = _flow(client, fake, tmp_path / "p")
        result = client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="halve, in Python",
                             model=scripted(good, mode="python"), timeout=300)
        assert result["status"] == "verified", result["error"]
        assert result["sample"]["rows"][:2] == [[1, 5.0], [2, 10.0]]
        failed = client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="use missing",
                             model=scripted(bad, mode="python"), timeout=300)
        assert failed["status"] == "failed" and "missing" in failed["error"]
        accepted = client.call("ai.accept_proposal", workflow_id=wf_id, proposal_id=result["id"])
        assert accepted["config"] == {"language": "python", "code": good.strip()}


def test_clear_errors_before_any_model_call(engine, fake, tmp_path):
    folder = tmp_path / "n"
    folder.mkdir()
    write_csv(folder / "orders.csv", ["id"], [[1]])
    path = write_workflow(folder, "fresh_flow", [start(), source("src", "orders.csv"),
                                                 sql("shape", "SELECT * FROM {{ input }}")],
                          [("start", "src"), ("src", "shape")])
    with engine.client(timeout=60) as client:
        wf_id = client.call("workflows.import", path=str(path))["id"]
        with pytest.raises(EngineCallError, match="no AI connection: add one with `dagflux connections add"):
            client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="x")
        client.call("connections.add", id="fake", type="openai", name="fake",
                    settings={"base_url": fake.url + "/v1"}, secrets={"api_key": fake.key})
        # Never run: the input is computed on a sample — here its file is gone, and the error says which node.
        (folder / "orders.csv").unlink()
        with pytest.raises(EngineCallError, match=r"node 'src' failed on the sample: .*orders\.csv does not exist"):
            client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="x", model="good")
        with pytest.raises(EngineCallError, match="the request is empty"):
            client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="  ")
        with pytest.raises(EngineCallError, match="no proposal 'prop-nope'"):
            client.call("ai.accept_proposal", workflow_id=wf_id, proposal_id="prop-nope")
        with pytest.raises(EngineCallError, match="is not a proposal id"):
            client.call("ai.get_proposal", proposal_id="../../connections")
    assert fake.received == []                       # nothing reached the model


def test_a_proposal_is_verified_on_a_sample_before_the_workflow_ever_ran(engine, fake, tmp_path):
    folder = tmp_path / "never"
    folder.mkdir()
    write_csv(folder / "orders.csv", ["id", "total"], [[i, i * 10] for i in range(1, 1501)])
    path = write_workflow(folder, "never_ran", [start(), source("src", "orders.csv"),
                                                sql("shape", "SELECT * FROM {{ input }}")],
                          [("start", "src"), ("src", "shape")])
    code = "SELECT id, total / 10 AS tens FROM {{ input }} WHERE total > 9950"
    with engine.client(timeout=60) as client:
        wf_id = client.call("workflows.import", path=str(path))["id"]
        client.call("connections.add", id="fake", type="openai", name="fake",
                    settings={"base_url": fake.url + "/v1", "model": "good", "max_retries": 0},
                    secrets={"api_key": fake.key})
        result = client.call("ai.assist_node", workflow_id=wf_id, node_id="shape", request="big ones",
                             model=scripted(code), timeout=120)
        assert result["status"] == "verified", result
        # verified on the first 1,000 rows of the file, computed for the try
        assert result["sample"]["rows"] == [[996, 996], [997, 997], [998, 998], [999, 999], [1000, 1000]]
        assert result["sample"]["provenance"] == "Input: computed from a 1,000-row sample of src (CSV)" \
            or "re-used: nothing above it changed" in result["sample"]["provenance"]
        prompt = _prompts(fake)[-1]
        assert 'CREATE TABLE "never_ran__src"' in prompt and "1,000 rows" in prompt
        assert client.call("history.list", workflow_id=wf_id) == []
