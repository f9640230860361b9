"""Plugin loading: the built-in core plugin, working extra plugins, and every way one can fail.

A plugin that fails is recorded with its error and contributes nothing; every other
plugin still loads. Extra plugins are written into ``tmp_path`` by the tests.
"""

from __future__ import annotations

import gc
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from engine import plugins
from engine.errors import PluginError
from engine.plugin_api import NodeType
from engine.plugins import PluginInfo, PluginRegistry

CORE_TYPES = ["branch", "data_source", "join", "output", "start", "transformer"]

ECHO_MODULE = '''
from engine.plugin_api import ConfigProblem, NodeOutput, NodeType, require

SUFFIX = "!"


def shout(text):
    return text.upper() + SUFFIX


class EchoNode(NodeType):
    type_name = "echo"
    label = "Echo"
    min_inputs = 0
    output_ports = ("out", "copy")

    def validate_config(self, config, input_ids):
        problems = require(config, "text")
        if config.get("text") == "quiet":
            problems.append(ConfigProblem("text", shout("too quiet")))
        return problems

    def execute(self, ctx):
        return NodeOutput(info={"said": shout(ctx.config["text"])})


class Shouter:
    name = "shouter"
'''


def load(*roots: Path) -> PluginRegistry:
    """A fresh registry, loaded as the engine loads it."""
    return plugins.load_registry(roots)


