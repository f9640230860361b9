"""Object storage for the catalog-plugin tests: moto's standalone S3 server and the Azurite
Azure Blob emulator on loopback, and a catalog of the repo's ``catalog-plugins/`` built and
signed by the publisher tool.

``azurite(tmp, account, key)`` runs npm's ``azurite`` (``bash dev setup`` puts it in
``.tools/azurite``; ``$DAGFLUX_AZURITE`` may name its ``blob/main.js``) with that account
and key, in memory, on a free port; the test is skipped when Node.js or Azurite is missing.
``moto_s3()`` starts moto's real HTTP server (``ThreadedMotoServer``) on 127.0.0.1 with a
free port; ``client()`` is a boto3 client for checking what landed in it (the product itself
talks to it through pyarrow's S3 file system). ``S3Catalog`` publishes plugin folders with
``python -m engine.catalog.publish`` (keygen, build, sign — the real command line) and
serves them with :class:`tests.engine.catalog_server.CatalogServer`; ``activate`` points
``DAGFLUX_CATALOG_URL`` and ``DAGFLUX_CATALOG_ROOT`` at it for the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.engine.catalog_server import CatalogServer

REPO = Path(__file__).resolve().parents[2]
CATALOG_PLUGINS = REPO / "catalog-plugins"


@dataclass
class MotoS3:
    url: str
    region: str = "us-east-1"

    def client(self, key_id: str = "testing", secret: str = "testing") -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name=self.region, aws_access_key_id=key_id,
                            aws_secret_access_key=secret)


@contextlib.contextmanager
def moto_s3() -> Iterator[MotoS3]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        # moto keeps its buckets per process, not per server: start every test empty
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30).close()
        yield MotoS3(url)
    finally:
        server.stop()


class CountingRelay:
    """A TCP relay on 127.0.0.1 in front of ``url``'s server that counts the bytes the server
    sends back (``received``): how much of an object a client really fetched, measured on the
    wire. ``url`` is the relay's own address, to use in place of the server's."""

    def __init__(self, url: str) -> None:
        host, port = url.rsplit("//", 1)[1].split(":")
        self._upstream = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.received = 0
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._upstream)
            self._open += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, count: bool) -> None:
        try:
            while data := source.recv(65536):
                if count:
                    with self._lock:
                        self.received += len(data)
                target.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._listener.close()
        for each in self._open:
            with contextlib.suppress(OSError):
                each.close()

    def __enter__(self) -> CountingRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


AZURITE_MAIN = "node_modules/azurite/dist/src/blob/main.js"


@dataclass
class Azurite:
    url: str
    account: str
    key: str

    def filesystem(self) -> Any:
        """pyarrow's Azure file system on the emulator, for seeding and checking blobs."""
        from pyarrow import fs

        authority = self.url.split("://", 1)[1]
        return fs.AzureFileSystem(self.account, account_key=self.key, blob_storage_authority=authority,
                                  blob_storage_scheme="http", dfs_storage_authority=authority,
                                  dfs_storage_scheme="http")


def azurite_main() -> Path | None:
    named = os.environ.get("DAGFLUX_AZURITE")
    candidates = [Path(named)] if named else [REPO / ".tools" / "azurite" / AZURITE_MAIN]
    found = next((p for p in candidates if p.is_file()), None)
    return found if found is not None and shutil.which("node") else None


@contextlib.contextmanager
def azurite(tmp: Path, account: str, key: str) -> Iterator[Azurite]:
    import pytest

    main = azurite_main()
    if main is None:
        pytest.skip("Azurite is not installed (`bash dev setup` installs it into .tools/azurite with npm)")
    env = dict(os.environ, AZURITE_ACCOUNTS=f"{account}:{key}")
    log = (tmp / "azurite.log").open("w+")
    proc = subprocess.Popen(["node", str(main), "--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence",
                             "--disableTelemetry", "--skipApiVersionCheck"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    try:
        deadline = time.monotonic() + 60
        port = None
        while port is None:
            found = re.search(r"listens on http://127\.0\.0\.1:(\d+)", (tmp / "azurite.log").read_text())
            if found:
                port = int(found.group(1))
            elif proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"Azurite did not start:\n{(tmp / 'azurite.log').read_text()}")
            else:
                time.sleep(0.05)
        yield Azurite(f"http://127.0.0.1:{port}", account, key)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def publisher(*args: str | Path) -> str:
    done = subprocess.run([sys.executable, "-m", "engine.catalog.publish", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return done.stdout


def plugin_copy(base: Path, name: str, version: str) -> Path:
    """The repo's catalog plugin ``name`` with its manifest's version set to ``version``."""
    folder = base / f"{name}-{version}"
    shutil.copytree(CATALOG_PLUGINS / name, folder, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = json.loads((folder / "plugin.json").read_text(encoding="utf-8"))
    manifest["version"] = version
    (folder / "plugin.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


class S3Catalog:
    """A signed catalog folder on a loopback server; ``publish`` adds plugin versions."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.dir = base / "catalog"
        self.key, self.root = base / "keys" / "catalog.pem", base / "keys" / "root.json"
        self.key.parent.mkdir(parents=True)
        publisher("keygen", self.key, "--root", self.root)
        self.server = CatalogServer(self.dir)

    def publish(self, *plugins: Path) -> None:
        publisher("build", self.dir, *plugins, "--publisher", "DagFlux test publisher")
        publisher("sign", self.dir, "--key", self.key)
        assert "✓" in publisher("verify", self.dir, "--root", self.root)

    def activate(self, monkeypatch: Any) -> None:
        monkeypatch.setenv("DAGFLUX_CATALOG_URL", self.server.url)
        monkeypatch.setenv("DAGFLUX_CATALOG_ROOT", str(self.root))

    def __enter__(self) -> S3Catalog:
        self.dir.mkdir(exist_ok=True)
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)
