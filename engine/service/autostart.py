"""Start the engine when the user logs in, so schedules keep firing after a reboot.

On Linux (and the BSDs) this is an XDG autostart entry, ``dagflux-engine.desktop`` in
``$XDG_CONFIG_HOME/autostart`` (``~/.config/autostart`` when the variable is unset or
not absolute), which every freedesktop.org session starts at login.

Guarantees:

* :func:`enable` writes the entry atomically (:mod:`engine.atomic`): a crash leaves the
  old entry or the new one. Enabling twice writes the same file.
* ``Exec`` holds ``command`` quoted per the Desktop Entry Specification (reserved
  characters in double quotes, ``"`$\\`` backslash-escaped, ``%`` doubled, then the
  string-value escapes), so every argument, spaces included, reaches the engine exactly.
  When ``DAGFLUX_HOME`` is set, the command is prefixed with
  ``env DAGFLUX_HOME=<absolute data dir>`` so the login engine serves the same data.
* :func:`is_enabled` reads the entry as the session does: absent, ``Hidden=true`` or
  ``X-GNOME-Autostart-enabled=false`` (a desktop's "startup applications" switch) mean
  off. :func:`disable` removes the entry and says whether there was one.
* macOS (a LaunchAgent) and Windows (a Startup-folder shortcut) are not implemented yet:
  every function raises :class:`AutostartUnsupportedError` there, saying what to do.
"""

from __future__ import annotations

import configparser
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.atomic import atomic_write_text
from engine.errors import DagfluxError
from engine.paths import ENV_VAR, data_dir

__all__ = ["ENTRY_NAME", "AutostartUnsupportedError", "disable", "enable", "entry_path",
           "exec_line", "is_enabled"]

ENTRY_NAME = "dagflux-engine.desktop"
_GROUP = "Desktop Entry"
_XDG_PLATFORMS = ("linux", "freebsd", "openbsd", "netbsd", "dragonfly")
_RESERVED = frozenset(" \t\n\"'\\><~|&;$*?#()`")
_ESCAPE_IN_QUOTES = re.compile(r'(["`$\\])')
_STRING_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


class AutostartUnsupportedError(DagfluxError, NotImplementedError):
    """This operating system has no autostart support in DagFlux yet."""


def entry_path() -> Path:
    """Where the login entry lives (whether or not it exists)."""
    _require_xdg()
    config = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(config) if os.path.isabs(config) else Path.home() / ".config"
    return base / "autostart" / ENTRY_NAME


def enable(command: Sequence[str]) -> Path:
    """Install (or rewrite) the login entry that runs ``command``; returns its path."""
    path, text = entry_path(), _entry_text(command)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return path


def disable() -> bool:
    """Remove the login entry; True when there was one."""
    path = entry_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def is_enabled() -> bool:
    """True when the entry exists and the session would start it."""
    path = entry_path()
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    try:
        if not parser.read(path, encoding="utf-8") or not parser.has_section(_GROUP):
            return False
    except (configparser.Error, UnicodeDecodeError):
        return False    # not an entry any session would start either
    entry = parser[_GROUP]
    return (entry.get("Hidden", "false").strip() != "true"
            and entry.get("X-GNOME-Autostart-enabled", "true").strip() != "false")


def exec_line(command: Sequence[str]) -> str:
    """The ``Exec`` value running ``command`` (with the ``DAGFLUX_HOME`` prefix if set)."""
    if isinstance(command, str) or not command or not all(isinstance(a, str) for a in command):
        raise ValueError("command must be a non-empty list of strings, e.g. ['/usr/bin/dagflux', 'engine']")
    full = list(command)
    if os.environ.get(ENV_VAR):
        full = ["env", f"{ENV_VAR}={data_dir()}", *full]
    return _escape_string(" ".join(_quote_argument(arg) for arg in full))


def _entry_text(command: Sequence[str]) -> str:
    lines = [
        f"[{_GROUP}]",
        "Type=Application",
        "Version=1.5",
        "Name=DagFlux engine",
        "Comment=Runs DagFlux schedules, file watches and webhooks in the background",
        f"Exec={exec_line(command)}",
        "Terminal=false",
        "NoDisplay=true",
        "X-GNOME-Autostart-enabled=true",
    ]
    return "\n".join(lines) + "\n"


def _quote_argument(arg: str) -> str:
    if "\x00" in arg:
        raise ValueError(f"a command argument cannot contain a NUL character: {arg!r}")
    if arg and arg.isprintable() and not _RESERVED.intersection(arg):
        quoted = arg
    else:
        quoted = '"' + _ESCAPE_IN_QUOTES.sub(r"\\\1", arg) + '"'
    return quoted.replace("%", "%%")    # a lone % would start a field code


def _escape_string(value: str) -> str:
    """The Desktop Entry escapes for a string value (applied after quoting)."""
    return "".join(_STRING_ESCAPES.get(ch, ch) for ch in value)


def _require_xdg() -> None:
    if sys.platform.startswith(_XDG_PLATFORMS):
        return
    if sys.platform == "darwin":
        todo = "a LaunchAgent in ~/Library/LaunchAgents"
    elif sys.platform in ("win32", "cygwin"):
        todo = "a shortcut in the Startup folder (shell:startup)"
    else:
        todo = "a login entry for this system"
    raise AutostartUnsupportedError(
        f"starting the engine at login is not supported on {sys.platform} yet ({todo} is future work); "
        "meanwhile add `dagflux engine` to your login items by hand")
