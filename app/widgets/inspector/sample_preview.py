"""The preview area of the node panels: a spinner line for a call in flight
(:class:`BusyLine`), a few rows under their column names and types (:class:`PreviewTable`),
and both together with the reply's note and how its inputs were obtained
(:class:`SamplePreview`). Their kv rules are in ``fields.kv``, which
:mod:`app.widgets.inspector.fields` loads (it imports these classes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kivy.metrics import dp
from kivy.properties import BooleanProperty, ListProperty, StringProperty
from kivy.uix.label import Label
from kivy.uix.scrollview import ScrollView
from kivymd.uix.boxlayout import MDBoxLayout
from kivymd.uix.gridlayout import MDGridLayout

CELL_MAX_CHARS = 60
PREVIEW_CELL_CHARS = 28


def shown(value: Any, limit: int = CELL_MAX_CHARS) -> str:
    """A table cell as text: NULL shown as such, bytes as their size, long text cut."""
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    text = str(value).replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 1] + "…"


class BusyLine(MDBoxLayout):
    """A spinner while ``busy``; ``text`` is a status line, red when ``failed``."""

    busy = BooleanProperty(False)
    text = StringProperty("")
    failed = BooleanProperty(False)

    def start(self, text: str) -> None:
        self.busy, self.failed, self.text = True, False, text

    def done(self, text: str = "") -> None:
        self.busy, self.failed, self.text = False, False, text

    def fail(self, text: str) -> None:
        self.busy, self.failed, self.text = False, True, text


class PreviewTable(ScrollView):
    """A few rows under a header of column names and types; scrolls sideways."""

    columns = ListProperty([])
    rows = ListProperty([])

    def show(self, reply: Mapping[str, Any]) -> None:
        types = dict((name, kind) for name, kind in reply.get("types") or [])
        self.columns = [(name, types.get(name, "")) for name in reply.get("columns") or []]
        self.rows = [list(r) for r in reply.get("rows") or []]
        self._build()

    def clear(self) -> None:
        self.columns, self.rows = [], []
        self._build()

    def _build(self) -> None:
        grid: MDGridLayout = self.ids.grid
        grid.clear_widgets()
        grid.cols = max(1, len(self.columns))
        headers = [PreviewHeader(text=shown(name, PREVIEW_CELL_CHARS), kind=str(kind or "—"))
                   for name, kind in self.columns]
        cells = [[PreviewCell(text=shown(v, PREVIEW_CELL_CHARS), null=v is None) for v in row] for row in self.rows]
        for index, header in enumerate(headers):
            column = [row[index] for row in cells if index < len(row)]
            width = max([header.natural_width(), *(natural_width(cell) for cell in column)])
            for widget in (header, *column):
                widget.width = width
        for widget in headers + [cell for row in cells for cell in row]:
            grid.add_widget(widget)

    def cell_texts(self) -> list[list[str]]:
        """The rows as shown (for tests and accessibility)."""
        return [[shown(v, PREVIEW_CELL_CHARS) for v in row] for row in self.rows]


class SamplePreview(MDBoxLayout):
    """A preview area: a spinner line while a call runs, then a :class:`PreviewTable` and a note."""

    note = StringProperty("")
    provenance = StringProperty("")
    """How the inputs were obtained ("Input: computed from a 1,000-row sample of Orders (CSV)")."""

    def start(self, text: str) -> None:
        self.ids.busy.start(text)

    def show(self, reply: Mapping[str, Any], total_text: str = "{:,} rows in all") -> None:
        total = reply.get("total")
        self.ids.busy.done(total_text.format(total) if isinstance(total, int) else "")
        self.ids.table.show(reply)
        self.note = str(reply.get("note") or "")
        self.provenance = str(reply.get("provenance") or "")

    def fail(self, message: str) -> None:
        self.ids.busy.fail(message)
        self.ids.table.clear()
        self.note = self.provenance = ""

    def reset(self, text: str = "") -> None:
        self.ids.busy.done(text)
        self.ids.table.clear()
        self.note = self.provenance = ""

    @property
    def busy(self) -> bool:
        return self.ids.busy.busy

    @property
    def table(self) -> PreviewTable:
        return self.ids.table

    @property
    def status(self) -> str:
        return self.ids.busy.text


def natural_width(label: Label) -> float:
    """The width ``label`` needs for its text on one line, plus its padding."""
    label.text_size = (None, None)
    label.texture_update()
    width = label.texture_size[0]
    label.text_size = label.size     # back to the kv binding's value: aligned in its box
    return max(dp(56), width + dp(16))


class PreviewHeader(MDBoxLayout):
    text = StringProperty("")
    kind = StringProperty("")

    def natural_width(self) -> float:
        return max(natural_width(self.ids.name), natural_width(self.ids.kind))


class PreviewCell(Label):
    null = BooleanProperty(False)
