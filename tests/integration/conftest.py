"""Fixtures for the integration tests.

``postgres_server`` and ``mariadb_server`` (session scope) are real, throw-away
database servers on 127.0.0.1; see :mod:`tests.integration.dbservers`. ``llama_server``
(session scope) is a real llama.cpp model server; see :mod:`tests.integration.llamaserver`.
"""

import pytest

from tests.integration.dbservers import mariadb_server, postgres_server

__all__ = ["llama_server", "mariadb_server", "postgres_server"]


@pytest.fixture(scope="session")
def llama_server():
    """One real llama.cpp server (xllamacpp + SmolLM2-135M) for the whole session, on 127.0.0.1."""
    from tests.integration.llamaserver import LlamaServer, skip_reason

    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    server = LlamaServer()
    try:
        yield server
    finally:
        server.stop()
