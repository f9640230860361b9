"""The publisher tool: build a catalog from plugin folders, sign it, verify it.

    python -m engine.catalog.publish keygen KEY.pem --root ROOT.json
    python -m engine.catalog.publish build CATALOG_DIR PLUGIN_DIR... --publisher NAME [--expires-days 30]
                                           [--wheels WHEEL_DIR]
    python -m engine.catalog.publish sign CATALOG_DIR --key KEY.pem
    python -m engine.catalog.publish verify CATALOG_DIR [--root ROOT.json]

``build`` zips each plugin folder (its ``plugin.json`` at the archive's root, no
``__pycache__``; entries in a fixed order with a fixed date, so the same folder gives the
same bytes) into ``CATALOG_DIR/archives/<name>-<version>.zip``, copies the wheel of each
dependency the manifest pins (``"dependencies": ["name==1.2.3"]``, found in ``--wheels``)
into ``CATALOG_DIR/wheels/`` and writes
``CATALOG_DIR/index.json`` unsigned: the versions already in an existing index are kept,
the index version goes up by one and the expiry is set afresh. ``sign`` adds a key's
signature (run it once per key when the root's threshold is above 1). ``verify`` checks
the index as the manager would (signatures, structure, expiry — not rollback) and every
archive's and wheel's length and SHA-256. Host ``CATALOG_DIR`` on any static HTTP server.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.catalog import CatalogError
from engine.catalog.index import INDEX_TYPE, NAME_RE, VERSION_RE, format_time, parse_index, parse_time
from engine.catalog.trust import check_signatures, load_private_key, load_root, new_private_key_pem, sign_document
from engine.catalog.wheels import Dependency, find_wheel, manifest_pins
from engine.errors import DagfluxError
from engine.plugins import read_manifest

FIXED_DATE = (2020, 1, 1, 0, 0, 0)
SKIP = {"__pycache__", ".git", ".DS_Store"}


def make_archive(folder: Path, target: Path) -> None:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not (SKIP & set(p.relative_to(folder).parts))
                   and p.suffix != ".pyc")
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), FIXED_DATE)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())


def build_catalog(out: Path, plugin_dirs: list[Path], publisher: str, expires_days: float = 30,
                  now: datetime | None = None, wheels: Path | None = None) -> dict:
    out = Path(out)
    index_path = out / "index.json"
    signed = {"type": INDEX_TYPE, "version": 0, "expires": "", "plugins": {}}
    if index_path.exists():
        signed = json.loads(index_path.read_text(encoding="utf-8"))["signed"]
    for folder in map(Path, plugin_dirs):
        manifest = read_manifest(folder, check_api=False)
        name, version = manifest["name"], str(manifest.get("version", ""))
        if not NAME_RE.match(name) or not VERSION_RE.match(version):
            raise CatalogError(f"{folder}: a catalog plugin needs a lower-case name and a dotted version "
                               f"(got {name!r} {version!r})")
        rel = f"archives/{name}-{version}.zip"
        make_archive(folder, out / rel)
        data = (out / rel).read_bytes()
        entry = signed["plugins"].setdefault(name, {"versions": {}})
        entry.update(description=manifest.get("description", ""), publisher=publisher)
        entry["versions"][version] = {"url": rel, "length": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                                      "api_version": manifest.get("api_version", 1),
                                      "description": manifest.get("description", ""),
                                      "provides": {k: sorted(v) for k, v in manifest.get("provides", {}).items() if v},
                                      "dependencies": _publish_wheels(out, folder, manifest, wheels)}
    signed["version"] = int(signed["version"]) + 1
    signed["expires"] = format_time((now or datetime.now(UTC)) + timedelta(days=expires_days))
    parse_index(signed)
    document = {"signed": signed, "signatures": []}
    index_path.write_text(json.dumps(document, indent=1, sort_keys=True), encoding="utf-8")
    return document


def _publish_wheels(out: Path, folder: Path, manifest: dict, wheels: Path | None) -> list[dict]:
    """Copy the wheel of each pinned dependency into ``out/wheels/`` and describe it for the index."""
    listed = []
    for name, version in manifest_pins(manifest, str(folder / "plugin.json")):
        wheel = find_wheel(wheels, name, version, str(folder))
        data = wheel.read_bytes()
        (out / "wheels").mkdir(parents=True, exist_ok=True)
        (out / "wheels" / wheel.name).write_bytes(data)
        listed.append(Dependency(name, version, f"wheels/{wheel.name}", len(data), hashlib.sha256(data).hexdigest(),
                                 wheel.name).to_json())
    return listed


def sign_catalog(out: Path, key_path: Path) -> dict:
    index_path = Path(out) / "index.json"
    document = sign_document(json.loads(index_path.read_text(encoding="utf-8")), load_private_key(key_path))
    index_path.write_text(json.dumps(document, indent=1, sort_keys=True), encoding="utf-8")
    return document


def verify_catalog(out: Path, root_path: Path | None = None) -> list[str]:
    """Return one line per archive checked; raise :class:`CatalogError` on the first fault."""
    document = json.loads((Path(out) / "index.json").read_text(encoding="utf-8"))
    check_signatures(document, load_root(root_path))
    index = parse_index(document["signed"])
    if datetime.now(UTC) >= parse_time(document["signed"]["expires"], "expires"):
        raise CatalogError(f"the index expired at {document['signed']['expires']}")
    lines = []
    for entry in index.plugins.values():
        for release in entry.releases.values():
            data = (Path(out) / release.url).read_bytes()
            if len(data) != release.length or hashlib.sha256(data).hexdigest() != release.sha256:
                raise CatalogError(f"{release.url}: length or SHA-256 differ from the index")
            lines.append(f"✓ {release.name} {release.version} ({release.length} bytes)")
            for dep in release.dependencies:
                data = (Path(out) / dep.url).read_bytes()
                if len(data) != dep.length or hashlib.sha256(data).hexdigest() != dep.sha256:
                    raise CatalogError(f"{dep.url}: length or SHA-256 differ from the index")
                lines.append(f"  ✓ {dep.name} {dep.version} ({dep.wheel}, {dep.length} bytes)")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.catalog.publish", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    k = sub.add_parser("keygen", help="make a signing key and a root that trusts it")
    k.add_argument("key", type=Path)
    k.add_argument("--root", type=Path, required=True)
    b = sub.add_parser("build", help="zip plugin folders into a catalog and write its unsigned index")
    b.add_argument("catalog", type=Path)
    b.add_argument("plugins", type=Path, nargs="+")
    b.add_argument("--publisher", required=True)
    b.add_argument("--expires-days", type=float, default=30)
    b.add_argument("--wheels", type=Path, help="the folder holding the wheels of the plugins' pinned dependencies")
    s = sub.add_parser("sign", help="sign the catalog's index with a key")
    s.add_argument("catalog", type=Path)
    s.add_argument("--key", type=Path, required=True)
    v = sub.add_parser("verify", help="verify the index and every archive")
    v.add_argument("catalog", type=Path)
    v.add_argument("--root", type=Path)
    args = p.parse_args(argv)
    try:
        if args.command == "keygen":
            pem, kid = new_private_key_pem()
            fd = os.open(args.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            from engine.catalog.trust import Root

            root = Root({kid: load_private_key(args.key).public_key()}, 1)
            args.root.write_text(json.dumps(root.to_json(), indent=1), encoding="utf-8")
            print(f"key {kid} → {args.key}; root → {args.root}")
        elif args.command == "build":
            doc = build_catalog(args.catalog, args.plugins, args.publisher, args.expires_days, wheels=args.wheels)
            print(f"index version {doc['signed']['version']}, {len(doc['signed']['plugins'])} plugin(s), unsigned")
        elif args.command == "sign":
            doc = sign_catalog(args.catalog, args.key)
            print(f"signed index version {doc['signed']['version']} ({len(doc['signatures'])} signature(s))")
        else:
            print("\n".join(verify_catalog(args.catalog, args.root)))
    except (DagfluxError, OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
