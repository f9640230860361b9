"""The workflow file format: save → load round trips, byte-stable output, migration, clear errors.

Every error is a :class:`WorkflowFileError` (or its :class:`UnsupportedVersionError`)
that names the file; saving is atomic, so a failed save leaves the old file and no
temp file behind.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from engine.errors import UnsupportedVersionError, WorkflowFileError
from engine.model import fileformat
from engine.model.workflow import Edge, Node, Workflow


def make_workflow(config_order: str = "as_written") -> Workflow:
    """start -> orders -> check -(true)-> big -> report ; check -(false)-> small -> report."""
    clean_config: dict[str, Any] = {"sql": "SELECT * FROM {{ input }}", "mode": "new_table",
                                    "language": "sql", "limits": {"z": 1, "a": [3, {"y": 1, "b": 2}]}}
    if config_order == "reversed":
        clean_config = dict(reversed(list(clean_config.items())))
    nodes = [
        Node("start", "start", "Start", (0, 0), {"trigger": {"kind": "manual"}}),
        Node("orders", "data_source", "Orders", (120.5, -40.25), {"path": "orders.csv", "format": "csv"}),
        Node("check", "branch", "Big day?", (240, 0), {"condition": "count(*) > 100"}, timeout_s=30),
        Node("big", "transformer", "", (360, -60), clean_config, pinned=True),
        Node("small", "transformer", "Small ✓ ünïcødé", (360, 60), {"sql": "SELECT 1"}),
        Node("report", "join", "", (480, 0), {"sql": "SELECT * FROM {{ input.1 }}"}),
    ]
    edges = [
        Edge("start", "orders"),
        Edge("orders", "check"),
        Edge("check", "big", "true"),
        Edge("check", "small", "false"),
        Edge("big", "report"),
        Edge("small", "report", target_port="right"),
    ]
    return Workflow("orders_report", "Orders report", "Daily orders", nodes, edges,
                    {"timezone": "UTC", "max_parallel": 2})


def write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def v2_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"format": "dagflux-workflow", "version": 2, "id": "wf",
                           "nodes": [{"id": "start", "type": "start"}], "edges": []}
    doc.update(overrides)
    return doc


# --- round trip ----------------------------------------------------------------------------
def test_save_then_load_gives_the_same_workflow(tmp_path: Path) -> None:
    wf = make_workflow()
    fileformat.save(wf, tmp_path / "orders_report.json")
    loaded = fileformat.load(tmp_path / "orders_report.json")
    assert fileformat.to_dict(loaded) == fileformat.to_dict(wf)
    assert loaded.nodes == wf.nodes
    assert loaded.edges == wf.edges
    assert (loaded.id, loaded.name, loaded.description, loaded.settings) == (
        "orders_report", "Orders report", "Daily orders", {"timezone": "UTC", "max_parallel": 2})


def test_round_trip_keeps_every_node_field(tmp_path: Path) -> None:
    fileformat.save(make_workflow(), tmp_path / "wf.json")
    loaded = fileformat.load(tmp_path / "wf.json")
    check, big, small = loaded.node("check"), loaded.node("big"), loaded.node("small")
    assert (check.timeout_s, check.pinned, big.pinned) == (30.0, False, True)
    assert loaded.node("orders").position == (120.5, -40.25)
    assert small.title == "Small ✓ ünïcødé"
    assert big.config["limits"] == {"a": [3, {"b": 2, "y": 1}], "z": 1}
    assert loaded.inputs_of("report") == [Edge("big", "report"), Edge("small", "report", "out", "right")]


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(WorkflowFileError, match=re.escape(f"{tmp_path / 'nope.json'}: no such workflow file")):
        fileformat.load(tmp_path / "nope.json")


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"id": "caf\xe9"}')
    with pytest.raises(WorkflowFileError, match=re.escape(f"{path}: not UTF-8 text (byte 11)")):
        fileformat.load(path)


# --- byte-stable output --------------------------------------------------------------------
def test_saving_twice_gives_identical_bytes(tmp_path: Path) -> None:
    wf = make_workflow()
    fileformat.save(wf, tmp_path / "a.json")
    fileformat.save(fileformat.load(tmp_path / "a.json"), tmp_path / "b.json")
    fileformat.save(wf, tmp_path / "c.json")
    first = (tmp_path / "a.json").read_bytes()
    assert (tmp_path / "b.json").read_bytes() == first
    assert (tmp_path / "c.json").read_bytes() == first


def test_output_does_not_depend_on_the_order_keys_were_edited_in() -> None:
    assert fileformat.dumps(make_workflow("reversed")) == fileformat.dumps(make_workflow())


def test_config_and_settings_keys_are_sorted_at_every_depth() -> None:
    doc = json.loads(fileformat.dumps(make_workflow()))
    big = next(n for n in doc["nodes"] if n["id"] == "big")
    assert list(big["config"]) == ["language", "limits", "mode", "sql"]
    assert list(big["config"]["limits"]) == ["a", "z"]
    assert list(big["config"]["limits"]["a"][1]) == ["b", "y"]
    assert list(doc["settings"]) == ["max_parallel", "timezone"]


def test_keys_are_written_in_a_fixed_order() -> None:
    doc = json.loads(fileformat.dumps(make_workflow()))
    assert list(doc) == ["format", "version", "id", "name", "description", "settings", "nodes", "edges"]
    check = next(n for n in doc["nodes"] if n["id"] == "check")
    assert list(check) == ["id", "type", "title", "position", "timeout_s", "config"]
    assert doc["edges"][2] == {"from": "check", "from_port": "true", "to": "big"}
    assert doc["edges"][0] == {"from": "start", "to": "orders"}
    assert list(doc["edges"][5].items()) == [("from", "small"), ("to", "report"), ("to_port", "right")]


def test_the_file_ends_with_exactly_one_newline() -> None:
    text = fileformat.dumps(make_workflow())
    assert text.endswith("}\n")
    assert not text.endswith("\n\n")


def test_each_node_is_its_own_block_of_lines() -> None:
    lines = fileformat.dumps(make_workflow()).splitlines()
    for node_id in ("start", "orders", "check", "big", "small", "report"):
        [at] = [i for i, line in enumerate(lines) if line == f'      "id": "{node_id}",']
        assert lines[at - 1] == "    {", f"node {node_id} does not open its own block"
    assert sum(line.count('"id"') for line in lines) == 7  # the workflow's and six nodes', one a line


def test_integral_positions_are_written_as_integers() -> None:
    doc = json.loads(fileformat.dumps(make_workflow()))
    assert [n["position"] for n in doc["nodes"]][:2] == [[0, 0], [120.5, -40.25]]
    assert isinstance(doc["nodes"][0]["position"][0], int)


def test_non_ascii_is_written_as_is() -> None:
    assert '"title": "Small ✓ ünïcødé"' in fileformat.dumps(make_workflow())


# --- migration -----------------------------------------------------------------------------
V1_DOC = {
    "version": 1,
    "id": "legacy",
    "name": "Legacy",
    "nodes": [
        {"id": "start", "type": "start", "position": {"x": 10, "y": 20}},
        {"id": "check", "type": "branch", "position": {"x": 30.5}, "config": {"condition": "1"}},
        {"id": "yes", "type": "output", "position": [1, 2]},
    ],
    "edges": [
        {"source": "start", "target": "check"},
        {"source": "check", "target": "yes", "port": "true"},
        {"from": "start", "to": "yes"},
    ],
}


def test_version_1_is_migrated_to_the_current_format(tmp_path: Path) -> None:
    wf = fileformat.load(write(tmp_path / "legacy.json", V1_DOC))
    assert [n.position for n in wf.nodes] == [(10.0, 20.0), (30.5, 0.0), (1.0, 2.0)]
    assert wf.edges == [Edge("start", "check"), Edge("check", "yes", "true"), Edge("start", "yes")]
    assert wf.node("check").config == {"condition": "1"}


def test_a_migrated_file_is_saved_in_the_current_version(tmp_path: Path) -> None:
    path = write(tmp_path / "legacy.json", V1_DOC)
    fileformat.save(fileformat.load(path), path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert (doc["format"], doc["version"]) == ("dagflux-workflow", 2)
    assert doc["nodes"][0]["position"] == [10, 20]
    assert doc["edges"][1] == {"from": "check", "from_port": "true", "to": "yes"}


def test_migration_does_not_change_the_callers_document() -> None:
    doc = json.loads(json.dumps(V1_DOC))
    fileformat.from_dict(doc)
    assert doc == V1_DOC


@pytest.mark.parametrize("nodes", [[1], None], ids=["node-not-object", "nodes-null"])
def test_a_malformed_version_1_file_is_a_workflow_file_error(tmp_path: Path, nodes: Any) -> None:
    path = write(tmp_path / "legacy.json", {"version": 1, "id": "legacy", "nodes": nodes})
    with pytest.raises(WorkflowFileError, match=re.escape(str(path))):
        fileformat.load(path)


# --- versions and format marker ------------------------------------------------------------
def test_a_newer_version_is_refused_with_advice(tmp_path: Path) -> None:
    path = write(tmp_path / "future.json", v2_doc(version=3))
    with pytest.raises(UnsupportedVersionError,
                       match=re.escape(f"{path}: workflow format version 3 is newer than this DagFlux "
                                       "understands (up to 2); upgrade DagFlux to open it")) as info:
        fileformat.load(path)
    assert info.value.path == str(path)


@pytest.mark.parametrize("version, shown", [(None, "None"), ("2", "'2'"), (2.0, "2.0"), (True, "True")])
def test_a_missing_or_non_integer_version_is_refused(version: Any, shown: str) -> None:
    doc = v2_doc(version=version)
    if version is None:
        del doc["version"]
    with pytest.raises(UnsupportedVersionError,
                       match=re.escape(f"f.json: missing or non-integer 'version' (found {shown})")):
        fileformat.loads(json.dumps(doc), source="f.json")


def test_an_unknown_old_version_is_refused() -> None:
    with pytest.raises(UnsupportedVersionError, match=r"^f\.json: unknown workflow format version 0$"):
        fileformat.loads(json.dumps(v2_doc(version=0)), source="f.json")


def test_a_wrong_format_marker_is_refused() -> None:
    with pytest.raises(WorkflowFileError,
                       match=r"^f\.json: not a DagFlux workflow \(format is 'kedro-pipeline'\)$"):
        fileformat.loads(json.dumps(v2_doc(format="kedro-pipeline")), source="f.json")


# --- malformed files -----------------------------------------------------------------------
def test_malformed_json_gives_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "version": 2,\n  "id": "wf",,\n  "nodes": []\n}\n', encoding="utf-8")
    with pytest.raises(WorkflowFileError,
                       match=re.escape(f"{path}: invalid JSON at line 3, column 14: ")) as info:
        fileformat.load(path)
    assert info.value.path == str(path)


@pytest.mark.parametrize("text", ["", "   \n\t\n"], ids=["empty", "whitespace"])
def test_an_empty_file_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(WorkflowFileError, match=re.escape(f"{path}: the file is empty")):
        fileformat.load(path)


@pytest.mark.parametrize("text, kind", [("[]", "list"), ('"wf"', "str"), ("2", "int"), ("null", "NoneType")])
def test_a_document_that_is_not_an_object_is_refused(text: str, kind: str) -> None:
    with pytest.raises(WorkflowFileError, match=rf"^f\.json: a workflow must be a JSON object, found {kind}$"):
        fileformat.loads(text, source="f.json")


def test_duplicate_node_ids_are_refused() -> None:
    doc = v2_doc(nodes=[{"id": "a", "type": "start"}, {"id": "b", "type": "output"}, {"id": "a", "type": "join"}])
    with pytest.raises(WorkflowFileError, match=r"^f\.json: two nodes have the id 'a'$"):
        fileformat.loads(json.dumps(doc), source="f.json")


@pytest.mark.parametrize("position", [[1], [1, 2, 3], "1,2", [True, 1], ["1", 2], None, {"x": 1, "y": 2}])
def test_a_bad_position_is_refused_naming_the_node(position: Any) -> None:
    doc = v2_doc(nodes=[{"id": "start", "type": "start"}, {"id": "load", "type": "data_source",
                                                          "position": position}])
    with pytest.raises(WorkflowFileError,
                       match=r"^f\.json: node #2 \('load'\): 'position' must be \[x, y\] numbers$"):
        fileformat.loads(json.dumps(doc), source="f.json")


@pytest.mark.parametrize("overrides, message", [
    ({"id": ""}, "the workflow has no 'id'"),
    ({"nodes": {"a": {}}}, "'nodes' must be a list"),
    ({"nodes": [["start"]]}, "node #1 must be an object"),
    ({"nodes": [{"type": "start"}]}, "node #1 has no 'id'"),
    ({"nodes": [{"id": "a"}]}, "node #1 ('a') has no 'type'"),
    ({"nodes": [{"id": "a", "type": "t", "config": []}]}, "node #1 ('a'): 'config' must be an object"),
    ({"nodes": [{"id": "a", "type": "t", "timeout_s": -1}]}, "node #1 ('a'): 'timeout_s' must be a positive"),
    ({"edges": [{"from": "start"}]}, "edge #1 must be an object with 'from' and 'to' node ids"),
    ({"settings": [1]}, "'settings' must be an object"),
])
def test_each_malformed_part_is_named(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(WorkflowFileError, match="^" + re.escape(f"f.json: {message}")):
        fileformat.loads(json.dumps(v2_doc(**overrides)), source="f.json")


# --- atomic save ---------------------------------------------------------------------------
def test_a_save_that_cannot_serialise_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "wf.json"
    fileformat.save(make_workflow(), path)
    old = path.read_bytes()
    broken = make_workflow()
    broken.node("big").config["columns"] = {"a", "b"}   # a set: json cannot encode it
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        fileformat.save(broken, path)
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wf.json"]


def test_a_save_that_fails_while_writing_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "wf.json"
    fileformat.save(make_workflow(), path)
    old = path.read_bytes()
    broken = make_workflow()
    broken.node("small").title = "lone surrogate \ud800"   # serialises, but cannot be encoded as UTF-8
    with pytest.raises(UnicodeEncodeError):
        fileformat.save(broken, path)
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wf.json"]


def test_save_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "wf.json"
    path.write_text("old content", encoding="utf-8")
    fileformat.save(make_workflow(), path)
    assert fileformat.load(path).id == "orders_report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wf.json"]
