"""The **Ask AI** section of the Transformer, Join, Branch and REST Data Source panels.

The user says what the node should do; the section shows, before anything is sent, what
the model will see (the inputs' tables and columns, and whether sample rows go with them —
with the workflow's *schema only* switch right there). **Ask** saves the workflow and calls
``ai.assist_node`` off the main thread (the engine reads the inputs, calls the provider in a
worker that alone holds the key, and runs the proposal on the sample). The answer comes
back as a proposal record: its explanation and the model's reply, the proposal as a diff
against the node's current code, and its verification — the sample output table, or the
error it failed with. **Accept** (only for a verified proposal) writes it as one undo step
(:mod:`app.ai_commands`); **Reject** drops it and leaves the node as it is. A Join's
clarifying question is answered by taps (:mod:`.ai_questions`) and asked again with the
answer. The section's own line says whether the node's code came from AI, and whether it
was edited since.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kivy.metrics import dp
from kivymd.app import MDApp
from kivymd.uix.boxlayout import MDBoxLayout
from kivymd.uix.button import MDButton, MDButtonIcon, MDButtonText
from kivymd.uix.divider import MDDivider
from kivymd.uix.label import MDLabel

from app.ai_commands import accept_command, provenance_state
from app.widgets.inspector.ai_asking import AskingMixin
from app.widgets.inspector.ai_diff import DiffView
from app.widgets.inspector.ai_questions import InputColumns, QuestionChoices
from app.widgets.inspector.fields import BusyLine, CheckRow, DropdownRow, SamplePreview, TextRow
from engine.ai.assist import current_code
from engine.errors import DagfluxError
from engine.model.settings_commands import SetWorkflowSettingCommand

SAMPLE_ROWS_SENT = 5        # engine.ai.context.SAMPLE_ROWS
NODE_KINDS = {"transformer": "the SQL or Python", "join": "the join SQL", "branch": "the condition",
              "data_source": "the REST fetch settings"}


def ai_types(types: list[Mapping[str, Any]]) -> set[str]:
    return {t["type"] for t in types if t.get("dialect") == "ai"}


class AskAiSection(AskingMixin, MDBoxLayout):
    """Mounted by a form (``form.add_widget(AskAiSection(form))``); the form calls
    :meth:`load` from its own ``load``."""

    def __init__(self, form: Any, **kwargs: Any) -> None:
        super().__init__(orientation="vertical", adaptive_height=True, spacing=dp(6), **kwargs)
        self.form = form
        self.record: dict[str, Any] | None = None
        self.request_text = ""
        self.inputs: list[InputColumns] = []
        self._columns: dict[str, list[str]] = {}
        self._unsub_stack: Any = None
        self._unlisten: Any = None
        self.stream = ""
        self.streamed = ""
        self.asking = False
        self.chat_sessions: dict[str, str] = {}    # node id → the chat session asked in from this panel
        self._build()

    # --- widgets ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.add_widget(MDDivider())
        self.heading = MDLabel(text="Ask AI", adaptive_height=True, font_style="Title", role="small")
        self.provenance = MDLabel(adaptive_height=True, font_style="Body", role="small")
        self.connection = DropdownRow(label="AI connection", key="", placeholder="Choose an AI connection…")
        self.connection.bind(on_choice=lambda *_: self._describe_context(),
                             on_open=lambda *_: self._load_connections())
        self.model = TextRow(label="Model", key="", hint="the connection's default model")
        self.context = MDLabel(adaptive_height=True, font_style="Body", role="small")
        self.schema_only = CheckRow(label="Schema only: no rows are sent", key="")
        self.schema_only.bind(on_choice=lambda _w, on: self._set_schema_only(on))
        self.prompt = TextRow(label="What should this node do?", key="", multiline=True,
                              hint="e.g. total per country, only paid orders")
        self.ask_button = MDButton(MDButtonIcon(icon="creation"), MDButtonText(text="Ask"), style="filled")
        self.ask_button.bind(on_release=lambda *_: self.ask())
        self.stop_button = MDButton(MDButtonIcon(icon="stop"), MDButtonText(text="Stop"), style="outlined")
        self.stop_button.bind(on_release=lambda *_: self.stop())
        self.open_chat_button = MDButton(MDButtonIcon(icon="forum-outline"), MDButtonText(text="Open chat"),
                                         style="text")
        self.open_chat_button.bind(on_release=lambda *_: self.open_chat())
        self.ask_row = MDBoxLayout(adaptive_height=True, spacing=dp(8))
        self.ask_row.add_widget(self.ask_button)
        self.busy = BusyLine()
        self.live = MDLabel(adaptive_height=True, font_style="Body", role="small")   # the reply as it streams
        self.answer = MDLabel(adaptive_height=True, font_style="Body", role="medium")
        self.questions = QuestionChoices()
        self.questions.bind(on_answer=lambda _w, text: self.answer_question(text))
        self.diff = DiffView()
        self.verdict = MDLabel(adaptive_height=True, font_style="Body", role="small", theme_text_color="Custom")
        self.sample = SamplePreview()
        self.accept_button = MDButton(MDButtonIcon(icon="check"), MDButtonText(text="Accept"), style="filled")
        self.accept_button.bind(on_release=lambda *_: self.accept())
        self.reject_button = MDButton(MDButtonIcon(icon="close"), MDButtonText(text="Reject"), style="outlined")
        self.reject_button.bind(on_release=lambda *_: self.reject())
        self.actions = MDBoxLayout(adaptive_height=True, spacing=dp(8))
        for widget in (self.accept_button, self.reject_button):
            self.actions.add_widget(widget)
        for widget in (self.heading, self.provenance, self.connection, self.model, self.context, self.schema_only,
                       self.prompt, self.ask_row, self.busy):
            self.add_widget(widget)
        self._result_widgets = (self.live, self.answer, self.questions, self.diff, self.verdict, self.sample,
                                self.actions)
        self._show_result()

    @property
    def bridge(self) -> Any:
        return self.form.panel.bridge

    @property
    def document(self) -> Any:
        return self.form.document

    # --- following the node ----------------------------------------------------------------
    def load(self) -> None:
        node = self.form.node
        if node is None or self.document is None:
            return
        if self._unsub_stack is None:
            self._unsub_stack = self.document.stack.subscribe(lambda *_: self._settings_changed())
            self._load_connections()
            self._load_columns()
        state = provenance_state(node)
        ai = node.ai or {}
        model = str(ai.get("model") or "")
        who = f" ({model if len(model) <= 40 else model[:39] + '…'})" if model else ""
        self.provenance.text = {"generated": f"Written by AI{who}, as accepted.",
                                "edited": f"Written by AI{who}, edited since."}.get(state or "", "")
        self.schema_only.active = self.schema_only_on
        self._describe_context()
        self._show_open_chat()
        proposal = (self.record or {}).get("proposal") or {}
        if self.record is not None and self.record.get("status") != "question" and proposal.get("code") is not None:
            self.diff.show(current_code(node.type, node.config), proposal["code"])   # against the code as it is now

    def on_hide(self) -> None:
        if not self.asking:         # a call in flight still ends here (its record, the buttons)
            self._stop_listening()
        if self._unsub_stack is not None:
            try:
                self._unsub_stack()
            except ValueError:
                pass
            self._unsub_stack = None

    def _settings_changed(self) -> None:
        self.schema_only.active = self.schema_only_on
        self._describe_context()

    @property
    def schema_only_on(self) -> bool:
        if self.document is None:
            return False
        return bool((self.document.workflow.settings.get("ai") or {}).get("schema_only"))

    def _set_schema_only(self, on: bool) -> None:
        settings = dict(self.document.workflow.settings.get("ai") or {})
        if on:
            settings["schema_only"] = True
        else:
            settings.pop("schema_only", None)
        self.document.push(SetWorkflowSettingCommand(self.document.workflow, "ai", settings or None,
                                                     text="Schema only for AI" if on else "Send sample rows to AI"))

    # --- what will be sent -----------------------------------------------------------------
    def _load_connections(self) -> None:
        if self.bridge is None:
            return

        def listed(types: list, conns: list) -> None:
            if self.document is None:       # the panel closed while the engine answered
                return
            kinds = ai_types(types)
            self.connection.options = [(c["id"], c.get("name") or c["id"]) for c in conns if c.get("type") in kinds]
            if self.connection.value not in [v for v, _ in self.connection.options]:
                self.connection.value = self._default_connection()
            self._describe_context()

        self.bridge.call("connections.types", on_error=self._show_error,
                         on_result=lambda types: self.bridge.call(
                             "connections.list", on_result=lambda conns: listed(types, conns),
                             on_error=self._show_error))

    def _default_connection(self) -> str | None:
        ids = [v for v, _ in self.connection.options]
        workflow_choice = (self.document.workflow.settings.get("ai") or {}).get("connection")
        app = MDApp.get_running_app()
        store = getattr(app, "settings_store", None)
        preferred = store.get("ai_connection") if store is not None else None
        for choice in (workflow_choice, preferred):
            if choice in ids:
                if choice == preferred and not self.model.text and store is not None and store.get("ai_model"):
                    self.model.load(store.get("ai_model"))
                return choice
        return ids[0] if ids else None

    def _load_columns(self) -> None:
        """The inputs' columns, from the tables their last run left (``tables.page``)."""
        if self.bridge is None or self.document is None:
            return
        for node_id in self.form.input_ids():
            state = self.document.node_states.get(node_id)
            if state is None or not state.table:
                continue
            self.bridge.call("tables.page", on_result=lambda page, n=node_id: self._got_columns(n, page),
                             on_error=lambda _m: None, table=state.table, connection=state.connection, limit=1)

    def _got_columns(self, node_id: str, page: Mapping[str, Any]) -> None:
        self._columns[node_id] = [str(c) for c in page.get("columns") or []]
        self._describe_context()

    def _describe_context(self) -> None:
        node = self.form.node
        if node is None or self.document is None:
            return
        wf = self.document.workflow
        lines = []
        chosen = dict(self.connection.options).get(self.connection.value)
        lines.append(f"Sent to {chosen or 'an AI connection (add one under Connections)'}: your request, "
                     f"{NODE_KINDS.get(node.type, 'the code')} the node has now, and its last error.")
        self.inputs = []
        for node_id in self.form.input_ids():
            label = wf.node(node_id).label if wf.has_node(node_id) else node_id
            columns = self._columns.get(node_id)
            self.inputs.append(InputColumns(label, columns or []))
            if columns is None:
                lines.append(f"• {label}: not run yet — run the workflow so its columns can be shown and sent")
            else:
                state = self.document.node_states.get(node_id)
                table = f"table {state.table}" if state is not None and state.table else "its table"
                lines.append(f"• {label}: {table}, columns {', '.join(columns)}")
        if node.type == "data_source":
            lines.append("• no table: the REST connection's name only, never its credentials")
        elif self.schema_only_on:
            lines.append("Schema only: column names and types, row counts — no rows, no values.")
        else:
            lines.append(f"Up to {SAMPLE_ROWS_SENT} sample rows of each input are included.")
        sensitive = (wf.settings.get("ai") or {}).get("sensitive_columns") or []
        if sensitive:
            lines.append(f"Never sent: the values of {', '.join(map(str, sensitive))}.")
        self.context.text = "\n".join(lines)

    def _show_result(self) -> None:
        for widget in self._result_widgets:
            if widget.parent is not None:
                self.remove_widget(widget)
        record, node = self.record, self.form.node
        if record is None or node is None:
            return
        status = record.get("status")
        proposal = record.get("proposal") or {}
        if status == "question":
            self.answer.text = ""
            self.add_widget(self.questions)
            self.questions.ask(str(record.get("question") or ""), self.inputs)
            return
        replies = [a.get("reply", "") for a in record.get("attempts") or []]
        self.answer.text = proposal.get("explanation") or (replies[-1] if replies else "")
        self.add_widget(self.answer)
        if status == "cancelled":       # the partial answer only: nothing to show as a proposal
            return
        if proposal.get("code") is not None:
            self.diff.show(current_code(node.type, node.config), proposal["code"])
            self._colour_diff()
            self.add_widget(self.diff)
        verified = status == "verified"
        self.verdict.text = "Ran on the sample:" if verified else \
            f"Failed on the sample — it cannot be accepted:\n{record.get('error') or status}"
        self.verdict.text_color = self.theme_cls.onSurfaceVariantColor if verified else self.theme_cls.errorColor
        self.add_widget(self.verdict)
        if verified and record.get("sample"):
            self.sample.show(record["sample"], "{:,} rows from the sample")
            self.add_widget(self.sample)
        self.accept_button.disabled = not verified
        self.add_widget(self.actions)

    def _colour_diff(self) -> None:
        t = self.theme_cls
        self.diff.set_colours(t.errorColor, (0.18, 0.62, 0.28, 1) if t.theme_style == "Light" else (0.5, 0.85, 0.55, 1),
                              t.onSurfaceVariantColor)

    # --- the decision ----------------------------------------------------------------------
    def accept(self) -> None:
        if self.record is None or self.document is None:
            return
        try:
            command = accept_command(self.document.workflow, self.record, self.document.types)
            self.document.push(command)
        except DagfluxError as exc:
            self.busy.fail(str(exc))
            return
        self.record = None
        self.busy.done("Accepted: the node now has the proposal (Undo takes it back).")
        self._show_result()

    def reject(self) -> None:
        self.record = None
        self.busy.done("Rejected: the node is unchanged.")
        self._show_result()


# --- mounting (a form's load / on_hide call these: one line each) ---------------------------------
def mount_ai(form: Any, show: bool = True) -> None:
    """Show the form's Ask AI section at its end (built on first use) and bring it up to date."""
    section = getattr(form, "ai_section", None)
    if not show:
        if section is not None and section.parent is not None:
            section.parent.remove_widget(section)
        return
    if section is None:
        section = form.ai_section = AskAiSection(form)
    if section.parent is None:
        form.add_widget(section)
    section.load()


def hide_ai(form: Any) -> None:
    section = getattr(form, "ai_section", None)
    if section is not None:
        section.on_hide()
