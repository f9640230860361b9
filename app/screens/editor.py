"""The Editor screen: one workflow on the canvas, its palette, node panel and runs.

The screen owns the open :class:`~app.document.WorkflowDocument` (the graph truth and
undo stack) and wires the pieces together: the canvas and the node panel edit only
through the document; every change is autosaved through the engine after a short pause;
a file changed on disk by someone else offers a reload; Run saves first, then starts the
run in the engine, and the run's events (via the bridge) update the document's node
states, which the canvas draws.
"""

from __future__ import annotations

import logging
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.factory import Factory
from kivy.properties import BooleanProperty, ObjectProperty, StringProperty
from kivy.uix.behaviors.focus import FocusBehavior
from kivymd.uix.screen import MDScreen

from app.document import WorkflowDocument
from app.kvload import load_kv
from app.plain_problems import plain
from app.screens.editor_layout import EditorLayoutMixin
from app.screens.editor_palette import build_palette, entries_fit, matches
from app.widgets.cached_band import CachedBand  # noqa: F401  (used by editor.kv)
from app.widgets.canvas import GraphCanvas, Minimap  # noqa: F401  (used by editor.kv)
from app.widgets.inspector import InspectorPanel  # noqa: F401  (used by editor.kv)
from app.widgets.run_dialog import RunParametersDialog, has_parameters
from engine.messages import Message, RunFinished
from engine.model import fileformat

log = logging.getLogger(__name__)

AUTOSAVE_DELAY_S = 0.8
DISK_CHECK_S = 2.0


