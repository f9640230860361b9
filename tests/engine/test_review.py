"""What a workflow will do, listed before import (pure)."""

from __future__ import annotations

from engine.model import fileformat
from engine.model.review import review


def wf(*nodes: dict, trigger: dict | None = None):
    return fileformat.from_dict({"format": "dagflux-workflow", "version": 2, "id": "w", "name": "W",
                                 "nodes": [{"id": "start", "type": "start",
                                            "config": {"trigger": trigger or {"kind": "manual"}}}, *nodes]})


def test_code_sql_writes_and_connections_are_listed_with_risky_paths_flagged() -> None:
    found = review(wf(
        {"id": "py", "type": "transformer", "config": {"language": "python", "code": "def transform(rows):\n"
                                                                                     "    return rows\n"}},
        {"id": "q", "type": "transformer", "config": {"language": "sql", "sql": "SELECT 1"}},
        {"id": "b", "type": "branch", "config": {"condition": "count(*) > 0"}},
        {"id": "here", "type": "output", "config": {"path": "out/report.csv"}},
        {"id": "abs", "type": "output", "config": {"path": "/etc/cron.d/x"}},
        {"id": "up", "type": "output", "config": {"path": "../../.bashrc"}},
        {"id": "db", "type": "output", "config": {"connection": "pg", "table": "t"}},
        {"id": "src", "type": "data_source", "config": {"source": "connection", "connection": "crm", "table": "c"}}))
    assert found.code == [("py", "def transform(rows):\n    return rows\n")]
    assert found.sql == [("q", "SELECT 1"), ("b", "condition: count(*) > 0")]
    assert [(n, flag != "") for n, _, flag in found.writes] == [("here", False), ("abs", True), ("up", True),
                                                                 ("db", False)]
    assert found.connections == ["crm", "pg"]
    text = "\n".join(found.lines())
    assert "Python code in node 'py'" in text and "    1 | def transform(rows):" in text
    assert "⚠ an absolute path" in text and "⚠ climbs out" in text


def test_a_trigger_is_said_to_start_switched_off() -> None:
    found = review(wf(trigger={"kind": "daily", "time": "09:30"}))
    assert found.lines()[0] == ("Trigger: every day at 09:30 — imported switched off; turn it on with "
                                "'dagflux workflows enable w'")
    assert review(wf()).lines()[0] == "Trigger: run by hand"
    assert "It runs no code or SQL" in review(wf()).lines()[-1]
