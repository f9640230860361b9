"""Dismissed overlays and dropped previews are freed (app.widgets.release).

Kivy's Builder kept every dialog the app ever showed: a kv rule that watches
``root.ids.…`` leaves the ``ids`` dictionary, which holds its widget, in Builder's
module-level table until that widget is collected — which it then never is. Each dismissed
dialog kept its shadow and ripple framebuffers, about 8 MiB. Menus, notifications and modal
viewers are checked beside it."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

import pytest

from tests.app.kivyrun import pump, wait_until


def _overlays(app: Any, tmp_path: Path) -> dict[str, Any]:
    """One of each overlay kind the app shows, open."""
    from kivymd.uix.dialog import MDDialogHeadlineText

    from app.widgets.dialog import AppDialog
    from app.widgets.inspector.path_picker import PathPicker
    from app.widgets.menu import AppMenu
    from app.widgets.snackbar import show_notification
    from app.widgets.table_view import open_output_viewer

    shown: dict[str, Any] = {}
    shown["dialog"] = AppDialog(MDDialogHeadlineText(text="Remove it?"))
    shown["dialog"].open()
    caller = app.root.ids.rail
    shown["menu"] = AppMenu(caller=caller, items=[{"text": "One"}, {"text": "Two"}], position="bottom")
    shown["menu"].open()
    shown["viewer"] = open_output_viewer(app.bridge, "Orders", "no_such_table")
    shown["picker"] = PathPicker(tmp_path)
    shown["picker"].open()
    shown["notification"] = show_notification("Saved", 0.2, left=0)
    return shown


def _show_and_dismiss(app: Any, tmp_path: Path) -> dict[str, weakref.ref]:
    """Show one overlay of each kind, dismiss them, wait until they have left the window;
    weak references to them."""
    from kivy.core.window import Window

    shown = _overlays(app, tmp_path)
    wait_until(lambda: all(w.parent is Window for w in shown.values()), 15, "every overlay on screen")
    pump(5)
    for name in ("dialog", "menu", "viewer", "picker"):
        shown[name].dismiss()
    refs = {name: weakref.ref(w) for name, w in shown.items()}
    dialog = shown["dialog"]
    shown.clear()
    # each leaves the window once its closing animation ends (the notification when its time is up)
    wait_until(lambda: all(r() is None or r().parent is None for r in refs.values()), 15,
               "every overlay to leave the window")
    with pytest.raises(RuntimeError, match="dismissed and released: open a new one"):
        dialog.open()
    return refs


def test_dismissed_dialogs_menus_viewers_and_notifications_are_freed(app: Any, tmp_path: Path) -> None:
    first = _show_and_dismiss(app, tmp_path)
    # Kivy's @triggered TextInput._adjust_viewport keeps the last text box that scrolled (one,
    # whichever it is) until the next one does: the second round's picker takes that place.
    _show_and_dismiss(app, tmp_path)
    pump(3)
    gc.collect()
    assert {name for name, r in first.items() if r() is not None} == set()


def test_an_overlay_that_is_still_open_keeps_working(app: Any) -> None:
    """Leaving the window without a dismiss (the app closing under it) releases nothing."""
    from kivy.core.window import Window
    from kivymd.uix.dialog import MDDialogHeadlineText

    from app.widgets.dialog import AppDialog

    dialog = AppDialog(MDDialogHeadlineText(text="Still here"))
    dialog.open()
    wait_until(lambda: dialog.parent is Window, 15, "the dialog")
    Window.remove_widget(dialog)
    assert not dialog.released
    Window.add_widget(dialog)
    dialog.dismiss()
    wait_until(lambda: dialog.parent is None, 15, "the dialog to close")
    assert dialog.released


def test_a_sample_preview_the_inspector_drops_is_freed(app: Any) -> None:
    """The inspector builds a preview per selected node: a rule of it watched
    ``self.ids.grid.height``, which kept every preview ever shown (and its panel)."""
    from app.widgets.inspector.fields import SamplePreview

    preview = SamplePreview()
    preview.show({"columns": ["id", "amount"], "types": [["id", "INTEGER"], ["amount", "REAL"]],
                  "rows": [[1, 2.5], [2, 3.5]], "total": 2})
    app.root.add_widget(preview)
    pump(3)
    assert preview.ids.table.height > 0 and preview.ids.table.opacity == 1
    app.root.remove_widget(preview)
    ref = weakref.ref(preview)
    del preview
    # KivyMD's labels animate their colour for a moment; a running Animation holds its widget
    wait_until(lambda: gc.collect() >= 0 and ref() is None, 15, "the dropped preview to be freed")


def test_no_kv_rule_of_the_app_watches_a_path_through_ids() -> None:
    """``x: self.ids.a.b`` keeps its widget alive for good (app.widgets.release); use the id
    (``a.b``) in the rule that declares it. Event handlers (``on_…:``) are not watched."""
    import re

    from tests.app.kivyrun import REPO

    watched = re.compile(r"^\s*(?!on_)[a-z_][a-z0-9_]*\s*:.*\bids\.[a-z_][a-z0-9_]*\.", re.IGNORECASE)
    found = [f"{path.relative_to(REPO)}:{n}: {line.strip()}"
             for path in sorted((REPO / "app").rglob("*.kv"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if watched.match(line)]
    assert found == []


def test_a_theme_change_frees_dropped_widgets_first_and_none_dies_during_it(app: Any) -> None:
    # A dropped widget keeps its kv bindings until the collector frees it: a theme change
    # reaches its colour rules, and a collection in the middle of one (any allocation can start
    # it) killed the widget half-way — ReferenceError out of theme_cls.theme_style (1 run in 6
    # of test_inspector's findings test). The change now runs with the dropped ones freed first
    # and the collector held off.
    from kivymd.uix.boxlayout import MDBoxLayout
    from kivymd.uix.label import MDLabel

    assert not gc.isenabled()                       # the app collects between frames (app.collector)
    box = MDBoxLayout()
    box.add_widget(MDLabel(text="dropped"))         # a cycle: only the collector frees it
    dropped = weakref.ref(box.children[0])
    del box
    seen = []

    def during(*_args: Any) -> None:
        seen.append((gc.isenabled(), dropped() is None))

    app.theme_cls.bind(theme_style=during)
    try:
        app.apply_theme("dark")
        app.apply_theme("light")
    finally:
        app.theme_cls.unbind(theme_style=during)
    assert seen == [(False, True), (False, True)]
    assert not gc.isenabled()                       # as it was
