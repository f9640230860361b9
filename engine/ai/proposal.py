"""Reading a model's reply as a structured proposal: code + mode + one-paragraph explanation.

The assistant asks for one JSON object ``{"mode": …, "code": …, "explanation": …}``; models
do not always comply, so :func:`parse_reply` accepts, in this order:

1. a JSON object — bare, or in a fenced block — with ``code`` (a fetch spec may be an
   object) and optionally ``mode`` and ``explanation``; ``{"mode": "question", "question": …}``
   is a clarifying question;
2. fenced code blocks: the first one with code is the code (its language tag, when it is
   ``sql``/``python``/``json``, picks the mode), the prose around it the explanation;
3. a bare SELECT/WITH statement (SQL kinds only).

Anything else is :class:`ProposalUnreadable`, which the assistant feeds back to the model
like any other failure. The explanation is cut to its first paragraph (at most
:data:`EXPLANATION_MAX` characters).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from engine.errors import DagfluxError

MODES = ("sql", "python", "condition", "rest", "question")
EXPLANATION_MAX = 600
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.S)
_SQL_START = re.compile(r"^\s*(SELECT|WITH)\b", re.I)


class ProposalUnreadable(DagfluxError):
    """The reply holds no proposal the assistant can use."""


@dataclass
class Proposal:
    mode: str
    code: Any                 # text; a dict for a REST fetch spec
    explanation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_reply(text: str, default_mode: str) -> Proposal:
    """The proposal in ``text``; ``default_mode`` when the reply does not say (see the module doc)."""
    if not text.strip():
        raise ProposalUnreadable("the reply was empty")
    found = _from_json(text, default_mode)
    if found is None:
        found = _from_fences(text, default_mode)
    if found is None and default_mode in ("sql", "condition") and _SQL_START.match(text):
        found = Proposal("sql" if default_mode == "sql" else default_mode, text.strip(), "")
    if found is None:
        raise ProposalUnreadable("the reply has no JSON object with \"code\" and no fenced code block: "
                                 + _short(text))
    return _checked(found, default_mode)


def _checked(p: Proposal, default_mode: str) -> Proposal:
    if p.mode not in MODES:
        raise ProposalUnreadable(f"the reply's mode {p.mode!r} is not one of {', '.join(MODES)}")
    if p.mode == "rest" and isinstance(p.code, str):
        try:
            p.code = json.loads(p.code)
        except ValueError:
            raise ProposalUnreadable("a REST proposal's code must be a JSON object (the fetch spec)") from None
    if p.mode == "rest" and not isinstance(p.code, dict):
        raise ProposalUnreadable("a REST proposal's code must be a JSON object (the fetch spec)")
    if p.mode != "rest" and not isinstance(p.code, str):
        raise ProposalUnreadable("the proposal's code must be text")
    if p.mode != "rest":
        p.code = p.code.strip()
        if p.mode == "condition":
            p.code = p.code.rstrip(";").strip()
    if not p.code:
        raise ProposalUnreadable(p.explanation and "the reply asked nothing and proposed no code"
                                 or "the proposal's code is empty")
    p.explanation = _paragraph(p.explanation)
    return p


def _from_json(text: str, default_mode: str) -> Proposal | None:
    candidates = [body for tag, body in _FENCE.findall(text) if tag.lower() in ("json", "")]
    candidates += _objects(text)
    for candidate in candidates:
        try:
            doc = json.loads(candidate)
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        mode = str(doc.get("mode") or default_mode).lower()
        if mode == "question" or ("question" in doc and "code" not in doc):
            question = str(doc.get("question") or doc.get("explanation") or "").strip()
            if question:
                return Proposal("question", question, question)
        if "code" in doc:
            return Proposal(mode, doc["code"], str(doc.get("explanation") or ""))
    return None


def _objects(text: str) -> list[str]:
    """Every top-level ``{…}`` span (brace-balanced, strings respected), outermost first."""
    spans, depth, start, in_str, escape = [], 0, -1, False, False
    for i, ch in enumerate(text):
        if in_str:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"' and depth:
            in_str = True
        elif ch == "{":
            start = i if depth == 0 else start
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                spans.append(text[start:i + 1])
    return spans


def _from_fences(text: str, default_mode: str) -> Proposal | None:
    for tag, body in _FENCE.findall(text):
        if not body.strip():
            continue
        tag = tag.lower()
        mode = {"sql": "condition" if default_mode == "condition" else "sql", "python": "python", "py": "python",
                "json": "rest"}.get(tag, default_mode)
        prose = _FENCE.sub("", text).strip()
        return Proposal(mode, body, prose)
    return None


def _paragraph(text: str) -> str:
    first = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0]
    one_line = " ".join(first.split())
    return one_line if len(one_line) <= EXPLANATION_MAX else one_line[:EXPLANATION_MAX - 1] + "…"


def _short(text: str, limit: int = 160) -> str:
    one_line = " ".join(text.split())
    return repr(one_line if len(one_line) <= limit else one_line[:limit] + " …")
