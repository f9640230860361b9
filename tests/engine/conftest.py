"""Fixtures shared by the engine's unit tests."""

from __future__ import annotations

import pytest

from engine.workspace import WriteLease, connect


@pytest.fixture
def ws(tmp_path):
    """A fresh workspace: (connection, write lease)."""
    path = tmp_path / "ws.sqlite"
    conn = connect(path)
    lease = WriteLease(path)
    yield conn, lease
    conn.close()
    lease.close()
