"""Registration of every saved workflow's trigger with the component that fires it.

Schedules go to the :class:`~engine.service.scheduler.Scheduler`, file and folder
watches to the :class:`~engine.service.filewatch.FileWatcher`, webhooks to the
:class:`~engine.service.webhook.WebhookServer`. :meth:`TriggerManager.register`
always unregisters the workflow's previous trigger first, and disabling or deleting
a workflow unregisters it, so no job, watch or route is ever orphaned.

Webhook tokens are kept in ``<data dir>/webhooks.json`` (mode 0600) so a workflow's
URL survives engine restarts; a token is a capability, never written to a workflow.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.atomic import atomic_path
from engine.model import triggers
from engine.model.workflow import Workflow
from engine.service.filewatch import FileWatcher
from engine.service.scheduler import Scheduler
from engine.service.store import is_enabled, start_trigger

log = logging.getLogger("dagflux.triggers")
SCHEDULE_KINDS = ("interval", "daily", "weekly", "monthly", "cron")

# fire(workflow_id, trigger kind, rows or None, info) → ("started", run_id) | ("skipped", reason)
FireCallback = Callable[[str, str, list | None, dict], tuple[str, str]]
MissedCallback = Callable[[str, dict], None]


class TriggerManager:
    def __init__(self, data_dir: Path, fire: FireCallback, on_missed: MissedCallback,
                 webhook_host: str = "127.0.0.1", webhook_port: int = 0, clock: Any = None,
                 poll_files: bool = False, max_body_bytes: int = 10 * 1024 * 1024) -> None:
        self._fire = fire
        self._tokens_path = Path(data_dir) / "webhooks.json"
        self._lock = threading.Lock()
        self._registered: dict[str, tuple[Any, ...]] = {}   # workflow id → (kind, trigger, where)
        self.scheduler = Scheduler(self._on_schedule, on_missed=on_missed, clock=clock)
        # The file watcher's settle window runs on real time: a fake clock is for schedules.
        self.watcher = FileWatcher(self._on_files, poll=poll_files)
        # The webhook server (and aiohttp) starts with the first webhook trigger, not before:
        # most engines have none, and importing aiohttp is a large part of a cold start.
        self._webhook_args = {"host": webhook_host, "port": webhook_port, "max_body_bytes": max_body_bytes}
        self.webhooks: Any = None
        self.webhook_error: str | None = None

    def start(self) -> None:
        self.scheduler.start()
        self.watcher.start()

    def stop(self) -> None:
        self.scheduler.stop()
        self.watcher.stop()
        if self.webhooks is not None and self.webhook_error is None:
            self.webhooks.stop()

    def _webhook_server(self) -> Any:
        if self.webhooks is None:
            from engine.service.webhook import WebhookServer, WebhookServerError

            self.webhooks = WebhookServer(self._on_webhook, **self._webhook_args)
            try:
                self.webhooks.start()
            except WebhookServerError as exc:  # the port is taken: webhooks are off, the rest works
                self.webhook_error = str(exc)
                log.error("%s", self.webhook_error)
        return self.webhooks

    # --- registration -----------------------------------------------------------
    def register(self, wf: Workflow, base_dir: Path) -> None:
        """(Re-)register ``wf``'s trigger; an unchanged trigger is left running as it is
        (an autosave must not reset a schedule or drop file changes still settling)."""
        trigger = start_trigger(wf)
        wanted = None
        if trigger is not None and is_enabled(wf) and trigger.kind != "manual":
            where = (str(triggers.resolve_watch_path(trigger, base_dir))
                     if isinstance(trigger, triggers.FileWatchTrigger) else None)
            wanted = (trigger.kind, trigger, where)
        with self._lock:
            if wanted is not None and self._registered.get(wf.id) == wanted:
                return
        self.unregister(wf.id)
        if wanted is None:
            return
        if trigger.kind in SCHEDULE_KINDS:
            self.scheduler.set(wf.id, trigger)
        elif isinstance(trigger, triggers.FileWatchTrigger):
            self.watcher.set(wf.id, trigger, Path(wanted[2]))
        elif isinstance(trigger, triggers.WebhookTrigger):
            server = self._webhook_server()
            if self.webhook_error is None:
                server.add(self._token(wf.id), wf.id, trigger.formats)
        with self._lock:
            self._registered[wf.id] = wanted

    def unregister(self, workflow_id: str) -> None:
        with self._lock:
            kind = self._registered.pop(workflow_id, None)
        if kind is None:
            return
        self.scheduler.remove(workflow_id)
        self.watcher.remove(workflow_id)
        if self.webhooks is not None and self.webhook_error is None:
            self.webhooks.remove_workflow(workflow_id)

    def forget_token(self, workflow_id: str) -> None:
        tokens = self._load_tokens()
        if tokens.pop(workflow_id, None) is not None:
            self._save_tokens(tokens)

    def listing(self) -> list[dict[str, Any]]:
        schedules, watches = self.scheduler.registered(), self.watcher.registered()
        with self._lock:
            registered = {wf_id: entry[0] for wf_id, entry in self._registered.items()}
        out = []
        for workflow_id, kind in sorted(registered.items()):
            entry: dict[str, Any] = {"workflow_id": workflow_id, "kind": kind}
            entry.update(schedules.get(workflow_id, {}))
            entry.update(watches.get(workflow_id, {}))
            if kind == "webhook":
                entry["url"] = self.webhook_url(workflow_id)
                entry["state"] = "error" if self.webhook_error else "listening"
                if self.webhook_error:
                    entry["detail"] = self.webhook_error
            out.append(entry)
        return out

    def webhook_url(self, workflow_id: str) -> str | None:
        token = self._load_tokens().get(workflow_id)
        if token is None or self.webhook_error or self.webhooks is None:
            return None
        return self.webhooks.url_for(token)

    # --- callbacks from the components -------------------------------------------
    def _on_schedule(self, workflow_id: str, info: dict) -> None:
        self._fire(workflow_id, "schedule", None, info)

    def _on_files(self, workflow_id: str, info: dict) -> None:
        rows = [{"path": c.get("path"), "event": c.get("event"), "size": c.get("size"),
                 "mtime": c.get("mtime")} for c in info.get("changes", [])]
        self._fire(workflow_id, "file_watch", rows, info)

    def _on_webhook(self, workflow_id: str, rows: list, meta: dict) -> tuple[str, str]:
        return self._fire(workflow_id, "webhook", rows, meta)

    # --- tokens ------------------------------------------------------------------
    def _token(self, workflow_id: str) -> str:
        with self._lock:
            tokens = self._load_tokens()
            if workflow_id not in tokens:
                from engine.service.webhook import new_token

                tokens[workflow_id] = new_token()
                self._save_tokens(tokens)
            return tokens[workflow_id]

    def _load_tokens(self) -> dict[str, str]:
        try:
            data = json.loads(self._tokens_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.error("cannot read %s (%s); webhook URLs will be new", self._tokens_path, exc)
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}

    def _save_tokens(self, tokens: dict[str, str]) -> None:
        with atomic_path(self._tokens_path) as tmp:
            tmp.write_text(json.dumps(tokens, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            os.chmod(tmp, 0o600)
