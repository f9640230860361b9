"""Connection management for the engine (and for the CLI when no engine runs).

Secrets go one way: from the caller, through here, into the keychain. Nothing in
this class reads a secret back; tests, catalogs and samples run as worker
operations, which resolve secrets themselves and scrub their replies. After a
change, idle workers are recycled so no pooled connection keeps using old
credentials (busy ones see the new generation at their next task).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from engine import secrets
from engine.connectors.base import Connector
from engine.connectors.store import ConnectionError_, ConnectionStore
from engine.errors import DagfluxError
from engine.messages import OpResult, RunOp
from engine.plugins import PluginRegistry

_op_ids = itertools.count(1_000_000)


class ConnectionService:
    def __init__(self, connections_path: Path, registry: PluginRegistry, executor: Any,
                 on_changed: Callable[[], Any] | None = None) -> None:
        self.store = ConnectionStore(connections_path)
        self.path = Path(connections_path)
        self.registry = registry
        self.executor = executor
        self.on_changed = on_changed

    def types(self) -> list[dict[str, Any]]:
        return [cls.describe() for _, cls in sorted(self.registry.connection_types.items())]

    def spec(self, type_name: str) -> type[Connector]:
        cls = self.registry.connection_types.get(type_name)
        if cls is None:
            known = ", ".join(sorted(self.registry.connection_types)) or "none"
            raise ConnectionError_(f"unknown connection type '{type_name}' (known: {known})")
        return cls

    def list(self) -> list[dict[str, Any]]:
        return self.store.list()

    def add(self, id: str, type: str, name: str = "", settings: Mapping[str, Any] | None = None,
            secrets_in: Mapping[str, str] | None = None) -> dict[str, Any]:
        if any(c["id"] == id for c in self.store.list()):
            raise ConnectionError_(f"a connection '{id}' already exists; edit it instead")
        return self._save(id, type, name, settings or {}, secrets_in or {}, existing=None)

    def edit(self, id: str, name: str | None = None, settings: Mapping[str, Any] | None = None,
             secrets_in: Mapping[str, str] | None = None) -> dict[str, Any]:
        existing = self.store.get(id)
        return self._save(id, existing["type"], name or existing["name"], settings or {}, secrets_in or {},
                          existing=existing)

    def remove(self, id: str) -> bool:
        entry = self.store.remove(id)
        for field in entry.get("secret_fields", []):
            secrets.delete_secret(id, field)
        self._changed()
        return True

    def status(self) -> dict[str, Any]:
        st = secrets.probe()
        return {"state": st.state, "backend": st.backend, "message": st.message}

    def _save(self, id: str, type_name: str, name: str, settings: Mapping[str, Any],
              secrets_in: Mapping[str, str], existing: Mapping[str, Any] | None) -> dict[str, Any]:
        spec = self.spec(type_name)
        merged = self.store.check(spec, settings, secrets_in, existing)
        for field, value in secrets_in.items():  # keychain first: metadata never claims a secret that is not there
            secrets.set_secret(id, field, value)
        set_now = sorted(set((existing or {}).get("secrets_set", [])) | set(secrets_in))
        entry = self.store.save(id, name, type_name, merged, spec.secret_fields(), set_now,
                                bump=bool(secrets_in) or bool(settings))
        if existing is not None:
            self._changed()
        return entry

    def _changed(self) -> None:
        if self.on_changed is not None:
            self.on_changed()

    # --- operations in a worker ---------------------------------------------------------
    def run_op(self, op: str, timeout: float = 60.0, **params: Any) -> Any:
        self.store.get(params["connection"])  # a clear error for an unknown id, before any worker
        future = self.executor.submit(RunOp(id=next(_op_ids), op=op, params=params, timeout_s=timeout,
                                            title=f"{op} of '{params['connection']}'",
                                            connections=str(self.path)))
        reply: OpResult = future.result()
        if reply.status != "succeeded":
            raise DagfluxError(reply.error or f"{op} failed")
        return reply.value
