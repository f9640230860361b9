"""Small builders shared by the integration tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

SLOW_SQL = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000000) "
            "SELECT count(*) AS n FROM c")


def node(node_id: str, node_type: str, config: dict[str, Any] | None = None, **extra: Any) -> dict:
    return {"id": node_id, "type": node_type, "title": extra.pop("title", ""), "position": [0, 0],
            "config": config or {}, **extra}


def sql(node_id: str, text: str, **extra: Any) -> dict:
    return node(node_id, "transformer", {"language": "sql", "mode": "new_table", "sql": text}, **extra)


def source(node_id: str, path: str, **options: Any) -> dict:
    config: dict[str, Any] = {"source": "file", "path": path}
    if options:
        config["options"] = options
    return node(node_id, "data_source", config)


def start() -> dict:
    return node("start", "start", {"trigger": {"kind": "manual"}})


def write_workflow(folder: Path, wf_id: str, nodes: list[dict], edges: list[tuple],
                   schema_valid: bool = True) -> Path:
    """A workflow file; unless a test means to write a malformed one (``schema_valid=False``)
    it must pass the JSON Schema — so the schema is checked against every workflow the
    tests run, and cannot drift from what the product accepts."""
    doc = {"format": "dagflux-workflow", "version": 2, "id": wf_id, "name": wf_id.replace("_", " "),
           "description": "", "nodes": nodes,
           "edges": [{"from": e[0], "to": e[1], **({"from_port": e[2]} if len(e) > 2 else {})}
                     for e in edges]}
    if schema_valid:
        from engine.model.schema_check import schema_problems

        problems = schema_problems(json.loads(json.dumps(doc)))
        assert not problems, f"test workflow {wf_id} does not match the schema: {problems}"
    path = folder / f"{wf_id}.json"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


class RecordedCli:
    """The ``cli`` fixture, keeping what every call printed (``outputs``) and, through the
    engine's frame tap, every msgpack frame (``frame_log``): the haystacks a leak test searches."""

    def __init__(self, cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
        from engine import frametap

        self.cli = cli
        self.outputs: list[str] = []
        self.frame_log = tmp_path / "frames.bin"
        monkeypatch.setenv(frametap.ENV, str(self.frame_log))

    def __call__(self, *args: str, input: str | None = None) -> Any:
        out = self.cli(*args, input=input)
        self.outputs.extend([out.stdout, out.stderr])
        return out
