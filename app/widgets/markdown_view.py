"""Markdown as Kivy widgets: headings, paragraphs, lists, pipe tables, fenced code with Copy.

:class:`MarkdownView` shows one text (:mod:`app.widgets.markdown_parse` reads it into
blocks). :meth:`MarkdownView.show` keeps every leading block that is unchanged and builds
only from the first one that differs, so a reply streaming token by token rebuilds only
its last block; ``built`` counts the blocks ever built (tests and the benchmark read it).
"""

from __future__ import annotations

from typing import Any

from kivy.core.clipboard import Clipboard
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from app.kvload import load_kv
from app.widgets.markdown_parse import Block, inline_markup, parse_blocks

HEADING_SP = {1: 22, 2: 19, 3: 17, 4: 15, 5: 14, 6: 14}


class MdText(Label):
    pass


class MdCell(Label):
    header = BooleanProperty(False)


class MdTable(GridLayout):
    pass


class MdCode(BoxLayout):
    language = StringProperty("")
    code = StringProperty("")
    copied = BooleanProperty(False)

    def copy(self) -> None:
        Clipboard.copy(self.code)
        self.copied = True


class MarkdownView(BoxLayout):
    text = StringProperty("")
    built = NumericProperty(0)

    def __init__(self, **kwargs: Any) -> None:
        self._blocks: list[Block] = []
        super().__init__(**kwargs)

    def on_text(self, _view: Any, text: str) -> None:
        self.show(text)

    def show(self, text: str) -> None:
        blocks = parse_blocks(text)
        keep = 0
        while keep < min(len(blocks), len(self._blocks)) and blocks[keep] == self._blocks[keep]:
            keep += 1
        children = list(reversed(self.children))   # in display order
        for widget in children[keep:]:
            self.remove_widget(widget)
        for block in blocks[keep:]:
            self.add_widget(build_block(block))
            self.built += 1
        self._blocks = blocks

    def codes(self) -> list[MdCode]:
        return [w for w in reversed(self.children) if isinstance(w, MdCode)]


def build_block(block: Block) -> Widget:
    kind = block[0]
    if kind == "heading":
        return MdText(text=f"[b]{inline_markup(block[2])}[/b]", font_size=f"{HEADING_SP[block[1]]}sp")
    if kind == "paragraph":
        return MdText(text=inline_markup(block[1]))
    if kind == "list":
        lines = [f"{marker}  {inline_markup(body)}" for marker, body in block[2]]
        return MdText(text="\n".join(lines), padding=("12dp", 0, 0, 0))
    if kind == "code":
        return MdCode(language=block[1], code=block[2])
    if kind == "table":
        return _table(block[1], block[2])
    return _rule()


def _table(header: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> MdTable:
    table = MdTable(cols=max(1, len(header)))
    for cell in header:
        table.add_widget(MdCell(text=f"[b]{inline_markup(cell)}[/b]", header=True))
    for row in rows:
        for cell in row:
            table.add_widget(MdCell(text=inline_markup(cell)))
    return table


def _rule() -> Widget:
    from kivy.factory import Factory

    return Factory.MdRule()


load_kv(__file__)
