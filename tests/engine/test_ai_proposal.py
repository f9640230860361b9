"""Reading a model's reply as a proposal, and the provenance an accepted one leaves."""

from __future__ import annotations

import json

import pytest

from engine.ai import provenance
from engine.ai.assist import build_config, kind_of
from engine.ai.proposal import Proposal, ProposalUnreadable, parse_reply
from engine.errors import DagfluxError
from engine.model import fileformat


@pytest.mark.parametrize("text", [
    '{"mode": "sql", "code": "SELECT 1 FROM {{ input }}", "explanation": "One."}',
    'Sure!\n```json\n{"mode": "sql", "code": "SELECT 1 FROM {{ input }}", "explanation": "One."}\n```\nEnjoy.',
    'Here: {"code": "SELECT 1 FROM {{ input }}", "explanation": "One.\\n\\nMore detail."} — done',
    "One.\n\n```sql\nSELECT 1 FROM {{ input }}\n```",
])
def test_the_forms_a_reply_may_take(text):
    p = parse_reply(text, "sql")
    assert (p.mode, p.code, p.explanation) == ("sql", "SELECT 1 FROM {{ input }}", "One.")


def test_a_bare_select_and_a_python_block():
    assert parse_reply("SELECT a FROM {{ input }};", "sql").code == "SELECT a FROM {{ input }};"
    p = parse_reply("Doubles.\n```python\ndef transform(rows):\n    yield from rows\n```", "sql")
    assert p.mode == "python" and p.code.startswith("def transform(rows):")


def test_braces_and_quotes_inside_strings_do_not_confuse_the_reader():
    code = 'SELECT \'{"a": 1}\' AS j, "x}" FROM {{ input }}'
    p = parse_reply("noise { not json } " + json.dumps({"mode": "sql", "code": code}), "sql")
    assert p.code == code


def test_questions_conditions_and_rest_specs():
    q = parse_reply('{"mode": "question", "question": "Which column pairs customers with orders?"}', "sql")
    assert q.mode == "question" and q.code == "Which column pairs customers with orders?"
    assert parse_reply('{"mode": "condition", "code": "count(*) > 0;"}', "condition").code == "count(*) > 0"
    rest = parse_reply('{"mode": "rest", "code": {"path": "/orders", "params": {"page": 1}}}', "rest")
    assert rest.code == {"path": "/orders", "params": {"page": 1}}


@pytest.mark.parametrize(("text", "message"), [
    ("", "the reply was empty"),
    ("Hello, world", "no JSON object"),
    ('{"mode": "sql", "code": ""}', "code is empty"),
    ('{"mode": "shell", "code": "rm -rf /"}', "'shell' is not one of"),
    ('{"mode": "rest", "code": "not json"}', "must be a JSON object"),
])
def test_unreadable_replies_say_why(text, message):
    with pytest.raises(ProposalUnreadable, match=message):
        parse_reply(text, "sql")


def test_the_explanation_is_one_paragraph_at_most_600_characters():
    long = "word " * 400
    p = parse_reply(json.dumps({"code": "SELECT 1", "explanation": long + "\n\nsecond"}), "sql")
    assert len(p.explanation) == 600 and "second" not in p.explanation


def test_kinds_and_configs():
    assert kind_of("transformer", {"language": "python"}, "t") == "python"
    assert kind_of("data_source", {"source": "rest"}, "s") == "rest"
    with pytest.raises(DagfluxError, match="'out' is a output"):
        kind_of("output", {}, "out")
    config = build_config("transformer", {"sql": "x", "storage": "database", "description": "d"}, "sql",
                          Proposal("sql", "SELECT 1", ""))
    assert config == {"description": "d", "storage": "database", "language": "sql", "mode": "new_table",
                      "sql": "SELECT 1"}
    rest = build_config("data_source", {"source": "rest", "connection": "api", "path": "/old", "params": {"a": 1}},
                        "rest", Proposal("rest", {"path": "/new", "evil": 1}, ""))
    assert rest == {"source": "rest", "connection": "api", "path": "/new"}


def test_provenance_tells_generated_from_edited_and_survives_the_file_format():
    config = {"language": "sql", "mode": "new_table", "sql": "SELECT 1 FROM {{ input }}"}
    ai = provenance.stamp("transformer", config, "chat-1", "msg-1", "local", "m")
    assert provenance.state("transformer", config, ai) == "generated"
    assert provenance.state("transformer", {**config, "description": "renamed"}, ai) == "generated"
    assert provenance.state("transformer", {**config, "sql": "SELECT 2 FROM {{ input }}"}, ai) == "edited"
    assert provenance.state("transformer", config, None) is None
    doc = {"format": "dagflux-workflow", "version": 2, "id": "w", "nodes": [
        {"id": "t", "type": "transformer", "config": config, "ai": ai}], "edges": []}
    wf = fileformat.from_dict(doc, "<test>")
    again = fileformat.from_dict(fileformat.to_dict(wf), "<again>")
    assert again.node("t").ai == ai and again.node("t").clone().ai == ai
    from engine.model.schema_check import schema_problems

    assert not schema_problems(json.loads(json.dumps(fileformat.to_dict(wf))))
