"""The background engine: one per data directory, the only writer of its files.

``Engine.start`` takes the data-dir lock (a second engine gets a LockHeldError
naming the holder), marks runs a crash left *running* as *interrupted* and starts
listening; a warm-up thread then starts the worker pool (its forkserver launcher is
exec'd, so our threads do not matter to it), loads plugins and connections and
registers every saved workflow's trigger. Until it is done ``status`` says what is
``warming`` and other calls wait for it. ``Engine.stop`` — on SIGTERM, SIGINT or a client's
``shutdown`` — stops triggers first, cancels running runs (marked *cancelled*),
tells subscribers, stops the workers and releases the lock, in that order.
"""

from __future__ import annotations

import inspect
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from engine import __version__, debris
from engine.errors import DagfluxError
from engine.history import History
from engine.lock import DataDirLock
from engine.messages import EngineStopping, TriggerFired, Welcome
from engine.model import fileformat, validation
from engine.model.parameters import ParameterError
from engine.paths import DataPaths, ensure_data_dir
from engine.plugins import load_registry
from engine.run_ids import new_run_id
from engine.service import ipc
from engine.service.ai_assist import AiAssistCalls
from engine.service.ai_calls import AiCalls
from engine.service.events import EventBus
from engine.service.history_calls import HistoryCalls
from engine.service.plugin_calls import PluginCalls
from engine.service.server import ClientSession, IpcServer
from engine.service.store import WorkflowStore, summary
from engine.skills import sandbox_fs

log = logging.getLogger("dagflux.engine")
DEFAULT_WEBHOOK_PORT = 8737
WARM_UP_TIMEOUT_S = 120.0       # workers and triggers; a worker alone gives up after its own READY_TIMEOUT_S
ANSWERED_WHILE_WARMING = frozenset({"status", "shutdown"})


