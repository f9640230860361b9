"""The one entry point of the desktop bundle: both ``dagflux`` (the CLI) and ``dagflux-app``.

The bundle holds a single frozen executable, ``dagflux``, and ``dagflux-app`` beside it as a
symbolic link to it; the name it was started under picks the program. Guarantees:

* ``multiprocessing.freeze_support()`` runs first, before anything else is imported: in a
  frozen program the engine's forkserver and resource tracker are started as
  ``<executable> -c "from multiprocessing… import main; main(…)"``, and PyInstaller's
  ``freeze_support`` runs those and exits, so the worker pool works from the bundle.
* ``<executable> -m engine.cli ARGS`` and ``<executable> -m app ARGS`` behave like
  ``python -m …``: the engine and the app start the background engine as
  ``[sys.executable, "-m", "engine.cli", "engine", …]`` and that must keep working when
  ``sys.executable`` is the bundle; so must ``-m engine.catalog.smoke`` (the plugin manager
  smoke-tests a new plugin version in a fresh process). Any other module is refused (exit 2).
* The CLI path never imports Kivy (``engine.cli`` does not).
"""

from __future__ import annotations

import multiprocessing
import os
import sys

APP_NAMES = ("dagflux-app",)
MODULES = ("engine.cli", "engine.catalog.smoke", "app", "app.main")


def run_cli(argv: list[str]) -> int:
    from engine.cli import main

    return main(argv)


def run_app(argv: list[str]) -> int:
    from app.main import main

    return main(argv)


def run_module(name: str, argv: list[str]) -> int:
    """``-m NAME ARGS`` for the modules this bundle can run."""
    if name == "engine.cli":
        return run_cli(argv)
    if name in ("app", "app.main"):
        return run_app(argv)
    if name == "engine.catalog.smoke":  # the plugin manager's smoke test of a new plugin version
        from engine.catalog.smoke import main as smoke

        return smoke(argv)
    print(f"dagflux bundle: cannot run module '{name}' (only {', '.join(MODULES)})", file=sys.stderr)
    return 2


def program_name() -> str:
    """The name this executable was started under (``dagflux-app`` or ``dagflux``)."""
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "dagflux"


def main() -> int:
    multiprocessing.freeze_support()
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "-m":
        return run_module(args[1], args[2:])
    if program_name() in APP_NAMES:
        return run_app(args)
    return run_cli(args)


if __name__ == "__main__":
    sys.exit(main())
