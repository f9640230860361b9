"""Asking, stopping and the node's chat, for the **Ask AI** section (:mod:`.ai_section`).

**Ask** saves the workflow, then starts ``ai.assist_start`` with a call id chosen here (so
no event can arrive before we know it): the engine records the request and the answer in
the node's own chat session (made on its first ask, reused after), streams the model's text
as ``AiDelta`` events and ends with one ``AiProposalFinished`` carrying the proposal record.
**Stop** (shown while asking) sends ``ai.cancel``: the engine stops the worker, and so the
provider's stream; the record comes back ``cancelled``, with nothing to accept, and the
session keeps the partial answer marked cancelled. **Open chat** opens the node's session
on the Assistant screen: the one its AI provenance links, else the one this panel asked in.
"""

from __future__ import annotations

import secrets
from typing import Any

from kivymd.app import MDApp

from engine.messages_ai import AiDelta, AiProposalFinished
from engine.model import fileformat

ASK_TIMEOUT_S = 60          # ai.assist_start answers at once; the proposal comes as an event
LIVE_CHARS = 1500           # the tail of the streaming reply shown while it comes


class AskingMixin:
    """Needs the section's widgets (prompt, busy, live, ask/stop/open-chat buttons…)."""

    asked_node = ""            # the node the call in flight (or the last one) is for

    def ask(self, request: str | None = None) -> None:
        self.prompt.commit()
        text = (request if request is not None else self.prompt.text).strip()
        if not text:
            self.busy.fail("Say what the node should do first.")
            return
        if self.bridge is None or self.form.node is None:
            self.busy.fail("Not connected to the engine")
            return
        self.request_text = text
        self.record = None
        self._show_result()
        self.busy.start(f"Asking {self.connection.shown_text}… the proposal is tried on the sample before "
                        f"it is shown")
        wf_id, node_id = self.document.workflow.id, self.form.node.id
        self.asked_node = node_id
        self._stop_listening()
        self.stream, self.streamed = secrets.token_hex(8), ""
        params: dict[str, Any] = {"workflow_id": wf_id, "node_id": node_id, "request": text, "call_id": self.stream}
        if self.connection.value:
            params["connection"] = self.connection.value
        if self.model.text.strip():
            params["model"] = self.model.text.strip()
        self._unlisten = self.bridge.listen(self._event)
        self._set_asking(True)
        self.live.text = ""
        self.add_widget(self.live)
        self.document.save()
        doc = fileformat.to_dict(self.document.workflow)
        self.bridge.call("workflows.save", doc=doc, on_error=self._failed,
                         on_result=lambda _s: self.bridge.call("ai.assist_start", on_result=self._started,
                                                               on_error=self._failed, timeout=ASK_TIMEOUT_S,
                                                               **params))

    def answer_question(self, answer: str) -> None:
        question = (self.record or {}).get("question", "")
        self.ask(f"{self.request_text}\n{question}\nAnswer: {answer}")

    def stop(self) -> None:
        """Stop the call in flight (its end comes back as a cancelled record)."""
        if not self.asking or self.bridge is None:
            return
        self.stop_button.disabled = True
        self.busy.start("Stopping…")
        self.bridge.call("ai.cancel", call_id=self.stream, on_error=self._show_error)

    def open_chat(self) -> None:
        session = self.chat_session()
        if session:
            MDApp.get_running_app().open_screen("assistant").open_session(session)

    def chat_session(self) -> str:
        node = self.form.node
        if node is None:
            return ""
        linked = str((node.ai or {}).get("session") or "")
        return linked or self.chat_sessions.get(node.id, "")

    def _started(self, result: dict[str, Any]) -> None:
        if result.get("call_id") == self.stream and result.get("session_id"):
            self.chat_sessions[self.asked_node] = str(result["session_id"])
            self._show_open_chat()

    def _event(self, msg: Any) -> None:
        if getattr(msg, "call_id", None) != self.stream:
            return
        if isinstance(msg, AiDelta):
            self.streamed += msg.text
            self.live.text = self.streamed[-LIVE_CHARS:]
        elif isinstance(msg, AiProposalFinished):
            if msg.session_id:
                self.chat_sessions[self.asked_node] = msg.session_id
            if msg.status == "error" or not msg.record:
                self._failed(msg.error or "the assistant call failed")
            else:
                self._answered(msg.record)

    def _stop_listening(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None

    def _set_asking(self, on: bool) -> None:
        self.asking = on
        self.ask_button.disabled = on
        self.stop_button.disabled = not on
        row = self.ask_row
        if on and self.stop_button.parent is None:
            row.add_widget(self.stop_button)
        elif not on and self.stop_button.parent is not None:
            row.remove_widget(self.stop_button)
        self._show_open_chat()

    def _show_open_chat(self) -> None:
        row, button = self.ask_row, self.open_chat_button
        wanted = bool(self.chat_session())
        if wanted and button.parent is None:
            row.add_widget(button)
        elif not wanted and button.parent is not None:
            row.remove_widget(button)

    def _failed(self, message: str) -> None:
        self._stop_listening()
        self._set_asking(False)
        self.busy.fail(message)

    def _show_error(self, message: str) -> None:
        self.busy.fail(message)

    def _answered(self, record: dict[str, Any]) -> None:
        self._stop_listening()
        self._set_asking(False)
        self.record = record
        status = record.get("status")
        tries = len(record.get("attempts") or [])
        if status == "question":
            self.busy.done("The assistant has a question:")
        elif status == "verified":
            self.busy.done(f"Proposal ready ({tries} attempt{'s' if tries != 1 else ''}); it ran on the sample.")
        elif status == "cancelled":
            self.busy.done("Stopped: nothing was proposed. The partial answer is kept in the node's chat.")
        else:
            self.busy.fail(f"No proposal ran cleanly after {tries} attempts.")
        self._show_result()
