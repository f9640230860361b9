"""A paged viewer for one table — a node's output in the workspace or in a connection.

:class:`TableView` asks the engine for one page at a time (``tables.page``: columns,
declared types, rows, total) and shows it under a header of column names and types, in a
:class:`~kivy.uix.recycleview.RecycleView` that scrolls both ways (the header follows it
sideways), with Previous / Next and "rows a–b of N". Only one page is held; a reply to an
older request is dropped, so quick paging never shows a page out of order.

:func:`open_output_viewer` opens it in a modal sheet: the Editor calls it when a node's
output is opened after a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kivy.clock import Clock
from kivy.metrics import dp, sp
from kivy.properties import (
    BooleanProperty,
    ColorProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.modalview import ModalView
from kivy.uix.recycleview.views import RecycleDataViewBehavior
from kivymd.uix.boxlayout import MDBoxLayout

from app.kvload import load_kv
from app.widgets.inspector.fields import shown

load_kv(__file__)

PAGE_SIZE = 100
MIN_COLUMN_DP, MAX_COLUMN_DP = 96, 320   # room for the name and the sort arrow
NUMERIC = ("INT", "REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")
SEARCH_DELAY_S = 0.4


def is_numeric(kind: str) -> bool:
    return any(part in kind.upper() for part in NUMERIC)


def inferred_type(values: list[Any]) -> str:
    """What a column without a declared type (a computed one) holds, from the page's values."""
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool | int):
            return "INTEGER"
        if isinstance(value, float):
            return "REAL"
        return "TEXT"
    return ""
CHAR_DP = 6.9       # average advance of a 13sp Roboto character, in dp


def column_width(texts: list[str]) -> float:
    """A column wide enough for its longest text (within bounds), in pixels."""
    longest = max((len(t) for t in texts), default=0)
    return dp(max(MIN_COLUMN_DP, min(MAX_COLUMN_DP, longest * CHAR_DP * sp(1) / dp(1) + 24)))


def range_text(offset: int, count: int, total: int) -> str:
    if total == 0:
        return "no rows"
    return f"rows {offset + 1:,}–{offset + count:,} of {total:,}"


class TableCell(Label):
    text_color = ColorProperty((0, 0, 0, 1))
    null_color = ColorProperty((0.4, 0.4, 0.4, 1))


class TableRow(RecycleDataViewBehavior, BoxLayout):
    """One row: a cell per column, built for the column count it is given."""

    index = NumericProperty(0)

    def refresh_view_attrs(self, rv: Any, index: int, data: Mapping[str, Any]) -> None:
        self.index = index
        cells, widths, nulls, aligns = data["cells"], data["widths"], data["nulls"], data["aligns"]
        if len(self.children) != len(cells):
            self.clear_widgets()
            for _ in cells:
                self.add_widget(TableCell())
        for widget, text, width, null, align in zip(reversed(self.children), cells, widths, nulls, aligns):
            widget.text, widget.width, widget.italic, widget.halign = text, width, null, align
        super().refresh_view_attrs(rv, index, {})


class HeaderCell(ButtonBehavior, BoxLayout):
    """A column's name and type; a tap sorts by it (again: the other way, a third time: off)."""

    name = StringProperty("")
    kind = StringProperty("")
    sort = StringProperty("")   # "", "asc" or "desc"
    align = StringProperty("left")   # right over a numeric column, like its cells
    view: Any = None

    def on_release(self) -> None:
        if self.view is not None:
            self.view.sort_by(self.name)


