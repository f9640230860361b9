"""A small file/folder picker in a modal sheet, for the path fields of the node forms.

It lists one folder at a time (folders first, then files; hidden entries left out; an
optional extension filter), opens a folder on tap and picks a file on tap; "Use this
folder" picks the folder shown. ``on_pick(path)`` is dispatched with an absolute path and
the picker closes. Listing happens on the main thread but only one folder at a time, with
a cap on entries, so a huge folder cannot freeze the UI for long.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kivy.properties import BooleanProperty, ListProperty, OptionProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.modalview import ModalView
from kivymd.uix.boxlayout import MDBoxLayout

from app.kvload import load_kv

load_kv(__file__)

MAX_ENTRIES = 2000


class PickerEntry(ButtonBehavior, MDBoxLayout):
    name = StringProperty("")
    is_dir = BooleanProperty(False)
    picker = None


class PathPicker(ModalView):
    """``PathPicker(start, mode="file"|"folder"|"any", title=…, extensions=[".csv", …])``."""

    current = StringProperty("")
    mode = OptionProperty("file", options=("file", "folder", "any"))
    title = StringProperty("Choose a file")
    message = StringProperty("")
    extensions = ListProperty([])

    __events__ = ("on_pick",)

    def __init__(self, start: Path | str, mode: str = "file", title: str = "Choose a file",
                 extensions: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(size_hint=(None, None), **kwargs)
        self.mode, self.title = mode, title
        self.extensions = [e.lower() for e in extensions]
        start = Path(start).expanduser()
        while not start.is_dir() and start != start.parent:
            start = start.parent
        self.go(start)

    def go(self, folder: Path | str) -> None:
        folder = Path(folder)
        try:
            with os.scandir(folder) as it:
                entries = [(e.name, e.is_dir()) for _, e in zip(range(MAX_ENTRIES), it)
                           if not e.name.startswith(".")]
        except OSError as exc:
            self.message = f"Cannot open {folder}: {exc.strerror or exc}"
            return
        self.current, self.message = str(folder), ""
        entries = [(n, d) for n, d in entries if d or not self.extensions
                   or Path(n).suffix.lower() in self.extensions]
        entries.sort(key=lambda e: (not e[1], e[0].lower()))
        self.ids.list.data = [{"name": n, "is_dir": d, "picker": self} for n, d in entries]
        self.ids.list.scroll_y = 1
        if not entries:
            self.message = "This folder is empty"

    def up(self) -> None:
        parent = Path(self.current).parent
        if str(parent) != self.current:
            self.go(parent)

    def entry_tapped(self, name: str, is_dir: bool) -> None:
        path = Path(self.current) / name
        if is_dir:
            self.go(path)
        elif self.mode in ("file", "any"):
            self.pick(path)

    def use_folder(self) -> None:
        self.pick(Path(self.current))

    def pick(self, path: Path | str) -> None:
        self.dispatch("on_pick", str(path))
        self.dismiss()

    def on_pick(self, path: str) -> None:
        pass
