"""The Workflows screen: every saved workflow, with its trigger switch and last run.

The list comes from the engine (``workflows.list``, which carries each workflow's last run)
and is fetched again whenever the screen is entered, the engine (re)connects, or a run
starts, finishes or is skipped; answers that arrive out of order never overwrite a newer
one. Tapping a row opens the workflow in the editor. Rename, duplicate, delete, import,
new workflow and the trigger switch all go through the engine; a failure is shown (in the
open dialog when there is one, else as a snackbar) and nothing is changed locally, so
what the screen shows is always what the engine holds.
"""

from __future__ import annotations

import time
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.metrics import dp
from kivy.properties import (
    BooleanProperty,
    ColorProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.recycleview.views import RecycleDataViewBehavior
from kivymd.uix.behaviors import HoverBehavior, RectangularRippleBehavior
from kivymd.uix.boxlayout import MDBoxLayout
from kivymd.uix.screen import MDScreen
from kivymd.uix.selectioncontrol import MDSwitch

from app.kvload import load_kv
from app.screens.workflows_dialogs import ConfirmDeleteDialog, ImportWorkflowDialog, WorkflowNameDialog
from app.screens.workflows_logic import (  # noqa: F401  (the pure helpers, also used from here)
    NEVER_RUN,
    STATUS_STYLE,
    TRIGGER_ICONS,
    delete_message,
    last_run_text,
    matches,
    new_workflow_doc,
    relative_time,
    row_data,
    status_rgba,
    unique_id,
)
from engine.messages import Message, RunFinished, RunStarted, TriggerFired, TriggerSkipped
from engine.model.workflow import MAX_ID_LENGTH, slugify_id

REFRESH_EVENTS = (RunStarted, RunFinished, TriggerFired, TriggerSkipped)
CLOCK_TICK_S = 30.0  # how often "3 min ago" is recomputed while the screen is shown

# --- widgets ---------------------------------------------------------------------------
class TriggerSwitch(MDSwitch):
    """An MDSwitch whose touch area is at least 48dp tall (the drawn track stays 32dp)."""

    def collide_point(self, x: float, y: float) -> bool:
        grow = max(0.0, (dp(48) - self.height) / 2)
        return self.x <= x <= self.right and self.y - grow <= y <= self.top + grow


class WorkflowRunChip(MDBoxLayout):
    """The last run: a coloured icon and ``failed · 3 min ago`` on a tinted pill."""

    icon = StringProperty("")
    text = StringProperty("")
    role = StringProperty("muted")
    colour = ColorProperty([0, 0, 0, 1])

    @staticmethod
    def colour_for(role: str, dark: bool, error: list, primary: list, muted: list) -> list[float]:
        return status_rgba(role, dark, error, primary, muted)


class WorkflowRowWidget(RecycleDataViewBehavior, RectangularRippleBehavior, ButtonBehavior, HoverBehavior,
                        MDBoxLayout):
    """One workflow in the list; its buttons call back into the screen with its id. (Not an
    MDCard: on a software GL a card's shadow/state-layer shaders made each frame ~2x slower.)"""

    screen = ObjectProperty(None, allownone=True)
    wf_id = StringProperty("")
    name = StringProperty("")
    description = StringProperty("")
    meta = StringProperty("")
    broken = BooleanProperty(False)
    trigger_icon = StringProperty("")
    switchable = BooleanProperty(False)
    enabled = BooleanProperty(False)
    run_text = StringProperty("")
    run_icon = StringProperty("")
    run_role = StringProperty("muted")
    compact = BooleanProperty(False)   # set by the kv rule from the row's width

    def refresh_view_attrs(self, rv: Any, index: int, data: dict[str, Any]) -> None:
        super().refresh_view_attrs(rv, index, data)
        self.ids.switch.active = self.enabled  # a recycled row may show another row's switch state

    def on_release(self, *args: Any) -> None:
        super().on_release(*args)
        if self.screen is not None:
            self.screen.open_workflow(self.wf_id)

    def switch_released(self, switch: MDSwitch) -> None:
        """The switch flips itself on release; the engine decides, the list then shows it."""
        if self.screen is not None and self.switchable:
            self.screen.set_enabled(self.wf_id, not self.enabled, on_error=lambda: self._undo_flip(switch))

    def _undo_flip(self, switch: MDSwitch) -> None:
        switch.active = self.enabled


class WorkflowsScreen(MDScreen):
    """``workflows`` is the engine's last answer; ``query`` filters what the list shows."""

    workflows = ListProperty([])
    query = StringProperty("")
    loaded = BooleanProperty(False)     # True once a listing arrived (before: no empty state)
    shown_count = NumericProperty(0)
    dialog = ObjectProperty(None, allownone=True)  # the open dialog, if any

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._seq = 0
        self._tick_ev = None
        self._refresh_trigger = Clock.create_trigger(lambda _dt: self._fetch(), 0.1)
        self._unlisten = self.app.bridge.listen(self._on_engine_event)
        self.app.bridge.bind(state=self._bridge_state)
        self.bind(workflows=lambda *_: self._show(), query=lambda *_: self._show())
        self.refresh()

    @property
    def app(self):
        return App.get_running_app()

    # --- lifecycle -------------------------------------------------------------------
    def on_enter(self, *args: Any) -> None:
        self.refresh()
        if self._tick_ev is None:
            self._tick_ev = Clock.schedule_interval(lambda _dt: self._show(), CLOCK_TICK_S)

    def on_leave(self, *args: Any) -> None:
        if self._tick_ev is not None:
            self._tick_ev.cancel()
            self._tick_ev = None

    def on_app_stop(self) -> None:
        self.on_leave()
        self._unlisten()
        self.app.bridge.unbind(state=self._bridge_state)

    def _bridge_state(self, _bridge: Any, state: str) -> None:
        if state == "connected":
            self.refresh()

    def _on_engine_event(self, msg: Message) -> None:
        if isinstance(msg, REFRESH_EVENTS):
            self.refresh()

    # --- listing ---------------------------------------------------------------------
    def refresh(self) -> None:
        """Fetch the list again (a burst of calls makes one engine call)."""
        self._refresh_trigger()

    def _fetch(self) -> None:
        if not self.app.bridge.connected:
            return  # the state binding refreshes once the engine is there
        self._seq += 1
        seq = self._seq
        self.app.bridge.call("workflows.list", on_result=lambda result: self._listed(seq, result),
                             on_error=lambda message: self._failed("Could not list the workflows", message))

    def _listed(self, seq: int, result: list[dict[str, Any]]) -> None:
        if seq != self._seq:
            return  # an older answer overtaken by a newer request
        self.loaded = True
        self.workflows = sorted(result, key=lambda w: (str(w.get("name") or w["id"]).lower(), w["id"]))

    def _show(self) -> None:
        now = time.time()
        rows = [row_data(w, now, self) for w in self.workflows if matches(w, self.query)]
        self.shown_count = len(rows)
        self.ids.rv.data = rows

    def known_ids(self) -> set[str]:
        return {w["id"] for w in self.workflows}

    def summary(self, workflow_id: str) -> dict[str, Any]:
        return next((w for w in self.workflows if w["id"] == workflow_id), {"id": workflow_id})

    def _failed(self, what: str, message: str) -> None:
        self.app.notify(f"{what}: {message}")

    # --- row actions -----------------------------------------------------------------
    def open_workflow(self, workflow_id: str) -> None:
        error = self.summary(workflow_id).get("error")
        if error:
            self.app.notify(f"This workflow file cannot be opened: {error}")
            return
        self.app.open_workflow(workflow_id)

    def set_enabled(self, workflow_id: str, enabled: bool, on_error: Any = None) -> None:
        def failed(message: str) -> None:
            if on_error is not None:
                on_error()
            self._failed("Could not switch the trigger " + ("on" if enabled else "off"), message)

        self.app.bridge.call("workflows.set_enabled", on_result=lambda _s: self.refresh(), on_error=failed,
                             id=workflow_id, enabled=enabled)

    def duplicate(self, workflow_id: str) -> None:
        def done(summary: dict[str, Any]) -> None:
            self.app.notify(f"Duplicated as “{summary['name']}” ({summary['id']})")
            self.refresh()

        self.app.bridge.call("workflows.duplicate", on_result=done,
                             on_error=lambda m: self._failed("Could not duplicate the workflow", m), id=workflow_id)

    def ask_rename(self, workflow_id: str) -> None:
        name = self.summary(workflow_id).get("name") or workflow_id
        self._open_dialog(WorkflowNameDialog(
            headline="Rename workflow", confirm_text="Rename", text=name,
            message=f"The id “{workflow_id}” stays the same, so triggers and table names keep working.",
            action=lambda dialog, new: self._rename(dialog, workflow_id, new)))

    def _rename(self, dialog: WorkflowNameDialog, workflow_id: str, name: str) -> None:
        if not name.strip():
            dialog.show_error("A workflow needs a name.")
            return
        dialog.busy = True
        self.app.bridge.call("workflows.rename", on_result=lambda _s: self._dialog_done(dialog),
                             on_error=dialog.show_error, id=workflow_id, name=name.strip())

    def ask_delete(self, workflow_id: str) -> None:
        summary = self.summary(workflow_id)
        self._open_dialog(ConfirmDeleteDialog(
            headline=f"Delete “{summary.get('name') or workflow_id}”?",
            message=delete_message(summary), action=lambda dialog: self._delete(dialog, workflow_id)))

    def _delete(self, dialog: ConfirmDeleteDialog, workflow_id: str) -> None:
        dialog.busy = True
        self.app.bridge.call("workflows.delete", on_result=lambda _r: self._dialog_done(dialog),
                             on_error=dialog.show_error, id=workflow_id)

    # --- top bar actions -------------------------------------------------------------
    def ask_new(self) -> None:
        self._open_dialog(WorkflowNameDialog(
            headline="New workflow", confirm_text="Create", text="",
            message="It starts with a Start node run by hand; add nodes and a schedule in the editor.",
            id_preview=lambda name: unique_id(slugify_id(name, "workflow"), self.known_ids()),
            action=self._create))

    def _create(self, dialog: WorkflowNameDialog, name: str) -> None:
        name = name.strip()
        if not name:
            dialog.show_error("Give the workflow a name.")
            return
        workflow_id = unique_id(slugify_id(name, "workflow"), self.known_ids())
        dialog.busy = True

        def saved(_summary: dict[str, Any]) -> None:
            self._dialog_done(dialog)
            self.app.open_workflow(workflow_id)

        self.app.bridge.call("workflows.save", on_result=saved, on_error=dialog.show_error,
                             doc=new_workflow_doc(workflow_id, name))

    def ask_import(self) -> None:
        self._open_dialog(ImportWorkflowDialog(action=self._import, review=self._review))

    def _review(self, dialog: ImportWorkflowDialog, path: str) -> None:
        dialog.busy = True
        self.app.bridge.call("workflows.review", on_result=lambda reply: dialog.show_review(path, reply),
                             on_error=dialog.show_error, path=path.strip())

    def _import(self, dialog: ImportWorkflowDialog, path: str, as_copy: bool) -> None:
        if not path.strip():
            dialog.show_error("Choose a workflow file first.")
            return
        params: dict[str, Any] = {"path": path.strip(), "force": dialog.has_problems}
        if as_copy and dialog.duplicate_id:
            params["new_id"] = unique_id(f"{dialog.duplicate_id[:MAX_ID_LENGTH - 7]}_copy", self.known_ids())
        dialog.busy = True

        def imported(summary: dict[str, Any]) -> None:
            self._dialog_done(dialog)
            off = "; its trigger is off until you switch it on" if summary.get("trigger") not in (None, "manual") \
                else ""
            draft = " as a draft (it does not run until fixed)" if summary.get("draft") else ""
            self.app.notify(f"Imported “{summary['name']}” ({summary['id']}){draft}{off}")

        self.app.bridge.call("workflows.import", on_result=imported, on_error=dialog.show_error, **params)

    # --- dialogs ---------------------------------------------------------------------
    def _open_dialog(self, dialog: Any) -> None:
        if self.dialog is not None:
            self.dialog.dismiss()
        self.dialog = dialog
        dialog.bind(on_dismiss=self._dialog_closed)
        dialog.open()

    def _dialog_closed(self, dialog: Any) -> None:
        if self.dialog is dialog:
            self.dialog = None

    def _dialog_done(self, dialog: Any) -> None:
        dialog.dismiss()
        self.refresh()


load_kv(__file__)
