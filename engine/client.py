"""The engine client: what the CLI uses now and the app will use.

``EngineClient.connect()`` finds the engine of the current data directory (socket
path and key from :mod:`engine.service.ipc`), authenticates and says Hello; it
raises :class:`EngineUnavailable` when none answers within the timeout. Calls are
thread-safe: a reader thread matches replies to calls by id and hands events to
``on_event`` (or to :meth:`events`), so the app can run calls and stream events at
once. A :class:`~engine.messages.Failure` is raised as :class:`EngineCallError`
with the engine's error class name in ``kind``.

Secrets never come back through this client: the engine has no call that returns one.
"""

from __future__ import annotations

import itertools
import os
import queue
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from multiprocessing.connection import AuthenticationError, Connection, answer_challenge, deliver_challenge
from typing import Any

from engine.errors import DagfluxError, ProtocolError
from engine.messages import Call, Failure, Hello, Message, Refused, Result, Welcome
from engine.paths import DataPaths, default_paths
from engine.service.ipc import EngineUnavailable, read_key, recv, send, socket_path

__all__ = ["EngineCallError", "EngineClient", "EngineUnavailable"]


class EngineCallError(DagfluxError):
    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class EngineClient:
    def __init__(self, conn: Connection, welcome: Welcome,
                 on_event: Callable[[Message], None] | None = None) -> None:
        self._conn = conn
        self.welcome = welcome
        self._on_event = on_event
        self._events: queue.SimpleQueue[Message | None] = queue.SimpleQueue()
        self._pending: dict[int, Future[Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._closed = False
        self.disconnected = threading.Event()  # set when the link to the engine drops
        self._reader = threading.Thread(target=self._read_loop, name="dagflux-client-reader", daemon=True)
        self._reader.start()

    # --- connecting ----------------------------------------------------------------
    @classmethod
    def connect(cls, paths: DataPaths | None = None, timeout: float = 5.0, client: str = "cli",
                on_event: Callable[[Message], None] | None = None) -> EngineClient:
        paths = paths or default_paths()
        address = socket_path(paths)
        if not address.exists():
            raise EngineUnavailable(f"no engine is running for {paths.root}")
        key = read_key(paths)
        conn = _open(address, timeout)
        outcome: list[Any] = []

        def handshake() -> None:
            try:
                answer_challenge(conn, key)
                deliver_challenge(conn, key)
                send(conn, Hello(client=client))
                outcome.append(recv(conn))
            except (AuthenticationError, EOFError, OSError, ProtocolError) as exc:
                outcome.append(exc)

        worker = threading.Thread(target=handshake, daemon=True)
        worker.start()
        worker.join(timeout)
        if not outcome:
            conn.close()
            raise EngineUnavailable(f"the engine at {address} did not answer within {timeout:g} s")
        reply = outcome[0]
        if isinstance(reply, AuthenticationError):
            conn.close()
            raise EngineUnavailable(f"the engine at {address} refused our key ({paths.root / 'engine.key'})")
        if isinstance(reply, BaseException):
            conn.close()
            raise EngineUnavailable(f"the engine at {address} hung up: {reply or type(reply).__name__}")
        if isinstance(reply, Refused):
            conn.close()
            raise EngineUnavailable(f"the engine refused this client: {reply.reason}")
        if not isinstance(reply, Welcome):
            conn.close()
            raise EngineUnavailable(f"the engine answered {reply.TYPE} instead of Welcome")
        return cls(conn, reply, on_event)

    # --- calls -----------------------------------------------------------------------
    def call(self, method: str, timeout: float | None = 60.0, **params: Any) -> Any:
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise EngineUnavailable("the connection to the engine is closed")
            call_id = next(self._ids)
            self._pending[call_id] = future
        try:
            with self._send_lock:
                send(self._conn, Call(id=call_id, method=method, params=params))
        except (OSError, ValueError) as exc:
            with self._lock:
                self._pending.pop(call_id, None)
            raise EngineUnavailable(f"lost the engine: {exc}") from None
        try:
            return future.result(timeout)
        except FutureTimeout:
            with self._lock:
                self._pending.pop(call_id, None)
            raise EngineUnavailable(f"the engine did not answer {method} within {timeout:g} s") from None

    def subscribe(self) -> None:
        self.call("subscribe")

    def events(self, timeout: float | None = None) -> Iterator[Message]:
        """Events in order (when no ``on_event`` callback was given); ends when the link drops."""
        while True:
            try:
                msg = self._events.get(timeout=timeout)
            except queue.Empty:
                return
            if msg is None:
                return
            yield msg

    def close(self) -> None:
        with self._lock:
            self._closed = True
        try:  # wake the reader thread blocked in recv, then let go of the socket
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=os.dup(self._conn.fileno())) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._reader.join(2)
        try:
            self._conn.close()
        except OSError:
            pass

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reader thread ---------------------------------------------------------------
    def _read_loop(self) -> None:
        try:
            while True:
                try:
                    msg = recv(self._conn)
                except (EOFError, OSError, ProtocolError, TypeError):
                    return  # TypeError: the connection was closed under us
                if isinstance(msg, (Result, Failure)):
                    self._resolve(msg)
                elif self._on_event is not None:
                    self._on_event(msg)
                else:
                    self._events.put(msg)
        finally:
            self._fail_pending()
            self._events.put(None)
            self.disconnected.set()

    def _resolve(self, msg: Result | Failure) -> None:
        with self._lock:
            future = self._pending.pop(msg.id, None)
        if future is None:
            return
        if isinstance(msg, Result):
            future.set_result(msg.value)
        else:
            future.set_exception(EngineCallError(msg.error, msg.kind))

    def _fail_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            self._closed = True
        for future in pending.values():
            future.set_exception(EngineUnavailable("the engine closed the connection"))


def _open(address: Any, timeout: float) -> Connection:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(address))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        raise EngineUnavailable(f"no engine is listening on {address} (a stale socket file)") from None
    except OSError as exc:
        sock.close()
        raise EngineUnavailable(f"cannot reach the engine at {address}: {exc}") from None
    sock.settimeout(None)
    return Connection(sock.detach())
