"""The file/folder picker of the node forms' path fields, in a modal sheet.

What a person needs from a picker (issue 15):

* **Where it starts**: the folder of the path already chosen when that is a real folder
  outside the data directory; else the last folder used (remembered in the app settings);
  else the home folder. Never inside the data directory — that is DagFlux's own storage,
  hidden from the user.
* **A path box**: type or paste a path and press Enter — a folder opens, a file is picked
  (in "any" mode a new file name in an existing folder is picked too, for outputs); a
  relative path is taken from the folder shown; ``~`` is the home folder.
* **Shortcuts**: Home, the workflow's folder (when it has one outside the data directory)
  and the recent folders.
* **Rows of 48 dp**, and the mouse wheel scrolls by whole rows.
* **A filter by the node's formats** (e.g. "CSV, JSON, Excel files"), which one tap turns
  off to show every file.

``on_pick(path)`` is dispatched with an absolute path and the picker closes; the folder
it was picked in becomes the first recent folder. Listing is one folder at a time with a
cap on entries, so a huge folder cannot freeze the UI for long.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.metrics import dp
from kivy.properties import BooleanProperty, ListProperty, OptionProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.modalview import ModalView
from kivymd.uix.boxlayout import MDBoxLayout

from app.kvload import load_kv

load_kv(__file__)

MAX_ENTRIES = 2000
ROW_DP = 48
RECENT_MAX = 5


class PickerEntry(ButtonBehavior, MDBoxLayout):
    name = StringProperty("")
    is_dir = BooleanProperty(False)
    picker = None


class PickerShortcut(ButtonBehavior, MDBoxLayout):
    text = StringProperty("")
    icon = StringProperty("folder")
    path = StringProperty("")
    picker = None


def inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        path.resolve().relative_to(Path(folder).resolve())
    except ValueError:
        return False
    return True


def _settings() -> Any:
    return getattr(App.get_running_app(), "settings_store", None)


def recent_folders(data_dir: Path | None = None) -> list[Path]:
    """The folders files were last picked in (newest first), existing and outside ``data_dir``."""
    store = _settings()
    listed = store.get("recent_folders") if store is not None else []
    out = [Path(p) for p in listed or [] if isinstance(p, str)]
    return [p for p in out if p.is_dir() and not inside(p, data_dir)]


def remember_folder(folder: Path) -> None:
    store = _settings()
    if store is None:
        return
    listed = [str(folder)] + [p for p in store.get("recent_folders") or [] if p != str(folder)]
    store.set("recent_folders", listed[:RECENT_MAX])


def start_folder(preferred: Path | str | None, data_dir: Path | None) -> Path:
    """Where a picker opens: ``preferred`` (or its nearest existing parent) when outside the
    data dir, else the last folder used, else home."""
    if preferred:
        folder = Path(preferred).expanduser()
        while not folder.is_dir() and folder != folder.parent:
            folder = folder.parent
        if folder.is_dir() and folder != Path(folder.anchor) and not inside(folder, data_dir):
            return folder
    recent = recent_folders(data_dir)
    return recent[0] if recent else Path.home()


class PathPicker(ModalView):
    """``PathPicker(start, mode="file"|"folder"|"any", title=…, extensions=[".csv", …],
    formats="CSV, JSON", data_dir=…, workflow_dir=…)``."""

    current = StringProperty("")
    mode = OptionProperty("file", options=("file", "folder", "any"))
    title = StringProperty("Choose a file")
    message = StringProperty("")
    extensions = ListProperty([])
    formats = StringProperty("")          # what the filter shows, e.g. "CSV, JSON, Excel"
    filtering = BooleanProperty(True)     # the extension filter is on
    shortcuts = ListProperty([])          # (label, icon, path)

    __events__ = ("on_pick",)

    def __init__(self, start: Path | str | None, mode: str = "file", title: str = "Choose a file",
                 extensions: Sequence[str] = (), formats: str = "", data_dir: Path | None = None,
                 workflow_dir: Path | None = None, **kwargs: Any) -> None:
        super().__init__(size_hint=(None, None), **kwargs)
        self.mode, self.title = mode, title
        self.extensions = [e.lower() for e in extensions]
        self.formats = formats or ", ".join(e.lstrip(".").upper() for e in self.extensions)
        self.data_dir = data_dir
        self.ids.list.scroll_wheel_distance = dp(ROW_DP)  # one notch: one whole row
        self._build_shortcuts(workflow_dir)
        self.go(start_folder(start, data_dir))

    def _build_shortcuts(self, workflow_dir: Path | None) -> None:
        found = [("Home", "home-outline", Path.home())]
        if workflow_dir is not None and Path(workflow_dir).is_dir() and not inside(Path(workflow_dir), self.data_dir):
            found.append(("Workflow's folder", "file-tree-outline", Path(workflow_dir)))
        found += [(p.name or str(p), "history", p) for p in recent_folders(self.data_dir)]
        seen: set[str] = set()
        self.shortcuts = [(t, i, str(p)) for t, i, p in found if not (str(p) in seen or seen.add(str(p)))]
        box = self.ids.shortcuts
        box.clear_widgets()
        for text, icon, path in self.shortcuts:
            chip = PickerShortcut(text=text, icon=icon, path=path)
            chip.picker = self
            box.add_widget(chip)

    # --- moving around ---------------------------------------------------------------------
    def go(self, folder: Path | str) -> bool:
        folder = Path(folder).expanduser()
        try:
            with os.scandir(folder) as it:
                entries = [(e.name, e.is_dir()) for _, e in zip(range(MAX_ENTRIES), it)
                           if not e.name.startswith(".")]
        except OSError as exc:
            self.message = f"Cannot open {folder}: {exc.strerror or exc}"
            return False
        self.current, self.message = str(folder), ""
        self.ids.path_box.text = str(folder)
        self._entries = entries
        self._show()
        return True

    def _show(self) -> None:
        entries = [(n, d) for n, d in self._entries if d or not self.extensions or not self.filtering
                   or Path(n).suffix.lower() in self.extensions]
        entries.sort(key=lambda e: (not e[1], e[0].lower()))
        self.ids.list.data = [{"name": n, "is_dir": d, "picker": self} for n, d in entries]
        self.ids.list.scroll_y = 1
        hidden = len(self._entries) - len(entries)
        if not entries:
            self.message = "Nothing here" + (f" ({hidden} other file(s) hidden by the filter)" if hidden else "")
        elif hidden:
            self.message = f"{hidden} other file(s) hidden by the filter"
        else:
            self.message = ""

    def toggle_filter(self) -> None:
        self.filtering = not self.filtering
        self._show()

    def up(self) -> None:
        parent = Path(self.current).parent
        if str(parent) != self.current:
            self.go(parent)

    def path_typed(self, text: str) -> None:
        """Enter in the path box: open a folder, pick a file (or a new file's name in "any")."""
        text = text.strip()
        if not text:
            return
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = Path(self.current) / path
        if path.is_dir():
            self.go(path)
        elif path.is_file() and self.mode in ("file", "any"):
            self.pick(path)
        elif self.mode == "any" and path.parent.is_dir():
            self.pick(path)
        else:
            self.message = f"There is no {'folder' if self.mode == 'folder' else 'file or folder'} {path}"

    def entry_tapped(self, name: str, is_dir: bool) -> None:
        path = Path(self.current) / name
        if is_dir:
            self.go(path)
        elif self.mode in ("file", "any"):
            self.pick(path)

    def use_folder(self) -> None:
        self.pick(Path(self.current))

    def pick(self, path: Path | str) -> None:
        path = Path(path)
        remember_folder(path if path.is_dir() else path.parent)
        self.dispatch("on_pick", str(path))
        self.dismiss()

    def on_pick(self, path: str) -> None:
        pass
