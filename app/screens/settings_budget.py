"""The Settings screen's history budget card (:mod:`engine.history_budget`).

It shows the engine's ``history.budget`` — how many days of runs' data are kept and how
much kept-table data at most — read each time Settings is shown, and saves what the user
types ("30", "off"; "500 MB", "2 GB", "off"); the engine applies it at its next background
pruning pass, which a save starts. Pinned runs (pinned in a run's detail) are never pruned.
A value the engine refuses is said under the fields, and nothing is saved.
"""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import StringProperty
from kivymd.uix.boxlayout import MDBoxLayout

from app.kvload import load_kv


def days_text(days: float | None) -> str:
    return "off" if days is None else f"{days:g}"


def size_text(size: int | None) -> str:
    if size is None:
        return "off"
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale and size * 10 % scale == 0:
            return f"{size / scale:g} {unit}"
    return str(size)


class HistoryBudgetCard(MDBoxLayout):
    note = StringProperty("")
    error = StringProperty("")

    def load(self) -> None:
        """Ask the engine for the budget (Settings calls this when it is shown)."""
        bridge = App.get_running_app().bridge
        if bridge is not None:
            bridge.call("history.budget", timeout=10, on_result=self._show, on_error=self._failed)

    def save(self) -> None:
        bridge = App.get_running_app().bridge
        if bridge is None:
            return
        self.error = ""
        bridge.call("history.budget", timeout=10, on_result=self._saved, on_error=self._failed,
                    days=self.ids.budget_days.text.strip() or "off",
                    size=self.ids.budget_size.text.strip() or "off")

    def _show(self, budget: dict[str, Any]) -> None:
        self.ids.budget_days.text = days_text(budget.get("days"))
        self.ids.budget_size.text = size_text(budget.get("size"))
        self.note = (f"Runs' data is kept {days_text(budget.get('days'))} days"
                     if budget.get("days") is not None else "Runs' data is kept with no age limit") + \
            (f", kept tables up to {size_text(budget.get('size'))}." if budget.get("size") is not None
             else ", with no size limit.")

    def _saved(self, budget: dict[str, Any]) -> None:
        self._show(budget)
        App.get_running_app().notify("History budget saved: pruning beyond it starts in the background")

    def _failed(self, message: str) -> None:
        self.error = message


load_kv(__file__)
