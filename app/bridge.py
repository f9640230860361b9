"""The one door between the engine and the Kivy main thread.

:class:`EngineBridge` attaches to the engine of the data directory — starting one when
none runs — keeps reconnecting when the link drops, and runs every engine call on a
background thread. Whatever comes back (call results, errors, engine events, connection
state) reaches widgets only through :meth:`EngineBridge._to_main`, which schedules it on
the Kivy clock: no widget is ever touched from another thread.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kivy.clock import Clock
from kivy.event import EventDispatcher
from kivy.properties import OptionProperty, StringProperty

from engine.client import EngineCallError, EngineClient, EngineUnavailable
from engine.messages import Message
from engine.paths import DataPaths, default_paths

log = logging.getLogger(__name__)

Callback = Callable[..., None]
RECONNECT_DELAYS = (0.5, 1.0, 2.0, 4.0)


class EngineBridge(EventDispatcher):
    """``state`` is ``connecting`` → ``connected``; ``unreachable`` (with ``detail``) while the
    engine cannot be reached — the bridge keeps retrying until :meth:`stop`."""

    state = OptionProperty("connecting", options=("connecting", "connected", "unreachable"))
    detail = StringProperty("")

    def __init__(self, paths: DataPaths | None = None, start_engine: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.paths = paths or default_paths()
        self.start_engine = start_engine
        self._client: EngineClient | None = None
        self._listeners: list[Callable[[Message], None]] = []
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dagflux-call")
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.welcome: dict[str, Any] = {}

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._link_loop, name="dagflux-engine-link", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        client, self._client = self._client, None
        if client is not None:
            client.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _link_loop(self) -> None:
        attempt = 0
        while not self._stopped.is_set():
            try:
                client = self._attach()
            except EngineUnavailable as exc:
                self._to_main(self._set_state, "unreachable", str(exc))
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                attempt += 1
                self._stopped.wait(delay)
                continue
            attempt = 0
            self._client = client
            self._to_main(self._set_state, "connected", "")
            client.disconnected.wait()
            self._client = None
            if not self._stopped.is_set():
                self._to_main(self._set_state, "unreachable", "lost the engine; reconnecting…")

    def _attach(self) -> EngineClient:
        try:
            client = EngineClient.connect(self.paths, timeout=5.0, client="app", on_event=self._on_event)
        except EngineUnavailable:
            if not self.start_engine:
                raise
            self._launch_engine()
            client = EngineClient.connect(self.paths, timeout=10.0, client="app", on_event=self._on_event)
        try:
            client.subscribe()
        except (EngineUnavailable, EngineCallError) as exc:
            client.close()
            raise EngineUnavailable(f"the engine would not stream events: {exc}") from None
        return client

    def _launch_engine(self) -> None:
        """Start a background engine on our data dir; ``--detach`` returns once it is ready."""
        env = dict(os.environ, DAGFLUX_HOME=str(self.paths.root))
        proc = subprocess.run([sys.executable, "-m", "engine.cli", "engine", "--detach"], env=env,
                              capture_output=True, text=True, timeout=60)
        if proc.returncode not in (0, 1):  # 1: another engine holds the dir (it may just be starting)
            raise EngineUnavailable(f"could not start the engine: {proc.stderr.strip() or proc.returncode}")

    # --- the main-thread hop -----------------------------------------------------------
    def _to_main(self, fn: Callback, *args: Any) -> None:
        """The only place where anything from a background thread enters the UI (nothing
        enters once the bridge is stopped: the app may be gone by then)."""
        if not self._stopped.is_set():
            Clock.schedule_once(lambda _dt: None if self._stopped.is_set() else fn(*args), 0)

    def _set_state(self, state: str, detail: str) -> None:
        self.detail = detail
        self.state = state

    def _on_event(self, msg: Message) -> None:
        self._to_main(self._dispatch_event, msg)

    def _dispatch_event(self, msg: Message) -> None:
        for listener in list(self._listeners):
            listener(msg)

    # --- API for screens (main thread) -------------------------------------------------
    def listen(self, listener: Callable[[Message], None]) -> Callable[[], None]:
        """Call ``listener(msg)`` on the main thread for every engine event."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    @property
    def connected(self) -> bool:
        return self._client is not None and self.state == "connected"

    def call(self, method: str, on_result: Callback | None = None, on_error: Callback | None = None,
             timeout: float = 60.0, **params: Any) -> None:
        """Run ``method`` on a background thread; ``on_result(value)`` or ``on_error(message)``
        then runs on the main thread. Without ``on_error`` a failure is logged."""

        def work() -> None:
            client = self._client
            try:
                if client is None:
                    raise EngineUnavailable(self.detail or "the engine is not connected yet")
                value = client.call(method, timeout=timeout, **params)
            except (EngineUnavailable, EngineCallError) as exc:
                if on_error is not None:      # the screen shows it; the log keeps it (engine errors are scrubbed)
                    log.debug("%s failed: %s", method, exc)
                    self._to_main(on_error, str(exc))
                else:
                    log.warning("%s failed: %s", method, exc)
                return
            log.debug("%s answered", method)     # the method only: results may hold user data
            if on_result is not None:
                self._to_main(on_result, value)

        try:
            self._pool.submit(work)
        except RuntimeError:  # shut down: the app is closing
            pass

    def call_blocking(self, method: str, timeout: float = 60.0, **params: Any) -> Any:
        """For background threads and tests only — never from the main thread."""
        client = self._client
        if client is None:
            raise EngineUnavailable(self.detail or "the engine is not connected yet")
        return client.call(method, timeout=timeout, **params)
