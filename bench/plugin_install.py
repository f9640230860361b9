"""Installing a 1 MB plugin from the catalog against ``pip install`` of the same files.

The plugin: a manifest, a node type module and 1 MiB of incompressible data. It is published
with the publisher tool (a throwaway key, signed index) into a temporary catalog folder served
on 127.0.0.1 by a threaded ``http.server``. One **install** is what ``dagflux plugins
install`` does: fetch and verify the signed index, download the archive with its size cap,
check length and SHA-256, unpack safely, smoke-test the plugin in a fresh Python process,
switch atomically (then it is removed again, untimed, for the next round).

The baseline is the same files as a wheel (built here: ``.dist-info`` with METADATA, WHEEL
and a RECORD of SHA-256 hashes) installed by ``pip install --no-index --no-deps --target``
from a local folder into a fresh folder, as a subprocess of the same interpreter — pip checks
the RECORD hashes on install, but no signature, size cap, unpack limits or import test.

Rounds alternate the two (so a busy moment on a shared machine does not land on one of
them); figures are medians. Run::

    .venv/bin/python bench/plugin_install.py [--rounds 7]

The last line: ``ratio_vs_pip=<install / pip> install_ms=<median> pip_ms=<median>``
(target: ratio_vs_pip ≤ 1.0).
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NAME, VERSION = "benchplug", "1.0.0"
PAYLOAD = 1024 * 1024

MODULE = '''
from pathlib import Path

from engine.plugin_api import NodeOutput, NodeType

DATA = Path(__file__).with_name("data.bin")


class BenchNode(NodeType):
    type_name = "bench_node"
    label = "Bench"
    min_inputs = 0

    def execute(self, ctx):
        return NodeOutput(info={"bytes": DATA.stat().st_size})
'''


def make_plugin(folder: Path) -> Path:
    folder.mkdir(parents=True)
    manifest = {"name": NAME, "version": VERSION, "api_version": 1, "description": "1 MB benchmark plugin",
                "provides": {"node_types": {"bench_node": "bench_node:BenchNode"}}}
    (folder / "plugin.json").write_text(json.dumps(manifest), encoding="utf-8")
    (folder / "bench_node.py").write_text(MODULE, encoding="utf-8")
    (folder / "data.bin").write_bytes(os.urandom(PAYLOAD))
    return folder


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(plugin: Path, out: Path) -> Path:
    """The plugin's files as package ``benchplug`` in a wheel (PEP 427)."""
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"{NAME}-{VERSION}-py3-none-any.whl"
    dist = f"{NAME}-{VERSION}.dist-info"
    files = {f"{NAME}/{p.name}": p.read_bytes() for p in sorted(plugin.iterdir())}
    files[f"{NAME}/__init__.py"] = b""
    files[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n".encode()
    files[f"{dist}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items())
    files[f"{dist}/RECORD"] = (record + f"{dist}/RECORD,,\n").encode()
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return wheel


class Serve:
    def __init__(self, folder: Path) -> None:
        handler = functools.partial(_Quiet, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Serve:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dagflux-bench-plugin-") as tmp:
        base = Path(tmp)
        os.environ["DAGFLUX_HOME"] = str(base / "home")
        from engine.catalog import publish
        from engine.catalog.manager import PluginManager
        from engine.catalog.trust import load_root
        from engine.paths import default_paths, ensure_data_dir

        plugin = make_plugin(base / "src" / NAME)
        key, root_file = base / "key.pem", base / "root.json"
        publish.main(["keygen", str(key), "--root", str(root_file)])
        publish.build_catalog(base / "catalog", [plugin], "Bench")
        publish.sign_catalog(base / "catalog", key)
        wheels = base / "wheels"
        wheel = make_wheel(plugin, wheels)
        archive = next((base / "catalog" / "archives").iterdir())
        print(f"plugin archive {archive.stat().st_size} bytes; wheel {wheel.stat().st_size} bytes")
        paths = ensure_data_dir(default_paths())
        ours, pips = [], []
        with Serve(base / "catalog") as server:
            manager = PluginManager(paths, url=server.url, root=load_root(root_file))
            for n in range(args.rounds + 1):            # the first round warms caches, not counted
                started = time.perf_counter()
                manager.install(NAME)
                took = time.perf_counter() - started
                manager.remove(NAME)
                target = base / f"pip-target-{n}"
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                                "--disable-pip-version-check", "--no-cache-dir", "--find-links", str(wheels),
                                "--target", str(target), NAME], check=True)
                pip_took = time.perf_counter() - started
                shutil.rmtree(target)
                if n:
                    ours.append(took)
                    pips.append(pip_took)
                print(f"round {n}{' (warm-up)' if not n else ''}: install {took * 1000:.0f} ms, "
                      f"pip {pip_took * 1000:.0f} ms")
    install_ms, pip_ms = statistics.median(ours) * 1000, statistics.median(pips) * 1000
    print(f"ratio_vs_pip={install_ms / pip_ms:.2f} install_ms={install_ms:.0f} pip_ms={pip_ms:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
