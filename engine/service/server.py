"""The engine's IPC server: authenticated clients, calls and streamed events.

One thread accepts; each client gets its own thread, so a slow or silent client
never blocks another. A client must first pass the HMAC challenge with the key from
``engine.key`` (a wrong key is refused and the server keeps accepting), then send
:class:`~engine.messages.Hello`; a frame of another protocol version is answered
with :class:`~engine.messages.Refused` and the connection is closed. After that,
every :class:`~engine.messages.Call` gets a :class:`~engine.messages.Result` or
:class:`~engine.messages.Failure` with the same id; a client that subscribed also
receives events on the same connection. A client that disconnects mid-stream is
simply dropped.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from multiprocessing.connection import (
    AuthenticationError,
    Client,
    Connection,
    Listener,
    answer_challenge,
    deliver_challenge,
)
from pathlib import Path
from typing import Any

from engine import frametap, messages
from engine.errors import DagfluxError, ProtocolError
from engine.messages import Call, Failure, Hello, Message, Refused, Result, Welcome
from engine.service.events import EventBus, Subscriber
from engine.service.ipc import prepare_socket_dir, recv

log = logging.getLogger("dagflux.server")
Handler = Callable[[str, dict, "ClientSession"], Any]


class ClientSession:
    """One connected client; ``send`` is safe from any thread."""

    def __init__(self, conn: Connection, number: int) -> None:
        self.conn = conn
        self.number = number
        self.subscription: Subscriber | None = None
        self._send_lock = threading.Lock()
        self.closed = False

    def send(self, msg: Message) -> None:
        frame = messages.encode(msg)
        frametap.record(frame)
        with self._send_lock:
            self.conn.send_bytes(frame)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.conn.close()
            except OSError:
                pass


class IpcServer:
    def __init__(self, address: Path, authkey: bytes, handler: Handler, bus: EventBus,
                 welcome: Callable[[], Welcome]) -> None:
        self.address = Path(address)
        self._authkey = authkey
        self._handler = handler
        self._bus = bus
        self._welcome = welcome
        self._sessions: set[ClientSession] = set()
        self._lock = threading.Lock()
        self._stopping = False
        self._counter = 0
        self._listener: Listener | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        prepare_socket_dir(self.address)
        if self.address.exists():  # we hold the data-dir lock, so any socket here is stale
            self.address.unlink()
        old_umask = os.umask(0o177)
        try:
            self._listener = Listener(str(self.address), family="AF_UNIX")
        finally:
            os.umask(old_umask)
        os.chmod(self.address, 0o600)
        self._thread = threading.Thread(target=self._accept_loop, name="dagflux-accept", daemon=True)
        self._thread.start()

    def stop(self, goodbye: Message | None = None) -> None:
        self._stopping = True
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            if goodbye is not None and session.subscription is not None:
                try:
                    session.send(goodbye)
                except (OSError, ValueError):
                    pass
            session.close()
        if self._listener is not None:
            try:  # wake the blocked accept() with a throwaway connection
                Client(str(self.address), family="AF_UNIX").close()
            except OSError:
                pass
            self._listener.close()
        if self._thread is not None:
            self._thread.join(5)
        try:
            self.address.unlink()
        except FileNotFoundError:
            pass

    # --- connections ---------------------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping:
            try:
                conn = self._listener.accept()
            except OSError:
                if self._stopping:
                    return
                continue
            if self._stopping:
                conn.close()
                return
            self._counter += 1
            session = ClientSession(conn, self._counter)
            threading.Thread(target=self._serve, args=(session,), daemon=True,
                             name=f"dagflux-client-{self._counter}").start()

    def _serve(self, session: ClientSession) -> None:
        try:
            if not self._handshake(session):
                return
            with self._lock:
                self._sessions.add(session)
            while not session.closed:
                try:
                    msg = recv(session.conn)
                except (EOFError, OSError):
                    return
                except ProtocolError as exc:
                    session.send(Refused(reason=str(exc)))
                    return
                if isinstance(msg, Call):
                    self._answer(session, msg)
        finally:
            self._drop(session)

    def _handshake(self, session: ClientSession) -> bool:
        try:
            deliver_challenge(session.conn, self._authkey)
            answer_challenge(session.conn, self._authkey)
        except (AuthenticationError, EOFError, OSError) as exc:
            log.warning("refused a client: %s", exc or "authentication failed")
            return False
        try:
            hello = recv(session.conn)
        except (EOFError, OSError):
            return False
        except ProtocolError as exc:
            _try_send(session, Refused(reason=f"{exc}; upgrade the client or the engine"))
            return False
        if not isinstance(hello, Hello):
            _try_send(session, Refused(reason=f"expected Hello, got {hello.TYPE}"))
            return False
        session.send(self._welcome())
        return True

    def _answer(self, session: ClientSession, call: Call) -> None:
        if call.method == "shutdown" and not call.params:
            # Answer first: stopping closes every session, and the caller must learn it worked.
            _try_send(session, Result(id=call.id, value=True))
            self._handler(call.method, {}, session)
            return
        try:
            if call.method == "subscribe":
                self._subscribe(session)
                value: Any = True
            else:
                value = self._handler(call.method, call.params or {}, session)
            reply: Message = Result(id=call.id, value=value)
        except DagfluxError as exc:
            reply = Failure(id=call.id, error=str(exc), kind=type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - a handler bug must answer the client, not kill the session
            log.exception("call %s failed", call.method)
            reply = Failure(id=call.id, error=f"internal error in {call.method}: {exc}", kind="InternalError")
        try:
            session.send(reply)
        except ProtocolError as exc:
            session.send(Failure(id=call.id, error=str(exc), kind="ProtocolError"))

    def _subscribe(self, session: ClientSession) -> None:
        if session.subscription is None:
            session.subscription = self._bus.subscribe(session.send, session.close, f"client-{session.number}")

    def _drop(self, session: ClientSession) -> None:
        with self._lock:
            self._sessions.discard(session)
        if session.subscription is not None:
            self._bus.unsubscribe(session.subscription)
        session.close()


def _try_send(session: ClientSession, msg: Message) -> None:
    try:
        session.send(msg)
    except (OSError, ValueError):
        pass


__all__ = ["ClientSession", "IpcServer", "messages"]
