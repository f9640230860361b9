"""The conversation: a recycled list of messages, where a streaming reply changes only itself.

:class:`ConversationView` is a RecycleView: only the rows on screen exist, whatever the
session's length. Each row (:class:`MessageRow`) renders its message's Markdown once and
again only when it is given a different message or text. A streaming token goes through
:meth:`ConversationView.stream`, which updates the last message's data in place and the
one row showing it (if any) directly — no data-change notification, so no other row is
touched; the row's new height only moves the layout. Rendered messages are kept per key
(a bounded cache), so a row recycled back to a message reuses its widgets. ``renders`` counts, per message key,
how often a row (re)built a message: tests check that streaming never grows another
message's count.
"""

from __future__ import annotations

import collections
import datetime
from typing import Any

from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.recycleview import RecycleView
from kivy.uix.recycleview.views import RecycleDataViewBehavior

from app.kvload import load_kv
from app.widgets.markdown_view import MarkdownView

BODY_CACHE = 60


def message_data(msg: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    """One row's data from a saved message (``chats.messages``) or one being streamed."""
    return {"key": key or str(msg.get("id") or ""), "role": str(msg.get("role") or "assistant"),
            "text": str(msg.get("content") or ""), "meta": meta_text(msg),
            "error": str(msg.get("error") or "") if msg.get("status") == "failed" else ""}


def meta_text(msg: dict[str, Any]) -> str:
    """"You · 09:41" or "model · 7 in / 3 out tokens · 0.8 s · cancelled"."""
    parts = ["You" if msg.get("role") == "user" else (msg.get("model") or msg.get("provider") or "Assistant")]
    if msg.get("at"):
        parts.append(datetime.datetime.fromtimestamp(float(msg["at"])).strftime("%H:%M"))
    if msg.get("role") == "assistant" and (msg.get("tokens_in") is not None or msg.get("tokens_out") is not None):
        parts.append(f"{int(msg.get('tokens_in') or 0)} in / {int(msg.get('tokens_out') or 0)} out tokens")
    if msg.get("duration_ms"):
        parts.append(f"{float(msg['duration_ms']) / 1000:.1f} s")
    if msg.get("status") in ("cancelled", "failed"):
        parts.append(str(msg["status"]))
    return " · ".join(str(p) for p in parts)


class MessageRow(RecycleDataViewBehavior, BoxLayout):
    key = StringProperty("")
    role = StringProperty("assistant")
    meta = StringProperty("")
    error = StringProperty("")
    streaming = BooleanProperty(False)
    index = NumericProperty(-1)

    def __init__(self, **kwargs: Any) -> None:
        self._shown: tuple[str, str] | None = None
        super().__init__(**kwargs)

    def refresh_view_attrs(self, rv: ConversationView, index: int, data: dict[str, Any]) -> None:
        self.index = index
        self.key, self.role, self.meta = data["key"], data["role"], data["meta"]
        self.error, self.streaming = data.get("error", ""), bool(data.get("streaming"))
        self.show_text(rv, data["text"])

    def show_text(self, rv: ConversationView, text: str) -> None:
        if self._shown == (self.key, text):
            return
        self._shown = (self.key, text)
        body = rv.body_for(self.key, text)
        holder = self.ids.holder
        if body.parent is not holder:
            if body.parent is not None:
                body.parent.remove_widget(body)
            holder.clear_widgets()
            holder.add_widget(body)


class ConversationView(RecycleView):
    def __init__(self, **kwargs: Any) -> None:
        self.renders: collections.Counter[str] = collections.Counter()
        self._bodies: collections.OrderedDict[str, MarkdownView] = collections.OrderedDict()
        super().__init__(**kwargs)

    def body_for(self, key: str, text: str) -> MarkdownView:
        """The rendered message ``key``, kept for the rows that scroll back to it (the most
        recent ``BODY_CACHE`` of them): a recycled row takes it as it is, laid out, instead of
        building it again; its Markdown is rebuilt (only from the first changed block) when
        the text changed."""
        body = self._bodies.pop(key, None)
        if body is None:
            body = MarkdownView()
        self._bodies[key] = body
        while len(self._bodies) > BODY_CACHE:
            self._bodies.popitem(last=False)
        if body.text != text:
            self.renders[key] += 1
            body.text = text
        return body

    def show_messages(self, messages: list[dict[str, Any]]) -> None:
        self._bodies.clear()
        self.data = [message_data(m) for m in messages]
        self.scroll_y = 0

    def add(self, row: dict[str, Any]) -> None:
        self.data.append(row)
        self.scroll_y = 0

    def stream(self, text: str) -> None:
        """The last message's text is now ``text``: update it and nothing else."""
        if not self.data:
            return
        last = len(self.data) - 1
        self.data[last]["text"] = text          # in place: no data event, no other row refreshed
        view = self.view_adapter.get_visible_view(last)
        if view is not None:
            view.show_text(self, text)

    def replace_last(self, row: dict[str, Any]) -> None:
        """The streamed message ended: its final data (meta, tokens, status)."""
        if self.data:
            self.data[-1] = row


load_kv(__file__)