class EditorScreen(EditorLayoutMixin, MDScreen):
    document = ObjectProperty(None, allownone=True)
    params_dialog = ObjectProperty(None, allownone=True)   # the Run dialog, while a workflow with parameters asks
    workflow_name = StringProperty("")
    run_text = StringProperty("")
    running = BooleanProperty(False)
    can_undo = BooleanProperty(False)
    can_redo = BooleanProperty(False)
    disk_changed = BooleanProperty(False)
    inspector_open = BooleanProperty(False)
    loading = BooleanProperty(False)
    palette_search_shown = BooleanProperty(False)   # the palette's entries do not all fit
    palette_drag = ObjectProperty(None, allownone=True)   # the PaletteItem being dragged

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._autosave_ev = None
        self._disk_ev = None
        self._unlisten = None
        self._unsub_stack = None
        self._unsub_run = None
        self._pending_node: str | None = None
        Clock.schedule_once(self._build_palette, 0)

    @property
    def app(self):
        return App.get_running_app()

    # --- opening ---------------------------------------------------------------------
    def open_workflow(self, workflow_id: str, node_id: str | None = None, run_id: str | None = None) -> None:
        """Load a saved workflow from the engine; optionally select a node and show a past run."""
        self.loading = True
        self._pending_node = node_id
        self.app.bridge.call("workflows.get", on_result=lambda doc: self._opened(doc, run_id),
                             on_error=self._open_failed, id=workflow_id)

    def _open_failed(self, message: str) -> None:
        self.loading = False
        self.app.notify(f"Could not open the workflow: {message}")

    def _opened(self, doc: dict, run_id: str | None) -> None:
        wf = fileformat.from_dict(doc, f"workflow '{doc.get('id')}'")
        path = self.app.paths.workflows / f"{wf.id}.json"
        document = WorkflowDocument(wf, self.app.registry.node_types, save=self._save_doc, path=path)
        self.show_document(document)
        self.app.bridge.call("connections.list", on_result=document.set_connection_names)
        if run_id:
            self.app.bridge.call("history.get", on_result=self._show_run, run_id=run_id)
        else:
            self.app.bridge.call("history.list", on_result=self._show_last_run, limit=1, workflow_id=wf.id)
        self.loading = False

    def show_document(self, document: WorkflowDocument) -> None:
        """Put ``document`` on the canvas (also used directly by tests and the benchmark)."""
        self._detach()
        self.document = document
        self.workflow_name = document.workflow.name
        self._unsub_stack = document.stack.subscribe(self._stack_changed)
        self._unsub_run = document.subscribe_run(self._run_changed)
        canvas = self.ids.canvas
        canvas.attach(document)
        # The first layout may not have sized the canvas yet: fit once it has its real size.
        Clock.schedule_once(lambda _dt: self.fit() if not self._pending_node else None, 0)
        self._stack_changed(document.stack)
        self._run_changed(None)
        if self._pending_node and document.workflow.has_node(self._pending_node):
            node_id = self._pending_node
            Clock.schedule_once(lambda _dt: self.select_node(node_id), 0)
        Clock.schedule_once(lambda _dt: setattr(self, "_pending_node", None), 0)
        if self._disk_ev is None:
            self._disk_ev = Clock.schedule_interval(self._check_disk, DISK_CHECK_S)

    def _detach(self) -> None:
        for unsub in (self._unsub_stack, self._unsub_run):
            if unsub is not None:
                unsub()
        self._unsub_stack = self._unsub_run = None
        if self.document is not None:
            self.ids.canvas.detach()
            self.close_inspector()
        self.disk_changed = False

    def select_node(self, node_id: str) -> None:
        canvas = self.ids.canvas
        canvas.selection = {node_id}
        canvas.center_on(node_id)
        self.open_inspector(node_id)

    def _show_run(self, run: dict) -> None:
        if self.document is not None and run.get("workflow_id") == self.document.workflow.id:
            self.document.load_run(run)

    def _show_last_run(self, runs: list) -> None:
        runs = [r for r in runs if r.get("status") != "skipped"]
        if runs and self.document is not None and self.document.run_id is None:
            self.app.bridge.call("history.get", on_result=self._show_run, run_id=runs[0]["run_id"])

    # --- screen lifecycle ------------------------------------------------------------
    def on_enter(self, *args: Any) -> None:
        Window.bind(on_key_down=self._on_key_down)
        if self._unlisten is None:
            self._unlisten = self.app.bridge.listen(self._on_engine_event)

    def on_leave(self, *args: Any) -> None:
        Window.unbind(on_key_down=self._on_key_down)
        self.flush_autosave()

    def on_app_stop(self) -> None:
        self.flush_autosave()

    def go_back(self) -> None:
        self.flush_autosave()
        self.app.open_screen("workflows")

    # --- editing and autosave --------------------------------------------------------
    def _stack_changed(self, _stack: object = None) -> None:
        doc = self.document
        if doc is None:
            return
        self.can_undo, self.can_redo = doc.stack.can_undo, doc.stack.can_redo
        self.workflow_name = doc.workflow.name
        if not doc.dirty:
            return  # e.g. the clean mark set by a save: nothing to autosave
        if self._autosave_ev is not None:
            self._autosave_ev.cancel()
        self._autosave_ev = Clock.schedule_once(lambda _dt: self.flush_autosave(), AUTOSAVE_DELAY_S)

    def flush_autosave(self) -> None:
        if self._autosave_ev is not None:
            self._autosave_ev.cancel()
            self._autosave_ev = None
        if self.document is not None:
            self.document.save()

    def _save_doc(self, doc: dict, on_saved=None) -> None:
        self.app.bridge.call("workflows.save", on_result=on_saved,
                             on_error=lambda m: self.app.notify(f"Not saved: {m}"), doc=doc)

    def undo(self) -> None:
        if self.document is not None:
            self.document.undo()

    def redo(self) -> None:
        if self.document is not None:
            self.document.redo()

    def add_node(self, type_name: str) -> None:
        if self.document is None:
            return
        node_id = self.ids.canvas.add_after(type_name)  # right of the selected node, connected to it
        self.open_inspector(node_id)

    def drop_node(self, type_name: str, window_pos: tuple[float, float]) -> str | None:
        """A palette entry dropped at ``window_pos``: added there (into an edge under it)."""
        canvas = self.ids.canvas
        if self.document is None or canvas.parent is None:
            return None
        pos = canvas.parent.to_widget(*window_pos)
        if not canvas.collide_point(*pos):
            return None   # dropped outside the canvas: nothing
        node_id = canvas.drop_type(type_name, canvas.to_world(pos))
        self.open_inspector(node_id)
        return node_id

    # --- the file on disk ------------------------------------------------------------
    def _check_disk(self, _dt: float) -> None:
        doc = self.document
        if doc is None or self.disk_changed or self._autosave_ev is not None or self.manager is None:
            return
        if self.manager.current == self.name and doc.changed_on_disk():
            self.disk_changed = True

    def reload_from_disk(self) -> None:
        doc = self.document
        try:
            wf = fileformat.load(doc.path)
        except Exception as exc:  # noqa: BLE001 - any broken file: say why, keep ours
            self.app.notify(f"Cannot reload: {exc}")
            return
        self.disk_changed = False
        self.show_document(WorkflowDocument(wf, doc.types, save=self._save_doc, path=doc.path))

    def keep_mine(self) -> None:
        """Overwrite the file on disk with the open workflow."""
        self.disk_changed = False
        self.document.save(force=True)

    # --- running ---------------------------------------------------------------------
    def add_menu_actions(self, target: Any, actions: list) -> None:
        """The canvas's context menu on a node also offers "Run from here"."""
        from app.widgets.canvas.context_menu import MenuAction

        doc = self.document
        if doc is not None and isinstance(target, str) and doc.workflow.has_node(target):
            actions.insert(2, MenuAction("Run from here", "play-circle-outline",
                                         lambda: self.run(from_node=target), enabled=not self.running))

    def run(self, from_node: str | None = None) -> None:
        """Save and start a run; a workflow with parameters first asks for their values.
        ``from_node``: run that node and what is below it, reusing unchanged results above."""
        doc = self.document
        if doc is None or self.running:
            return
        problems = doc.problems()
        if problems:
            self.app.notify(f"Fix {len(problems)} problem(s) first: {plain(problems[0], doc.workflow, doc.types)}")
            return
        if has_parameters(doc.workflow.parameters):
            self.params_dialog = RunParametersDialog(
                doc.workflow.parameters, action=lambda dialog, values: self._save_and_start(values, dialog, from_node))
            self.params_dialog.open()
            return
        self._save_and_start(None, None, from_node)

    def _save_and_start(self, params: dict | None, dialog: RunParametersDialog | None,
                        from_node: str | None = None) -> None:
        self.flush_autosave()
        self.running = True
        self.run_text = "Starting…"
        self.app.bridge.call("workflows.save", on_result=lambda _s: self._start_run(params, dialog, from_node),
                             on_error=lambda message: self._run_failed_to_start(message, dialog),
                             doc=fileformat.to_dict(self.document.workflow))

    def _start_run(self, params: dict | None = None, dialog: RunParametersDialog | None = None,
                   from_node: str | None = None) -> None:
        self.app.bridge.call("runs.start", on_result=lambda result: self._run_accepted(result, dialog),
                             on_error=lambda message: self._run_failed_to_start(message, dialog),
                             workflow_id=self.document.workflow.id, params=params, from_node=from_node)

    def _run_accepted(self, result: dict, dialog: RunParametersDialog | None = None) -> None:
        if dialog is not None:
            dialog.dismiss()
        doc = self.document
        if doc is not None and doc.run_id != result.get("run_id"):
            self.run_text = "Running…"  # its RunStarted event has not arrived yet (a fast run may be over)

    def _run_failed_to_start(self, message: str, dialog: RunParametersDialog | None = None) -> None:
        self.running = False
        self.run_text = ""
        if dialog is not None and not dialog.closing:
            dialog.show_error(message)     # the dialog stays open with what was typed
            return
        self.app.notify(f"The run did not start: {message}")

    def cancel_run(self) -> None:
        doc = self.document
        if doc is not None and doc.run_id and doc.running:
            self.run_text = "Cancelling…"
            self.app.bridge.call("runs.cancel", on_error=self.app.notify, run_id=doc.run_id)

    def _on_engine_event(self, msg: Message) -> None:
        doc = self.document
        if doc is None or not doc.apply_event(msg):
            return
        if isinstance(msg, RunFinished) and msg.status == "failed":
            failing = next((n for n, s in doc.node_states.items() if s.status == "failed"), None)
            if failing:
                self.select_node(failing)
            self.app.notify(f"Run failed: {msg.error or 'see the failed node'}")

    def _run_changed(self, node_id: str | None) -> None:
        doc = self.document
        if doc is None:
            return
        self.running = doc.running
        states = doc.node_states
        if doc.run_status is None:
            self.run_text = ""
        elif doc.running:
            done = sum(1 for s in states.values() if s.status not in ("queued", "running"))
            self.run_text = f"Running… {done}/{len(states)} nodes"
        else:
            self.run_text = f"Last run: {doc.run_status}"

    # --- panels and viewers ------------------------------------------------------------
    def open_inspector(self, node_id: str) -> None:
        if self.document is None or not self.document.workflow.has_node(node_id):
            return
        self.ids.inspector.show(self.document, node_id, self.app.bridge)
        self.inspector_open = True

    def close_inspector(self) -> None:
        self.inspector_open = False
        self.ids.inspector.clear()

    def on_canvas_selection(self, ids: Any) -> None:
        ids = list(ids)
        if len(ids) == 1:
            self.open_inspector(ids[0])
        elif not ids:
            self.close_inspector()

    def on_node_open(self, node_id: str) -> None:
        """Tap on a selected node: its output table after a run, else its panel."""
        state = self.document.node_states.get(node_id) if self.document else None
        if state is not None and state.table and not self.running:
            self.open_output(node_id)
        else:
            self.open_inspector(node_id)

    def open_output(self, node_id: str) -> None:
        from app.widgets.table_view import open_output_viewer

        state = self.document.node_states.get(node_id)
        if state is None or not state.table:
            self.app.notify("This node has no output table yet: run the workflow first")
            return
        node = self.document.workflow.node(node_id)
        title = node.label
        if node.type == "output" and node.config.get("format") == "ai_analysis":   # its answer, rendered
            from app.widgets.analysis_view import open_analysis

            open_analysis(self.app.bridge, title, state.table, state.connection)
            return
        where = self.document.connection_names.get(state.connection, state.connection) if state.connection else None
        open_output_viewer(self.app.bridge, title, state.table, state.connection, where)

    # --- keyboard ----------------------------------------------------------------------
    def _on_key_down(self, _window: Any, key: int, _scancode: int, _text: str | None, modifiers: list) -> bool:
        if self.manager is None or self.manager.current != self.name or self.document is None:
            return False
        if key == 27 and self.palette_drag is not None:
            self.palette_drag.cancel_drag()
            return True
        if any(w is not None for w in FocusBehavior._keyboards.values()):
            return False  # typing in a field: the keys are the field's
        return bool(self.ids.canvas.handle_key(key, modifiers))

    # --- palette -----------------------------------------------------------------------
    def _build_palette(self, _dt: float) -> None:
        self.palette_items = build_palette(self, self.ids.palette, self.app.registry.node_types)
        self.ids.palette.add_widget(Factory.Widget())  # keeps the palette at the top
        self.palette_resized()

    def palette_resized(self) -> None:
        items = getattr(self, "palette_items", [])
        self.palette_search_shown = bool(items) and not entries_fit(len(items), self.ids.palette_column.height)

    def filter_palette(self, text: str) -> None:
        """Show the entries whose name, type or description has every word typed."""
        box = self.ids.palette
        box.clear_widgets()
        for item in getattr(self, "palette_items", []):
            if matches(item, text):
                box.add_widget(item)
        box.add_widget(Factory.Widget())


load_kv(__file__)
