"""Fixtures for the integration tests.

``postgres_server`` and ``mariadb_server`` (session scope) are real, throw-away
database servers on 127.0.0.1; see :mod:`tests.integration.dbservers`.
"""

from tests.integration.dbservers import mariadb_server, postgres_server

__all__ = ["mariadb_server", "postgres_server"]
