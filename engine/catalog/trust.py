"""Trust in a catalog index: ed25519 signatures against a pinned root, rollback and freeze.

The **root** lists the public keys allowed to sign an index and how many of them must::

    {"type": "dagflux-catalog-root", "threshold": 1,
     "keys": {"<key id>": {"ed25519": "<64 hex digits: the raw public key>"}}}

A key id is the SHA-256 (hex) of the raw public key, so it cannot name another key. The
product pins its root in ``engine/catalog/root.json``; ``DAGFLUX_CATALOG_ROOT`` (a path to a
root file) replaces it — for tests and self-hosted catalogs only. Key rotation: a release
of DagFlux pins a root listing the old and the new key; the catalog signs with both until
the old one is dropped.

:func:`verify_index` accepts a signed document only if (1) at least ``threshold``
distinct root keys have a valid signature over the canonical JSON of ``signed``,
(2) its version is not lower than the last one accepted (kept in the data dir by
:class:`TrustState`; the same version must carry the same content), and (3) it has not
expired. Signatures by keys outside the root are ignored; if they are all there is, the
error names them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engine.atomic import atomic_path
from engine.catalog import TrustError
from engine.catalog.index import Index, parse_index

ROOT_ENV = "DAGFLUX_CATALOG_ROOT"
ROOT_TYPE = "dagflux-catalog-root"
PINNED_ROOT = Path(__file__).with_name("root.json")


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Root:
    keys: dict[str, Ed25519PublicKey]
    threshold: int

    @classmethod
    def from_json(cls, data: Any, where: str = "root") -> Root:
        if not isinstance(data, dict) or data.get("type") != ROOT_TYPE or not isinstance(data.get("keys"), dict):
            raise TrustError(f"{where}: not a DagFlux catalog root")
        keys = {}
        for kid, spec in data["keys"].items():
            try:
                public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(spec["ed25519"]))
            except (TypeError, KeyError, ValueError):
                raise TrustError(f"{where}: key {kid!r} is not an ed25519 public key") from None
            if key_id(public) != kid:
                raise TrustError(f"{where}: key id {kid!r} does not match its key")
            keys[kid] = public
        threshold = data.get("threshold")
        if not isinstance(threshold, int) or not 1 <= threshold <= len(keys):
            raise TrustError(f"{where}: 'threshold' must be between 1 and the number of keys ({len(keys)})")
        return cls(keys, threshold)

    def to_json(self) -> dict[str, Any]:
        raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
        return {"type": ROOT_TYPE, "threshold": self.threshold,
                "keys": {kid: {"ed25519": k.public_bytes(*raw).hex()} for kid, k in self.keys.items()}}


def load_root(path: Path | None = None) -> Root:
    """The root to trust: ``path``, else ``$DAGFLUX_CATALOG_ROOT``, else the pinned one."""
    path = path or Path(os.environ.get(ROOT_ENV) or PINNED_ROOT)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrustError(f"{path}: cannot read the catalog root ({exc})") from None
    return Root.from_json(data, str(path))


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise TrustError(f"{path}: cannot read the signing key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise TrustError(f"{path}: not an ed25519 private key")
    return key


def new_private_key_pem() -> tuple[bytes, str]:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, key_id(key.public_key())


def sign_document(document: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """Add (or replace) ``key``'s signature over ``document["signed"]``."""
    kid = key_id(key.public_key())
    sig = key.sign(canonical(document["signed"])).hex()
    others = [s for s in document.get("signatures", []) if s.get("keyid") != kid]
    return {"signed": document["signed"], "signatures": [*others, {"keyid": kid, "sig": sig}]}


def check_signatures(document: Any, root: Root) -> None:
    if not isinstance(document, dict) or "signed" not in document or not isinstance(document.get("signatures"), list):
        raise TrustError("index: not a signed document (needs 'signed' and 'signatures')")
    payload = canonical(document["signed"])
    good, unknown, bad = set(), [], []
    for entry in document["signatures"]:
        kid = entry.get("keyid") if isinstance(entry, dict) else None
        if kid not in root.keys:
            unknown.append(str(kid)[:16])
            continue
        try:
            root.keys[kid].verify(bytes.fromhex(str(entry.get("sig"))), payload)
            good.add(kid)
        except (InvalidSignature, ValueError):
            bad.append(kid[:16])
    if len(good) >= root.threshold:
        return
    detail = []
    if bad:
        detail.append(f"invalid signature by {', '.join(bad)}")
    if unknown:
        detail.append(f"signed by key(s) the pinned root does not list: {', '.join(unknown)}")
    reason = "; ".join(detail) or "no signatures"
    raise TrustError(f"the catalog's signature did not verify ({len(good)} of {root.threshold} "
                     f"required; {reason}) — nothing was installed")


class TrustState:
    """The last index accepted, kept in ``<data dir>/catalog/index.json`` (atomic writes)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / "index.json"

    def last_document(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise TrustError(f"{self.path}: the last accepted index is unreadable ({exc}); "
                             f"remove it to trust the catalog afresh") from None

    def remember(self, document: dict[str, Any]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp:
            tmp.write_bytes(canonical(document))


def verify_index(document: Any, root: Root, state: TrustState, now: datetime | None = None) -> Index:
    """Verify a freshly fetched signed index and remember it; raise :class:`TrustError`."""
    check_signatures(document, root)
    index = parse_index(document["signed"])
    last = state.last_document()
    if last is not None:
        last_version = last.get("signed", {}).get("version", 0)
        if index.version < last_version:
            raise TrustError(f"the catalog's index is version {index.version}, older than version "
                             f"{last_version} accepted before (a replayed index?) — nothing was installed")
        if index.version == last_version and canonical(last.get("signed")) != canonical(document["signed"]):
            raise TrustError(f"the catalog's index version {index.version} differs from the version "
                             f"{last_version} accepted before — nothing was installed")
    now = now or datetime.now(UTC)
    if now >= index.expires:
        raise TrustError(f"the catalog's index expired at {document['signed']['expires']} (a frozen or "
                         f"stale catalog) — nothing was installed")
    state.remember(document)
    return index
