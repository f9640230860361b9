"""A trigger fires only once the user switches it on: a duplicated workflow's trigger starts
off (as an imported one's does), and switching it is an undoable workflow-setting command."""

from __future__ import annotations

from pathlib import Path

from engine.model.settings_commands import SetWorkflowSettingCommand
from engine.model.undo import UndoStack
from engine.model.workflow import Node, Workflow
from engine.service.store import WorkflowStore, is_enabled


def scheduled() -> Workflow:
    wf = Workflow("daily", name="Daily")
    wf.insert_node(Node("start", "start", "Start", config={"trigger": {"kind": "daily", "time": "09:00"}}))
    return wf


def test_a_duplicated_workflows_trigger_starts_off(tmp_path: Path) -> None:
    store = WorkflowStore(tmp_path)
    store.save(scheduled())
    assert is_enabled(store.load("daily"))          # a file without the setting keeps firing as before
    copy = store.duplicate("daily")
    assert copy.id == "daily_copy" and not is_enabled(store.load("daily_copy"))
    assert is_enabled(store.load("daily"))          # the original is untouched


def test_switching_a_trigger_is_one_undoable_step() -> None:
    wf = scheduled()
    wf.settings["trigger_enabled"] = False
    stack = UndoStack()
    stack.push(SetWorkflowSettingCommand(wf, "trigger_enabled", True, text="Switch the trigger on"))
    assert is_enabled(wf) and stack.can_undo
    stack.undo()
    assert wf.settings["trigger_enabled"] is False
    stack.redo()
    assert wf.settings["trigger_enabled"] is True
    fresh = scheduled()
    stack.push(SetWorkflowSettingCommand(fresh, "trigger_enabled", False))
    stack.undo()
    assert "trigger_enabled" not in fresh.settings   # undo removes a key that was not there