class TableView(MDBoxLayout):
    """``TableView(bridge=…, table=…, connection=None)``; call :meth:`load` to fetch page 1."""

    bridge = ObjectProperty(None, allownone=True)
    table = StringProperty("")
    connection = ObjectProperty(None, allownone=True)
    page_size = NumericProperty(PAGE_SIZE)
    offset = NumericProperty(0)
    total = NumericProperty(-1)
    shown_rows = NumericProperty(0)
    loading = BooleanProperty(False)
    error = StringProperty("")
    status = StringProperty("")
    columns = ListProperty([])          # [(name, type), …]
    content_width = NumericProperty(0)
    order_by = StringProperty("")       # the column rows are sorted by ("": the table's order)
    descending = BooleanProperty(False)
    search = StringProperty("")         # only rows with this text in some column

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._request = 0
        self._widths: list[float] = []
        self._search_ev = Clock.create_trigger(lambda _dt: self.load(0), SEARCH_DELAY_S)

    # --- sorting and filtering -------------------------------------------------------------
    def sort_by(self, column: str) -> None:
        """Ascending, then descending, then the table's own order again."""
        if self.order_by != column:
            self.order_by, self.descending = column, False
        elif not self.descending:
            self.descending = True
        else:
            self.order_by, self.descending = "", False
        self.load(0)

    def filter_typed(self, text: str) -> None:
        """The filter field changed: fetch the matching rows a short pause after typing."""
        self.search = text.strip()
        self._search_ev()

    # --- paging ------------------------------------------------------------------------------
    @property
    def has_next(self) -> bool:
        return self.total >= 0 and self.offset + self.page_size < self.total

    @property
    def has_previous(self) -> bool:
        return self.offset > 0

    def load(self, offset: int = 0) -> None:
        if self.bridge is None:
            self.error = "Not connected to the engine"
            return
        self._request += 1
        number = self._request
        self.loading, self.error = True, ""
        self.bridge.call("tables.page", on_result=lambda page: self._loaded(number, offset, page),
                         on_error=lambda message: self._failed(number, message), table=self.table,
                         connection=self.connection, offset=offset, limit=int(self.page_size),
                         order_by=self.order_by or None, descending=self.descending, search=self.search or None)

    def next_page(self) -> None:
        if self.has_next and not self.loading:
            self.load(self.offset + int(self.page_size))

    def previous_page(self) -> None:
        if self.has_previous and not self.loading:
            self.load(max(0, self.offset - int(self.page_size)))

    # --- replies -----------------------------------------------------------------------------
    def _loaded(self, number: int, offset: int, page: Mapping[str, Any]) -> None:
        if number != self._request:
            return
        types = dict((name, kind) for name, kind in page.get("types") or [])
        rows = page.get("rows") or []
        columns = [(name, types.get(name, "") or _computed(rows, i))
                   for i, name in enumerate(page.get("columns") or [])]
        cells = [[shown(v) for v in row] for row in rows]
        if columns != self.columns:
            self.columns, self._widths = columns, []
        self._widths = self._fit_widths(columns, cells)
        self.content_width = sum(self._widths)
        self._build_header()
        aligns = ["right" if is_numeric(kind) else "left" for _name, kind in columns]
        self.ids.rv.data = [{"cells": row, "widths": self._widths, "nulls": [v is None for v in raw], "aligns": aligns}
                            for row, raw in zip(cells, rows)]
        self.ids.rv.scroll_y = 1
        self.offset, self.total, self.shown_rows = offset, int(page.get("total", len(rows))), len(rows)
        self.loading = False
        self.status = range_text(self.offset, self.shown_rows, self.total)

    def _failed(self, number: int, message: str) -> None:
        if number == self._request:
            self.loading, self.error = False, message

    def _fit_widths(self, columns: list[tuple[str, str]], cells: list[list[str]]) -> list[float]:
        widths = []
        for index, (name, kind) in enumerate(columns):
            fitted = column_width([name, kind, *(row[index] for row in cells if index < len(row))])
            previous = self._widths[index] if index < len(self._widths) else 0
            widths.append(max(fitted, previous))      # columns never shrink while paging
        return widths

    def _build_header(self) -> None:
        header = self.ids.header
        header.clear_widgets()
        for (name, kind), width in zip(self.columns, self._widths):
            cell = HeaderCell(name=str(name), kind=str(kind or "—"), width=width,
                              sort=("desc" if self.descending else "asc") if name == self.order_by else "",
                              align="right" if is_numeric(str(kind)) else "left")
            cell.view = self
            header.add_widget(cell)

    def visible_rows(self) -> list[list[str]]:
        """The rows of the current page as shown (for tests and accessibility)."""
        return [list(item["cells"]) for item in self.ids.rv.data]


def _computed(rows: list[Any], index: int) -> str:
    kind = inferred_type([row[index] for row in rows if index < len(row)])
    return f"{kind} (computed)" if kind else ""


class OutputViewer(ModalView):
    title = StringProperty("")
    subtitle = StringProperty("")


def open_output_viewer(bridge: Any, title: str, table: str, connection: str | None = None,
                       connection_name: str | None = None) -> OutputViewer:
    """Show ``table`` (in the workspace, or in ``connection``) in a modal viewer; the title
    says where it lives (the connection's name, or "workspace")."""
    place = connection_name or connection
    where = f"table '{table}' in connection '{place}'" if connection else f"workspace table '{table}'"
    viewer = OutputViewer(title=f"{title or table} · {place if connection else 'workspace'}", subtitle=where)
    view = viewer.ids.view
    view.bridge, view.table, view.connection = bridge, table, connection
    viewer.open()
    view.load(0)
    return viewer
