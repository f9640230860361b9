"""Let go of the kv bindings of a widget tree that is thrown away, so it can be freed.

Kivy's Builder keeps every kv rule's bindings in a module-level table keyed by widget uid
and forgets them only when that widget is garbage collected. A rule that watches a path
through ``ids`` (``root.ids.headline_container.children`` in KivyMD's dialog) keeps the
``ids`` dictionary in that table, and the dictionary holds its widget strongly: the table
keeps the whole tree alive, forever. Measured: every dialog opened and dismissed stayed in
memory with its six shadow and ripple framebuffers (about 8 MiB each time).

:func:`release` drops those bindings for a tree the app is done with; :class:`ReleasedWhenGone`
does it for an overlay once it has been dismissed and has left the window (the app's dialogs;
its menus, notifications and modal viewers have no such rule and are freed as they are). A
released overlay cannot be shown again: make a new one.

:func:`no_widget_dies` is the other half of that life cycle: a widget the app has let go of
keeps its kv bindings until the garbage collector frees it, so a change that reaches every
widget (the theme) still evaluates its rules; if the collector runs in the middle of one of
them (any allocation can start it), the widget dies half-way and the rule raises
``ReferenceError`` out of the property being set. Seen: switching the theme raised it from
KivyMD's label colour rule. While the app runs, :mod:`app.collector` keeps the collector out
of every event; this guard also holds where that is not running (widgets built outside the
app) and spares the theme change the dropped widgets' rules.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def release(widget: Any) -> None:
    """Unbind the kv rules of ``widget`` and of every widget under it."""
    from kivy.lang import Builder

    for each in list(widget.walk(restrict=True)):
        Builder.unbind_widget(each.uid)


class ReleasedWhenGone:
    """Mixin (before the Kivy class): the subclass defines ``closing``, true once it has been
    dismissed (as for :class:`app.widgets.closing.LetsGoWhenClosing`), so that leaving the
    window then releases it."""

    closing: bool
    released = False

    def on_parent(self, instance: Any, parent: Any) -> None:
        inherited = getattr(super(), "on_parent", None)
        if inherited is not None:
            inherited(instance, parent)
        if parent is None and self.closing and not self.released:
            self.released = True
            release(self)
            scrim = getattr(self, "_scrim", None)      # a dialog's dimmed backdrop
            if scrim is not None:
                release(scrim)

    def open(self, *args: Any, **kwargs: Any) -> None:
        if self.released:
            raise RuntimeError(f"{type(self).__name__} was dismissed and released: open a new one")
        super().open(*args, **kwargs)  # type: ignore[misc]


@contextmanager
def no_widget_dies() -> Iterator[None]:
    """Free the widgets already let go of (with their kv bindings), then keep the garbage
    collector from running until the block ends: no rule can lose its widget half-way through a
    change that fans out to every widget. The collector's previous state is restored."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
