"""Start a real ``dagflux engine`` subprocess for a test and stop it afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.client import EngineClient
from engine.paths import DataPaths
from engine.service.ipc import EngineUnavailable

REPO = Path(__file__).resolve().parents[2]


class EngineProcess:
    def __init__(self, home: Path, *extra: str) -> None:
        self.home = home
        self.log = (home / "engine-test.log").open("ab")
        env = dict(os.environ, DAGFLUX_HOME=str(home))
        self.proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "engine", "--webhook-port", "0", *extra],
                                     cwd=REPO, env=env, stdout=self.log, stderr=self.log)
        self.wait_ready()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"engine exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                with self.client(timeout=1) as client:
                    if client.welcome.pid == self.proc.pid:
                        return
            except EngineUnavailable:
                time.sleep(0.05)
        raise AssertionError(f"engine not ready within {timeout} s:\n{self.log_text()}")

    def client(self, timeout: float = 5) -> EngineClient:
        return EngineClient.connect(DataPaths(self.home), timeout=timeout)

    def log_text(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return (self.home / "engine-test.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
