"""``dagflux connections …``: manage connections; secrets are write-only.

Secret fields are never taken from the command line (other users can see process
arguments): they are read with a hidden prompt, or one per line from standard input
when it is not a terminal. Through the engine when one runs; otherwise this
process holds the data-dir lock and talks to the keychain and a worker itself.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from engine.errors import DagfluxError

EXIT_OK, EXIT_FAILED = 0, 1


def add_parsers(sub: Any) -> None:
    c = sub.add_parser("connections", help="database and API connections (secrets in the OS keychain)")
    c.add_argument("action", choices=["list", "types", "add", "edit", "test", "remove", "objects", "fields",
                                      "sample", "keychain"])
    c.add_argument("args", nargs="*", help="add: TYPE ID; edit/test/remove/objects: ID; "
                                            "fields/sample: ID OBJECT")
    c.add_argument("--name")
    c.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="a non-secret setting (host, port, database …)")
    c.add_argument("--secret", action="append", default=[], metavar="FIELD",
                   help="ask for this secret field (hidden prompt, or a line of stdin)")
    c.add_argument("--limit", type=int, default=5)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_connections)


def cmd_connections(args: argparse.Namespace) -> int:
    from engine.service.ipc import EngineUnavailable

    try:
        from engine.client import EngineClient

        client = EngineClient.connect(timeout=2.0)
    except EngineUnavailable:
        with _Offline() as offline:
            return _dispatch(args, offline.call)
    with client:
        return _dispatch(args, lambda method, **params: client.call(method, **params))


def _dispatch(args: argparse.Namespace, call: Any) -> int:
    a = args.args
    if args.action == "list":
        return _print(args, call("connections.list"), _list_text)
    if args.action == "types":
        return _print(args, call("connections.types"), _types_text)
    if args.action == "keychain":
        status = call("secrets.status")
        _print(args, status, lambda s: f"keychain {s['state']}: {s['message']}")
        return EXIT_OK if status["state"] == "ok" else EXIT_FAILED
    if args.action == "add":
        _need(a, 2, "TYPE ID")
        type_spec = next((t for t in call("connections.types") if t["type"] == a[0]), None)
        if type_spec is None:
            raise DagfluxError(f"unknown connection type '{a[0]}'; see `dagflux connections types`")
        fields = {f["name"]: f for f in type_spec["fields"]}
        wanted = args.secret or [name for name, f in fields.items() if f["secret"]]
        optional = {name for name in wanted if name in fields and not fields[name]["required"]}
        entry = call("connections.add", id=a[1], type=a[0], name=args.name or a[1], settings=_settings(args),
                     secrets=_read_secrets(wanted, a[1], optional))
        return _print(args, entry, lambda e: f"saved connection {e['id']} ({e['type']}); secrets set: "
                                              f"{', '.join(e['secrets_set']) or 'none'}")
    if args.action == "edit":
        _need(a, 1, "ID")
        entry = call("connections.edit", id=a[0], name=args.name, settings=_settings(args),
                     secrets=_read_secrets(args.secret, a[0]))
        return _print(args, entry, lambda e: f"updated connection {e['id']}")
    if args.action == "remove":
        _need(a, 1, "ID")
        call("connections.remove", id=a[0])
        return _print(args, True, lambda _: f"removed connection {a[0]} and its secrets")
    if args.action == "test":
        _need(a, 1, "ID")
        result = call("connections.test", id=a[0])
        return _print(args, result, lambda r: f"✓ {a[0]}: {r['detail']}")
    if args.action == "objects":
        _need(a, 1, "ID")
        return _print(args, call("connections.objects", id=a[0]), lambda objs: "\n".join(objs) or "(none)")
    if args.action == "fields":
        _need(a, 2, "ID OBJECT")
        return _print(args, call("connections.fields", id=a[0], object=a[1]),
                      lambda fs: "\n".join(f"{n:<32} {t}" for n, t in fs))
    _need(a, 2, "ID OBJECT")
    sample = call("connections.sample", id=a[0], object=a[1], limit=args.limit)
    return _print(args, sample, _sample_text)


def _need(args: list[str], count: int, usage: str) -> None:
    if len(args) < count:
        raise DagfluxError(f"this needs {usage}")


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    out = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise DagfluxError(f"--set takes FIELD=VALUE, got '{item}'")
        out[key.strip()] = value
    return out


def _read_secrets(fields: list[str], connection_id: str, optional: set[str] | None = None) -> dict[str, str]:
    """One value per field: a hidden prompt on a terminal, else a line of stdin.
    An empty answer skips an optional field and is an error for a required one."""
    values = {}
    for field in fields:
        if sys.stdin.isatty():
            hint = ", Enter to skip" if field in (optional or set()) else ""
            value = getpass.getpass(f"{field} for {connection_id} (hidden{hint}): ")
        else:
            value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            if field in (optional or set()):
                continue
            raise DagfluxError(f"no value given for the secret '{field}'")
        values[field] = value
    return values


def _print(args: argparse.Namespace, value: Any, text: Any) -> int:
    print(json.dumps(value) if args.json else text(value))
    return EXIT_OK


def _list_text(conns: list[dict[str, Any]]) -> str:
    if not conns:
        return "no connections; add one with `dagflux connections add TYPE ID --set host=… --secret password`"
    lines = []
    for c in conns:
        settings = ", ".join(f"{k}={v}" for k, v in sorted(c["settings"].items()))
        secret_state = ", ".join(f"{f} {'set' if f in c['secrets_set'] else 'not set'}" for f in c["secret_fields"])
        lines.append(f"{c['id']:<20} {c['type']:<11} {settings}  [{secret_state}]")
    return "\n".join(lines)


def _types_text(types: list[dict[str, Any]]) -> str:
    return "\n".join(f"{t['type']:<11} {t['label']}: " + ", ".join(
        f"{f['name']}{' (secret)' if f['secret'] else ''}" for f in t["fields"]) for t in types)


def _sample_text(sample: dict[str, Any]) -> str:
    header = "  ".join(sample["columns"])
    rows = ["  ".join("NULL" if v is None else str(v)[:30] for v in row) for row in sample["rows"]]
    return "\n".join([header, *rows])


class _Offline:
    """No engine: hold the data-dir lock, use the keychain and one worker directly."""

    def __enter__(self) -> _Offline:
        from engine.connectors.service import ConnectionService
        from engine.lock import DataDirLock
        from engine.paths import default_paths, ensure_data_dir
        from engine.plugins import load_registry

        paths = ensure_data_dir(default_paths())
        self.lock = DataDirLock(paths.lock, role="cli")
        self.lock.acquire()
        self.pool = None
        self.paths = paths
        self.service = ConnectionService(paths.connections, load_registry([paths.plugins]), self._executor)
        return self

    @property
    def _executor(self) -> Any:
        return self

    def submit(self, task: Any) -> Any:  # a worker is started only when an operation needs one
        if self.pool is None:
            from engine.workers.pool import WorkerPool

            self.pool = WorkerPool(self.paths.workspace, size=1, plugin_roots=[self.paths.plugins])
        return self.pool.submit(task)

    def call(self, method: str, **params: Any) -> Any:
        s = self.service
        table = {
            "connections.list": lambda: s.list(), "connections.types": lambda: s.types(),
            "secrets.status": lambda: s.status(),
            "connections.add": lambda: s.add(params["id"], params["type"], params.get("name", ""),
                                             params.get("settings"), params.get("secrets")),
            "connections.edit": lambda: s.edit(params["id"], params.get("name"), params.get("settings"),
                                               params.get("secrets")),
            "connections.remove": lambda: s.remove(params["id"]),
            "connections.test": lambda: s.run_op("connection.test", connection=params["id"]),
            "connections.objects": lambda: s.run_op("connection.objects", connection=params["id"]),
            "connections.fields": lambda: s.run_op("connection.fields", connection=params["id"],
                                                   object=params["object"]),
            "connections.sample": lambda: s.run_op("connection.sample", connection=params["id"],
                                                   object=params["object"], limit=params.get("limit", 5)),
        }
        return table[method]()

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.close()
        self.lock.release()
