"""Node chat (the Ask AI section of the node panel) in a real window, with a real engine, its
workers, the keychain and the scripted loopback AI server (tests/integration/aifakes.py: the
model name scripts the reply).

A Transformer is asked for SQL: a wrong proposal first (it fails on the sample every round,
so it is refused — Accept does nothing), then a right one whose sample table is shown;
Accept is one undo step (undo and redo follow), the canvas marks the node as written by AI,
an edit marks it "edited", and the workflow runs with the accepted SQL. A Join's clarifying
question is answered by taps, one choice at a time, and the answer goes back to the model; a
Branch gets a condition, verified on the sample as one value.
Screenshots light and dark."""

from __future__ import annotations

import json

import pytest
from kivy.uix.scrollview import ScrollView

from app.widgets.inspector.ai_section import AskAiSection
from engine.model.commands import ChangeConfigCommand
from tests.app.kivyrun import pump, settle, tap, themed_shots, wait_until
from tests.app.test_connections_screen import _encodings, incoming  # noqa: F401  (a fixture)
from tests.integration.aifakes import AiFakeServer

WRONG = "SELECT no_such_column FROM {{ input }}"
RIGHT = "SELECT country, round(sum(total), 2) AS revenue FROM {{ input }} GROUP BY country ORDER BY revenue DESC"


def scripted(code: str, mode: str = "sql", explanation: str = "Revenue per country.") -> str:
    return "sql:" + json.dumps({"mode": mode, "code": code, "explanation": explanation})


@pytest.fixture
def fake():
    with AiFakeServer() as server:
        yield server


@pytest.fixture
def chat(keyring_ready, fake, app, editor):
    """The example workflow open and run once, with the fake as its only AI connection."""
    app.bridge.call_blocking("connections.add", id="fake", type="openai", name="Fake AI",
                             settings={"base_url": fake.url + "/v1", "model": "good", "max_retries": 0},
                             secrets={"api_key": fake.key})
    doc = editor.document
    editor.run()
    wait_until(lambda: doc.run_status not in (None, "running"), 90, "the first run")
    assert doc.run_status == "succeeded", doc.run_error
    return editor


def open_section(editor, node_id: str) -> AskAiSection:
    editor.select_node(node_id)
    panel = editor.ids.inspector
    wait_until(lambda: getattr(panel.form, "ai_section", None) is not None, 15, "the Ask AI section")
    section = panel.form.ai_section
    wait_until(lambda: section.connection.value == "fake", 30, "the AI connection in the section")
    return section


def tap_in_panel(widget) -> None:
    parent = widget.parent
    while parent is not None and not isinstance(parent, ScrollView):
        parent = parent.parent
    settle()
    if parent is not None:
        parent.scroll_to(widget, padding=20, animate=False)
        pump(3)
    tap(*widget.to_window(*widget.center))


def type_into(row, text: str) -> None:
    row.ids.field.focus = True
    pump(1)
    row.ids.field.text = text
    pump(1)
    row.ids.field.focus = False
    pump(2)


def ask(section: AskAiSection, model: str, request: str) -> dict:
    type_into(section.model, model)
    type_into(section.prompt, request)
    before = section.record
    tap_in_panel(section.ask_button)
    # a new ask first clears the record (None is "not before" too): wait for the new proposal itself
    wait_until(lambda: (section.record is not None and section.record is not before) or section.busy.failed, 180,
               "the proposal")
    assert section.record is not None, section.busy.text
    return section.record


def shots(editor, name: str, widget) -> None:
    def into_view() -> None:
        scroll = widget.parent
        while scroll is not None and not isinstance(scroll, ScrollView):
            scroll = scroll.parent
        if scroll is not None:
            scroll.scroll_to(widget, padding=20, animate=False)

    themed_shots(editor.app, f"node_chat_{name}_{{theme}}", into_view)


