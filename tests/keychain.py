"""A private, unlocked Secret Service for tests: dbus-daemon + gnome-keyring-daemon.

Each test session gets its own bus and its own keyring files in a temp dir, so tests
never touch a user's keychain. Returns the environment variables that point at it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

PASSWORD = "dagflux-test-keyring"


class SecretService:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.pids: list[int] = []
        self.env: dict[str, str] = {}

    def start(self, unlock: bool = True) -> dict[str, str]:
        runtime, data = self.root / "runtime", self.root / "data"
        runtime.mkdir(mode=0o700, parents=True)
        data.mkdir(parents=True)
        out = subprocess.run(["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
                             capture_output=True, text=True, check=True, timeout=20)
        address, pid = out.stdout.split()[:2]
        self.pids.append(int(pid))
        env = {"DBUS_SESSION_BUS_ADDRESS": address, "XDG_RUNTIME_DIR": str(runtime),
               "XDG_DATA_HOME": str(data)}
        command = ["gnome-keyring-daemon", "--unlock" if unlock else "--start", "--components=secrets"]
        keyring = subprocess.run(command, input=PASSWORD if unlock else "", capture_output=True, text=True,
                                 timeout=20, env={**os.environ, **env}, check=True)
        for line in keyring.stdout.splitlines():
            key, _, value = line.partition("=")
            if key == "GNOME_KEYRING_PID":
                self.pids.append(int(value))
            elif key:
                env[key] = value
        self.env = env
        return env

    def stop(self) -> None:
        for pid in reversed(self.pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


def available() -> bool:
    return bool(shutil.which("dbus-daemon") and shutil.which("gnome-keyring-daemon"))
