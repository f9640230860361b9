"""A proposal shown as a diff against the node's current code (SQL, Python, a condition, or a
REST fetch spec as JSON): removed lines red, added lines green, in a monospace label."""

from __future__ import annotations

import difflib
import json
from typing import Any

from kivy.metrics import dp, sp
from kivy.uix.label import Label
from kivy.utils import escape_markup, get_hex_from_color

MONO = "RobotoMono-Regular"
MAX_LINES = 200


def code_text(code: Any) -> str:
    """A node's operation as text: a fetch spec (dict) as indented JSON, None as ''."""
    if code is None:
        return ""
    if isinstance(code, (dict, list)):
        return json.dumps(code, indent=1, sort_keys=True, ensure_ascii=False)
    return str(code).strip()


def diff_lines(current: Any, proposed: Any) -> list[tuple[str, str]]:
    """``[(kind, line)]`` with kind ``-`` (only in the current code), ``+`` (only in the
    proposal) or `` `` (in both); the whole proposal as ``+`` when there is no code yet."""
    old, new = code_text(current).splitlines(), code_text(proposed).splitlines()
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "equal":
            out += [(" ", line) for line in old[i1:i2]]
            continue
        out += [("-", line) for line in old[i1:i2]]
        out += [("+", line) for line in new[j1:j2]]
    return out


class DiffView(Label):
    """The diff as markup; colours follow the theme (``set_colours``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(markup=True, font_name=MONO, font_size=sp(12), halign="left", valign="top",
                         size_hint_y=None, padding=(dp(8), dp(6)), **kwargs)
        self.bind(width=lambda *_: setattr(self, "text_size", (self.width, None)),
                  texture_size=lambda *_: setattr(self, "height", self.texture_size[1]))
        self.lines: list[tuple[str, str]] = []
        self._colours = {"-": (0.8, 0.2, 0.2, 1), "+": (0.15, 0.55, 0.2, 1), " ": (0.4, 0.4, 0.4, 1)}

    def set_colours(self, removed: Any, added: Any, same: Any) -> None:
        self._colours = {"-": tuple(removed), "+": tuple(added), " ": tuple(same)}
        self._render()

    def show(self, current: Any, proposed: Any) -> None:
        self.lines = diff_lines(current, proposed)
        self._render()

    def clear(self) -> None:
        self.lines = []
        self._render()

    @property
    def added(self) -> list[str]:
        return [line for tag, line in self.lines if tag == "+"]

    @property
    def removed(self) -> list[str]:
        return [line for tag, line in self.lines if tag == "-"]

    def _render(self) -> None:
        shown = self.lines[:MAX_LINES]
        rows = [f"[color={get_hex_from_color(self._colours[tag])}]{tag} {escape_markup(line) or ' '}[/color]"
                for tag, line in shown]
        if len(self.lines) > MAX_LINES:
            rows.append(f"… {len(self.lines) - MAX_LINES} more lines")
        self.text = "\n".join(rows)
