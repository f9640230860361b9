"""The Output panel's AI analysis format in a real window, with a real engine and the scripted
loopback AI server: the format is picked from the panel, its prompt, AI connection and model
filled in through the fields (one undoable config each), the context budget explained; the
workflow runs, the Markdown file is written, and tapping the node shows the rendered answer.
Screenshots light and dark."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.widgets.analysis_view import AnalysisViewer, markdown_markup
from tests.app.kivyrun import pump, themed_shots, wait_until
from tests.app.test_node_chat import type_into
from tests.integration.aifakes import AiFakeServer

ANSWER = "# Revenue by country~France leads with **7,338**.~- `FR` first~- Italy second~1. check DE"


@pytest.fixture
def fake():
    with AiFakeServer() as server:
        yield server


def test_markdown_is_rendered_as_markup() -> None:
    text = markdown_markup("# Title\n\n- **bold** and *it*\n2. `a[b]`\n```\nx = [1]\n```\n| a | b |")
    lines = text.split("\n")
    assert "[b]Title[/b]" in lines[0] and "[size=" in lines[0]
    assert lines[2] == "  •  [b]bold[/b] and [i]it[/i]"
    assert lines[3].startswith("  2.  [font=RobotoMono-Regular]") and "a&bl;b&br;" in lines[3]
    assert "x = &bl;1&br;" in lines[4] and "| a | b |" in lines[5] and "```" not in text


def test_ai_analysis_output_set_up_in_the_panel_runs_and_its_answer_is_shown(keyring_ready, fake, app, editor,
                                                                             tmp_path: Path) -> None:
    app.bridge.call_blocking("connections.add", id="fake", type="openai", name="Fake AI",
                             settings={"base_url": fake.url + "/v1", "model": "good", "max_retries": 0},
                             secrets={"api_key": fake.key})
    doc = editor.document
    node = doc.workflow.node("report_csv")
    editor.select_node("report_csv")
    panel = editor.ids.inspector
    wait_until(lambda: panel.form is not None and "format" in panel.form.fields, 15, "the Output form")
    form = panel.form
    form.fields["format"].choose("ai_analysis")
    pump(3)
    assert node.config["format"] == "ai_analysis"
    fields = form.fields
    assert {"prompt", "ai_connection", "model", "max_tokens"} <= set(fields)
    assert "Context budget" in fields["max_tokens"].helper and "schema only" in fields["max_tokens"].helper
    wait_until(lambda: fields["ai_connection"].options == [("fake", "Fake AI")], 30, "the AI connections")
    fields["ai_connection"].choose("fake")
    type_into(fields["prompt"], "What stands out?")
    type_into(fields["model"], "sql:" + ANSWER)
    type_into(fields["max_tokens"], "300")
    type_into(fields["path"], "out/analysis.md")
    assert node.config == {"format": "ai_analysis", "ai_connection": "fake", "prompt": "What stands out?",
                           "model": "sql:" + ANSWER, "max_tokens": 300, "path": "out/analysis.md",
                           "if_exists": "overwrite"}
    assert not doc.problems_by_node().get("report_csv")
    assert form.summary.text.startswith("Asks fake about the table from") and "out/analysis.md" in form.summary.text
    themed_shots(app, "output_ai_analysis_panel_{theme}",
                 lambda: panel.ids.scroll.scroll_to(fields["prompt"], animate=False))
    doc.undo()
    assert node.config["path"] == "out/revenue_by_country.csv"
    doc.redo()

    editor.run()
    wait_until(lambda: doc.run_status not in (None, "running") and doc.node_states.get("report_csv") is not None
               and doc.node_states["report_csv"].status not in ("queued", "running"), 120, "the run")
    assert doc.run_status == "succeeded", doc.run_error
    written = (tmp_path / "orders_report" / "out" / "analysis.md").read_text(encoding="utf-8")
    assert "France leads with **7,338**." in written

    editor.on_node_open("report_csv")
    viewers = lambda: [w for w in app.root_window.children if isinstance(w, AnalysisViewer)]  # noqa: E731
    wait_until(lambda: viewers() and viewers()[0].source, 30, "the answer")
    viewer = viewers()[0]
    assert viewer.source.startswith("# Revenue by country\nFrance leads")
    assert "[b]Revenue by country[/b]" in viewer.answer.text and "  •  " in viewer.answer.text
    assert "Asked: What stands out?" in viewer.meta.text and "Model: sql:" in viewer.meta.text
    themed_shots(app, "output_ai_analysis_answer_{theme}")
    viewer.dismiss()