class Engine(HistoryCalls, PluginCalls, AiCalls, AiAssistCalls):
    def __init__(self, paths: DataPaths, pool_size: int | None = None, webhook_host: str = "127.0.0.1",
                 webhook_port: int = DEFAULT_WEBHOOK_PORT, poll_files: bool = False, clock: Any = None,
                 notifications: bool = True) -> None:
        self.paths = paths
        self.pool_size = pool_size
        self.webhook_host, self.webhook_port = webhook_host, webhook_port
        self.poll_files, self.clock, self.notifications = poll_files, clock, notifications
        self.socket = ipc.socket_path(paths)
        self.started_at = 0.0
        self._stopped = threading.Event()
        self._stopping = False
        self._stop_lock = threading.Lock()
        self._warm_thread: threading.Thread | None = None
        self._ready = threading.Event()         # set when the warm-up ended, well or not
        self._warm_error: str | None = None
        self.warming = ["workers", "triggers"]
        self.csv_import: str | None = None      # which path CSV imports take; known once warm

    # --- lifecycle ------------------------------------------------------------------
    def start(self, wait: bool = True) -> None:
        """Take the lock, recover, and listen; then warm up the workers, plugins and triggers
        on a thread of their own. ``status`` and ``shutdown`` are answered at once (``status``
        lists what is still ``warming``); every other call waits for the warm-up. With
        ``wait`` (the default) this returns once warm; the ``engine`` command does not wait,
        so a client sees the engine up while the worker processes are still starting."""
        ensure_data_dir(self.paths)
        self.lock = DataDirLock(self.paths.lock, role="engine")
        self.lock.acquire()
        try:
            self.history = History(self.paths.history)
            debris.recover(self.paths.workspace)
            interrupted = self.history.mark_interrupted()
            if interrupted:
                log.warning("%d run(s) left running by a stopped engine are now marked interrupted", interrupted)
            self.store = WorkflowStore(self.paths.workflows)
            self.bus = EventBus()
            self.server = IpcServer(self.socket, ipc.write_key(self.paths), self.handle, self.bus, self._welcome)
            self.server.start()
        except BaseException:
            self._teardown()
            raise
        self.started_at = time.time()
        log.info("engine %s listening (pid %d) on %s; warming up", __version__, os.getpid(), self.socket)
        self._warm_thread = threading.Thread(target=self._warm, name="dagflux-warm-up", daemon=True)
        self._warm_thread.start()
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until warm; raises DagfluxError when the warm-up failed or took too long."""
        if not self._ready.wait(WARM_UP_TIMEOUT_S if timeout is None else timeout):
            raise DagfluxError(f"the engine is still warming up ({', '.join(self.warming)})")
        if self._warm_error is not None:
            raise DagfluxError(f"the engine could not start: {self._warm_error}")

    @property
    def warm_error(self) -> str | None:
        """Why the warm-up failed (the engine then stops by itself), else None."""
        return self._warm_error

    def _warm(self) -> None:
        try:
            from engine.connectors.service import ConnectionService
            from engine.service.pruner import Pruner
            from engine.service.runs import RunManager
            from engine.service.trigger_manager import TriggerManager
            from engine.workers.pool import WorkerPool

            pool = WorkerPool(self.paths.workspace, size=self.pool_size, plugin_roots=[self.paths.plugins])
            self.pool = pool
            self.registry = load_registry([self.paths.plugins])
            self.connections = ConnectionService(self.paths.connections, self.registry, pool,
                                                 on_changed=pool.recycle_idle)
            self.runs = RunManager(self.registry, pool, self.history, self.bus, self._notify)
            self.pruner = Pruner(self.paths.root, self.paths.workspace, self.history)
            self.pruner.start()
            self.runs.after_run = self.pruner.poke
            self.warming = ["triggers"]
            if self._stopping:
                return
            self.triggers = TriggerManager(self.paths.root, self._fire, self._missed, self.webhook_host,
                                           self.webhook_port, self.clock, self.poll_files)
            self.triggers.start()
            self._register_all()
            self.csv_import = _csv_import_path()
            self.warming = []
            log.info("engine %s ready (pid %d)", __version__, os.getpid())
        except BaseException as exc:  # noqa: BLE001 - any failure here ends the engine, said once
            self._warm_error = str(exc) or type(exc).__name__
            log.error("the engine could not warm up: %s", self._warm_error)
            threading.Thread(target=self.stop, name="dagflux-shutdown", daemon=True).start()
        finally:
            self._ready.set()

    def serve_forever(self) -> None:
        """Block until stopped; SIGTERM and SIGINT stop the engine gracefully."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: threading.Thread(target=self.stop, daemon=True).start())
        while not self._stopped.wait(0.5):
            pass

    def stop(self) -> None:
        with self._stop_lock:
            if self._stopped.is_set():
                return
            log.info("engine stopping")
            self._stopping = True
            warm = self._warm_thread
            if warm is not None and warm is not threading.current_thread():
                warm.join(WARM_UP_TIMEOUT_S)    # never tear down what the warm-up is still building
            self._teardown()
            self._stopped.set()

    def _teardown(self) -> None:
        for step in (lambda: self.triggers.stop(), lambda: self.runs.stop_all(), lambda: self._ai_stop(),
                     lambda: self.pruner.stop(),
                     lambda: self.server.stop(EngineStopping(reason="the engine is stopping")),
                     lambda: self.pool.close(), lambda: self.bus.close(), lambda: self.history.close(),
                     lambda: ipc.key_path(self.paths).unlink(missing_ok=True), lambda: self.lock.release()):
            try:
                step()
            except AttributeError:
                continue  # start() failed before this part existed
            except (OSError, DagfluxError) as exc:
                log.error("while stopping: %s", exc)

    def _welcome(self) -> Welcome:
        return Welcome(pid=os.getpid(), version=__version__, socket=str(self.socket))

    # --- triggers --------------------------------------------------------------------
    def _register_all(self) -> None:
        for workflow_id in self.store.ids():
            try:
                wf = self.store.load(workflow_id)
                self.triggers.register(wf, self.store.base_dir(wf))
            except DagfluxError as exc:
                log.error("workflow %s: trigger not registered: %s", workflow_id, exc)

    def _fire(self, workflow_id: str, kind: str, rows: list | None, info: dict) -> tuple[str, str]:
        """Start a triggered run. A webhook's query string gives parameter values (``info["query"]``);
        schedules and file watches run with the defaults. A bad value: ``("invalid", reason)``."""
        try:
            wf = self.store.load(workflow_id)
            outcome, detail = self.runs.start(wf, self.store.base_dir(wf), trigger=kind, payload=rows,
                                              params=info.get("query") or None)
        except ParameterError as exc:
            log.error("trigger of %s: %s", workflow_id, exc)
            return "invalid", str(exc)
        except DagfluxError as exc:
            log.error("trigger of %s could not start a run: %s", workflow_id, exc)
            return "skipped", str(exc)
        if outcome == "started":
            self.bus.publish(TriggerFired(workflow_id=workflow_id, trigger=kind, run_id=detail,
                                          info=_plain(info)))
        return outcome, detail

    def _missed(self, workflow_id: str, info: dict) -> None:
        name = workflow_id
        try:
            name = self.store.load(workflow_id).name
        except DagfluxError:
            pass
        reason = (f"missed {info.get('missed', '?')} scheduled run(s) between {info.get('first')} and "
                  f"{info.get('last')} (machine asleep or clock changed); policy: {info.get('policy')}")
        self.history.record_skipped(new_run_id(), workflow_id, name, "schedule", time.time(), reason)

    def _notify(self, summary_text: str, body: str) -> None:
        if not self.notifications:
            return
        from engine.service.notify import notify

        notify(summary_text, body)

    # --- calls ---------------------------------------------------------------------------
    def handle(self, method: str, params: dict, session: ClientSession) -> Any:
        handler = getattr(self, "_call_" + method.replace(".", "_"), None)
        if handler is None:
            raise DagfluxError(f"unknown method '{method}'")
        if method not in ANSWERED_WHILE_WARMING:
            self.wait_ready()
        if getattr(handler, "with_client", False):   # streams events to the caller (engine.service.ai_calls)
            params = {**params, "client": session}
        try:
            inspect.signature(handler).bind(**params)
        except TypeError as exc:
            raise DagfluxError(f"bad parameters for '{method}': {exc}") from None
        return handler(**params)

    def _call_status(self) -> dict:
        warm = self._ready.is_set() and self._warm_error is None
        return {"pid": os.getpid(), "socket": str(self.socket), "version": __version__,
                "data_dir": str(self.paths.root), "uptime_s": round(time.time() - self.started_at, 1),
                "active_runs": self.runs.active() if warm else [],
                "webhook_error": self.triggers.webhook_error if warm else None,
                "warming": list(self.warming), "code_sandbox": sandbox_fs.status(),
                "csv_import": self.csv_import}

    def _call_shutdown(self) -> bool:
        threading.Thread(target=self.stop, name="dagflux-shutdown", daemon=True).start()
        return True

    def _call_workflows_list(self) -> list:
        listed = self.store.list()
        last = self.history.last_runs([w["id"] for w in listed])
        for entry in listed:
            entry["last_run"] = last.get(entry["id"])
        return listed

    def _call_workflows_get(self, id: str) -> dict:
        return fileformat.to_dict(self.store.load(id))

    def _call_workflows_save(self, doc: dict) -> dict:
        wf = fileformat.from_dict(doc, "<saved workflow>")
        if wf.settings.get("draft") and not validation.validate(wf, self.registry.node_types):
            del wf.settings["draft"]  # an imported draft, now fixed
        wf = self.store.save(wf)
        self.triggers.register(wf, self.store.base_dir(wf))
        return summary(wf)

    def _call_workflows_rename(self, id: str, name: str) -> dict:
        return summary(self.store.rename(id, name))

    def _call_workflows_duplicate(self, id: str, new_id: str | None = None, name: str | None = None) -> dict:
        wf = self.store.duplicate(id, new_id, name)
        self.triggers.register(wf, self.store.base_dir(wf))
        return summary(wf)

    def _call_workflows_delete(self, id: str) -> bool:
        self.triggers.unregister(id)
        self.triggers.forget_token(id)
        self.store.delete(id)
        return True

    def _call_workflows_set_enabled(self, id: str, enabled: bool) -> dict:
        wf = self.store.set_enabled(id, enabled)
        self.triggers.register(wf, self.store.base_dir(wf))
        return summary(wf)

    def _call_workflows_import(self, path: str, new_id: str | None = None, force: bool = False) -> dict:
        from engine.model.review import review

        wf = self.store.import_file(Path(path), new_id, self.registry.node_types, force)
        self.triggers.register(wf, self.store.base_dir(wf))
        return {**summary(wf), "review": review(wf).lines()}

    def _call_workflows_review(self, path: str) -> dict:
        from engine.model.review import review

        wf = fileformat.load(path)
        problems = validation.validate(wf, self.registry.node_types)
        return {"id": wf.id, "name": wf.name, "review": review(wf).lines(), "problems": [str(p) for p in problems]}

    def _call_runs_start(self, workflow_id: str | None = None, path: str | None = None,
                         params: dict | None = None, from_node: str | None = None) -> dict:
        if path:
            wf, base = fileformat.load(path), Path(path).resolve().parent
        elif workflow_id:
            wf = self.store.load(workflow_id)
            base = self.store.base_dir(wf)
        else:
            raise DagfluxError("runs.start needs a workflow_id or a path")
        _, run_id = self.runs.start(wf, base, trigger="manual", params=params, from_node=from_node)
        return {"run_id": run_id, "workflow_id": wf.id}

    def _call_runs_cancel(self, run_id: str) -> bool:
        return self.runs.cancel(run_id)

    def _call_runs_active(self) -> list:
        return self.runs.active()

    def _call_runs_wait(self, run_id: str, timeout: float | None = None) -> dict | None:
        return self.runs.wait(run_id, timeout)

    def _call_triggers_list(self) -> list:
        return self.triggers.listing()

    # Connections: secrets only ever travel inward; no call returns one.
    def _call_connections_types(self) -> list:
        return self.connections.types()

    def _call_connections_list(self) -> list:
        return self.connections.list()

    def _call_connections_add(self, id: str, type: str, name: str = "", settings: dict | None = None,
                              secrets: dict | None = None) -> dict:
        return self.connections.add(id, type, name, settings, secrets)

    def _call_connections_edit(self, id: str, name: str | None = None, settings: dict | None = None,
                               secrets: dict | None = None) -> dict:
        return self.connections.edit(id, name, settings, secrets)

    def _call_connections_remove(self, id: str) -> bool:
        return self.connections.remove(id)

    def _call_connections_test(self, id: str) -> dict:
        return self.connections.run_op("connection.test", connection=id)

    def _call_connections_objects(self, id: str) -> list:
        return self.connections.run_op("connection.objects", connection=id)

    def _call_connections_fields(self, id: str, object: str) -> list:
        return self.connections.run_op("connection.fields", connection=id, object=object)

    def _call_connections_sample(self, id: str, object: str, limit: int = 5) -> dict:
        return self.connections.run_op("connection.sample", connection=id, object=object, limit=limit)

    def _call_secrets_status(self) -> dict:
        return self.connections.status()

    # --- Node panels: Data Source previews, Excel sheets, "try on sample", table pages ------
    # Each runs as a worker operation (engine.workers.preview_ops) through NodePanelService
    # (engine.service.previews), built on first use; nothing here changes real data.
    def _node_panels(self) -> Any:
        service = getattr(self, "_node_panel_service", None)
        if service is None:
            from engine.service.previews import NodePanelService

            service = self._node_panel_service = NodePanelService(self.store, self.history, self.pool,
                                                                  self.connections)
        return service

    def _call_nodes_preview(self, workflow_id: str | None, node: dict, limit: int = 5) -> dict:
        return self._node_panels().preview(workflow_id, node, limit)

    def _call_nodes_sheets(self, workflow_id: str | None, path: str) -> list:
        return self._node_panels().sheets(workflow_id, path)

    def _call_nodes_try(self, workflow_id: str, node: dict, limit: int = 5, inputs: list | None = None,
                        sample: int = 1000, workflow: dict | None = None) -> dict:
        return self._node_panels().try_sample(workflow_id, node, limit, inputs, sample, workflow)

    def _call_nodes_input_columns(self, workflow_id: str, node_id: str, inputs: list | None = None,
                                  workflow: dict | None = None) -> list:
        return self._node_panels().input_columns(workflow_id, node_id, inputs, workflow)

    def _call_tables_page(self, table: str, connection: str | None = None, offset: int = 0,
                          limit: int = 100, order_by: str | None = None, descending: bool = False,
                          search: str | None = None) -> dict:
        return self._node_panels().page(table, connection, offset, limit, order_by, descending, search)


def _plain(value: Any) -> Any:
    """Trigger info as plain data for the wire."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool, bytes)):
        return value
    return str(value)


def _csv_import_path() -> str:
    """Which path CSV imports take (found during the warm-up: ``status`` answers before it)."""
    from engine.io.readers import csv_native

    return csv_native.status()
