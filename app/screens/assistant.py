"""The Assistant screen: chat sessions with an AI provider, and workflows built from a request.

Left, the sessions (``chats.list``, a recycled list: newest first, each with its provider/model and the time
of its last message; new, search, and — for the open one — rename and delete). Right, the
open session's conversation (:mod:`app.screens.assistant_chat`, a recycled list), the
provider/model picker (a per-session choice: the next message uses it and the history is
kept, whichever model wrote it), tokens per message and for the session, and the message
box with Send — or Stop while a reply streams. "Build a workflow" switches the right side
to :mod:`app.screens.assistant_build`.

Every engine call goes through the bridge; a reply streams as ``AiDelta`` events for our
call id (events that arrive before ``chats.send`` has answered are kept and replayed) and
ends with one ``AiCallFinished``. Deltas are folded into one update per frame. No provider
key ever reaches this process: the engine resolves it in a worker.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.metrics import dp
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.recycleview.views import RecycleDataViewBehavior
from kivymd.uix.boxlayout import MDBoxLayout
from kivymd.uix.screen import MDScreen

from app.kvload import load_kv
from app.screens.assistant_build import BuildPanel  # noqa: F401  (used by assistant.kv)
from app.screens.assistant_chat import ConversationView, message_data
from app.widgets.menu import AppMenu
from engine.messages import Message
from engine.messages_ai import AiCallFinished, AiDelta


def when_text(at: float | None, now: float | None = None) -> str:
    """"14:02" today, "Mon 14:02" this week, else "2026-11-30"."""
    if not at:
        return ""
    moment, today = datetime.datetime.fromtimestamp(float(at)), datetime.datetime.fromtimestamp(now or time.time())
    if moment.date() == today.date():
        return moment.strftime("%H:%M")
    if (today - moment).days < 7:
        return moment.strftime("%a %H:%M")
    return moment.strftime("%Y-%m-%d")


def session_matches(session: dict[str, Any], query: str) -> bool:
    words = query.lower().split()
    hay = " ".join(str(session.get(k) or "") for k in ("title", "connection", "model")).lower()
    return all(w in hay for w in words)


class SessionRow(RecycleDataViewBehavior, MDBoxLayout):
    """One session in the recycled sessions list (only the rows on screen exist)."""

    session_id = StringProperty("")
    title = StringProperty("")
    subtitle = StringProperty("")
    when = StringProperty("")
    selected = BooleanProperty(False)

    def on_touch_down(self, touch: Any) -> bool:
        if self.collide_point(*touch.pos):
            App.get_running_app().screen("assistant").open_session(self.session_id)
            return True
        return super().on_touch_down(touch)


class AssistantScreen(MDScreen):
    sessions = ListProperty([])
    ai_connections = ListProperty([])        # [{id, name, type, settings}] of AI providers
    query = StringProperty("")
    session_id = StringProperty("")
    session_title = StringProperty("")
    connection = StringProperty("")          # the picker's provider connection
    model = StringProperty("")
    provider_text = StringProperty("No provider")
    session_tokens = StringProperty("")
    streaming = BooleanProperty(False)
    sending = BooleanProperty(False)
    loaded = BooleanProperty(False)          # the connections list has answered once
    mode = StringProperty("chat")            # chat | build
    renaming = BooleanProperty(False)
    confirm_delete = BooleanProperty(False)
    error_text = StringProperty("")
    draft = StringProperty("")               # the message box's text
    can_send = BooleanProperty(False)
    tokens_in = NumericProperty(0)
    tokens_out = NumericProperty(0)
    models = ListProperty([])                # the picked connection's models (connections.objects)
    models_note = StringProperty("")         # why there is no list: type a model name instead

    def __init__(self, **kwargs: Any) -> None:
        load_kv(__file__)
        super().__init__(**kwargs)
        self.call_id = ""
        self._early: list[Message] = []
        self._stream_text = ""
        self._stream_key = ""
        self._flush = Clock.create_trigger(self._flush_stream, 0)
        self._menu: AppMenu | None = None
        self._models: dict[str, list[str]] = {}    # connection id → its models, once listed
        self._stop_listening = self.app.bridge.listen(self._event)
        self.app.bridge.bind(state=self._engine_state)
        for name in ("streaming", "sending", "connection", "draft"):
            self.fbind(name, self._update_can_send)

    def _update_can_send(self, *_args: Any) -> None:
        self.can_send = not (self.streaming or self.sending) and bool(self.connection) and bool(self.draft.strip())

    @property
    def app(self):
        return App.get_running_app()

    @property
    def conversation(self) -> ConversationView:
        return self.ids.conversation

    def on_enter(self, *args: Any) -> None:
        self.refresh()
        self.ids.build.refresh_targets()     # a workflow may have been opened in the editor meanwhile

    def on_mode(self, _screen: Any, mode: str) -> None:
        self.ids.modes.current = mode

    def on_app_stop(self) -> None:
        self._stop_listening()

    def _engine_state(self, _bridge: Any, state: str) -> None:
        if state == "connected" and self.app.current_screen == self.name:
            self.refresh()

    # --- lists -----------------------------------------------------------------------------
    def refresh(self) -> None:
        bridge = self.app.bridge
        if not bridge.connected:
            return
        bridge.call("connections.list", on_result=self._got_connections, on_error=self._failed)
        bridge.call("chats.list", on_result=self._got_sessions, on_error=self._failed)

    def _failed(self, message: str) -> None:
        self.error_text = message

    def _got_connections(self, connections: list[dict[str, Any]]) -> None:
        kinds = set(self.app.registry.ai_providers)
        self.ai_connections = [c for c in connections if c.get("type") in kinds]
        self.loaded = True
        if self.ai_connections and self.connection not in {c["id"] for c in self.ai_connections}:
            self.pick_connection(self.ai_connections[0]["id"])

    def _got_sessions(self, sessions: list[dict[str, Any]]) -> None:
        self.sessions = [s for s in sessions if not s.get("error")]
        mine = next((s for s in self.sessions if s["id"] == self.session_id), None)
        if mine is not None and not self.renaming:
            self.session_title = mine.get("title") or ""

    def on_sessions(self, *_args: Any) -> None:
        self._render_sessions()

    def on_query(self, *_args: Any) -> None:
        self._render_sessions()

    def on_session_id(self, *_args: Any) -> None:
        self._render_sessions()

    def _render_sessions(self) -> None:
        types = {c["id"]: c.get("type", "") for c in self.ai_connections}
        rows = []
        for s in (s for s in self.sessions if session_matches(s, self.query)):
            provider = " · ".join(p for p in (types.get(s.get("connection"), s.get("connection")), s.get("model")) if p)
            rows.append({"session_id": s["id"], "title": s.get("title") or "New chat",
                         "subtitle": provider or "no provider yet", "when": when_text(s.get("updated_at")),
                         "selected": s["id"] == self.session_id})
        self.ids.sessions_list.data = rows

    # --- provider / model ------------------------------------------------------------------
    def open_provider_menu(self, caller: Any) -> None:
        def chosen(conn_id: str) -> None:
            if self._menu is not None:
                self._menu.dismiss()
                self._menu = None
            self.pick_connection(conn_id)

        items = [{"text": f"{c.get('name') or c['id']} ({c.get('type')})",
                  "leading_icon": "check" if c["id"] == self.connection else "blank",
                  "on_release": lambda cid=c["id"]: chosen(cid)} for c in self.ai_connections]
        self._menu = AppMenu(caller=caller, items=items, position="bottom", width=dp(300))
        self._menu.open()

    def pick_connection(self, conn_id: str, model: str | None = None) -> None:
        """Use this provider (and model; default: the connection's own) for the next message."""
        conn = next((c for c in self.ai_connections if c["id"] == conn_id), None)
        self.connection = conn_id
        self.model = model if model is not None else str((conn or {}).get("settings", {}).get("model") or "")
        self.provider_text = f"{conn.get('name') or conn['id']} ({conn.get('type')})" if conn else "Choose a provider"
        self._load_models(conn_id)

    def _load_models(self, conn_id: str) -> None:
        """The provider's model list (as the Connections form gets it after a good test) for the
        Model picker; when it cannot be read, the field stays free text and says why."""
        self.models, self.models_note = self._models.get(conn_id, []), ""
        if not conn_id or conn_id in self._models or not self.app.bridge.connected:
            return
        self.models_note = "Reading the provider's models…"

        def listed(models: list) -> None:
            self._models[conn_id] = [str(m) for m in models]
            if self.connection == conn_id:
                self.models = self._models[conn_id]
                self.models_note = "" if self.models else "The provider lists no models: type a model name"

        def failed(message: str) -> None:
            if self.connection == conn_id:
                self.models, self.models_note = [], f"No model list ({message}): type a model name"

        self.app.bridge.call("connections.objects", id=conn_id, timeout=60, on_result=listed, on_error=failed)

    def open_model_menu(self, caller: Any) -> None:
        def chosen(model: str) -> None:
            if self._menu is not None:
                self._menu.dismiss()
                self._menu = None
            self.model = model

        items = [{"text": m, "leading_icon": "check" if m == self.model else "blank",
                  "on_release": lambda m=m: chosen(m)} for m in self.models]
        if items:
            self._menu = AppMenu(caller=caller, items=items, position="bottom", width=dp(300))
            self._menu.open()


    # --- sessions ------------------------------------------------------------------------
    def new_session(self) -> None:
        self._open({"id": "", "title": "", "messages": []})
        self.mode = "chat"

    def open_session(self, session_id: str) -> None:
        if self.streaming:
            self.app.notify("A reply is still streaming: stop it first")
            return
        self.app.bridge.call("chats.messages", on_result=self._open, on_error=self._failed, id=session_id)

    def _open(self, doc: dict[str, Any]) -> None:
        self.session_id, self.session_title = doc["id"], doc.get("title") or ""
        self.renaming = self.confirm_delete = False
        self.error_text = ""
        if doc.get("connection") and doc["connection"] in {c["id"] for c in self.ai_connections}:
            self.pick_connection(doc["connection"], doc.get("model") or None)
        self.conversation.show_messages(doc.get("messages", []))
        self._count_tokens(doc.get("messages", []))
        self.mode = "chat"

    def _count_tokens(self, messages: list[dict[str, Any]]) -> None:
        replies = [m for m in messages if m.get("role") == "assistant"]
        self.tokens_in = sum(int(m.get("tokens_in") or 0) for m in replies)
        self.tokens_out = sum(int(m.get("tokens_out") or 0) for m in replies)

    def start_rename(self) -> None:
        if self.session_id:
            self.renaming = True
            self.ids.title_input.text = self.session_title
            self.ids.title_input.focus = True

    def finish_rename(self, title: str) -> None:
        self.renaming = False
        if self.session_id and title.strip() and title.strip() != self.session_title:
            self.app.bridge.call("chats.rename", on_result=self._renamed, on_error=self._failed,
                                 id=self.session_id, title=title)

    def _renamed(self, summary: dict[str, Any]) -> None:
        if summary["id"] == self.session_id:
            self.session_title = summary["title"]
        self.refresh()

    def delete_session(self) -> None:
        """The second step of delete (the bar asked first)."""
        self.confirm_delete = False
        if self.session_id:
            self.app.bridge.call("chats.delete", on_result=lambda _ok: self._deleted(), on_error=self._failed,
                                 id=self.session_id)

    def _deleted(self) -> None:
        self.new_session()
        self.refresh()

    # --- talking ---------------------------------------------------------------------------
    def send(self, text: str) -> None:
        text = text.strip()
        if not text or self.streaming or self.sending:
            return
        if not self.connection:
            self.error_text = "Choose a provider first (add one on the Connections screen)"
            return
        self.ids.message_input.text = ""
        self.error_text = ""
        self.sending = True
        self._early = []
        self.conversation.add(message_data({"role": "user", "content": text, "at": time.time()}, key=f"u{time.time()}"))
        if self.session_id:
            self._send(self.session_id, text)
        else:
            self.app.bridge.call("chats.create", on_result=lambda s: self._created(s, text), on_error=self._send_failed,
                                 connection=self.connection, model=self.model or None)

    def _created(self, summary: dict[str, Any], text: str) -> None:
        self.session_id = summary["id"]
        self._send(summary["id"], text)

    def _send(self, session_id: str, text: str) -> None:
        self.app.bridge.call("chats.send", on_result=self._sent, on_error=self._send_failed, id=session_id, text=text,
                             connection=self.connection, model=self.model or None)

    def _send_failed(self, message: str) -> None:
        self.sending = False
        self.error_text = f"Not sent: {message}"

    def _sent(self, result: dict[str, Any]) -> None:
        self.sending = False
        self.call_id = result["call_id"]
        self.streaming = True
        self._stream_text = ""
        self._stream_key = f"r-{self.call_id}"
        self.conversation.add({**message_data({"role": "assistant", "model": self.model, "content": ""},
                                              key=self._stream_key), "streaming": True})
        early, self._early = self._early, []
        for msg in early:
            self._event(msg)
        self.refresh()

    def stop(self) -> None:
        if self.streaming and self.call_id:
            self.app.bridge.call("chats.cancel", call_id=self.call_id, on_error=self._failed)

    def _event(self, msg: Message) -> None:
        if not isinstance(msg, (AiDelta, AiCallFinished)):
            return
        if self.sending:
            self._early.append(msg)
            return
        if msg.call_id != self.call_id or not self.streaming:
            return
        if isinstance(msg, AiDelta):
            self._stream_text += msg.text
            self._flush()
            return
        self._flush.cancel()
        self._finish(msg)

    def _flush_stream(self, _dt: float = 0) -> None:
        self.conversation.stream(self._stream_text)

    def _finish(self, end: AiCallFinished) -> None:
        self.streaming = False
        status = {"succeeded": "complete"}.get(end.status, end.status)
        saved = {"role": "assistant", "content": end.text, "model": end.model, "provider": end.provider,
                 "at": time.time(), "tokens_in": end.input_tokens, "tokens_out": end.output_tokens,
                 "duration_ms": end.duration_ms, "status": status, "error": end.error}
        row = message_data(saved, key=self._stream_key)
        self.conversation.stream(end.text)
        self.conversation.replace_last(row)
        self.tokens_in += int(end.input_tokens or 0)
        self.tokens_out += int(end.output_tokens or 0)
        self.refresh()

