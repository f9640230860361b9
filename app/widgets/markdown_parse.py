"""A small Markdown reader for assistant replies: text → a list of blocks, inline → Kivy markup.

Blocks (each a plain tuple, so two parses of the same text compare equal and a view can
rebuild only the blocks that changed while a reply streams):

* ``("heading", level, text)`` — ``#`` … ``######``;
* ``("paragraph", text)`` — consecutive lines joined;
* ``("list", ordered, ((marker, text), …))`` — ``-``/``*``/``+`` or ``1.`` items;
* ``("code", language, code)`` — fenced with ``````` or ``~~~`` (an unclosed fence, as in a
  reply still streaming, runs to the end);
* ``("table", header, rows)`` — a pipe table with its ``---`` separator line;
* ``("rule",)`` — ``---`` on its own.

:func:`inline_markup` turns ``**bold**``, ``*italic*``/``_italic_``, ```code``` and
``[text](url)`` into Kivy label markup, escaping everything else, so a reply can never
inject markup of its own. Pure Python: no Kivy.
"""

from __future__ import annotations

import re

Block = tuple

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+-]*)\s*$")
_BULLET = re.compile(r"^\s*([-*+])\s+(.*)$")
_ORDERED = re.compile(r"^\s*(\d{1,9})[.)]\s+(.*)$")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$")
_INLINE = re.compile(r"(`[^`]+`)|(\*\*[^*]+\*\*|__[^_]+__)|(\*[^*\s][^*]*\*|_[^_\s][^_]*_)|(\[[^\]]+\]\([^)\s]+\))")
MONO_FONT = "RobotoMono-Regular"


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("[", "&bl;").replace("]", "&br;")


def inline_markup(text: str) -> str:
    """Kivy markup for one line or paragraph of Markdown inline syntax."""
    out, pos = [], 0
    for match in _INLINE.finditer(text):
        out.append(escape(text[pos:match.start()]))
        code, bold, italic, link = match.groups()
        if code:
            out.append(f"[font={MONO_FONT}]{escape(code[1:-1])}[/font]")
        elif bold:
            out.append(f"[b]{inline_markup(bold[2:-2])}[/b]")
        elif italic:
            out.append(f"[i]{inline_markup(italic[1:-1])}[/i]")
        else:
            label = link[1:link.index("](")]
            out.append(f"[u]{escape(label)}[/u]")
        pos = match.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def _cells(line: str) -> tuple[str, ...]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    return tuple(c.strip() for c in line.split("|"))


def parse_blocks(text: str) -> list[Block]:
    lines = text.replace("\r\n", "\n").split("\n")
    blocks: list[Block] = []
    para: list[str] = []
    items: list[tuple[str, str]] = []
    ordered = False

    def flush() -> None:
        nonlocal items
        if para:
            blocks.append(("paragraph", " ".join(p.strip() for p in para)))
            para.clear()
        if items:
            blocks.append(("list", ordered, tuple(items)))
            items = []

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush()
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip().startswith(fence.group(1))),
                       len(lines))
            blocks.append(("code", fence.group(2), "\n".join(lines[i + 1:end])))
            i = end + 1
            continue
        if not line.strip():
            flush()
        elif (heading := _HEADING.match(line)):
            flush()
            blocks.append(("heading", len(heading.group(1)), heading.group(2)))
        elif "|" in line and i + 1 < len(lines) and _TABLE_SEP.match(lines[i + 1]) and "-" in lines[i + 1]:
            flush()
            header = _cells(line)
            rows, i = [], i + 2
            while i < len(lines) and "|" in lines[i] and lines[i].strip():
                row = _cells(lines[i])
                rows.append(tuple((row + ("",) * len(header))[:len(header)]))
                i += 1
            blocks.append(("table", header, tuple(rows)))
            continue
        elif _RULE.match(line) and not para:
            flush()
            blocks.append(("rule",))
        elif (item := _BULLET.match(line) or _ORDERED.match(line)):
            is_ordered = item.re is _ORDERED
            if para or (items and is_ordered != ordered):
                flush()
            ordered = is_ordered
            items.append((f"{item.group(1)}." if is_ordered else "•", item.group(2)))
        elif items and line.startswith((" ", "\t")):
            marker, body = items[-1]
            items[-1] = (marker, f"{body} {line.strip()}")
        else:
            if items:
                flush()
            para.append(line)
        i += 1
    flush()
    return blocks
