"""The plugin catalog end to end: a catalog built and signed by the publisher tool, served
by a real aiohttp server on loopback, installed into DAGFLUX_HOME by the manager.

Every hostile input is refused with its reason; afterwards nothing new is installed, the
previously active version is still active and loads, and no staging debris is left.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import struct
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.catalog import ArchiveError, CatalogError, FetchError, TrustError, publish
from engine.catalog.manager import Limits, PluginManager
from engine.catalog.trust import Root, load_private_key, new_private_key_pem
from engine.paths import default_paths, ensure_data_dir
from engine.plugins import load_registry
from tests.engine.catalog_server import CatalogServer

GREET_MODULE = '''
from engine.plugin_api import NodeOutput, NodeType

VERSION = {version!r}
{extra}

class GreetNode(NodeType):
    type_name = "greet"
    label = "Greet"
    min_inputs = 0

    def validate_config(self, config, input_ids):
        return []

    def execute(self, ctx):
        return NodeOutput(info={{"version": VERSION}})
'''


def plugin_folder(base: Path, version: str, name: str = "greeter", extra: str = "", api: int = 1) -> Path:
    folder = base / f"{name}-{version}"
    folder.mkdir(parents=True)
    manifest = {"name": name, "version": version, "api_version": api, "description": "Says hello",
                "provides": {"node_types": {f"greet_{name}" if name != "greeter" else "greet": "greet:GreetNode"}}}
    (folder / "plugin.json").write_text(json.dumps(manifest), encoding="utf-8")
    source = GREET_MODULE.format(version=version, extra=extra)
    if name != "greeter":
        source = source.replace('type_name = "greet"', f'type_name = "greet_{name}"')
    (folder / "greet.py").write_text(source, encoding="utf-8")
    return folder


def make_key(folder: Path) -> tuple[Path, Root]:
    pem, kid = new_private_key_pem()
    path = folder / f"{kid[:8]}.pem"
    path.write_bytes(pem)
    return path, Root({kid: load_private_key(path).public_key()}, 1)


@dataclass
class Catalog:
    dir: Path
    src: Path
    key: Path
    root: Root
    server: CatalogServer

    def publish(self, version: str, key: Path | None = None, **kwargs) -> dict:
        publish.build_catalog(self.dir, [plugin_folder(self.src, version, **kwargs)], "Test Publisher")
        return publish.sign_catalog(self.dir, key or self.key)

    def publish_zip(self, name: str, version: str, data: bytes, api: int = 1) -> None:
        """A raw archive, correctly listed and signed: a malicious or broken publisher."""
        rel = f"archives/{name}-{version}.zip"
        (self.dir / rel).write_bytes(data)
        index = json.loads((self.dir / "index.json").read_text())["signed"]
        entry = index["plugins"].setdefault(name, {"description": "", "publisher": "x", "versions": {}})
        entry["versions"][version] = {"url": rel, "length": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                                      "api_version": api}
        index["version"] += 1
        (self.dir / "index.json").write_text(json.dumps({"signed": index, "signatures": []}))
        publish.sign_catalog(self.dir, self.key)

    def manager(self, **kwargs) -> PluginManager:
        kwargs.setdefault("limits", Limits(read_timeout=1.0))
        return PluginManager(ensure_data_dir(default_paths()), url=self.server.url, root=self.root, **kwargs)


@pytest.fixture
def catalog(tmp_path: Path):
    key, root = make_key(tmp_path)
    with CatalogServer(tmp_path / "catalog") as server:
        cat = Catalog(tmp_path / "catalog", tmp_path / "src", key, root, server)
        cat.publish("1.0.0")
        yield cat


def active(cat: Catalog) -> dict[str, str]:
    return {i.name: i.active for i in cat.manager().installed()}


def assert_still_1_0_0(cat: Catalog) -> None:
    assert active(cat) == {"greeter": "1.0.0"}
    registry = load_registry([default_paths().plugins])
    [info] = [p for p in registry.plugins if p.name == "greeter"]
    assert (info.version, info.error) == ("1.0.0", None)
    assert list((default_paths().plugins / ".staging").iterdir()) == []


def zip_bytes(tmp_path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    path = tmp_path / "raw.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return path.read_bytes()


def good_entries(version: str) -> list[tuple[str, bytes]]:
    manifest = {"name": "greeter", "version": version, "provides": {"node_types": {"greet": "greet:GreetNode"}}}
    return [("plugin.json", json.dumps(manifest).encode()),
            ("greet.py", GREET_MODULE.format(version=version, extra="").encode())]


# --- the publisher tool ------------------------------------------------------------------
def test_publisher_cli_keygen_build_sign_verify(tmp_path: Path, capsys) -> None:
    key, root = tmp_path / "k.pem", tmp_path / "root.json"
    assert publish.main(["keygen", str(key), "--root", str(root)]) == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    src = plugin_folder(tmp_path / "src", "1.0.0")
    assert publish.main(["build", str(tmp_path / "cat"), str(src), "--publisher", "Me"]) == 0
    assert publish.main(["verify", str(tmp_path / "cat"), "--root", str(root)]) == 1
    assert "did not verify" in capsys.readouterr().err
    assert publish.main(["sign", str(tmp_path / "cat"), "--key", str(key)]) == 0
    assert publish.main(["verify", str(tmp_path / "cat"), "--root", str(root)]) == 0
    assert "✓ greeter 1.0.0" in capsys.readouterr().out
    first = (tmp_path / "cat" / "archives" / "greeter-1.0.0.zip").read_bytes()
    publish.make_archive(src, tmp_path / "again.zip")
    assert (tmp_path / "again.zip").read_bytes() == first  # reproducible archives


# --- install / update / rollback / remove ------------------------------------------------
def test_install_update_rollback_remove(catalog: Catalog) -> None:
    mgr = catalog.manager()
    assert mgr.install("greeter").version == "1.0.0"
    registry = load_registry([default_paths().plugins])
    assert registry.node_type("greet").type_name == "greet"
    for version in ("1.1.0", "1.2.0", "1.3.0"):
        catalog.publish(version)
    assert mgr.update() == [("greeter", "1.0.0", "1.3.0")]
    assert mgr.update() == []
    mgr.install("greeter", "1.1.0")
    mgr.install("greeter", "1.2.0")
    [item] = mgr.installed()
    assert (item.active, item.previous) == ("1.2.0", ["1.1.0", "1.3.0"])
    versions = default_paths().plugins / "greeter" / "versions"
    assert sorted(p.name for p in versions.iterdir()) == ["1.1.0", "1.2.0", "1.3.0"]  # 1.0.0 pruned
    catalog.server.faults["index.json"] = "500"  # rollback is offline
    assert mgr.rollback("greeter") == "1.1.0"
    registry = load_registry([default_paths().plugins])
    assert [p.version for p in registry.plugins if p.name == "greeter"] == ["1.1.0"]
    assert mgr.rollback("greeter") == "1.3.0"
    with pytest.raises(CatalogError, match="no earlier version"):
        mgr.rollback("greeter")
    mgr.remove("greeter")
    assert mgr.installed() == [] and not (default_paths().plugins / "greeter").exists()
    assert "greet" not in load_registry([default_paths().plugins]).node_types


def test_search_and_exact_versions(catalog: Catalog) -> None:
    catalog.publish("2.0.0")
    mgr = catalog.manager()
    assert [e.name for e in mgr.search("HELLO")] == ["greeter"]
    assert mgr.search("nothing like it") == []
    with pytest.raises(CatalogError, match=r"no version 9\.9 .*1\.0\.0, 2\.0\.0"):
        mgr.install("greeter", "9.9")
    with pytest.raises(CatalogError, match="no plugin named 'nope'"):
        mgr.install("nope")
    mgr.install("greeter", "1.0.0")
    with pytest.raises(CatalogError, match="already installed"):
        mgr.install("greeter", "1.0.0")


def test_a_catalog_plugin_cannot_take_a_builtin_name(catalog: Catalog) -> None:
    catalog.publish("1.0.0", name="core")
    with pytest.raises(CatalogError, match="'core' is the name of a built-in"):
        catalog.manager().install("core")
    assert not (default_paths().plugins / "core").exists()


# --- hostile index ------------------------------------------------------------------------
@pytest.fixture
def installed(catalog: Catalog) -> Catalog:
    catalog.manager().install("greeter")
    return catalog


def test_index_signed_by_an_unknown_key(installed: Catalog, tmp_path: Path) -> None:
    stranger, _ = make_key(tmp_path)
    installed.publish("1.1.0", key=stranger)
    with pytest.raises(TrustError, match="does not list"):
        installed.manager().install("greeter")
    assert_still_1_0_0(installed)


def test_index_altered_after_signing(installed: Catalog) -> None:
    installed.publish("1.1.0")
    document = json.loads((installed.dir / "index.json").read_text())
    document["signed"]["plugins"]["greeter"]["publisher"] = "Mallory"
    installed.server.faults["index.json"] = json.dumps(document).encode()
    with pytest.raises(TrustError, match="invalid signature"):
        installed.manager().update()
    assert_still_1_0_0(installed)


def test_an_older_index_replayed_is_refused(installed: Catalog) -> None:
    old = (installed.dir / "index.json").read_bytes()
    installed.publish("1.1.0")
    installed.manager().fetch_index()  # version 2 accepted
    installed.server.faults["index.json"] = old
    with pytest.raises(TrustError, match="version 1, older than version 2"):
        installed.manager().install("greeter", "1.0.0")
    assert active(installed) == {"greeter": "1.0.0"}


def test_an_expired_index_is_refused(installed: Catalog) -> None:
    installed.publish("1.1.0")
    later = datetime.now(UTC) + timedelta(days=31)
    with pytest.raises(TrustError, match="expired"):
        installed.manager(now=lambda: later).update()
    assert_still_1_0_0(installed)


# --- hostile downloads ----------------------------------------------------------------------
@pytest.mark.parametrize("fault, error, match", [
    ("tamper", ArchiveError, "does not match the index"),
    ("truncate", ArchiveError, "truncated"),
    ("oversize", FetchError, "cut off"),
    ("500", FetchError, "HTTP 500"),
    ("stall", FetchError, "did not answer in time"),
])
def test_hostile_downloads(installed: Catalog, fault: str, error: type, match: str) -> None:
    installed.publish("1.1.0")
    rel = "archives/greeter-1.1.0.zip"
    if fault == "tamper":
        data = bytearray((installed.dir / rel).read_bytes())
        data[len(data) // 2] ^= 0xFF
        installed.server.faults[rel] = bytes(data)
    else:
        installed.server.faults[rel] = fault
    with pytest.raises(error, match=match):
        installed.manager().update("greeter")
    assert_still_1_0_0(installed)


def test_a_stalled_or_failing_index(catalog: Catalog) -> None:
    catalog.server.faults["index.json"] = "stall"
    with pytest.raises(FetchError, match="did not answer in time"):
        catalog.manager().search("")
    catalog.server.faults["index.json"] = "500"
    with pytest.raises(FetchError, match="HTTP 500"):
        catalog.manager().install("greeter")
    assert catalog.manager().installed() == []


# --- hostile archives -----------------------------------------------------------------------
def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _device(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFCHR | 0o600) << 16
    return info


@pytest.mark.parametrize("extra, match", [
    ([("../../escaped.py", b"x = 1")], "leads outside"),
    ([("/tmp/absolute.py", b"x = 1")], "absolute path"),
    ([("C:/windows.py", b"x = 1")], "absolute path"),
    ([(_symlink("passwd"), b"/etc/passwd")], "symbolic link"),
    ([(_device("tty"), b"")], "not a regular file"),
    ([("GREET.py", b"x = 1")], "collide when case is ignored"),
    ([(f"f{i}.txt", b"") for i in range(2001)], "more than the 2000 allowed"),
])
def test_unsafe_archives(installed: Catalog, tmp_path: Path, extra: list, match: str) -> None:
    installed.publish_zip("greeter", "1.1.0", zip_bytes(tmp_path, good_entries("1.1.0") + extra))
    with pytest.raises(ArchiveError, match=match):
        installed.manager().update()
    assert_still_1_0_0(installed)
    assert not (installed.dir.parent / "escaped.py").exists() and not Path("/tmp/absolute.py").exists()


def test_a_zip_bomb_declaring_a_huge_size(installed: Catalog, tmp_path: Path) -> None:
    data = bytearray(zip_bytes(tmp_path, [*good_entries("1.1.0"), ("bomb.bin", b"\0" * 1024)]))
    central = data.rindex(b"PK\x01\x02")  # the last central directory entry: bomb.bin
    struct.pack_into("<I", data, central + 24, 0xFFFF0000)  # declares ~4 GiB unpacked
    installed.publish_zip("greeter", "1.1.0", bytes(data))
    with pytest.raises(ArchiveError, match="unpacks to .* bytes, more than"):
        installed.manager().update()
    assert_still_1_0_0(installed)


# --- plugins that do not load ----------------------------------------------------------------
def test_a_plugin_whose_import_raises_is_not_switched_on(installed: Catalog) -> None:
    installed.publish("1.1.0", extra="raise RuntimeError('broken at import')")
    with pytest.raises(CatalogError, match="failed its smoke test: RuntimeError: broken at import"):
        installed.manager().update()
    assert_still_1_0_0(installed)


def test_a_plugin_taking_a_built_in_connection_type_is_refused(installed: Catalog, tmp_path: Path) -> None:
    manifest = {"name": "greeter", "version": "1.1.0",
                "provides": {"node_types": {"greet": "greet:GreetNode"},
                             "connectors": {"postgresql": "greet:GreetNode"}}}
    installed.publish_zip("greeter", "1.1.0", zip_bytes(tmp_path, [("plugin.json", json.dumps(manifest).encode()),
                                                                    good_entries("1.1.0")[1]]))
    with pytest.raises(CatalogError, match="connector 'postgresql' is already provided by a built-in plugin"):
        installed.manager().update()
    assert_still_1_0_0(installed)


def test_a_plugin_needing_a_newer_api(installed: Catalog, tmp_path: Path) -> None:
    installed.publish("1.1.0", api=3)
    with pytest.raises(CatalogError, match="needs plugin API 3; this DagFlux provides 2"):
        installed.manager().update()
    # an index that understates the API: the smoke test still refuses the manifest
    manifest = {"name": "greeter", "version": "1.2.0", "api_version": 3,
                "provides": {"node_types": {"greet": "greet:GreetNode"}}}
    entries = [("plugin.json", json.dumps(manifest).encode()), good_entries("1.2.0")[1]]
    installed.publish_zip("greeter", "1.2.0", zip_bytes(tmp_path, entries), api=1)
    with pytest.raises(CatalogError, match="needs plugin API 3"):
        installed.manager().install("greeter", "1.2.0")
    assert_still_1_0_0(installed)


def test_a_broken_installed_plugin_is_quarantined_and_the_rest_load(installed: Catalog, cli) -> None:
    installed.publish("1.0.0", name="other")
    installed.manager().install("other")
    module = default_paths().plugins / "greeter" / "versions" / "1.0.0" / "greet.py"
    module.write_text("raise ImportError('gone')\n")
    registry = load_registry([default_paths().plugins])
    assert "greet_other" in registry.node_types and "greet" not in registry.node_types
    [bad] = registry.errors
    assert bad.name == "greeter" and "ImportError: gone" in bad.error
    done = cli("plugins")
    assert done.returncode == 1
    assert "✗ greeter 1.0.0 (installed, quarantined" in done.stdout and "✓ other 1.0.0 (installed" in done.stdout


# --- the command line -------------------------------------------------------------------------
def test_cli_install_update_rollback_remove(catalog: Catalog, cli, tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "root.json"
    root.write_text(json.dumps(catalog.root.to_json()))
    monkeypatch.setenv("DAGFLUX_CATALOG_URL", catalog.server.url)
    monkeypatch.setenv("DAGFLUX_CATALOG_ROOT", str(root))
    assert "greeter 1.0.0 — Says hello (publisher: Test Publisher" in cli("plugins", "search", "greet").stdout
    assert cli("plugins", "install", "greeter==1.0.0").stdout.strip() == "installed greeter 1.0.0"
    catalog.publish("1.1.0")
    assert cli("plugins", "update").stdout.strip() == "updated greeter 1.0.0 → 1.1.0"
    listing = cli("plugins")
    assert listing.returncode == 0 and "✓ greeter 1.1.0 (installed; kept: 1.0.0)" in listing.stdout
    assert cli("plugins", "rollback", "greeter").stdout.strip() == "rolled back greeter to 1.0.0"
    refused = cli("plugins", "install", "nope")
    assert refused.returncode == 1 and "error: the catalog has no plugin named 'nope'" in refused.stderr
    assert cli("plugins", "remove", "greeter").stdout.strip() == "removed greeter"
    monkeypatch.delenv("DAGFLUX_CATALOG_ROOT")  # the pinned root does not trust the test key
    refused = cli("plugins", "install", "greeter")
    assert refused.returncode == 1 and "signature did not verify" in refused.stderr
    assert not (Path(os.environ["DAGFLUX_HOME"]) / "plugins" / "greeter").exists()


def test_staging_left_by_a_killed_install_is_swept(catalog: Catalog) -> None:
    staging = ensure_data_dir(default_paths()).plugins / ".staging"
    old, recent = staging / "deadbeef", staging / "inprogress"
    for folder in (old, recent):
        (folder / "root").mkdir(parents=True)
    os.utime(old, (0, 0))
    catalog.manager().install("greeter")
    assert not old.exists() and recent.exists()
