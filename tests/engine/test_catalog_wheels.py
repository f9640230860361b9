"""A catalog plugin's Python dependencies: pinned in its manifest, published as wheels with
their length and SHA-256 in the signed index, installed only into the plugin's own folder
(never DagFlux's environment) and imported from there by the plugin alone. A tampered
wheel, one that cannot run here, or a pin without a wheel is refused with its reason."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from engine.catalog import ArchiveError, CatalogError, publish
from engine.paths import default_paths
from engine.plugins import load_registry
from tests.engine.catalog_server import CatalogServer
from tests.engine.test_catalog import Catalog, make_key

SHOUT_MODULE = '''
import tinydep
from engine.plugin_api import ConfigProblem, NodeOutput, NodeType


class ShoutNode(NodeType):
    type_name = "shout"
    label = "Shout"
    min_inputs = 0

    def validate_config(self, config, input_ids):
        return [ConfigProblem("text", tinydep.shout(config.get("text", "")))]

    def execute(self, ctx):
        return NodeOutput(info={"said": tinydep.shout("done")})
'''


def make_wheel(folder: Path, name: str, version: str, files: dict[str, str], tag: str = "py3-none-any") -> Path:
    """A minimal but well-formed wheel (WHEEL, METADATA and RECORD with hashes)."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"{name}-{version}.dist-info"
    entries = dict(files)
    entries[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    entries[f"{info}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n"

    def record_line(path: str, text: str) -> str:
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        return f"{path},sha256={digest},{len(text.encode())}"

    record = "\n".join(record_line(p, t) for p, t in entries.items()) + f"\n{info}/RECORD,,\n"
    entries[f"{info}/RECORD"] = record
    path = folder / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for entry, text in entries.items():
            zf.writestr(entry, text)
    return path


def shout_plugin(base: Path, version: str = "1.0.0", pins: tuple[str, ...] = ("tinydep==1.0",)) -> Path:
    folder = base / f"shouty-{version}"
    folder.mkdir(parents=True)
    manifest = {"name": "shouty", "version": version, "description": "Shouts",
                "dependencies": list(pins), "provides": {"node_types": {"shout": "shout:ShoutNode"}}}
    (folder / "plugin.json").write_text(json.dumps(manifest), encoding="utf-8")
    (folder / "shout.py").write_text(SHOUT_MODULE, encoding="utf-8")
    return folder


TINYDEP = {"tinydep/__init__.py": "from tinydep.core import shout\n",
           "tinydep/core.py": "def shout(text):\n    return text.upper() + '!'\n"}


@pytest.fixture
def shop(tmp_path: Path):
    key, root = make_key(tmp_path)
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "tinydep", "1.0", TINYDEP)
    with CatalogServer(tmp_path / "catalog") as server:
        cat = Catalog(tmp_path / "catalog", tmp_path / "src", key, root, server)
        publish.build_catalog(cat.dir, [shout_plugin(cat.src)], "Test Publisher", wheels=wheels)
        publish.sign_catalog(cat.dir, key)
        yield cat, wheels


def test_a_dependency_is_installed_into_the_plugin_folder_and_imported_from_there(shop) -> None:
    cat, _wheels = shop
    index = json.loads((cat.dir / "index.json").read_text())["signed"]
    [dep] = index["plugins"]["shouty"]["versions"]["1.0.0"]["dependencies"]
    data = (cat.dir / dep["url"]).read_bytes()
    assert (dep["name"], dep["version"], dep["wheel"]) == ("tinydep", "1.0", "tinydep-1.0-py3-none-any.whl")
    assert (dep["length"], dep["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())

    cat.manager().install("shouty")
    version_dir = default_paths().plugins / "shouty" / "versions" / "1.0.0"
    assert (version_dir / "deps" / "tinydep" / "core.py").is_file()
    registry = load_registry([default_paths().plugins])
    [info] = [p for p in registry.plugins if p.name == "shouty"]
    assert info.error is None
    assert [p.message for p in registry.node_type("shout").validate_config({"text": "hi"}, [])] == ["HI!"]
    assert Path(sys.modules["tinydep"].__file__).is_relative_to(version_dir / "deps")
    # DagFlux's own environment never got it: a fresh interpreter cannot import it
    fresh = subprocess.run([sys.executable, "-c", "import tinydep"], capture_output=True, text=True, timeout=60)
    assert fresh.returncode != 0 and "No module named 'tinydep'" in fresh.stderr


def test_a_tampered_wheel_is_refused_and_nothing_is_installed(shop) -> None:
    cat, _wheels = shop
    index = json.loads((cat.dir / "index.json").read_text())["signed"]
    [dep] = index["plugins"]["shouty"]["versions"]["1.0.0"]["dependencies"]
    wheel = cat.dir / dep["url"]
    data = bytearray(wheel.read_bytes())
    data[-30] ^= 0xFF
    wheel.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="dependency tinydep 1.0.*SHA-256"):
        cat.manager().install("shouty")
    assert not (default_paths().plugins / "shouty").exists()
    assert list((default_paths().plugins / ".staging").iterdir()) == []


def test_a_wheel_that_cannot_run_here_is_refused_with_the_reason(tmp_path: Path) -> None:
    key, root = make_key(tmp_path)
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "tinydep", "1.0", TINYDEP, tag="cp27-cp27m-win32")
    with CatalogServer(tmp_path / "catalog") as server:
        cat = Catalog(tmp_path / "catalog", tmp_path / "src", key, root, server)
        publish.build_catalog(cat.dir, [shout_plugin(cat.src)], "Test Publisher", wheels=wheels)
        publish.sign_catalog(cat.dir, key)
        with pytest.raises(CatalogError, match=r"needs tinydep 1.0, whose wheel \(tinydep-1.0-cp27-cp27m-win32.whl\) "
                                               r"does not run on this Python and platform — nothing was installed"):
            cat.manager().install("shouty")
    assert not (default_paths().plugins / "shouty").exists()


def test_the_publisher_refuses_loose_pins_and_missing_wheels(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "tinydep", "1.0", TINYDEP)
    with pytest.raises(CatalogError, match=r"dependency 'tinydep>=1.0' must name one exact version"):
        publish.build_catalog(tmp_path / "c1", [shout_plugin(tmp_path / "a", pins=("tinydep>=1.0",))], "P",
                              wheels=wheels)
    with pytest.raises(CatalogError, match=r"no wheel for tinydep==2.0 in"):
        publish.build_catalog(tmp_path / "c2", [shout_plugin(tmp_path / "b", pins=("tinydep==2.0",))], "P",
                              wheels=wheels)
    with pytest.raises(CatalogError, match=r"needs tinydep==1.0; give the folder holding its wheel with --wheels"):
        publish.build_catalog(tmp_path / "c3", [shout_plugin(tmp_path / "c")], "P")


def test_a_pin_of_a_package_dagflux_has_at_another_version_is_refused(tmp_path: Path) -> None:
    key, root = make_key(tmp_path)
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "msgpack", "0.0.1", {"msgpack/__init__.py": "OLD = True\n"})
    with CatalogServer(tmp_path / "catalog") as server:
        cat = Catalog(tmp_path / "catalog", tmp_path / "src", key, root, server)
        publish.build_catalog(cat.dir, [shout_plugin(cat.src, pins=("msgpack==0.0.1",))], "Test Publisher",
                              wheels=wheels)
        publish.sign_catalog(cat.dir, key)
        with pytest.raises(CatalogError, match=r"needs msgpack 0.0.1, but DagFlux already has msgpack \d"):
            cat.manager().install("shouty")
    assert not (default_paths().plugins / "shouty").exists()
