"""The retry policy, its validation, and the rule for which failures are transient."""

from __future__ import annotations

import errno
import socket
import sqlite3

import pytest

from engine.connectors.base import ConnectorError
from engine.errors import NodeError
from engine.model import validation
from engine.model.workflow import Edge, Node, Workflow
from engine.plugins import load_registry
from engine.retry import RetryPolicy, http_status_transient, is_transient, reason_transient

REGISTRY = load_registry()


def test_delays_grow_by_the_backoff_and_are_capped():
    policy = RetryPolicy.of({"count": 4, "delay_s": 2, "backoff": 3})
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [2, 6, 18, 54]
    assert RetryPolicy.of({"count": 30, "delay_s": 3000, "backoff": 10}).delay(3) == 3600
    assert RetryPolicy.of(None).count == 0 and RetryPolicy.of({"count": 2}).delay(2) == 2.0


def _wrapped(inner: BaseException) -> NodeError:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise NodeError("node 'x' failed") from exc
    except NodeError as outer:
        return outer


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError(errno.ECONNREFUSED, "refused"), ConnectionResetError(), TimeoutError(),
    socket.gaierror(-3, "Temporary failure in name resolution"), OSError(errno.EHOSTUNREACH, "no route"),
    ConnectorError("HTTP 503", transient=True)])
def test_network_failures_are_transient_also_when_wrapped(exc):
    assert is_transient(exc) and is_transient(_wrapped(exc))


@pytest.mark.parametrize("exc", [
    sqlite3.OperationalError('near "SELEC": syntax error'), NodeError("input file x.csv does not exist"),
    FileNotFoundError(errno.ENOENT, "x.csv"), ValueError("bad"), ConnectorError("HTTP 404", transient=False),
    ConnectorError("table \"t\" does not exist")])
def test_everything_else_is_not(exc):
    assert not is_transient(exc) and not is_transient(_wrapped(exc))


def test_an_explicit_no_wins_over_a_network_cause():
    outer = ConnectorError("authentication failed", transient=False)
    outer.__cause__ = ConnectionResetError()
    assert not is_transient(outer)


def test_statuses_and_connector_reasons():
    assert [s for s in (200, 400, 401, 404, 408, 429, 500, 502, 503) if http_status_transient(s)] == [429, 500, 502,
                                                                                                     503]
    assert reason_transient("cannot reach the server (connection refused)")
    assert reason_transient("lost the connection to the server")
    assert not reason_transient("authentication failed for the configured user")
    assert not reason_transient('syntax error at or near "SELEC"')


def _flow(retry: dict, on: str = "load") -> Workflow:
    nodes = [Node("start", "start", config={"trigger": {"kind": "manual"}}),
             Node("load", "data_source", config={"source": "workspace", "table": "t"})]
    wf = Workflow("flow", nodes=nodes, edges=[Edge("start", "load")])
    wf.node(on).retry = retry
    return wf


@pytest.mark.parametrize(("retry", "message"), [
    ({"count": -1}, "node 'load': retry.count must be at least 0, got -1"),
    ({"count": 2.5}, "node 'load': retry.count must be a whole number, got 2.5"),
    ({"count": 2, "delay_s": -1}, "node 'load': retry.delay_s must be at least 0, got -1"),
    ({"count": 2, "backoff": 0.5}, "node 'load': retry.backoff must be at least 1, got 0.5"),
    ({"count": 2, "wait": 1}, "node 'load': retry: unknown key 'wait' (allowed: backoff, count, delay_s)"),
])
def test_a_bad_retry_is_named_with_node_and_field(retry, message):
    assert [str(p) for p in validation.validate(_flow(retry), REGISTRY.node_types)] == [message]


def test_a_start_node_takes_no_retry():
    problems = validation.validate(_flow({"count": 1}, on="start"), REGISTRY.node_types)
    assert [str(p) for p in problems] == ["node 'start': retry: a Start node does no work that could be retried"]
    assert validation.validate(_flow({"count": 3, "delay_s": 0.5, "backoff": 2}), REGISTRY.node_types) == []
