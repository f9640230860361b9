""""Build a workflow": a request → the assistant's graph proposal → a preview → Apply.

The request goes to ``ai.propose_workflow`` (the engine checks the proposal with the
workflow model's own validation and asks the model once to repair it). A valid proposal
is drawn by :class:`WorkflowPreview` — its nodes and edges, each node with its config
summarised (:func:`~app.screens.assistant_apply.config_summary`); an invalid one is
listed with what was wrong and cannot be applied. **Apply** either saves a new workflow
holding only its Start and opens it in the editor, or uses the workflow open in the
editor; then the proposal goes onto that document's undo stack as ONE command
(:func:`~app.screens.assistant_apply.proposal_command`), laid out left to right, so one
undo removes all of it. The editor's autosave then saves it through the engine.
"""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.graphics import Color, InstructionGroup, Line, RoundedRectangle
from kivy.metrics import dp
from kivy.properties import BooleanProperty, DictProperty, ObjectProperty, StringProperty
from kivy.uix.label import Label
from kivy.uix.relativelayout import RelativeLayout
from kivymd.uix.boxlayout import MDBoxLayout

from app.kvload import load_kv
from app.screens.assistant_apply import ProposalRefused, config_summary, proposal_command
from app.screens.workflows import new_workflow_doc
from app.widgets.canvas.geometry import NODE_H, NODE_W

PROPOSE_TIMEOUT_S = 600.0


def unique_id(wanted: str, taken: set[str]) -> str:
    if wanted not in taken:
        return wanted
    n = 2
    while f"{wanted}_{n}" in taken:
        n += 1
    return f"{wanted}_{n}"


class WorkflowPreview(RelativeLayout):
    """The proposed graph, scaled to fit: one box per node (title, type, config summary)."""

    workflow = DictProperty({})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Our own group inside the layout's translated canvas: canvas.before holds the
        # RelativeLayout's PushMatrix, which must never be cleared away.
        self._drawing = InstructionGroup()
        self.canvas.insert(0, self._drawing)

    def on_workflow(self, *_args: Any) -> None:
        self.redraw()

    def on_size(self, *_args: Any) -> None:
        self.redraw()

    def redraw(self) -> None:
        self.clear_widgets()
        self._drawing.clear()
        nodes = self.workflow.get("nodes") or []
        if not nodes or self.width < 10 or self.height < 10:
            return
        where, box = self._boxes(nodes)
        theme = App.get_running_app().theme_cls
        group = self._drawing
        group.add(Color(*theme.outlineColor))
        for e in self.workflow.get("edges") or []:
            if e.get("from") in where and e.get("to") in where:
                (x1, y1), (x2, y2) = where[e["from"]], where[e["to"]]
                a, b = (x1 + box[0], y1 + box[1] / 2), (x2, y2 + box[1] / 2)
                mid = (a[0] + b[0]) / 2
                group.add(Line(bezier=[*a, mid, a[1], mid, b[1], *b], width=dp(1.2)))
        group.add(Color(*theme.secondaryContainerColor))
        for n in nodes:
            group.add(RoundedRectangle(pos=where[n["id"]], size=box, radius=[dp(6)]))
        font = max(8.0, min(13.0, 12 * box[0] / NODE_W))
        for n in nodes:
            summary = config_summary(n.get("type", ""), n.get("config") or {})
            label = Label(text=f"[b]{_esc(n.get('title') or n['id'])}[/b]\n{_esc(n.get('type', ''))}\n{_esc(summary)}",
                          markup=True, font_size=font, pos=where[n["id"]], size=box, size_hint=(None, None),
                          text_size=(box[0] - dp(8), box[1] - dp(4)), halign="left", valign="middle",
                          max_lines=4, color=theme.onSecondaryContainerColor)
            label.node_id = n["id"]
            self.add_widget(label)

    def _boxes(self, nodes: list[dict[str, Any]]) -> tuple[dict[str, tuple[float, float]], tuple[float, float]]:
        """Each node's lower-left corner in the preview, and the (scaled) box size."""
        xs = [float(n.get("position", [0, 0])[0]) for n in nodes]
        ys = [float(n.get("position", [0, 0])[1]) for n in nodes]
        span_x, span_y = max(xs) - min(xs) + NODE_W, max(ys) - min(ys) + NODE_H
        pad = dp(12)
        scale = min((self.width - 2 * pad) / span_x, (self.height - 2 * pad) / span_y, 1.4)
        box_w, box_h = NODE_W * scale, NODE_H * scale
        off_x, off_y = (self.width - span_x * scale) / 2, (self.height - span_y * scale) / 2
        where = {}
        for n, x, y in zip(nodes, xs, ys):   # file y grows downwards; Kivy's upwards
            where[n["id"]] = (off_x + (x - min(xs)) * scale, self.height - off_y - (y - min(ys)) * scale - box_h)
        return where, (box_w, box_h)


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("[", "&bl;").replace("]", "&br;")


