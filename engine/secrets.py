"""Secrets in the OS keychain — written by the engine, read only by workers.

One ``keyring`` service name (:data:`SERVICE`); an entry per connection secret field,
keyed ``<connection id>/<field>`` (AI provider keys will use ``ai/<provider>``).
Nothing here returns a secret to the engine or the UI: :func:`set_secret` and
:func:`delete_secret` are the engine's calls; :func:`resolve` is for workers only.

The store is detected with a real probe (write and delete a marker), because a
backend can exist and still refuse writes. Three states, each with a plain message
saying how to fix it: ``ok``; ``missing`` (no Secret Service / keychain at all);
``locked`` (a keychain that is locked). DagFlux never falls back to storing plain
text. Every keychain call runs with a timeout, so a keychain that waits for an
unlock prompt is a clear error, not a hang.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from engine.errors import DagfluxError

SERVICE = "dagflux"
PROBE_KEY = "__dagflux_probe__"
TIMEOUT_S = 10.0
T = TypeVar("T")

HOW_TO_FIX = {
    "missing": ("no usable OS keychain was found. On Linux install and start a Secret Service "
                "(e.g. `apt install gnome-keyring` and log in to a desktop session, or run "
                "`gnome-keyring-daemon --unlock --components=secrets` inside a D-Bus session); "
                "DagFlux never stores secrets in plain text"),
    "locked": ("the OS keychain is locked. Unlock it (log in to the desktop session, or "
               "`gnome-keyring-daemon --unlock`) and try again"),
}


class SecretStoreError(DagfluxError):
    """The keychain cannot be used; ``state`` is ``missing`` or ``locked``."""

    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.state = state


@dataclass(frozen=True)
class StoreStatus:
    state: str          # ok | missing | locked
    backend: str
    message: str

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def key(connection_id: str, field: str) -> str:
    return f"{connection_id}/{field}"


def probe() -> StoreStatus:
    """Write and delete a marker: the only reliable test that secrets can be stored."""
    backend = _backend_name()
    try:
        _call(lambda kr: kr.set_password(SERVICE, PROBE_KEY, "probe"))
        _call(lambda kr: kr.delete_password(SERVICE, PROBE_KEY))
    except SecretStoreError as exc:
        return StoreStatus(exc.state, backend, str(exc))
    return StoreStatus("ok", backend, f"secrets are stored in {backend}")


def set_secret(connection_id: str, field: str, value: str) -> None:
    if not isinstance(value, str) or value == "":
        raise DagfluxError(f"connection '{connection_id}': the secret '{field}' cannot be empty")
    _call(lambda kr: kr.set_password(SERVICE, key(connection_id, field), value))


def delete_secret(connection_id: str, field: str) -> bool:
    import keyring.errors

    def delete(kr: Any) -> bool:
        try:
            kr.delete_password(SERVICE, key(connection_id, field))
        except keyring.errors.PasswordDeleteError:
            return False
        return True

    return _call(delete)


def resolve(connection_id: str, field: str) -> str | None:
    """The secret's value. Workers only: the engine and the UI never call this."""
    return _call(lambda kr: kr.get_password(SERVICE, key(connection_id, field)))


def _backend_name() -> str:
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception as exc:  # noqa: BLE001 - any backend failure means "no keychain"
        return f"none ({exc})"
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _is_locked(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "lock" in text or "prompt" in text


def _call(action: Callable[[Any], T]) -> T:
    """Run a keychain action with a timeout; map every failure to a SecretStoreError."""
    import keyring
    import keyring.errors

    outcome: list[Any] = []

    def work() -> None:
        try:
            outcome.append(("ok", action(keyring.get_keyring())))
        except keyring.errors.KeyringLocked as exc:
            outcome.append(("locked", exc))
        except keyring.errors.InitError as exc:  # a Secret Service answered but would need a prompt
            outcome.append(("locked" if _is_locked(exc) else "missing", exc))
        except keyring.errors.NoKeyringError as exc:
            outcome.append(("missing", exc))
        except keyring.errors.KeyringError as exc:
            outcome.append(("locked" if _is_locked(exc) else "missing", exc))
        except Exception as exc:  # noqa: BLE001 - D-Bus and backend errors vary; all mean unusable
            outcome.append(("locked" if _is_locked(exc) else "missing", exc))

    thread = threading.Thread(target=work, name="dagflux-keychain", daemon=True)
    thread.start()
    thread.join(TIMEOUT_S)
    if not outcome:
        raise SecretStoreError(f"the OS keychain did not answer within {TIMEOUT_S:g} s; "
                               + HOW_TO_FIX["locked"], "locked")
    state, value = outcome[0]
    if state == "ok":
        return value
    raise SecretStoreError(f"{HOW_TO_FIX[state]} ({type(value).__name__}: {value})", state)
