"""The Output format ``ai_analysis`` in a real run (engine, worker, keychain) against the
scripted loopback AI server: the answer lands in a Markdown file and in the run's kept
output; the prompt holds the schema, count, aggregates and a sample — or, for a "schema
only" workflow, no value at all; sensitive columns never."""

from __future__ import annotations

import json

import pytest

from tests.integration.aifakes import AiFakeServer
from tests.integration.engine_harness import EngineProcess
from tests.integration.helpers import node, source, start, write_csv, write_workflow

ANSWER = "## Revenue~~DE leads with 5 orders."


@pytest.fixture
def fake():
    with AiFakeServer() as server:
        yield server


@pytest.fixture
def engine(dagflux_home, keyring_ready):
    proc = EngineProcess(dagflux_home)
    yield proc
    proc.stop()


def _run(client, fake, folder, settings=None):
    folder.mkdir(parents=True)
    (folder / "out").mkdir()
    write_csv(folder / "orders.csv", ["id", "country", "email", "total"],
              [[i, "DE" if i % 2 else "FR", f"buyer{i}@private-mail.example", i * 1.5] for i in range(1, 11)])
    out = node("report", "output", {"format": "ai_analysis", "path": "out/report.md", "ai_connection": "fake",
                                    "model": "sql:" + ANSWER, "prompt": "Which country leads revenue?"})
    path = write_workflow(folder, "analysis_flow", [start(), source("src", "orders.csv"), out],
                          [("start", "src"), ("src", "report")])
    wf_id = client.call("workflows.import", path=str(path))["id"]
    doc = client.call("workflows.get", id=wf_id)
    client.call("workflows.save", doc={**doc, "settings": {**doc.get("settings", {}), "ai": {
        "sensitive_columns": ["email"], **(settings or {})}}})
    client.call("connections.add", id="fake", type="openai", name="fake",
                settings={"base_url": fake.url + "/v1", "max_retries": 0}, secrets={"api_key": fake.key})
    run = client.call("runs.start", workflow_id=wf_id)
    summary = client.call("runs.wait", run_id=run["run_id"], timeout=60)
    return wf_id, run["run_id"], summary


def _prompt(fake) -> str:
    body = json.loads(fake.received[-1]["body"])
    return "\n".join(m["content"] for m in body["messages"])


def test_the_answer_is_a_markdown_file_and_kept_with_the_run(engine, fake, tmp_path):
    with engine.client(timeout=60) as client:
        wf_id, run_id, summary = _run(client, fake, tmp_path / "p")
        assert summary["status"] == "succeeded", [n["error"] for n in summary["nodes"]]
        text = (tmp_path / "p" / "out" / "report.md").read_text()
        assert text.startswith("# report\n\n> Which country leads revenue?\n\n## Revenue\n\nDE leads with 5 orders.")
        kept = client.call("history.output", run_id=run_id, node_id="report")
        page = client.call("tables.page", table=kept["table"], limit=5)
        assert page["columns"] == ["prompt", "answer", "model", "path", "generated_at"]
        assert page["rows"][0][:2] == ["Which country leads revenue?", "## Revenue\n\nDE leads with 5 orders."]
        prompt = _prompt(fake)
        assert "Table analysis_flow__src: 10 rows." in prompt and '"country" TEXT' in prompt
        assert '{"column": "total", "non_null": 10, "distinct": 10, "min": 1.5, "max": 15.0, "mean": 8.25}' in prompt
        assert '[1, "DE", 1.5]' in prompt                         # a sample row, without the email
        assert "email" in prompt and "private-mail" not in fake.everything_received()
        assert "Question: Which country leads revenue?" in prompt


def test_schema_only_sends_no_value(engine, fake, tmp_path):
    with engine.client(timeout=60) as client:
        _, _, summary = _run(client, fake, tmp_path / "p", settings={"schema_only": True})
        assert summary["status"] == "succeeded", [n["error"] for n in summary["nodes"]]
        prompt = _prompt(fake)
        assert '"country" TEXT' in prompt and "10 rows" in prompt
        assert "schema only" in prompt
        for value in ('"DE"', "non_null", "1.5", "private-mail"):
            assert value not in prompt


def test_a_failed_call_fails_the_node_and_writes_no_file(engine, fake, tmp_path):
    with engine.client(timeout=60) as client:
        folder = tmp_path / "p"
        wf_id, _, _ = _run(client, fake, folder)
        (folder / "out" / "report.md").unlink()
        doc = client.call("workflows.get", id=wf_id)
        for n in doc["nodes"]:
            if n["id"] == "report":
                n["config"]["model"] = "down"
        client.call("workflows.save", doc=doc)
        run = client.call("runs.start", workflow_id=wf_id)
        summary = client.call("runs.wait", run_id=run["run_id"], timeout=60)
        assert summary["status"] == "failed"
        report = next(n for n in summary["nodes"] if n["id"] == "report")
        assert "the AI call failed (server)" in report["error"] and "HTTP 503" in report["error"]
        assert not (folder / "out" / "report.md").exists()


def test_create_dirs_and_validation_of_the_format(engine, fake, tmp_path):
    with engine.client(timeout=60) as client:
        folder = tmp_path / "p"
        wf_id, _, _ = _run(client, fake, folder)
        doc = client.call("workflows.get", id=wf_id)
        for n in doc["nodes"]:
            if n["id"] == "report":
                n["config"].update(path="new/dir/report.md", options={"create_dirs": True})
        client.call("workflows.save", doc=doc)
        run = client.call("runs.start", workflow_id=wf_id)
        assert client.call("runs.wait", run_id=run["run_id"], timeout=60)["status"] == "succeeded"
        assert "DE leads with 5 orders." in (folder / "new" / "dir" / "report.md").read_text()
    from engine.ai.analysis import validate

    problems = {p.field: p.message for p in validate({"format": "ai_analysis", "options": {"sheet": "x"},
                                                      "max_tokens": 0, "colour": "red"})}
    assert problems == {"colour": "not a setting of the ai_analysis format", "prompt": "say what the analysis "
                        "should answer", "ai_connection": "choose the AI connection that writes the analysis",
                        "max_tokens": "must be a whole number ≥ 1", "options": "ai_analysis takes only create_dirs, "
                        "not sheet"}