def test_ask_a_transformer_for_sql_refuse_the_failed_accept_the_verified_undo_redo_run(incoming, chat, fake):  # noqa: F811
    editor = chat
    doc = editor.document
    node = doc.workflow.node("revenue_by_country")
    before = dict(node.config)
    section = open_section(editor, "revenue_by_country")
    wait_until(lambda: "country" in section.context.text and "total" in section.context.text, 30,
               "the input's columns in the context")
    assert "sample rows of each input are included" in section.context.text

    # the schema-only switch is right there: one undoable workflow setting, and the context says so
    tap_in_panel(section.schema_only)
    assert doc.workflow.settings["ai"] == {"schema_only": True}
    assert "no rows, no values" in section.context.text
    doc.undo()
    pump(2)
    assert "ai" not in doc.workflow.settings and not section.schema_only.active

    # a wrong proposal: it fails on the sample in every round, so it cannot be accepted
    depth = doc.stack.index
    record = ask(section, scripted(WRONG), "revenue per country")
    assert record["status"] == "failed" and len(record["attempts"]) == 3
    # the model's text streamed in as it was written: every round's reply, with its id only
    assert section.streamed.count(json.dumps(WRONG)) == 3 and section.live.parent is None
    assert "no_such_column" in section.verdict.text and "cannot be accepted" in section.verdict.text
    assert section.accept_button.disabled and section.sample.parent is None
    assert section.diff.added == [WRONG]
    tap_in_panel(section.accept_button)
    assert node.config == before and node.ai is None and section.record is not None
    assert doc.stack.index == depth
    shots(editor, "failed", section.verdict)

    # the right one: verified, its sample table shown, the diff against the current SQL
    record = ask(section, scripted(RIGHT), "revenue per country, no order count")
    assert record["status"] == "verified", record
    assert section.streamed == record["attempts"][0]["reply"] and json.dumps(RIGHT) in section.streamed
    assert not section.accept_button.disabled and section.sample.parent is section
    table = section.sample.table
    assert [name for name, _ in table.columns] == ["country", "revenue"] and len(table.rows) > 0
    assert any("round(sum(total), 2) AS revenue FROM" in line for line in section.diff.added)
    assert any("GROUP BY country" in line or "count(*)" in line for line in section.diff.removed)
    shots(editor, "verified", section.sample)

    canvas = editor.ids.canvas
    tap_in_panel(section.accept_button)
    assert node.config["sql"] == RIGHT and node.ai["message_id"] == record["message_id"]
    assert section.record is None and not doc.problems()
    assert canvas.scene.node_look("revenue_by_country").ai == "generated"
    wait_until(lambda: "Written by AI" in section.provenance.text, 5, "the provenance line")
    shots(editor, "accepted", section.provenance)     # the canvas says "Transformer · AI"

    doc.undo()
    pump(2)
    assert node.config == before and node.ai is None
    assert canvas.scene.node_look("revenue_by_country").ai is None and section.provenance.text == ""
    doc.redo()
    pump(2)
    assert node.config["sql"] == RIGHT and node.ai["message_id"] == record["message_id"]

    # an edit by hand since: "edited" on the canvas and in the panel; undo it
    doc.push(ChangeConfigCommand(doc.workflow, node.id, {**node.config, "sql": RIGHT + " LIMIT 50"}))
    pump(2)
    assert canvas.scene.node_look("revenue_by_country").ai == "edited"
    wait_until(lambda: "edited since" in section.provenance.text, 5, "the edited mark")
    doc.undo()
    pump(2)
    assert canvas.scene.node_look("revenue_by_country").ai == "generated"

    # run the workflow: the accepted SQL runs (no AI call), and the saved file carries the provenance
    calls_before = len(fake.received)
    first_run = doc.run_id
    assert not doc.problems() and not editor.running, (doc.problems(), editor.run_text)
    editor.run()
    wait_until(lambda: doc.run_id != first_run and doc.run_status not in (None, "running"), 90, "the run")
    assert doc.run_status == "succeeded", doc.run_error
    assert len(fake.received) == calls_before
    state = doc.node_states["revenue_by_country"]
    page = editor.app.bridge.call_blocking("tables.page", table=state.table, connection=state.connection, limit=5)
    assert page["columns"] == ["country", "revenue"]
    saved = editor.app.bridge.call_blocking("workflows.get", id=doc.workflow.id)
    shaped = next(n for n in saved["nodes"] if n["id"] == "revenue_by_country")
    assert shaped["config"]["sql"] == RIGHT and shaped["ai"]["message_id"] == record["message_id"]
    assert editor.app.bridge.call_blocking("ai.provenance", workflow_id=doc.workflow.id) == \
        {"revenue_by_country": "generated"}

    # the key was used by the engine's workers, and no frame this UI process decoded held it
    received = b"\n".join(incoming)
    assert b"no_such_column" in received and b"revenue_by_country" in received      # the recording is live
    assert any(r["headers"].get("Authorization") == f"Bearer {fake.key}" for r in fake.received)
    assert not any(needle in received for needle in _encodings(fake.key))


