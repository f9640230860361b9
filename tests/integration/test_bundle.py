"""The buildozer-free desktop bundle: build it with PyInstaller, then run what it contains.

Builds ``buildozer-free/build.sh`` into a temp dir, then from the bundle only: ``dagflux
--version``; every plugin loaded and the keychain found; a foreground ``dagflux engine`` on
a temp data dir, ready by ``dagflux engine status``; the example workflow run through that
engine (its worker processes forked by the frozen forkserver); ``dagflux engine stop``; and
``dagflux-app``, which must come up and start its own engine with the bundled executable.
Prints the build time and bundle size (also written to test-artifacts/bundle.txt).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "buildozer-free" / "build.sh"
ARTIFACTS = Path(os.environ.get("DAGFLUX_TEST_ARTIFACTS", REPO / "test-artifacts"))
BUILD_TIMEOUT_S = 1800

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory):
    """The built bundle folder; removed afterwards (it is a few hundred MB)."""
    out = tmp_path_factory.mktemp("bundle")
    started = time.monotonic()
    proc = subprocess.run(["bash", str(BUILD), str(out)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                          cwd=REPO)
    seconds = time.monotonic() - started
    assert proc.returncode == 0, f"build.sh failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    folder = out / "dagflux"
    size_mb = _size_mb(folder)
    report = f"bundle {folder}: {size_mb:.0f} MB, built in {seconds:.0f} s"
    print(f"\n{report}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "bundle.txt").write_text(f"{report}\nbuild_time_s={seconds:.0f} size_mb={size_mb:.0f}\n")
    yield folder
    shutil.rmtree(out, ignore_errors=True)


def _size_mb(folder: Path) -> float:
    out = subprocess.run(["du", "-sk", str(folder)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0]) / 1024


@pytest.fixture
def env(tmp_path: Path, dagflux_home: Path) -> dict[str, str]:
    return dict(os.environ, DAGFLUX_HOME=str(dagflux_home), DAGFLUX_WEBHOOK_PORT="0",
                KIVY_HOME=str(tmp_path / "kivy-home"), KIVY_NO_ARGS="1")


def _run(bundle: Path, *args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bundle / "dagflux"), *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def _wait_ready(bundle: Path, env: dict[str, str], proc: subprocess.Popen | None, timeout: float = 60) -> dict:
    """``dagflux engine status --json`` until it answers; fails early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited with {proc.returncode}")
        status = _run(bundle, "engine", "status", "--json", env=env, timeout=30)
        if status.returncode == 0:
            return json.loads(status.stdout)
        time.sleep(0.2)
    raise AssertionError(f"no engine became ready within {timeout:g} s")


def _stop_engine(bundle: Path, env: dict[str, str]) -> None:
    _run(bundle, "engine", "stop", env=env, timeout=30)


def test_the_bundled_cli_prints_its_version(bundle: Path, env: dict[str, str]) -> None:
    from engine import __version__

    proc = _run(bundle, "--version", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"dagflux {__version__}"
    app_help = subprocess.run([str(bundle / "dagflux-app"), "--help"], capture_output=True, text=True, env=env,
                              timeout=60)
    assert app_help.returncode == 0, app_help.stderr
    assert app_help.stdout.startswith("usage: dagflux-app")


def test_the_bundle_loads_every_plugin_and_finds_the_keychain(bundle: Path, env: dict[str, str],
                                                              keyring_ready) -> None:
    plugins = _run(bundle, "plugins", env=env)  # imports the connector plugins too (psycopg, pymysql, …)
    assert plugins.returncode == 0, plugins.stdout + plugins.stderr
    assert "connectors: mariadb, postgresql, rest, sqlite" in plugins.stdout
    assert "node_types: branch, data_source, join, output, start, transformer" in plugins.stdout
    keychain = _run(bundle, "connections", "keychain", env=env)  # keyring finds its backends when frozen
    assert keychain.returncode == 0, keychain.stdout + keychain.stderr
    assert keychain.stdout.startswith("keychain ok") and "SecretService" in keychain.stdout


def test_the_bundled_engine_runs_the_example_workflow(bundle: Path, env: dict[str, str], tmp_path: Path,
                                                      dagflux_home: Path) -> None:
    example = shutil.copytree(REPO / "examples" / "orders_report", tmp_path / "orders_report")
    log = (tmp_path / "engine.log").open("wb")
    engine = subprocess.Popen([str(bundle / "dagflux"), "engine"], env=env, stdout=log, stderr=log)
    try:
        status = _wait_ready(bundle, env, engine)
        assert status["pid"] == engine.pid

        run = _run(bundle, "run", str(example / "orders_report.json"), "--json", env=env, timeout=300)
        assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n{(tmp_path / 'engine.log').read_text()}"
        result = json.loads(run.stdout)
        assert result["status"] == "succeeded"
        assert {n["id"]: n["status"] for n in result["nodes"]}["report_parquet"] == "succeeded"
        assert (example / "out").is_dir() and any((example / "out").glob("*.parquet"))
        warm = json.loads(_run(bundle, "engine", "status", "--json", env=env).stdout)
        assert warm["csv_import"] == "native loader"     # the C module is in the bundle and loads

        forkservers = [p for p in psutil.Process(engine.pid).children()
                       if "multiprocessing.forkserver" in " ".join(p.cmdline())]
        assert len(forkservers) == 1, "the engine starts its workers through a forkserver"
        assert Path(forkservers[0].exe()).resolve() == (bundle / "dagflux").resolve()
        assert forkservers[0].children(), "warm workers are forked from the bundled forkserver"
        history = _run(bundle, "history", "--json", env=env)
        assert result["run_id"] in history.stdout

        stop = _run(bundle, "engine", "stop", env=env, timeout=30)
        assert stop.returncode == 0, stop.stderr
        engine.wait(15)
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait(10)
        log.close()
    assert _run(bundle, "engine", "status", env=env).returncode == 3


def test_the_bundled_app_starts_and_launches_its_engine(bundle: Path, env: dict[str, str]) -> None:
    log_path = Path(env["KIVY_HOME"]).parent / "app.log"
    with log_path.open("wb") as log:
        app = subprocess.Popen([str(bundle / "dagflux-app")], env=env, stdout=log, stderr=log)
        try:
            status = _wait_ready(bundle, env, app, timeout=120)
            engine_exe = Path(psutil.Process(status["pid"]).exe())
            assert engine_exe.resolve() == (bundle / "dagflux").resolve()
            assert app.poll() is None, log_path.read_text(errors="replace")
        finally:
            app.send_signal(signal.SIGTERM)
            try:
                app.wait(20)
            except subprocess.TimeoutExpired:
                app.kill()
                app.wait(10)
            _stop_engine(bundle, env)
