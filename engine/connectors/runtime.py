"""Connections inside a worker: connectors built on demand, secrets resolved at use.

Only workers create connector instances, and only here do secret values enter a
process: read from the keychain just before use, registered with the task's
:class:`~engine.scrub.Scrubber` so nothing the worker sends back carries them.
Connectors are pooled per connection and *generation* (see
:mod:`engine.connectors.store`): a changed secret or setting closes the pooled
connection made with the old one the next time the connection is used, and the
engine also recycles idle workers when it changes a connection.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine import secrets
from engine.connectors.base import Connector, ConnectorError
from engine.connectors.store import load_connections
from engine.model.secret_placement import RULE as SECRET_RULE
from engine.plugins import PluginRegistry
from engine.scrub import Scrubber


def placeholder(connection_id: str, field: str) -> str:
    return f"{{{{ secret.{connection_id}.{field} }}}}"


class ConnectionRuntime:
    def __init__(self, registry: PluginRegistry, connections_path: Path) -> None:
        self.registry = registry
        self.path = Path(connections_path)
        self._pool: dict[str, tuple[int, Connector]] = {}
        self.scrubber = Scrubber()

    def begin_task(self) -> None:
        """A fresh scrubber per task, filled with what this task resolves."""
        self.scrubber = Scrubber()

    def connector(self, connection_id: str) -> Connector:
        meta = self._meta(connection_id)
        generation = int(meta.get("generation", 0))
        pooled = self._pool.get(connection_id)
        if pooled is not None and pooled[0] == generation:
            self._register_secrets(connection_id, meta, pooled[1].settings)
            return pooled[1]
        if pooled is not None:
            pooled[1].close()
            del self._pool[connection_id]
        connector = self._build(connection_id, meta)
        self._pool[connection_id] = (generation, connector)
        return connector

    def resolve_secret(self, connection_id: str, field: str) -> str:
        """A secret for text substitution (REST headers, SQL parameters); scrubbed on the way out."""
        meta = self._meta(connection_id)
        if field not in meta.get("secret_fields", []):
            raise ConnectorError(f"connection '{connection_id}' has no secret field '{field}'")
        value = secrets.resolve(connection_id, field)
        if value is None:
            raise ConnectorError(f"connection '{meta.get('name', connection_id)}': the secret '{field}' is not "
                                 f"set; set it with `dagflux connections edit {connection_id}`")
        self.scrubber.add(value, placeholder(connection_id, field), self._companions(meta))
        return value

    def forget(self, connection_id: str) -> None:
        """Close the pooled connector of ``connection_id`` so the next use connects afresh."""
        pooled = self._pool.pop(connection_id, None)
        if pooled is not None:
            pooled[1].close()

    def close_all(self) -> None:
        for _, connector in self._pool.values():
            connector.close()
        self._pool.clear()

    # --- internals -------------------------------------------------------------------
    def _meta(self, connection_id: str) -> dict[str, Any]:
        conns = load_connections(self.path)
        if connection_id not in conns:
            raise ConnectorError(f"no connection '{connection_id}' (see `dagflux connections list`)")
        return conns[connection_id]

    def _build(self, connection_id: str, meta: dict[str, Any]) -> Connector:
        cls = self.registry.connection_types.get(meta.get("type", ""))
        if cls is None:
            raise ConnectorError(f"connection '{connection_id}' has type '{meta.get('type')}', which no "
                                 f"loaded plugin provides")
        settings = dict(meta.get("settings", {}))
        for field in meta.get("secret_fields", []):
            if field in meta.get("secrets_set", []):
                settings[field] = self.resolve_secret(connection_id, field)
        connector = cls(connection_id, meta.get("name", connection_id), settings)
        connector.resolve_secret = self._own_secrets(connection_id)  # type: ignore[attr-defined]
        return connector

    def _own_secrets(self, connection_id: str) -> Callable[[str, str], str]:
        """What a connector may resolve in its requests: its own connection's secrets only."""

        def resolve(connection: str, field: str) -> str:
            if connection != connection_id:
                raise ConnectorError(f"{placeholder(connection, field)}: {SECRET_RULE} — connection "
                                     f"'{connection_id}' cannot send connection '{connection}'s secrets")
            return self.resolve_secret(connection, field)

        return resolve

    def _register_secrets(self, connection_id: str, meta: dict[str, Any], settings: dict[str, Any]) -> None:
        for field in meta.get("secret_fields", []):
            if settings.get(field):
                self.scrubber.add(str(settings[field]), placeholder(connection_id, field), self._companions(meta))

    @staticmethod
    def _companions(meta: dict[str, Any]) -> list[str]:
        return [str(v) for v in meta.get("settings", {}).values() if isinstance(v, (str, int))]
