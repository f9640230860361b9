"""``connections.json``: connection metadata — never a secret value.

Each connection lists its type, its non-secret settings (host, port, database …),
which fields are secret and which of those are set. Secret values live only in the
OS keychain (:mod:`engine.secrets`), written by the engine on the way in. Each
connection has a ``generation`` that grows whenever its settings or secrets
change: workers compare it and close pooled connections made with the old ones.
Writes are atomic; a file that cannot be read is reported and left as it is.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from engine.connectors.base import Connector
from engine.errors import DagfluxError

FORMAT_VERSION = 1
_ID_RE = re.compile(r"[a-z][a-z0-9_]{0,47}")


class ConnectionError_(DagfluxError):
    """A connection that does not exist or cannot be saved as given."""


def load_connections(path: Path) -> dict[str, dict[str, Any]]:
    """Read-only view used by workers: ``{id: metadata}``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConnectionError_(f"{path} cannot be read ({exc}); it was left as it is") from None
    if not isinstance(data, dict) or not isinstance(data.get("connections"), list):
        raise ConnectionError_(f"{path} is not a DagFlux connections file; it was left as it is")
    return {c["id"]: c for c in data["connections"] if isinstance(c, dict) and "id" in c}


class ConnectionStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def list(self) -> list[dict[str, Any]]:
        return [dict(c) for c in load_connections(self.path).values()]

    def get(self, connection_id: str) -> dict[str, Any]:
        conns = load_connections(self.path)
        if connection_id not in conns:
            raise ConnectionError_(f"no connection '{connection_id}'")
        return dict(conns[connection_id])

    def check(self, spec: type[Connector], settings: Mapping[str, Any], secrets: Mapping[str, str],
              existing: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Validated non-secret settings; a secret given as a plain setting is refused."""
        secret_fields = set(spec.secret_fields())
        leaked = sorted(secret_fields & set(settings))
        if leaked:
            raise ConnectionError_(f"{', '.join(leaked)} must be given as secret(s), never as plain settings")
        known = {f.name for f in spec.fields}
        unknown = sorted(set(settings) - known) + sorted(set(secrets) - secret_fields)
        if unknown:
            raise ConnectionError_(f"a {spec.label} connection has no field(s) {', '.join(unknown)}")
        merged = {**dict((existing or {}).get("settings", {})), **dict(settings)}
        set_before = set((existing or {}).get("secrets_set", []))
        missing = [f.label for f in spec.fields if f.required and (
            (f.secret and f.name not in secrets and f.name not in set_before)
            or (not f.secret and merged.get(f.name) in (None, "") and f.default is None))]
        if missing:
            raise ConnectionError_(f"a {spec.label} connection needs {', '.join(missing)}")
        for f in spec.fields:
            if not f.secret and merged.get(f.name) in (None, "") and f.default is not None:
                merged[f.name] = f.default
            if f.kind == "int" and merged.get(f.name) not in (None, ""):
                try:
                    merged[f.name] = int(merged[f.name])
                except (TypeError, ValueError):
                    raise ConnectionError_(f"{f.label} must be a whole number") from None
        return merged

    def save(self, connection_id: str, name: str, type_name: str, settings: Mapping[str, Any],
             secret_fields: list[str], secrets_set: list[str], bump: bool) -> dict[str, Any]:
        if not _ID_RE.fullmatch(connection_id):
            raise ConnectionError_(f"connection id '{connection_id}' must be snake_case (a-z, 0-9, _)")
        with self._lock:
            conns = load_connections(self.path)
            old = conns.get(connection_id, {})
            entry = {"id": connection_id, "name": name or connection_id, "type": type_name,
                     "settings": dict(settings), "secret_fields": sorted(secret_fields),
                     "secrets_set": sorted(secrets_set),
                     "generation": int(old.get("generation", 0)) + (1 if bump or not old else 0)}
            conns[connection_id] = entry
            self._write(conns)
        return dict(entry)

    def remove(self, connection_id: str) -> dict[str, Any]:
        with self._lock:
            conns = load_connections(self.path)
            if connection_id not in conns:
                raise ConnectionError_(f"no connection '{connection_id}'")
            entry = conns.pop(connection_id)
            self._write(conns)
        return entry

    def _write(self, conns: Mapping[str, Mapping[str, Any]]) -> None:
        doc = {"format": "dagflux-connections", "version": FORMAT_VERSION,
               "connections": [conns[k] for k in sorted(conns)]}
        atomic_write_text(self.path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
