"""Desktop notifications over D-Bus (``org.freedesktop.Notifications``), best effort.

:func:`notify` sends one notification on the session bus with jeepney's blocking API
and returns whether the notification service accepted it.

Guarantees:

* It never raises for anything the environment does: no session bus
  (``DBUS_SESSION_BUS_ADDRESS`` unset or unreachable), no notification service, a
  refused call, a broken bus. It then returns ``False`` and logs the reason at debug
  level on ``dagflux.notify``. Only a caller's mistake (an unknown ``urgency``) raises.
* It returns within ``timeout`` seconds (1 s by default). jeepney's connection
  handshake has no time limit of its own, so the exchange runs on a short-lived daemon
  thread that the caller waits for at most ``timeout``; a bus that never answers costs
  one parked thread, never a hung engine.
* Text is shown as written: when the service renders markup in the body, ``&``, ``<``
  and ``>`` are escaped first.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from html import escape

from jeepney import DBusAddress, new_method_call
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from jeepney.wrappers import unwrap_msg

__all__ = ["URGENCIES", "notify"]

log = logging.getLogger("dagflux.notify")

URGENCIES = {"low": 0, "normal": 1, "critical": 2}
APP_NAME = "DagFlux"
_SERVICE = DBusAddress("/org/freedesktop/Notifications", bus_name="org.freedesktop.Notifications",
                       interface="org.freedesktop.Notifications")


def notify(summary: str, body: str, urgency: str = "normal", timeout: float = 1.0) -> bool:
    """Show a desktop notification; True when the notification service accepted it."""
    if urgency not in URGENCIES:
        raise ValueError(f"urgency must be one of {', '.join(URGENCIES)}, got {urgency!r}")
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        log.debug("no notification: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)")
        return False
    outcome: list[bool] = []
    deadline = time.monotonic() + timeout
    worker = threading.Thread(target=lambda: outcome.append(_deliver(summary, body, urgency, deadline)),
                              name="dagflux-notify", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        log.debug("no notification: the session bus did not answer within %.1f s", timeout)
    return bool(outcome and outcome[0])


def _deliver(summary: str, body: str, urgency: str, deadline: float) -> bool:
    try:
        with open_dbus_connection("SESSION", auth_timeout=_left(deadline)) as conn:
            if "body-markup" in _capabilities(conn, deadline):
                body = escape(body, quote=False)
            _call(conn, "Notify", "susssasa{sv}i", deadline,
                  (APP_NAME, 0, "", summary, body, [], {"urgency": ("y", URGENCIES[urgency])}, -1))
        return True
    except Exception as exc:  # best effort by contract: any failure means "not shown", logged
        log.debug("no notification: %s: %s", type(exc).__name__, exc)
        return False


def _capabilities(conn: DBusConnection, deadline: float) -> list[str]:
    capabilities: list[str] = _call(conn, "GetCapabilities", None, deadline, ())[0]
    return capabilities


def _call(conn: DBusConnection, method: str, signature: str | None, deadline: float, args: tuple) -> tuple:
    """The reply's body; an error reply raises jeepney's DBusErrorResponse."""
    reply = conn.send_and_get_reply(new_method_call(_SERVICE, method, signature, args),
                                    timeout=_left(deadline))
    body: tuple = unwrap_msg(reply)
    return body


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the notification took longer than its time limit")
    return left
