"""``dagflux plugins …`` — list plugins and manage catalog plugins.

* ``dagflux plugins`` — every plugin (built-in and installed) with its version and status;
  an installed plugin that fails to load is shown as quarantined with its error, and the
  kept earlier versions. Exit 1 when any plugin failed to load.
* ``dagflux plugins search TEXT`` — catalog plugins whose name, description or publisher
  contains TEXT.
* ``dagflux plugins install NAME[==VERSION]``, ``update [NAME]``, ``remove NAME``,
  ``rollback NAME`` — exit 0 done, 1 refused (the reason on stderr; nothing changed).
  A running engine is then asked to reload its plugins (``plugins.reload``: done at once
  when no run is active, else the reason is printed).
"""

from __future__ import annotations

import argparse
import sys

from engine.catalog.index import version_key

EXIT_OK, EXIT_FAILED = 0, 1


def add_parsers(sub: argparse._SubParsersAction) -> None:
    pl = sub.add_parser("plugins", help="list plugins; search, install, update, remove, roll back catalog plugins")
    pl.set_defaults(func=cmd_list)
    psub = pl.add_subparsers(dest="plugins_command")
    s = psub.add_parser("search", help="search the catalog")
    s.add_argument("text", nargs="?", default="")
    s.set_defaults(func=cmd_search)
    i = psub.add_parser("install", help="install NAME or NAME==VERSION from the catalog")
    i.add_argument("spec")
    i.set_defaults(func=cmd_install)
    u = psub.add_parser("update", help="update one or every catalog plugin to its newest version")
    u.add_argument("name", nargs="?")
    u.set_defaults(func=cmd_update)
    r = psub.add_parser("remove", help="remove a catalog plugin")
    r.add_argument("name")
    r.set_defaults(func=cmd_remove)
    b = psub.add_parser("rollback", help="switch a catalog plugin back to its previous version (offline)")
    b.add_argument("name")
    b.set_defaults(func=cmd_rollback)


def _manager(progress: bool = False):
    from engine.catalog.manager import PluginManager
    from engine.paths import default_paths, ensure_data_dir

    return PluginManager(ensure_data_dir(default_paths()), progress=_progress if progress else None)


def _restart_hint() -> None:
    """Tell a running engine to reload its plugins (it does when no run is active)."""
    from engine.service.ipc import EngineUnavailable

    try:
        from engine.client import EngineClient

        with EngineClient.connect(timeout=2.0) as client:
            done = client.call("plugins.reload")
    except EngineUnavailable:
        return      # no engine: the next one to start loads the change
    except Exception as exc:  # noqa: BLE001 - the change is made; only the reload failed
        print(f"note: the running engine did not reload its plugins ({exc}); restart it", file=sys.stderr)
        return
    if done.get("reloaded"):
        print("the running engine reloaded its plugins", file=sys.stderr)
    else:
        print(f"note: the running engine has not loaded this change yet: {done.get('reason')}", file=sys.stderr)


def _progress(done: int, total: int) -> None:
    if not sys.stderr.isatty():
        return
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} bytes")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def cmd_list(args: argparse.Namespace) -> int:
    from engine.catalog.manager import PluginManager
    from engine.paths import default_paths
    from engine.plugins import load_registry

    paths = default_paths()
    registry = load_registry([paths.plugins])
    registry.load_deferred()
    kept = {i.name: i.previous for i in PluginManager(paths).installed()}
    for p in registry.plugins:
        kind = "built-in" if p.builtin else "installed"
        earlier = f"; kept: {', '.join(kept[p.name])}" if kept.get(p.name) else ""
        if p.error:
            status = "failed" if p.builtin else "quarantined"
            print(f"✗ {p.name} {p.version} ({kind}, {status}{earlier}, {p.path}): {p.error}")
        else:
            provided = "; ".join(f"{k}: {', '.join(v)}" for k, v in p.provides.items() if v)
            print(f"✓ {p.name} {p.version} ({kind}{earlier}) — {provided}")
    return EXIT_FAILED if registry.errors else EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    found = _manager().search(args.text)
    for entry in sorted(found, key=lambda e: e.name):
        versions = ", ".join(sorted(entry.releases, key=version_key))
        print(f"{entry.name} {entry.latest().version} — {entry.description} (publisher: {entry.publisher}; "
              f"versions: {versions})")
    if not found:
        print(f"no catalog plugin matches '{args.text}'", file=sys.stderr)
    return EXIT_OK


def cmd_install(args: argparse.Namespace) -> int:
    name, _, version = args.spec.partition("==")
    release = _manager(progress=True).install(name.strip(), version.strip() or None)
    print(f"installed {release.name} {release.version}")
    _restart_hint()
    return EXIT_OK


def cmd_update(args: argparse.Namespace) -> int:
    done = _manager(progress=True).update(args.name)
    for name, old, new in done:
        print(f"updated {name} {old} → {new}")
    if not done:
        print("everything is up to date")
    else:
        _restart_hint()
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    _manager().remove(args.name)
    print(f"removed {args.name}")
    _restart_hint()
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    version = _manager().rollback(args.name)
    print(f"rolled back {args.name} to {version}")
    _restart_hint()
    return EXIT_OK
