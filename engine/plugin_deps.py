"""Where a catalog plugin's own dependencies are imported from.

A plugin's pinned dependencies are wheels unpacked into its ``deps/`` folder
(:mod:`engine.catalog.wheels`). pluginbase only maps ``engine.plugin_space.*`` imports, so a
plugin module's ``import tinydep`` goes through the normal import system; this finder, at the
**end** of ``sys.meta_path``, looks for such a top-level module in the ``deps/`` folders of the
plugins loaded so far. Being last, it never shadows DagFlux's own environment or the standard
library: a name found there is imported from there (the manager refuses to install a plugin
pinning a different version of a distribution DagFlux already has).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from pathlib import Path
from typing import Any


class _DepsFinder(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.folders: list[str] = []
        self._lock = threading.Lock()

    def add(self, folder: Path) -> None:
        with self._lock:
            if str(folder) not in self.folders:
                self.folders.append(str(folder))

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if path is not None or not self.folders:     # a submodule: found through its package's __path__
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, list(self.folders))


_finder = _DepsFinder()


def add_deps_folder(folder: Path) -> None:
    """Make the modules in ``folder`` importable (after everything else) from now on."""
    if _finder not in sys.meta_path:
        sys.meta_path.append(_finder)
    _finder.add(folder)
