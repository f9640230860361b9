"""The Start node's form: when the workflow runs.

Kinds: by hand, a schedule (every N minutes in 15-minute steps, daily, weekly, monthly or
a cron expression), a file watch (path, events, subfolders) or a webhook (body formats,
and the URL from the engine with a copy button). A schedule shows what it means in plain
language (:func:`engine.model.triggers.describe`), its cron expression and its next fire
time; what the user typed is stored as typed, so a wrong value stays visible with its
error until it is fixed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.clipboard import Clipboard
from kivy.properties import StringProperty
from kivymd.uix.boxlayout import MDBoxLayout

from app.kvload import load_kv
from app.widgets.inspector.fields import CheckRow, ChipsRow, PickButton, SegmentRow, TextRow
from app.widgets.inspector.form_base import NodeForm, get_dotted, relative_to
from engine.model import triggers
from engine.model.settings_commands import SetWorkflowSettingCommand

load_kv(__file__)

KIND_GROUPS = [("manual", "By hand"), ("schedule", "Schedule"), ("file_watch", "File"), ("webhook", "Webhook")]
SCHEDULES = [("interval", "Every N min"), ("daily", "Daily"), ("weekly", "Weekly"), ("monthly", "Monthly"),
             ("cron", "Cron")]
DAYS = [("mon", "Mo"), ("tue", "Tu"), ("wed", "We"), ("thu", "Th"), ("fri", "Fr"), ("sat", "Sa"), ("sun", "Su")]
EVENTS = [("add", "Added"), ("change", "Changed"), ("delete", "Deleted")]
FORMATS = [("json", "JSON"), ("csv", "CSV")]
DEFAULT_TIME = "09:00"
TYPING_DELAY_S = 0.35
URL_RETRIES = 6
URL_RETRY_S = 1.5


def group_of(kind: str) -> str:
    return "schedule" if kind in triggers.SCHEDULE_KINDS else kind


def default_trigger(kind: str, old: Mapping[str, Any]) -> dict[str, Any]:
    """A new trigger of ``kind`` that keeps what carries over from ``old`` (time, days)."""
    time = old.get("time") if isinstance(old.get("time"), str) else DEFAULT_TIME
    if kind == "interval":
        return {"kind": kind, "minutes": 60}
    if kind == "daily":
        return {"kind": kind, "time": time}
    if kind == "weekly":
        days = old.get("days") if isinstance(old.get("days"), list) and old.get("days") else ["mon", "tue", "wed",
                                                                                              "thu", "fri"]
        return {"kind": kind, "days": days, "time": time}
    if kind == "monthly":
        return {"kind": kind, "day": 1, "time": time}
    if kind == "cron":
        return {"kind": kind, "expression": _cron_equivalent(old) or "0 9 * * 1-5"}
    if kind == "file_watch":
        return {"kind": kind, "path": "", "events": ["add", "change"]}
    return {"kind": kind}


def _cron_equivalent(old: Mapping[str, Any]) -> str | None:
    try:
        return triggers.to_cron(triggers.parse_trigger({"trigger": dict(old)}))
    except triggers.TriggerError:
        return None


def number_or_text(text: str) -> Any:
    """What a number field stores: an int when it is one, else the text (shown as an error)."""
    text = text.strip()
    return int(text) if text.isdigit() else text


def plain_summary(config: Mapping[str, Any], now: dt.datetime | None = None) -> tuple[str, str, str]:
    """(sentence, cron line, next-run line) for a Start config; empty lines when not applicable."""
    try:
        trigger = triggers.parse_trigger(config)
    except triggers.TriggerError:
        return "Fix the settings above to see when this workflow runs.", "", ""
    sentence = triggers.describe(trigger)
    sentence = sentence[:1].upper() + sentence[1:]
    if not triggers.is_schedule(trigger):
        return sentence, "", ""
    cron = triggers.to_cron(trigger)
    cron_line = f"Cron: {cron}" if cron else "Cron: no exact cron equivalent"
    fire = triggers.next_fire(trigger, now or dt.datetime.now())
    next_line = f"Next run: {fire:%a %d %b %Y, %H:%M}" if fire else "Next run: none within the search horizon"
    return sentence, cron_line, next_line


class TriggerSummary(MDBoxLayout):
    sentence = StringProperty("")
    cron = StringProperty("")
    next_run = StringProperty("")


class WebhookUrlBox(MDBoxLayout):
    url = StringProperty("")
    status = StringProperty("")

    def copy_url(self) -> None:
        if self.url:
            Clipboard.copy(self.url)
            app = App.get_running_app()
            if app is not None and hasattr(app, "notify"):
                app.notify("Webhook URL copied")


class StartForm(NodeForm):
    def build(self) -> None:
        self.kind_row = SegmentRow(label="Runs", key="trigger.kind", options=KIND_GROUPS)
        self.kind_row.bind(on_choice=lambda _w, group: self._switch_group(group))
        self.details = MDBoxLayout(orientation="vertical", adaptive_height=True, spacing="8dp")
        self.summary = TriggerSummary()
        for widget in (self.kind_row, self.details, self.summary):
            self.add_widget(widget)
        self._built: str | None = None
        self._url_event = None
        self._url_tries = 0

    # --- loading -----------------------------------------------------------------------------
    def load(self, config: Mapping[str, Any]) -> None:
        trigger = config.get("trigger") if isinstance(config.get("trigger"), Mapping) else {}
        kind = str(trigger.get("kind") or "manual")
        self.kind_row.value = group_of(kind)
        if self._built != kind:
            self._build_details(kind)
        self._load_details(config, trigger)
        self.summary.sentence, self.summary.cron, self.summary.next_run = plain_summary(config)

    def _build_details(self, kind: str) -> None:
        self.details.clear_widgets()
        self._built = kind
        if group_of(kind) == "schedule":
            self.schedule_row = SegmentRow(label="Repeat", options=SCHEDULES)
            self.schedule_row.bind(on_choice=lambda _w, k: self._switch_kind(k))
            self.details.add_widget(self.schedule_row)
        builder = getattr(self, f"_build_{kind}", None)
        if builder is not None:
            builder()
        if kind != "manual":   # a trigger fires only once the user switches it on
            self.active = CheckRow(label="On: run automatically", key="")
            self.active.bind(on_choice=lambda _w, on: self._set_active(on))
            self.details.add_widget(self.active)
        else:
            self.active = None
        if group_of(kind) == "schedule":
            self.missed = CheckRow(label="If a run was missed, run once when back", key="missed_runs")
            self.missed.bind(on_choice=lambda _w, on: self.change(missed_runs="run_once" if on else "skip"))
            self.details.add_widget(self.missed)
        if kind == "webhook":
            self._fetch_url(restart=True)

    def _set_active(self, on: bool) -> None:
        doc = self.document
        doc.push(SetWorkflowSettingCommand(doc.workflow, "trigger_enabled", bool(on),
                                           text="Switch the trigger on" if on else "Switch the trigger off"))
        self._show_active()

    def stack_changed(self) -> None:
        self._show_active()

    def _show_active(self) -> None:
        if getattr(self, "active", None) is not None and self.document is not None:
            on = bool(self.document.workflow.settings.get("trigger_enabled", True))
            self.active.active = on
            self.active.label = "On: runs automatically" if on else "Off: switch on to run automatically"

    def _load_details(self, config: Mapping[str, Any], trigger: Mapping[str, Any]) -> None:
        kind = self._built or "manual"
        self._show_active()
        if group_of(kind) == "schedule":
            self.schedule_row.value = kind
            self.missed.active = config.get("missed_runs") == "run_once"
        for key, widget in self._text_fields().items():
            widget.load(trigger.get(key))
        if kind == "interval":
            minutes = trigger.get("minutes")
            self.stepper.text = f"{minutes} min" if isinstance(minutes, int) else "—"
        if kind == "weekly":
            self.days.values = [d for d, _ in DAYS if d in (trigger.get("days") or [])]
        if kind == "file_watch":
            self.events.values = [e for e, _ in EVENTS if e in (trigger.get("events") or [])]
            self.recursive.active = trigger.get("recursive") is True
        if kind == "webhook":
            formats = trigger.get("formats")
            self.formats.values = list(triggers.WEBHOOK_FORMATS) if formats is None else \
                [f for f, _ in FORMATS if f in formats]

    def _text_fields(self) -> dict[str, TextRow]:
        names = {"interval": ("minutes",), "daily": ("time",), "weekly": ("time",), "monthly": ("day", "time"),
                 "cron": ("expression",), "file_watch": ("path",)}.get(self._built or "", ())
        return {name: getattr(self, f"{name}_field") for name in names}

    # --- building the kinds ------------------------------------------------------------------
    def _text(self, name: str, hint: str, helper: str = "", number: bool = False) -> TextRow:
        row = TextRow(hint=hint, key=f"trigger.{name}", helper=helper)
        convert = number_or_text if number else str.strip
        row.bind(on_commit=lambda _w, text: self.change(**{f"trigger.{name}": convert(text)}))
        row.bind(on_typing=lambda _w, text: self._typed(f"trigger.{name}", convert(text)))
        setattr(self, f"{name}_field", row)
        self.details.add_widget(row)
        return row

    def _typed(self, key: str, value: Any) -> None:
        """The sentence follows what is being typed, a short pause after the last key."""
        self._typed_config = self.edited(**{key: value})
        if getattr(self, "_typed_ev", None) is None:
            self._typed_ev = Clock.create_trigger(self._show_typed, TYPING_DELAY_S)
        self._typed_ev()

    def _show_typed(self, _dt: float = 0) -> None:
        if self.node is not None:
            self.summary.sentence, self.summary.cron, self.summary.next_run = plain_summary(self._typed_config)

    def _build_interval(self) -> None:
        self.stepper = IntervalStepper(form=self)
        self.details.add_widget(self.stepper)
        self._text("minutes", "Minutes (a multiple of 15, up to 1440)", number=True)

    def _build_daily(self) -> None:
        self._text("time", "Time (HH:MM, 24-hour)")

    def _build_weekly(self) -> None:
        self.days = ChipsRow(label="On", key="trigger.days", options=DAYS)
        self.days.bind(on_choice=lambda _w, days: self.change(**{"trigger.days": days}))
        self.details.add_widget(self.days)
        self._text("time", "Time (HH:MM, 24-hour)")

    def _build_monthly(self) -> None:
        self._text("day", "Day of the month (1–31)", "Days 29–31 run on the last day of shorter months",
                   number=True)
        self._text("time", "Time (HH:MM, 24-hour)")

    def _build_cron(self) -> None:
        self._text("expression", "Cron expression", "minute  hour  day-of-month  month  day-of-week")

    def _build_file_watch(self) -> None:
        row = MDBoxLayout(adaptive_height=True, spacing="4dp")
        field = self._text("path", "File or folder to watch")
        self.details.remove_widget(field)
        row.add_widget(field)
        row.add_widget(PickButton(on_release=lambda *_: self._pick_watch_path()))
        self.details.add_widget(row)
        self.events = ChipsRow(label="When a file is", key="trigger.events", options=EVENTS)
        self.events.bind(on_choice=lambda _w, events: self.change(**{"trigger.events": events}))
        self.recursive = CheckRow(label="Include subfolders", key="trigger.recursive")
        self.recursive.bind(on_choice=lambda _w, on: self.change(**{"trigger.recursive": on or None}))
        self.details.add_widget(self.events)
        self.details.add_widget(self.recursive)

    def _build_webhook(self) -> None:
        self.formats = ChipsRow(label="Accepts", key="trigger.formats", options=FORMATS)
        self.formats.bind(on_choice=lambda _w, formats: self.change(**{"trigger.formats": formats}))
        self.url_box = WebhookUrlBox()
        self.details.add_widget(self.formats)
        self.details.add_widget(self.url_box)

    # --- edits -------------------------------------------------------------------------------
    def _switch_group(self, group: str) -> None:
        kind = "daily" if group == "schedule" else group
        self._switch_kind(kind)

    def _switch_kind(self, kind: str) -> None:
        config = self.config
        old = config.get("trigger") if isinstance(config.get("trigger"), Mapping) else {}
        config["trigger"] = default_trigger(kind, old)
        if kind in triggers.SCHEDULE_KINDS:
            config.setdefault("missed_runs", "skip")
        else:
            config.pop("missed_runs", None)
        self.push(config)

    def step_minutes(self, steps: int) -> None:
        minutes = get_dotted(self.config, "trigger.minutes")
        minutes = minutes if isinstance(minutes, int) and not isinstance(minutes, bool) else 60
        step = triggers.INTERVAL_STEP
        minutes = (minutes // step + steps) * step
        self.change(**{"trigger.minutes": max(step, min(triggers.INTERVAL_MAX, minutes))})

    def _pick_watch_path(self) -> None:
        current = str(get_dotted(self.config, "trigger.path") or "")
        self.picker = self.pick_path(current, "any", "Watch a file or folder",
                                     lambda path: self.change(**{"trigger.path": relative_to(path, self.base_dir())}))

    # --- the webhook URL (from the engine, once the workflow is saved) -----------------------
    def _fetch_url(self, restart: bool = False) -> None:
        if restart:
            self._url_tries = 0
        bridge = self.panel.bridge
        if bridge is None or self.node is None:
            self.url_box.status = "Connect to the engine to see the URL"
            return
        self._url_tries += 1
        self.url_box.status = "Asking the engine for the URL…"
        bridge.call("triggers.list", on_result=self._got_triggers, on_error=self._url_failed)

    def _got_triggers(self, listing: list) -> None:
        if self._built != "webhook":
            return
        workflow_id = self.document.workflow.id
        entry = next((e for e in listing if e.get("workflow_id") == workflow_id and e.get("kind") == "webhook"), None)
        if entry and entry.get("url"):
            self.url_box.url, self.url_box.status = entry["url"], "POST JSON or CSV here to start a run"
            return
        self.url_box.url = ""
        detail = (entry or {}).get("detail")
        self.url_box.status = detail or "The URL appears once the workflow is saved with this trigger…"
        if not detail and self._url_tries < URL_RETRIES:
            self._url_event = Clock.schedule_once(lambda _dt: self._fetch_url(), URL_RETRY_S)

    def _url_failed(self, message: str) -> None:
        if self._built == "webhook":
            self.url_box.status = f"Could not get the URL: {message}"

    def on_hide(self) -> None:
        if self._url_event is not None:
            self._url_event.cancel()
            self._url_event = None


class IntervalStepper(MDBoxLayout):
    text = StringProperty("")

    def __init__(self, form: StartForm, **kwargs: Any) -> None:
        self.form = form
        super().__init__(**kwargs)
