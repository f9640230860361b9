"""The node panel (inspector): the selected node's title, state, problems and its form.

Contract with the Editor screen: ``panel.show(document, node_id, bridge)`` and
``panel.clear()``. The panel follows the document: every model event (except moves)
re-reads the node into the form on the next frame — so undo/redo and edits made elsewhere
show up — and re-computes its problems; a reloaded document (a new workflow object) is
followed too. Every edit goes through ``document.push``: a
:class:`~engine.model.commands.ChangeConfigCommand` for the config, a
:class:`~engine.model.commands.SetNodeFieldsCommand` for the title. Problems are shown
inline under their fields (:meth:`NodeType.validate_config`), graph problems about the
node (:meth:`WorkflowDocument.problems`) at the top.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.properties import BooleanProperty, ObjectProperty, StringProperty
from kivy.uix.textinput import TextInput
from kivymd.uix.boxlayout import MDBoxLayout

from app.kvload import load_kv
from app.node_style import style_of
from app.plain_problems import plain, plain_message, unique
from app.widgets.inspector.form_base import NodeForm
from engine.errors import ModelError
from engine.model.commands import ChangeConfigCommand, SetNodeFieldsCommand

load_kv(__file__)


def _form_classes() -> dict[str, type[NodeForm]]:
    from app.widgets.inspector.branch_form import BranchForm
    from app.widgets.inspector.data_source_form import DataSourceForm
    from app.widgets.inspector.join_form import JoinForm
    from app.widgets.inspector.output_form import OutputForm
    from app.widgets.inspector.start_form import StartForm
    from app.widgets.inspector.transformer_form import TransformerForm

    return {"start": StartForm, "data_source": DataSourceForm, "transformer": TransformerForm,
            "join": JoinForm, "branch": BranchForm, "output": OutputForm}


class InspectorPanel(MDBoxLayout):
    document = ObjectProperty(None, allownone=True)
    bridge = ObjectProperty(None, allownone=True)
    node_id = StringProperty("")
    type_label = StringProperty("")
    type_icon = StringProperty("")
    type_colour = ObjectProperty((0.5, 0.5, 0.5, 1))
    run_text = StringProperty("")
    can_open_output = BooleanProperty(False)
    problems_text = StringProperty("")
    missing = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.form: NodeForm | None = None
        self._form_type: str | None = None
        self._unsubscribe: list[Callable[[], Any]] = []
        self._workflow: Any = None
        self._refresh = Clock.create_trigger(lambda _dt: self.refresh(), 0)

    # --- the contract with the editor -------------------------------------------------------
    def show(self, document: Any, node_id: str, bridge: Any = None) -> None:
        self.commit_pending()
        if document is not self.document:
            self._detach()
            self.document = document
            self._attach()
        self.bridge = bridge
        if node_id != self.node_id:
            self._drop_form()
        self.node_id = node_id
        self.refresh()
        self.ids.scroll.scroll_y = 1

    def clear(self) -> None:
        self.commit_pending()
        self._detach()
        self._drop_form()
        self.document, self.node_id, self.run_text, self.problems_text = None, "", "", ""
        self.can_open_output = False

    def commit_pending(self) -> None:
        """Commit a text edit still in a focused field to the node it was made for."""
        for widget in self.walk(restrict=True):
            if isinstance(widget, TextInput) and widget.focus:
                widget.focus = False

    @property
    def node(self) -> Any:
        if self.document is None or not self.document.workflow.has_node(self.node_id):
            return None
        return self.document.workflow.node(self.node_id)

    def base_dir(self) -> Path:
        """The folder relative paths resolve against (as the engine's store decides)."""
        settings = self.document.workflow.settings if self.document is not None else {}
        if settings.get("base_dir"):
            return Path(settings["base_dir"])
        if self.bridge is not None:
            return Path(self.bridge.paths.workflows)
        return Path.home()

    # --- edits ------------------------------------------------------------------------------
    def push_config(self, config: dict[str, Any], node_id: str | None = None) -> None:
        workflow = self.document.workflow if self.document is not None else None
        node_id = node_id or self.node_id
        if workflow is None or not workflow.has_node(node_id) or config == workflow.node(node_id).config:
            return
        self._push(ChangeConfigCommand(workflow, node_id, config))

    def commit_title(self, text: str) -> None:
        node = self.node
        if node is None or text.strip() == node.title:
            return
        self._push(SetNodeFieldsCommand(self.document.workflow, node.id, {"title": text.strip()},
                                        text=f"Rename node '{node.label}'"))

    def _push(self, command: Any) -> None:
        try:
            self.document.push(command)
        except ModelError as exc:
            self.problems_text = str(exc)

    # --- following the document ------------------------------------------------------------
    def _attach(self) -> None:
        doc = self.document
        if doc is None:
            return
        self._workflow = doc.workflow
        self._unsubscribe = [doc.workflow.subscribe(self._model_event), doc.stack.subscribe(self._stack_changed),
                             doc.subscribe_run(self._run_changed)]

    def _detach(self) -> None:
        for unsubscribe in self._unsubscribe:
            try:
                unsubscribe()
            except ValueError:
                pass
        self._unsubscribe, self._workflow = [], None

    def _model_event(self, event: str, _payload: Any) -> None:
        if event != "node_moved":
            self._refresh()

    def _stack_changed(self, *_args: Any) -> None:
        follow = getattr(self.form, "stack_changed", None)
        if follow is not None:
            follow()     # e.g. a workflow setting the form shows was undone (no model event for those)
        if self.document is not None and self.document.workflow is not self._workflow:
            self._detach()      # the document adopted a reloaded workflow
            self._attach()
            self._refresh()

    def _run_changed(self, node_id: str | None) -> None:
        if node_id in (None, self.node_id):
            self._show_run_state()

    # --- showing ----------------------------------------------------------------------------
    def refresh(self) -> None:
        node = self.node
        self.missing = node is None
        if node is None:
            self._drop_form()
            return
        style = style_of(node.type)
        spec = self.document.types.get(node.type)
        self.type_label, self.type_icon, self.type_colour = (spec.label if spec else node.type), style.icon, \
            style.colour
        self.ids.title.load(node.title)
        self._ensure_form(node.type)
        assert self.form is not None
        self.form.load(node.config)
        self._show_problems(node, spec)
        self._show_run_state()

    def _ensure_form(self, type_name: str) -> None:
        if self.form is not None and self._form_type == type_name:
            return
        self._drop_form()
        from app.widgets.inspector.json_form import JsonConfigForm

        cls = _form_classes().get(type_name, JsonConfigForm)
        self.form = cls(self)
        self._form_type = type_name
        self.ids.form_box.add_widget(self.form)

    def _drop_form(self) -> None:
        if self.form is not None:
            self.form.on_hide()
            self.ids.form_box.remove_widget(self.form)
        self.form, self._form_type = None, None

    def _show_problems(self, node: Any, spec: Any) -> None:
        input_ids = [e.source for e in self.document.workflow.inputs_of(node.id)]
        by_field: dict[str, list[str]] = {}
        label = getattr(spec, "label", "") or ""
        if spec is not None:
            for problem in spec.validate_config(node.config, input_ids):
                by_field.setdefault(problem.field, []).append(
                    plain_message(problem.message, node.type, label, problem.field))
        assert self.form is not None
        for field, messages in self.form.extra_problems(node.config).items():
            by_field.setdefault(field, []).extend(messages)
        self.form.show_problems({field: unique(messages) for field, messages in by_field.items()})
        doc = self.document
        general = [plain(p, doc.workflow, doc.types) for p in doc.problems()
                   if node.id in p.nodes and p.code != "config"]
        if self.form.general_error:
            general.append(self.form.general_error)
        self.problems_text = "\n".join(unique(general))

    def _show_run_state(self) -> None:
        state = self.document.node_states.get(self.node_id) if self.document is not None else None
        if state is None:
            self.run_text, self.can_open_output = "", False
            return
        parts = [state.status.replace("_", " ")]
        if state.records is not None:
            parts.append(f"{state.records:,} rows")
        if state.table and state.connection and self.document is not None:
            parts.append(f"in {self.document.connection_names.get(state.connection, state.connection)}")
        if state.duration_ms is not None:
            parts.append(f"{state.duration_ms / 1000:.2f} s" if state.duration_ms >= 1000
                         else f"{state.duration_ms:.0f} ms")
        self.run_text = "Last run: " + " · ".join(parts) + (f"\n{state.error}" if state.error else "")
        self.can_open_output = bool(state.table) and state.status in ("succeeded", "reused")

    def open_output(self) -> None:
        from app.widgets.table_view import open_output_viewer

        state = self.document.node_states.get(self.node_id) if self.document is not None else None
        if state is not None and state.table and self.bridge is not None:
            open_output_viewer(self.bridge, self.node.label, state.table, state.connection,
                               self.document.connection_names.get(state.connection or ""))
