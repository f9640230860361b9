"""The smoke test a new plugin version passes before it is switched on.

:func:`smoke_test` runs ``python -m engine.catalog.smoke ROOT NAME`` in a fresh process
(the plugin's import-time code never runs in the caller; the desktop bundle's launcher runs
this module too): it loads the built-ins and
the one plugin folder under ``ROOT`` exactly as the engine would — manifest, API version,
name clashes, every entry imported (deferred ones too) — and prints one JSON line
``{"ok": bool, "error": str | null, "provides": {...}}``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engine.catalog import CatalogError

TIMEOUT = 120.0


def smoke_test(root: Path, name: str, timeout: float = TIMEOUT) -> dict:
    import engine

    src = str(Path(engine.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])))
    try:
        done = subprocess.run([sys.executable, "-m", "engine.catalog.smoke", str(root), name], env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CatalogError(f"plugin '{name}': loading it took more than {timeout:g} s "
                           "— nothing was installed") from None
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        raise CatalogError(f"plugin '{name}': the smoke test crashed ({tail[0]}) — nothing was installed") from None
    if not result.get("ok"):
        raise CatalogError(f"plugin '{name}' failed its smoke test: {result.get('error')} — nothing was installed")
    return result


def _run(root: Path, name: str) -> dict:
    from engine.plugins import load_registry

    registry = load_registry([root])
    # Import the new plugin's deferred entries only: the built-ins' drivers (database, AI
    # clients) are not needed to check it, and their names are known from their manifests.
    registry._deferred = [d for d in registry._deferred if not d[0].builtin]
    registry.load_deferred()
    mine = [p for p in registry.plugins if not p.builtin]
    if len(mine) != 1:
        return {"ok": False, "error": f"expected one plugin folder, found {len(mine)}", "provides": {}}
    info = mine[0]
    if not info.error and info.name != name:
        info.error = f"the manifest names '{info.name}', the catalog '{name}'"
    if not info.error:
        info.error = _clash(registry.plugins, info)
    return {"ok": info.error is None, "error": info.error, "provides": info.provides}


def _clash(plugins: list, info: object) -> str | None:
    """A name the new plugin provides that a built-in provides too (connection types and AI
    providers share one namespace)."""
    def space(kind: str) -> str:
        return "connection" if kind in ("connectors", "ai_providers") else kind

    taken = {(space(kind), n) for p in plugins if p.builtin for kind, names in p.provides.items() for n in names}
    for kind, names in info.provides.items():
        for n in names:
            if (space(kind), n) in taken:
                return f"{kind[:-1].replace('_', ' ')} '{n}' is already provided by a built-in plugin"
    return None


def main(argv: list[str]) -> int:
    print(json.dumps(_run(Path(argv[0]), argv[1])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
