"""docs/workflow.schema.json describes what fileformat.py reads and writes.

jsonschema is not a dependency, so the few draft 2020-12 keywords the schema uses are
checked by the small validator below; a test makes sure the schema never uses a
keyword that validator does not know (it would silently pass).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.model import fileformat, triggers
from engine.model.workflow import ID_PATTERN, MAX_ID_LENGTH, Edge, Node, Workflow

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "docs" / "workflow.schema.json"
FORMAT_DOC = ROOT / "docs" / "workflow-format.md"
EXAMPLES = ROOT / "examples"
CORE_MANIFEST = ROOT / "plugins" / "core" / "plugin.json"


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


# --- a minimal validator for the keywords the schema uses ------------------------------
Check = Callable[[Any, Any, dict, dict, str], list[str]]
ANNOTATIONS = {"$schema", "$id", "$defs", "title", "description", "default", "examples", "$comment"}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "integer" if float(value).is_integer() else "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def same(a: Any, b: Any) -> bool:
    return json_type(a) == json_type(b) and json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def errors(instance: Any, schema: Any, root: dict, path: str = "$") -> list[str]:
    if isinstance(schema, bool):
        return [] if schema else [f"{path}: not allowed"]
    found: list[str] = []
    for keyword, value in schema.items():
        if keyword not in ANNOTATIONS and keyword not in ("then", "else"):
            found += KEYWORDS[keyword](instance, value, schema, root, path)
    return found


def _type(inst: Any, want: Any, schema: dict, root: dict, path: str) -> list[str]:
    wanted = [want] if isinstance(want, str) else want
    kind = json_type(inst)
    ok = kind in wanted or (kind == "integer" and "number" in wanted)
    return [] if ok else [f"{path}: expected {want}, found {kind}"]


def _const(inst: Any, want: Any, schema: dict, root: dict, path: str) -> list[str]:
    return [] if same(inst, want) else [f"{path}: must be {json.dumps(want)}"]


def _enum(inst: Any, want: list, schema: dict, root: dict, path: str) -> list[str]:
    return [] if any(same(inst, w) for w in want) else [f"{path}: {json.dumps(inst)} not in {want}"]


def _when(kind: str, test: Callable[[Any, Any], bool], what: str) -> Check:
    def check(inst: Any, want: Any, schema: dict, root: dict, path: str) -> list[str]:
        applies = json_type(inst) in ((kind,) if kind != "number" else ("number", "integer"))
        return [f"{path}: {what} {want}"] if applies and not test(inst, want) else []
    return check


def _properties(inst: Any, props: dict, schema: dict, root: dict, path: str) -> list[str]:
    if not isinstance(inst, dict):
        return []
    return [e for k, sub in props.items() if k in inst for e in errors(inst[k], sub, root, f"{path}.{k}")]


def _additional(inst: Any, extra: Any, schema: dict, root: dict, path: str) -> list[str]:
    if not isinstance(inst, dict):
        return []
    known = schema.get("properties", {})
    return [e for k in inst if k not in known for e in errors(inst[k], extra, root, f"{path}.{k}")]


def _required(inst: Any, names: list, schema: dict, root: dict, path: str) -> list[str]:
    missing = [n for n in names if isinstance(inst, dict) and n not in inst]
    return [f"{path}: '{n}' is required" for n in missing]


def _items(inst: Any, sub: Any, schema: dict, root: dict, path: str) -> list[str]:
    if not isinstance(inst, list):
        return []
    start = len(schema.get("prefixItems", []))
    return [e for i, v in enumerate(inst[start:], start) for e in errors(v, sub, root, f"{path}[{i}]")]


def _prefix(inst: Any, subs: list, schema: dict, root: dict, path: str) -> list[str]:
    if not isinstance(inst, list):
        return []
    pairs = enumerate(zip(inst, subs, strict=False))
    return [e for i, (v, sub) in pairs for e in errors(v, sub, root, f"{path}[{i}]")]


def _unique(inst: Any, want: bool, schema: dict, root: dict, path: str) -> list[str]:
    if not want or not isinstance(inst, list):
        return []
    keys = [json.dumps(v, sort_keys=True) for v in inst]
    return [] if len(set(keys)) == len(keys) else [f"{path}: items must be unique"]


def _all_of(inst: Any, subs: list, schema: dict, root: dict, path: str) -> list[str]:
    return [e for sub in subs for e in errors(inst, sub, root, path)]


def _one_of(inst: Any, subs: list, schema: dict, root: dict, path: str) -> list[str]:
    passing = sum(not errors(inst, sub, root, path) for sub in subs)
    return [] if passing == 1 else [f"{path}: matches {passing} of the oneOf choices, not exactly 1"]


def _any_of(inst: Any, subs: list, schema: dict, root: dict, path: str) -> list[str]:
    passing = sum(not errors(inst, sub, root, path) for sub in subs)
    return [] if passing else [f"{path}: matches none of the anyOf choices"]


def _if(inst: Any, test: Any, schema: dict, root: dict, path: str) -> list[str]:
    branch = schema.get("then" if not errors(inst, test, root, path) else "else", True)
    return errors(inst, branch, root, path)


def _ref(inst: Any, ref: str, schema: dict, root: dict, path: str) -> list[str]:
    return errors(inst, resolve(ref, root), root, path)


def resolve(ref: str, root: dict) -> Any:
    assert ref.startswith("#/"), f"only local references are used: {ref}"
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


KEYWORDS: dict[str, Check] = {
    "type": _type, "const": _const, "enum": _enum, "properties": _properties,
    "additionalProperties": _additional, "required": _required, "items": _items,
    "prefixItems": _prefix, "uniqueItems": _unique, "allOf": _all_of, "oneOf": _one_of,
    "anyOf": _any_of,
    "if": _if, "$ref": _ref,
    "pattern": _when("string", lambda v, p: re.search(p, v) is not None, "must match"),
    "minLength": _when("string", lambda v, n: len(v) >= n, "shorter than"),
    "maxLength": _when("string", lambda v, n: len(v) <= n, "longer than"),
    "minimum": _when("number", lambda v, n: v >= n, "below"),
    "maximum": _when("number", lambda v, n: v <= n, "above"),
    "exclusiveMinimum": _when("number", lambda v, n: v > n, "not above"),
    "multipleOf": _when("number", lambda v, n: v % n == 0, "not a multiple of"),
    "minItems": _when("array", lambda v, n: len(v) >= n, "fewer items than"),
    "maxItems": _when("array", lambda v, n: len(v) <= n, "more items than"),
}


def subschemas(schema: Any) -> Iterator[dict]:
    """Every schema object inside ``schema`` (not the values of const/enum/default)."""
    if not isinstance(schema, dict):
        return
    yield schema
    for key, value in schema.items():
        if key in ("properties", "$defs"):
            for sub in value.values():
                yield from subschemas(sub)
        elif key in ("allOf", "oneOf", "anyOf", "prefixItems"):
            for sub in value:
                yield from subschemas(sub)
        elif key in ("items", "additionalProperties", "if", "then", "else"):
            yield from subschemas(value)


# --- the schema itself ---------------------------------------------------------------
def test_schema_is_draft_2020_12_json(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["format"]["const"] == fileformat.FORMAT_NAME
    assert schema["properties"]["version"]["const"] == fileformat.CURRENT_VERSION


def test_schema_uses_only_keywords_this_test_can_check(schema):
    used = {k for sub in subschemas(schema) for k in sub}
    assert used <= set(KEYWORDS) | ANNOTATIONS | {"then", "else"}
    refs = [sub["$ref"] for sub in subschemas(schema) if "$ref" in sub]
    assert refs and all(isinstance(resolve(r, schema), dict) for r in refs)


def test_ids_follow_the_model(schema):
    ids = schema["$defs"]["id"]
    assert ids["pattern"] == ID_PATTERN
    assert ids["maxLength"] == MAX_ID_LENGTH
    assert schema["$defs"]["node"]["properties"]["id"] == {"$ref": "#/$defs/id"}


def conditional_consts(rules: list, key: str) -> list[str]:
    return [rule["if"]["properties"][key]["const"] for rule in rules]


def test_built_in_node_types_each_have_a_config_schema(schema):
    built_in = json.loads(CORE_MANIFEST.read_text(encoding="utf-8"))["provides"]["node_types"]
    assert conditional_consts(schema["$defs"]["node"]["allOf"], "type") == list(built_in)


def enum_of(defs: dict, name: str, field: str) -> tuple:
    return tuple(defs[name]["properties"][field]["items"]["enum"])


def test_trigger_kinds_and_values_match_the_code(schema):
    defs = schema["$defs"]
    assert tuple(defs["trigger"]["properties"]["kind"]["enum"]) == triggers.TRIGGER_KINDS
    assert tuple(conditional_consts(defs["trigger"]["allOf"], "kind")) == triggers.TRIGGER_KINDS
    assert tuple(defs["start_config"]["properties"]["missed_runs"]["enum"]) == triggers.MISSED_RUNS
    assert enum_of(defs, "trigger_weekly", "days") == triggers.WEEKDAYS
    assert enum_of(defs, "trigger_file_watch", "events") == triggers.FILE_EVENTS
    assert enum_of(defs, "trigger_webhook", "formats") == triggers.WEBHOOK_FORMATS
    minutes = defs["trigger_interval"]["properties"]["minutes"]
    assert (minutes["minimum"], minutes["multipleOf"], minutes["maximum"]) == (
        triggers.INTERVAL_STEP, triggers.INTERVAL_STEP, triggers.INTERVAL_MAX)
    settle = defs["trigger_file_watch"]["properties"]["settle_seconds"]
    assert settle["default"] == triggers.DEFAULT_SETTLE_SECONDS
    assert settle["maximum"] == triggers.MAX_SETTLE_SECONDS


# --- documents against the schema ----------------------------------------------------
def sample_workflow() -> Workflow:
    nodes = [
        Node("start", "start", "Every weekday", (0, 0),
             {"trigger": {"kind": "weekly", "days": ["mon", "fri"], "time": "08:00"},
              "missed_runs": "run_once"}),
        Node("orders", "data_source", "Orders", (200, 0),
             {"source": "file", "path": "data/orders.csv", "options": {"delimiter": ";", "header": True}}),
        Node("customers", "data_source", "", (200, 120), {"source": "workspace", "table": "crm__customers"}),
        Node("paid", "transformer", "Paid only", (400, 0),
             {"language": "sql", "mode": "new_table", "sql": "SELECT * FROM {{ input }} WHERE paid"},
             timeout_s=30),
        Node("scores", "transformer", "", (400, 120),
             {"language": "python", "code": "def transform(rows):\n    yield from rows",
              "limits": {"cpu_seconds": 10}}),
        Node("combined", "join", "", (600, 0),
             {"joins": [{"left": "paid", "right": "scores", "type": "left", "on": [["customer", "id"]]}],
              "columns": ["paid.id", "scores.name"]}),
        Node("big", "branch", "", (800, 0), {"condition": "sum(total) > 1000"}, pinned=True),
        Node("report", "output", "", (1000, 0), {"path": "out/report.xlsx", "options": {"sheet": "Big"}}),
        Node("notify", "acme_slack", "Plugin node", (1000, 120), {"anything": [1, 2]}),
    ]
    edges = [Edge("start", "orders"), Edge("orders", "paid"), Edge("customers", "scores"),
             Edge("paid", "combined"), Edge("scores", "combined"), Edge("combined", "big"),
             Edge("big", "report", "true"), Edge("big", "notify", "false")]
    return Workflow("orders_report", "Orders report", "", nodes, edges, {"max_parallel": 2})


def sample_doc() -> dict:
    return json.loads(fileformat.dumps(sample_workflow()))


def test_a_saved_workflow_is_valid_and_loads_back(schema):
    doc = sample_doc()
    assert errors(doc, schema, schema) == []
    assert fileformat.to_dict(fileformat.from_dict(doc)) == doc


def node(doc: dict, node_id: str) -> dict:
    return next(n for n in doc["nodes"] if n["id"] == node_id)


def _set(doc: dict, where: str, value: Any) -> None:
    """``where`` is ``key`` at top level or ``node_id:path.to.key`` inside a node."""
    target: Any = doc
    if ":" in where:
        node_id, where = where.split(":")
        target = node(doc, node_id)
    *parents, last = where.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[last] = value


@pytest.mark.parametrize("where, value, expected", [
    ("version", 3, "$.version: must be 2"),
    ("format", "other", "$.format: must be"),
    ("extra", 1, "$.extra: not allowed"),
    ("id", "Orders", "$.id: must match"),
    ("orders:id", "bad__id", "$.nodes[1].id: must match"),
    ("orders:position", [1, 2, 3], "$.nodes[1].position: more items"),
    ("orders:timeout_s", 0, "$.nodes[1].timeout_s: not above 0"),
    ("start:config.trigger", {"kind": "hourly"}, "trigger.kind: \"hourly\" not in"),
    ("start:config.trigger", {"kind": "interval", "minutes": 20}, "trigger.minutes: not a multiple of 15"),
    ("start:config.trigger", {"kind": "daily", "time": "9:30"}, "trigger.time: must match"),
    ("start:config.trigger", {"kind": "weekly", "days": [], "time": "09:30"}, "trigger.days: fewer items"),
    ("start:config.trigger", {"kind": "monthly", "day": 32, "time": "09:30"}, "trigger.day: above 31"),
    ("start:config.trigger", {"kind": "cron", "expression": "* * * *"}, "trigger.expression: must match"),
    ("start:config.trigger", {"kind": "file_watch", "path": "in", "events": ["create"]},
     "trigger.events[0]: \"create\" not in"),
    ("start:config.trigger", {"kind": "webhook", "formats": ["xml"]}, "trigger.formats[0]"),
    ("start:config.missed_runs", "always", "config.missed_runs: \"always\" not in"),
    ("orders:config.source", "ftp", "config.source: \"ftp\" not in"),
    ("orders:config.format", "xml", "config.format: \"xml\" not in"),
    ("orders:config.options.sep", ",", "config.options.sep: not allowed"),
    ("customers:config.path", "x.csv", "$.nodes[2].config.path: not allowed"),
    ("paid:config.mode", "append", "config.mode: \"append\" not in"),
    ("paid:config.sql", "", "config.sql: shorter than 1"),
    ("paid:config.code", "x", "$.nodes[3].config.code: not allowed"),
    ("scores:config.limits.memory_mb", 0, "config.limits.memory_mb: not above 0"),
    ("combined:config.sql", "SELECT 1", "$.nodes[5].config: matches 0 of the oneOf"),
    ("combined:config.joins.0.type", "cross", "$.nodes[5].config: matches 0 of the oneOf"),
    ("combined:config.joins.0.on", [["customer"]], "$.nodes[5].config: matches 0 of the oneOf"),
    ("combined:config.columns", ["name"], "$.nodes[5].config: matches 0 of the oneOf"),
    ("big:config", {}, "$.nodes[6].config: 'condition' is required"),
    ("report:config.if_exists", "append", "config.if_exists: \"append\" not in"),
    ("report:config.format", "xml", "config.format: \"xml\" not in"),
])
def test_invalid_documents_are_rejected(schema, where, value, expected):
    doc = sample_doc()
    _set(doc, where, value)
    found = errors(doc, schema, schema)
    assert any(expected in e for e in found), found


def test_edges_need_both_ends(schema):
    doc = sample_doc()
    del doc["edges"][0]["to"]
    assert errors(doc, schema, schema) == ["$.edges[0]: 'to' is required"]


@pytest.mark.parametrize("config", [
    {}, {"trigger": {"kind": "manual"}}, {"trigger": {"kind": "interval", "minutes": 45}},
    {"trigger": {"kind": "interval", "minutes": 1445}}, {"trigger": {"kind": "daily", "time": "23:59"}},
    {"trigger": {"kind": "daily", "time": "09:30", "days": ["mon"]}},
    {"trigger": {"kind": "weekly", "days": ["sun", "mon"], "time": "00:00"}},
    {"trigger": {"kind": "weekly", "days": ["mon", "mon"], "time": "00:00"}},
    {"trigger": {"kind": "monthly", "day": 31, "time": "12:00"}, "missed_runs": "run_once"},
    {"trigger": {"kind": "cron", "expression": "*/5 * * * *"}},
    {"trigger": {"kind": "file_watch", "path": "in", "events": ["add"], "settle_seconds": 0.5}},
    {"trigger": {"kind": "file_watch", "path": "in", "events": ["add"], "recursive": 1}},
    {"trigger": {"kind": "webhook", "formats": ["csv"]}}, {"trigger": {"kind": "webhook", "formats": []}},
    {"trigger": {}}, {"missed_runs": "later"}, {"trigger": {"kind": "manual"}, "when": "now"},
])
def test_schema_and_triggers_agree_on_start_configs(schema, config):
    start_schema = schema["$defs"]["start_config"]
    assert (errors(config, start_schema, schema) == []) == (triggers.validate_trigger(config) == [])


# --- the documented example and the shipped examples ---------------------------------
def documented_workflows() -> list[str]:
    blocks = re.findall(r"```json\n(.*?)```", FORMAT_DOC.read_text(encoding="utf-8"), re.DOTALL)
    return [b for b in blocks if f'"format": "{fileformat.FORMAT_NAME}"' in b]


def check_workflow_document(text: str, source: str, schema: dict) -> None:
    workflow = fileformat.loads(text, source)
    assert errors(json.loads(text), schema, schema) == []
    for start in (n for n in workflow.nodes if n.type == "start"):
        assert triggers.validate_trigger(start.config) == [], f"{source}: node '{start.id}'"


def documented_triggers() -> list[tuple[dict, str]]:
    """``(trigger config, description)`` from the rows of the trigger table in the doc."""
    text = FORMAT_DOC.read_text(encoding="utf-8")
    rows = re.findall(r"^\|[^|\n]*\| `(\{\"kind\".*?)` \| (.*?) \|$", text, re.MULTILINE)
    return [(json.loads(config), text.replace("\\*", "*")) for config, text in rows]


def test_the_documented_trigger_descriptions_are_what_the_app_shows():
    rows = documented_triggers()
    assert {config["kind"] for config, _ in rows} == set(triggers.TRIGGER_KINDS)
    for config, text in rows:
        assert triggers.describe(triggers.parse_trigger({"trigger": config})) == text


def test_the_documented_example_is_a_valid_workflow(schema):
    blocks = documented_workflows()
    assert blocks, "docs/workflow-format.md shows a complete example workflow"
    for index, text in enumerate(blocks):
        check_workflow_document(text, f"{FORMAT_DOC.name} example {index + 1}", schema)


def example_files() -> list[Path]:
    """Workflow files under examples/; data files live in folders named ``data``."""
    if not EXAMPLES.is_dir():
        return []
    return sorted(p for p in EXAMPLES.rglob("*.json") if "data" not in p.relative_to(EXAMPLES).parts[:-1])


@pytest.mark.parametrize("path", example_files() or [pytest.param(None, marks=pytest.mark.skip(
    reason="no example workflows under examples/ yet"))], ids=lambda p: p.name if p else "none")
def test_every_example_workflow_loads_and_is_valid(schema, path):
    check_workflow_document(path.read_text(encoding="utf-8"), str(path), schema)
    assert isinstance(fileformat.load(path), Workflow)
