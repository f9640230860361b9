"""An AI analysis Output's answer after a run, rendered: what tapping such a node shows.

The ``ai_analysis`` Output keeps one row per run in its output table (``prompt``,
``answer``, ``model``, ``path``, ``generated_at``: :mod:`engine.ai.analysis`); the viewer
reads it with ``tables.page`` (off the main thread, through the bridge) and shows the
answer's Markdown as Kivy markup: headings, bullet and numbered lists, bold and italic,
inline code and fenced code blocks in a monospace font, table rows as monospace lines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kivy.metrics import dp, sp
from kivy.uix.modalview import ModalView
from kivy.uix.scrollview import ScrollView
from kivy.utils import escape_markup, get_hex_from_color
from kivymd.app import MDApp
from kivymd.uix.boxlayout import MDBoxLayout
from kivymd.uix.button import MDIconButton
from kivymd.uix.label import MDLabel

MONO = "RobotoMono-Regular"
HEADING_SIZES = {1: 22, 2: 19, 3: 17}
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![*\w])[*_](?![*\s])(.+?)(?<![*\s])[*_](?![*\w])")
_CODE = re.compile(r"`([^`]+)`")
_NUMBERED = re.compile(r"^(\s*)(\d+)[.)]\s+(.*)$")


def _inline(text: str, code_colour: str) -> str:
    """One line's inline Markdown as markup (the text escaped first)."""
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"[font={MONO}][color={code_colour}]{escape_markup(part[1:-1])}[/color][/font]")
            continue
        piece = escape_markup(part)
        piece = _BOLD.sub(r"[b]\1[/b]", piece)
        piece = _ITALIC.sub(r"[i]\1[/i]", piece)
        out.append(piece)
    return "".join(out)


def markdown_markup(text: str, code_colour: str = "#7f5f9f") -> str:
    """``text`` (Markdown) as Kivy markup."""
    lines, out, fenced = text.replace("\r\n", "\n").split("\n"), [], False
    for line in lines:
        if line.strip().startswith("```"):
            fenced = not fenced
            continue
        if fenced or line.lstrip().startswith("|"):
            out.append(f"[font={MONO}][color={code_colour}]{escape_markup(line) or ' '}[/color][/font]")
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        if heading:
            size = HEADING_SIZES.get(len(heading.group(1)), 15)
            out.append(f"[size={int(sp(size))}][b]{_inline(heading.group(2), code_colour)}[/b][/size]")
            continue
        bullet = re.match(r"^(\s*)[-*+]\s+(.*)$", line)
        if bullet:
            out.append(f"{'    ' * (len(bullet.group(1)) // 2)}  •  {_inline(bullet.group(2), code_colour)}")
            continue
        numbered = _NUMBERED.match(line)
        if numbered:
            out.append(f"{'    ' * (len(numbered.group(1)) // 2)}  {numbered.group(2)}.  "
                       f"{_inline(numbered.group(3), code_colour)}")
            continue
        out.append(_inline(line, code_colour))
    return "\n".join(out)


class AnalysisViewer(ModalView):
    def __init__(self, title: str, **kwargs: Any) -> None:
        super().__init__(size_hint=(0.8, 0.85), background_color=(0, 0, 0, 0), overlay_color=(0, 0, 0, 0.45),
                         **kwargs)
        theme = MDApp.get_running_app().theme_cls
        box = MDBoxLayout(orientation="vertical", padding=dp(16), spacing=dp(8), radius=[dp(16)],
                          md_bg_color=theme.surfaceContainerColor)
        head = MDBoxLayout(size_hint_y=None, height=dp(48))
        self.title_label = MDLabel(text=title, font_style="Title", role="medium", shorten=True)
        close = MDIconButton(icon="close", pos_hint={"center_y": .5})
        close.bind(on_release=lambda *_: self.dismiss())
        head.add_widget(self.title_label)
        head.add_widget(close)
        self.meta = MDLabel(font_style="Body", role="small", adaptive_height=True, theme_text_color="Custom",
                            text_color=theme.onSurfaceVariantColor)
        self.answer = MDLabel(markup=True, adaptive_height=True, font_style="Body", role="large")
        scroll = ScrollView(do_scroll_x=False)
        scroll.add_widget(self.answer)
        for widget in (head, self.meta, scroll):
            box.add_widget(widget)
        self.add_widget(box)
        self.answer.text = "Reading the answer…"
        self.source = ""

    def show(self, page: Mapping[str, Any]) -> None:
        columns = list(page.get("columns") or [])
        rows = page.get("rows") or []
        if not rows or "answer" not in columns:
            self.fail("This node has no answer yet: run the workflow")
            return
        row = dict(zip(columns, rows[0]))
        self.source = str(row.get("answer") or "")
        bits = [f"Asked: {row.get('prompt')}"]
        if row.get("model"):
            bits.append(f"Model: {row['model']}")
        if row.get("path"):
            bits.append(f"Written to {row['path']}")
        if row.get("generated_at"):
            bits.append(str(row["generated_at"]))
        self.meta.text = "\n".join(bits)
        colour = get_hex_from_color(MDApp.get_running_app().theme_cls.tertiaryColor)
        self.answer.text = markdown_markup(self.source, colour)

    def fail(self, message: str) -> None:
        self.answer.text = escape_markup(message)


def open_analysis(bridge: Any, title: str, table: str, connection: str | None = None) -> AnalysisViewer:
    viewer = AnalysisViewer(title)
    viewer.open()
    bridge.call("tables.page", on_result=viewer.show, on_error=viewer.fail, table=table, connection=connection,
                limit=1, order_by="generated_at", descending=True)
    return viewer