def test_a_join_question_is_answered_by_taps_one_choice_at_a_time_and_a_branch_gets_a_condition(chat, fake):
    editor = chat
    doc = editor.document
    join = doc.workflow.node("orders_with_customers")
    section = open_section(editor, "orders_with_customers")
    wait_until(lambda: all(i.columns for i in section.inputs) and len(section.inputs) == 2, 30,
               "both inputs' columns")
    question = "Which column of the orders pairs with the customers?"
    record = ask(section, "sql:" + json.dumps({"mode": "question", "question": question}), "join them")
    assert record["status"] == "question"
    choices = section.questions
    assert choices.parent is section and choices.question.text == question
    assert section.actions.parent is None          # nothing to accept yet
    shots(editor, "join_question", choices)

    first, second = section.inputs
    # one at a time: the first input's columns, then the second's, then the join type
    assert [b.choice_value for b in choices.choices()] == first.columns
    tap_in_panel(next(b for b in choices.choices() if b.choice_value == "customer_id"))
    assert [b.choice_value for b in choices.choices()] == second.columns
    code = ("SELECT o.*, c.name, c.country FROM {{ input.1 }} o "
            "LEFT JOIN {{ input.2 }} c ON c.id = o.customer_id")
    type_into(section.model, scripted(code, explanation="Orders with their customer."))
    tap_in_panel(next(b for b in choices.choices() if b.choice_value == "id"))
    assert [b.choice_value for b in choices.choices()] == ["inner", "left", "full"]
    tap_in_panel(next(b for b in choices.choices() if b.choice_value == "left"))

    wait_until(lambda: section.record is not None and section.record.get("status") != "question", 180,
               "the proposal after the answer")
    assert section.record["status"] == "verified", section.record
    sent = section.record["request"]
    assert f"{first.name}.customer_id = {second.name}.id, left join" in sent and question in sent
    prompt = [json.loads(r["body"]) for r in fake.received if r["path"].endswith("/chat/completions")][-1]
    assert "left join" in prompt["messages"][-1]["content"]
    tap_in_panel(section.accept_button)
    assert join.config["sql"] == code and join.ai is not None
    doc.undo()
    pump(2)
    assert "sql" not in join.config and join.ai is None

    # a Branch gets a condition the same way: verified on the sample (one value), accepted
    branch = doc.workflow.node("revenue_check")
    section = open_section(editor, "revenue_check")
    record = ask(section, scripted("sum(revenue) > 10", mode="condition", explanation="Any revenue."),
                 "go on when there is any revenue")
    assert record["status"] == "verified" and section.sample.table.rows == [[1]]
    assert section.diff.removed == ["sum(revenue) > 20000"] and section.diff.added == ["sum(revenue) > 10"]
    tap_in_panel(section.accept_button)
    assert branch.config == {"condition": "sum(revenue) > 10"} and branch.ai is not None
    assert editor.ids.canvas.scene.node_look("revenue_check").ai == "generated"


def test_a_data_source_has_ask_ai_only_while_it_reads_a_rest_api(app, editor):
    doc = editor.document
    editor.select_node("orders")
    panel = editor.ids.inspector
    wait_until(lambda: panel.form is not None and panel.form.node_id == "orders", 15, "the Data Source form")
    form = panel.form
    assert getattr(form, "ai_section", None) is None          # a file: nothing to ask
    form.source.dispatch("on_choice", "rest")
    wait_until(lambda: getattr(form, "ai_section", None) is not None and form.ai_section.parent is form, 15,
               "the Ask AI section for an API source")
    assert "REST fetch settings" in form.ai_section.context.text and "never its credentials" in \
        form.ai_section.context.text
    doc.undo()
    wait_until(lambda: form.ai_section.parent is None, 15, "the section to go with the file source")
    assert doc.workflow.node("orders").config["source"] == "file"