class BuildPanel(MDBoxLayout):
    screen = ObjectProperty(None, allownone=True)
    proposal = DictProperty({})
    busy = BooleanProperty(False)
    status_text = StringProperty("")
    request_text = StringProperty("")
    can_propose = BooleanProperty(False)
    problems_text = StringProperty("")
    explanation = StringProperty("")
    valid = BooleanProperty(False)
    can_add = BooleanProperty(False)       # a workflow is open in the editor

    @property
    def app(self):
        return App.get_running_app()

    def on_request_text(self, *_args: Any) -> None:
        self.can_propose = not self.busy and bool(self.request_text.strip())

    on_busy = on_request_text

    def refresh_targets(self) -> None:
        editor = self.app._screens.get("editor")
        self.can_add = editor is not None and editor.document is not None

    def propose(self, request: str) -> None:
        screen = self.screen
        if not request.strip() or self.busy:
            return
        if not screen.connection:
            self.status_text = "Choose a provider first (add one on the Connections screen)"
            return
        self.busy, self.valid, self.proposal = True, False, {}
        self.problems_text = self.explanation = ""
        self.status_text = "Asking the assistant for a workflow…"
        self.app.bridge.call("ai.propose_workflow", on_result=self._proposed, on_error=self._propose_failed,
                             timeout=PROPOSE_TIMEOUT_S, request=request, connection=screen.connection,
                             model=screen.model or None)

    def _propose_failed(self, message: str) -> None:
        self.busy = False
        self.status_text = f"The assistant could not propose a workflow: {message}"

    def _proposed(self, result: dict[str, Any]) -> None:
        self.busy = False
        self.refresh_targets()
        self.proposal = result
        workflow = result.get("workflow") or {}
        if result.get("status") == "valid":
            self.valid = True
            n_nodes, n_edges = len(workflow.get("nodes") or []), len(workflow.get("edges") or [])
            self.status_text = f"Proposed: “{workflow.get('name', '')}” — {n_nodes} nodes, {n_edges} edges"
            self.explanation = str(result.get("explanation") or "")
        else:
            self.valid = False
            self.status_text = "The proposal is not valid, so it cannot be applied. What was wrong:"
            self.problems_text = "\n".join(f"• {p}" for p in result.get("problems") or ["(no reason given)"])
        self.ids.preview.workflow = workflow if isinstance(workflow, dict) and workflow.get("nodes") else {}

    # --- applying --------------------------------------------------------------------------
    def apply_new(self) -> None:
        if not self.valid:
            return
        self.app.bridge.call("workflows.list", on_result=self._create_shell, on_error=self._apply_failed)

    def _create_shell(self, saved: list[dict[str, Any]]) -> None:
        workflow = self.proposal["workflow"]
        wf_id = unique_id(workflow["id"], {w["id"] for w in saved})
        doc = new_workflow_doc(wf_id, workflow.get("name") or wf_id)
        doc["description"] = workflow.get("description", "")
        self.app.bridge.call("workflows.save", on_result=lambda _r: self._open_and_apply(wf_id),
                             on_error=self._apply_failed, doc=doc)

    def _open_and_apply(self, wf_id: str) -> None:
        editor = self.app.open_workflow(wf_id)

        def loaded(_editor: Any, document: Any) -> None:
            if document is not None and document.workflow.id == wf_id:
                editor.unbind(document=loaded)
                self._apply_into(editor)

        editor.bind(document=loaded)

    def apply_into_open(self) -> None:
        self.refresh_targets()
        if self.valid and self.can_add:
            editor = self.app.screen("editor")
            if self._apply_into(editor):
                self.app.open_screen("editor")

    def _apply_into(self, editor: Any) -> bool:
        document = editor.document
        try:
            command, _ids = proposal_command(document.workflow, self.proposal, document.types)
        except ProposalRefused as exc:
            self.valid = False
            self.problems_text = f"• {exc}"
            self.status_text = "Not applied:"
            return False
        document.push(command)
        editor.ids.canvas.fit_to_view()
        self.status_text = f"Applied to “{document.workflow.name}” — one undo removes it"
        return True

    def _apply_failed(self, message: str) -> None:
        self.status_text = f"Not applied: {message}"


load_kv(__file__)