def make_plugin(root: Path, folder: str, manifest: dict[str, Any] | str,
                modules: dict[str, str] | None = None) -> Path:
    path = root / folder
    path.mkdir(parents=True)
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    (path / "plugin.json").write_text(text, encoding="utf-8")
    for name, source in (modules or {}).items():
        (path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def echo_plugin(root: Path, folder: str = "echo", name: str = "echo", **provides: dict[str, str]) -> Path:
    manifest = {"name": name, "version": "2.1.0",
                "provides": provides or {"node_types": {"echo": "echo:EchoNode"}}}
    return make_plugin(root, folder, manifest, {"echo": ECHO_MODULE})


def info(registry: PluginRegistry, name: str) -> PluginInfo:
    [found] = [p for p in registry.plugins if p.name == name]
    return found


def extra_errors(registry: PluginRegistry) -> dict[str, str | None]:
    return {p.name: p.error for p in registry.plugins if not p.builtin}


def core_or_skip(registry: PluginRegistry) -> None:
    core = info(registry, "core")
    if core.error and re.match(r"(ImportError|ModuleNotFoundError): .*engine\.", core.error):
        pytest.skip(f"the core plugin needs a helper module that is not written yet: {core.error}")
    assert core.error is None, core.error


# --- the built-in plugin -------------------------------------------------------------------
def test_the_core_plugin_loads_its_six_node_types() -> None:
    registry = load()
    core_or_skip(registry)
    core = info(registry, "core")
    assert (core.builtin, core.version, core.error) == (True, "1.0.0", None)
    assert sorted(registry.node_types) == CORE_TYPES
    assert core.provides["node_types"] == CORE_TYPES
    for name, node_type in registry.node_types.items():
        assert isinstance(node_type, NodeType)
        assert node_type.type_name == name
    assert "python" in registry.skills
    assert registry.errors == []


def test_the_core_node_types_declare_their_ports() -> None:
    registry = load()
    core_or_skip(registry)
    t = registry.node_types
    assert (t["start"].min_inputs, t["start"].max_inputs) == (0, 0)
    assert (t["join"].min_inputs, t["join"].max_inputs) == (2, None)
    assert t["branch"].output_ports == ("true", "false")
    assert t["output"].output_ports == ()


def test_the_builtin_plugins_are_found_in_the_plugins_package() -> None:
    assert plugins.builtin_dir() / "core" in plugins.plugin_folders(plugins.builtin_dir())


def test_importing_the_plugins_module_loads_no_plugin() -> None:
    code = ("import sys, engine.plugins as p; "
            "print(p._base is None, sorted(m for m in sys.modules if m.startswith(('engine.plugin_space', "
            "'pluginbase._internalspace._sp'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.stdout.split("\n")[0] == "True []", result.stderr


# --- a working extra plugin ----------------------------------------------------------------
def test_an_extra_plugin_provides_a_usable_node_type(tmp_path: Path) -> None:
    echo_plugin(tmp_path, node_types={"echo": "echo:EchoNode"}, connectors={"shouter": "echo:Shouter"})
    registry = load(tmp_path)
    echo = registry.node_type("echo")
    assert (echo.type_name, echo.label, echo.output_ports) == ("echo", "Echo", ("out", "copy"))
    assert [p.message for p in echo.validate_config({}, [])] == ["'text' is required"]
    assert [p.message for p in echo.validate_config({"text": "quiet"}, [])] == ["TOO QUIET!"]
    assert echo.validate_config({"text": "hello"}, []) == []
    assert registry.connectors["shouter"].name == "shouter"
    plugin = info(registry, "echo")
    assert (plugin.builtin, plugin.version, plugin.error, plugin.path) == (False, "2.1.0", None,
                                                                          tmp_path / "echo")
    assert plugin.provides == {"node_types": ["echo"], "connectors": ["shouter"]}


def test_an_extra_node_type_can_be_validated_with_the_core_types(tmp_path: Path) -> None:
    from engine.model.validation import validate
    from engine.model.workflow import Edge, Node, Workflow

    echo_plugin(tmp_path)
    registry = load(tmp_path)
    core_or_skip(registry)
    nodes = [Node("start", "start"), Node("orders", "data_source", config={"path": "orders.csv"}),
             Node("say", "echo", config={"text": "quiet"}), Node("loud", "output"), Node("copy", "output")]
    edges = [Edge("start", "orders"), Edge("orders", "say"), Edge("say", "loud"), Edge("say", "copy", "copy")]
    wf = Workflow("demo", nodes=nodes, edges=edges)
    assert [p.message for p in validate(wf, registry.node_types)] == ["node 'say' (echo): text: TOO QUIET!"]


def test_unknown_node_types_are_refused_listing_the_known_ones(tmp_path: Path) -> None:
    echo_plugin(tmp_path)
    registry = load(tmp_path)
    with pytest.raises(PluginError, match=r"^unknown node type 'nope' \(known: .*echo.*\)$"):
        registry.node_type("nope")


def test_folders_without_a_manifest_and_missing_roots_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "not_a_plugin").mkdir()
    (tmp_path / "not_a_plugin" / "echo.py").write_text(ECHO_MODULE, encoding="utf-8")
    (tmp_path / "stray_file.json").write_text("{}", encoding="utf-8")
    registry = load(tmp_path, tmp_path / "does_not_exist")
    assert extra_errors(registry) == {}
    assert "echo" not in registry.node_types


# --- failures: one broken plugin never stops the others -----------------------------------
def test_a_module_that_raises_on_import_is_recorded_and_the_others_load(tmp_path: Path) -> None:
    make_plugin(tmp_path, "broken", {"name": "broken", "provides": {"node_types": {"bad": "mod:Bad"}}},
                {"mod": 'import os\n\nraise RuntimeError("boom at import")\n'})
    echo_plugin(tmp_path, folder="zz_echo")
    registry = load(tmp_path)
    assert extra_errors(registry) == {"broken": "RuntimeError: boom at import (mod.py, line 3)", "echo": None}
    assert [p.name for p in registry.errors if not p.builtin] == ["broken"]
    assert "echo" in registry.node_types
    assert "bad" not in registry.node_types


def test_a_syntax_error_is_recorded_with_file_and_line(tmp_path: Path) -> None:
    make_plugin(tmp_path, "typo", {"name": "typo", "provides": {"node_types": {"t": "mod:T"}}},
                {"mod": "x = 1\ndef f(:\n"})
    error = extra_errors(load(tmp_path))["typo"]
    assert error is not None
    assert re.fullmatch(r"SyntaxError: .*\(mod\.py, line 2\)", error)


def test_a_missing_dependency_is_recorded(tmp_path: Path) -> None:
    make_plugin(tmp_path, "needy", {"name": "needy", "provides": {"node_types": {"n": "mod:N"}}},
                {"mod": "import dagflux_no_such_dependency\n"})
    assert extra_errors(load(tmp_path))["needy"] == (
        "ModuleNotFoundError: No module named 'dagflux_no_such_dependency' (mod.py, line 1)")


@pytest.mark.parametrize("manifest, folder_error", [
    ('{"name": "x", ', r"plugin\.json: cannot read the manifest \(Expecting"),
    ("[]", r"plugin\.json: the manifest needs a 'name'"),
    ('{"version": "1"}', r"plugin\.json: the manifest needs a 'name'"),
    ('{"name": 3}', r"plugin\.json: the manifest needs a 'name'"),
    ('{"name": "x", "provides": {"node_types": {"a": "no_colon"}}}',
     r"plugin\.json: provides\.node_types must map names to 'module:attribute'"),
    ('{"name": "x", "provides": {"node_types": ["mod:A"]}}',
     r"plugin\.json: provides\.node_types must map names to 'module:attribute'"),
    ('{"name": "x", "provides": {"widgets": {}}}',
     r"plugin\.json: 'provides' may only list node_types, connectors, skills"),
], ids=["invalid-json", "not-object", "missing-name", "name-not-text", "no-colon", "entries-not-map",
        "unknown-kind"])
def test_a_bad_manifest_is_recorded_naming_the_file(tmp_path: Path, manifest: str, folder_error: str) -> None:
    make_plugin(tmp_path, "bad_manifest", manifest)
    echo_plugin(tmp_path)
    registry = load(tmp_path)
    errors = extra_errors(registry)
    bad = [p for p in registry.plugins if p.path == tmp_path / "bad_manifest"]
    assert len(bad) == 1 and bad[0].error is not None
    assert re.match(re.escape(str(tmp_path / "bad_manifest")) + "/" + folder_error, bad[0].error)
    assert errors["echo"] is None
    assert "echo" in registry.node_types


def test_a_plugin_with_a_bad_manifest_is_listed_under_its_folder_name(tmp_path: Path) -> None:
    make_plugin(tmp_path, "folder_name", "not json")
    assert "folder_name" in extra_errors(load(tmp_path))


def test_a_missing_attribute_is_recorded(tmp_path: Path) -> None:
    echo_plugin(tmp_path, node_types={"echo": "echo:EchoNode", "ghost": "echo:NoSuchNode"})
    registry = load(tmp_path)
    assert extra_errors(registry)["echo"] == f"{tmp_path / 'echo' / 'echo.py'} has no 'NoSuchNode'"
    assert "echo" not in registry.node_types  # a failed plugin contributes nothing


def test_a_class_that_is_not_a_node_type_is_refused(tmp_path: Path) -> None:
    echo_plugin(tmp_path, node_types={"shouter": "echo:Shouter"})
    assert extra_errors(load(tmp_path))["echo"] == (
        f"{tmp_path / 'echo'}: node type 'shouter' is not a NodeType subclass")


def test_a_node_type_registered_under_another_name_is_refused(tmp_path: Path) -> None:
    echo_plugin(tmp_path, node_types={"parrot": "echo:EchoNode"})
    assert extra_errors(load(tmp_path))["echo"] == (
        f"{tmp_path / 'echo'}: node type 'parrot' declares type_name 'echo'")


def test_a_node_type_already_provided_by_another_plugin_is_refused(tmp_path: Path) -> None:
    echo_plugin(tmp_path, folder="a_first", name="first")
    make_plugin(tmp_path, "b_second", {"name": "second", "provides": {"node_types": {
        "mute": "mod:MuteNode", "echo": "mod:EchoNode"}}}, {"mod": ECHO_MODULE + '''
class MuteNode(NodeType):
    type_name = "mute"
'''})
    registry = load(tmp_path)
    assert extra_errors(registry) == {
        "first": None,
        "second": "node type 'echo' is already provided by another plugin",
    }
    assert type(registry.node_types["echo"]).__module__.endswith(".echo")  # the first plugin's
    assert "mute" not in registry.node_types  # the failed plugin contributes nothing


def test_an_extra_plugin_cannot_replace_a_core_node_type(tmp_path: Path) -> None:
    make_plugin(tmp_path, "hijack", {"name": "hijack", "provides": {"node_types": {
        "transformer": "mod:Fake"}}}, {"mod": "from engine.plugin_api import NodeType\n"
                                              "class Fake(NodeType):\n    type_name = 'transformer'\n"})
    registry = load(tmp_path)
    core_or_skip(registry)
    assert extra_errors(registry)["hijack"] == "node type 'transformer' is already provided by another plugin"
    assert type(registry.node_types["transformer"]).__name__ == "TransformerNode"


def test_a_second_plugin_with_the_same_name_is_refused(tmp_path: Path) -> None:
    echo_plugin(tmp_path, folder="a_twin", name="twin")
    echo_plugin(tmp_path, folder="b_twin", name="twin", node_types={"echo2": "echo:EchoNode"})
    registry = load(tmp_path)
    twins = [p for p in registry.plugins if p.name == "twin"]
    assert [(p.path.name, p.error) for p in twins] == [
        ("a_twin", None), ("b_twin", "a plugin named 'twin' is already loaded")]


def test_a_plugin_whose_constructor_fails_is_recorded(tmp_path: Path) -> None:
    make_plugin(tmp_path, "fragile", {"name": "fragile", "provides": {"node_types": {"f": "mod:F"}}},
                {"mod": "from engine.plugin_api import NodeType\n"
                        "class F(NodeType):\n"
                        "    type_name = 'f'\n"
                        "    def __init__(self):\n"
                        "        raise ValueError('no config dir')\n"})
    assert extra_errors(load(tmp_path))["fragile"] == "ValueError: no config dir (mod.py, line 5)"


# --- lifetime of loaded plugins ------------------------------------------------------------
def test_two_registries_can_be_alive_at_once(tmp_path: Path) -> None:
    echo_plugin(tmp_path)
    gc.collect()
    first = plugins.load_registry([tmp_path])
    second = plugins.load_registry([tmp_path])
    assert extra_errors(first) == {"echo": None}
    assert extra_errors(second) == {"echo": None}


def test_a_node_type_keeps_working_after_its_registry_is_dropped(tmp_path: Path) -> None:
    echo_plugin(tmp_path)
    gc.collect()
    echo = plugins.load_registry([tmp_path]).node_type("echo")
    gc.collect()
    assert [p.message for p in echo.validate_config({"text": "quiet"}, [])] == ["TOO QUIET!"]


def test_a_collected_registry_frees_its_modules_even_while_imports_change_sys_modules(tmp_path: Path) -> None:
    # CI saw "dictionary changed size during iteration" from pluginbase's __del__: a collection
    # started while its clean-up listed sys.modules, and something imported meanwhile. Force
    # exactly that: a collection at every allocation, each one adding a module.
    echo_plugin(tmp_path)
    registry = plugins.load_registry([tmp_path])
    prefixes = [source.mod.__name__ + "." for source in registry._sources]
    assert any(m.startswith(tuple(prefixes)) for m in sys.modules)
    added: list[str] = []

    def import_something(phase: str, _info: dict) -> None:
        if phase == "start" and len(added) < 5000:
            added.append(f"_dagflux_test_mod_{len(added)}")
            sys.modules[added[-1]] = sys  # any object: only the dict's size matters

    threshold = gc.get_threshold()
    gc.callbacks.append(import_something)
    gc.set_threshold(1)
    try:
        del registry
        gc.collect()
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(import_something)
        for name in added:
            sys.modules.pop(name, None)
    assert added, "no collection ran during the clean-up"
    assert not [m for m in sys.modules if m.startswith(tuple(prefixes))]
