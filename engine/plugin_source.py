"""A pluginbase plugin source whose clean-up is safe while other threads import.

pluginbase removes a collected source's modules from ``sys.modules`` by iterating
``list(sys.modules.items())``. Building that list allocates a tuple per module, so a
garbage collection can start in the middle of it; a finaliser run by that collection
(or another thread it lets in) that imports a module then changes ``sys.modules`` and the
clean-up fails with "dictionary changed size during iteration" — raised from ``__del__``,
where nobody can catch it, and the source's modules stay behind. Here the module names are
taken from ``sys.modules.copy()``, which copies in one step without running Python code.
"""

from __future__ import annotations

import sys
from typing import Any

import pluginbase


class PluginSource(pluginbase.PluginSource):
    """pluginbase's source, with :meth:`cleanup` (also run when it is collected) made safe."""

    def __del__(self) -> None:
        if not self.persist:
            self.cleanup()

    def cleanup(self) -> None:
        release(self)


def release(source: Any) -> None:
    """Drop the source's package and every module loaded under it (idempotent)."""
    mod = source.mod
    if mod is None or mod.__name__ is None:
        return
    name = mod.__name__
    mod.__pluginbase_state__ = None
    source.mod = None
    try:
        delattr(pluginbase._internalspace, source.spaceid)
    except AttributeError:
        pass
    sys.modules.pop(name, None)
    prefix = name + "."
    for key in [k for k in sys.modules.copy() if k.startswith(prefix)]:
        module = sys.modules.pop(key, None)
        if module is not None:
            _clear_globals(module)


def _clear_globals(module: Any) -> None:
    # As pluginbase does: a collected plugin's functions must not keep running on stale state.
    for key in sorted(vars(module), key=lambda k: k.startswith("_")):
        setattr(module, key, None)
