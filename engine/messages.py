"""The message catalog: every message that crosses a process boundary.

Wire format: one msgpack map per frame, ``{"v": PROTOCOL_VERSION, "type": <name>,
"id": <int>, <field>: <value>, …}``. Requests and their replies carry the same
``id``; events carry the id of the subscription or 0. Only plain data crosses —
str, int, float, bool, None, bytes, lists and string-keyed maps — never pickles,
closures or live objects.

Names: requests are imperative (``RunNode``), replies and events are past facts
(``NodeFinished``). :func:`decode` refuses an unknown version, an unknown type or a
frame that lacks a required field, with a :class:`ProtocolError` that says which.
Unknown extra fields are ignored so that a newer peer can add optional fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import msgpack

from engine.errors import ProtocolError

PROTOCOL_VERSION = 1
RESERVED = ("v", "type", "id")

_CATALOG: dict[str, type[Message]] = {}
M = TypeVar("M", bound="Message")


@dataclass(frozen=True, kw_only=True)
class Message:
    """Base of every message; ``id`` correlates a request with its reply."""

    TYPE: ClassVar[str] = ""
    id: int = 0


def message(cls: type[M]) -> type[M]:
    """Register a message class in the catalog under its class name."""
    name = cls.__name__
    if name in _CATALOG:
        raise ProtocolError(f"message type {name} registered twice")
    for f in dataclasses.fields(cls):
        if f.name in ("v", "type"):
            raise ProtocolError(f"{name}.{f.name} uses a reserved key")
    cls.TYPE = name
    _CATALOG[name] = cls
    return cls


def catalog() -> dict[str, type[Message]]:
    return dict(_CATALOG)


def encode(msg: Message) -> bytes:
    payload: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": msg.TYPE}
    for f in dataclasses.fields(msg):
        value = getattr(msg, f.name)
        if isinstance(value, (dict, list)):
            _check_keys(value, f"{msg.TYPE}.{f.name}")
        payload[f.name] = value
    try:
        return msgpack.packb(payload, use_bin_type=True)
    except (TypeError, OverflowError, ValueError) as exc:
        raise ProtocolError(f"{msg.TYPE} carries a value that is not plain data: {exc}") from None


def _check_keys(value: Any, where: str) -> None:
    """Maps must have string keys: the receiving side refuses any other."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ProtocolError(f"{where.split('.')[0]} carries a value that is not plain data: "
                                    f"{where} has a non-string map key {key!r}")
            if isinstance(item, (dict, list)):
                _check_keys(item, f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                _check_keys(item, where)


def decode(frame: bytes) -> Message:
    try:
        payload = msgpack.unpackb(frame, raw=False, strict_map_key=True)
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError) as exc:
        raise ProtocolError(f"frame is not a msgpack message: {exc or type(exc).__name__}") from None
    if not isinstance(payload, dict):
        raise ProtocolError("frame is not a msgpack map")
    version = payload.get("v")
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {version!r} is not supported "
                            f"(this side speaks version {PROTOCOL_VERSION})")
    name = payload.get("type")
    cls = _CATALOG.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ProtocolError(f"unknown message type {name!r}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in payload:
            kwargs[f.name] = payload[f.name]
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ProtocolError(f"{name} lacks required field '{f.name}'")
    return cls(**kwargs)


# --- coordinator ⇄ worker --------------------------------------------------------

@message
@dataclass(frozen=True, kw_only=True)
class WorkerReady(Message):
    """A worker has started, loaded its plugins and opened the workspace."""

    pid: int
    plugin_errors: list = field(default_factory=list)


@message
@dataclass(frozen=True, kw_only=True)
class RunNode(Message):
    """Run one node: its inputs are workspace tables ``[{node_id, table, records}]``."""

    run_id: str
    workflow_id: str
    node_id: str
    node_type: str
    title: str = ""
    config: dict = field(default_factory=dict)
    base_dir: str = "."
    inputs: list = field(default_factory=list)
    output_table: str = ""
    timeout_s: float | None = None
    isolated: bool = False
    payload: list | None = None       # rows a trigger delivered (Start node only)
    connections: str = ""             # path of connections.json (metadata only)
    params: dict = field(default_factory=dict)   # the run's workflow parameter values


@message
@dataclass(frozen=True, kw_only=True)
class NodeResult(Message):
    """A worker's reply to :class:`RunNode`; ``error`` is already scrubbed."""

    node_id: str
    status: str                       # succeeded | failed | cancelled
    table: str | None = None
    connection: str | None = None     # where ``table`` lives; None = the workspace
    records: int | None = None
    branch: str | None = None
    error: str | None = None
    duration_ms: float = 0.0
    peak_rss_kib: int | None = None
    info: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)   # texts: something the user should know
    transient: bool = False           # a failure a later attempt may not meet (engine.retry)


@message
@dataclass(frozen=True, kw_only=True)
class RunOp(Message):
    """A short task that is not a node: test a connection, list its objects, sample rows."""

    op: str                           # connection.test | connection.objects | connection.fields | …
    params: dict = field(default_factory=dict)
    connections: str = ""
    timeout_s: float | None = 60.0
    isolated: bool = False
    title: str = ""
    node_id: str = ""


@message
@dataclass(frozen=True, kw_only=True)
class OpResult(Message):
    """A worker's reply to :class:`RunOp`; ``error`` is already scrubbed."""

    status: str                       # succeeded | failed | cancelled
    value: Any = None
    error: str | None = None
    duration_ms: float = 0.0


@message
@dataclass(frozen=True, kw_only=True)
class Shutdown(Message):
    """Ask a worker (or later the engine) to exit cleanly."""


@message
@dataclass(frozen=True, kw_only=True)
class Ping(Message):
    pass


@message
@dataclass(frozen=True, kw_only=True)
class Pong(Message):
    pid: int = 0


# --- run events (coordinator → subscribers) ------------------------------------

@message
@dataclass(frozen=True, kw_only=True)
class RunStarted(Message):
    run_id: str
    workflow_id: str
    workflow_name: str = ""
    trigger: str = "manual"
    node_ids: list = field(default_factory=list)
    started_at: float = 0.0
    params: dict = field(default_factory=dict)   # the workflow parameter values of this run


@message
@dataclass(frozen=True, kw_only=True)
class NodeStarted(Message):
    run_id: str
    node_id: str
    started_at: float = 0.0


@message
@dataclass(frozen=True, kw_only=True)
class NodeFinished(Message):
    run_id: str
    node_id: str
    node_type: str = ""
    status: str = ""
    records: int | None = None
    duration_ms: float | None = None
    error: str | None = None
    table: str | None = None          # where the result lives, for viewers (None: no table)
    connection: str | None = None     # the connection holding ``table``; None: the workspace
    warnings: list = field(default_factory=list)   # texts, e.g. a column kept as text
    attempts: int = 1                 # more than 1: the node was retried (engine.retry)


@message
@dataclass(frozen=True, kw_only=True)
class NodeRetrying(Message):
    """A node's attempt failed with a transient error; the next starts after ``delay_s``."""

    run_id: str
    node_id: str
    attempt: int = 1                  # the attempt that failed
    delay_s: float = 0.0
    error: str | None = None


@message
@dataclass(frozen=True, kw_only=True)
class RunFinished(Message):
    run_id: str
    workflow_id: str
    status: str
    error: str | None = None
    duration_ms: float = 0.0


@message
@dataclass(frozen=True, kw_only=True)
class TriggerFired(Message):
    workflow_id: str
    trigger: str                      # schedule | file_watch | webhook
    run_id: str = ""
    info: dict = field(default_factory=dict)


@message
@dataclass(frozen=True, kw_only=True)
class TriggerSkipped(Message):
    workflow_id: str
    trigger: str
    reason: str
    run_id: str = ""                  # the history row that records the skip


# --- client ⇄ engine ----------------------------------------------------------------

@message
@dataclass(frozen=True, kw_only=True)
class Hello(Message):
    """First frame from a client after authentication."""

    client: str = ""


@message
@dataclass(frozen=True, kw_only=True)
class Welcome(Message):
    pid: int
    version: str
    socket: str


@message
@dataclass(frozen=True, kw_only=True)
class Refused(Message):
    """The engine refuses the client (e.g. an unknown protocol version) and hangs up."""

    reason: str


@message
@dataclass(frozen=True, kw_only=True)
class Call(Message):
    """A request: ``method`` names an entry of :data:`METHODS`."""

    method: str
    params: dict = field(default_factory=dict)


@message
@dataclass(frozen=True, kw_only=True)
class Result(Message):
    """The successful reply to a :class:`Call` with the same id."""

    value: Any = None


@message
@dataclass(frozen=True, kw_only=True)
class Failure(Message):
    """The failed reply to a :class:`Call`; ``kind`` is the error class name."""

    error: str
    kind: str = "DagfluxError"


@message
@dataclass(frozen=True, kw_only=True)
class PluginProgress(Message):
    """An install or update in progress (engine → subscribers): ``stage`` is ``download``
    (``done`` of ``total`` bytes), ``verify`` or ``done``."""

    plugin: str
    stage: str
    done: int = 0
    total: int = 0
    detail: str = ""


@message
@dataclass(frozen=True, kw_only=True)
class EngineStopping(Message):
    """Sent to every subscriber just before the engine shuts down."""

    reason: str = ""


METHODS: dict[str, str] = {
    "status": "engine pid, version, socket, uptime, active runs",
    "shutdown": "stop the engine (triggers, runs, workers) and exit",
    "subscribe": "stream run and trigger events to this connection",
    "workflows.list": "saved workflows with trigger state and last run",
    "workflows.get": "one workflow document {id}",
    "workflows.save": "save a workflow document {doc}; re-registers its trigger",
    "workflows.rename": "{id, name}",
    "workflows.duplicate": "{id, new_id?, name?}",
    "workflows.delete": "{id}; unregisters its trigger",
    "workflows.set_enabled": "{id, enabled}: switch the workflow's trigger on or off",
    "workflows.import": "{path, new_id?, force?}: check and copy a workflow file into the data directory "
                        "(invalid: refused, or a draft with force); its trigger starts off",
    "workflows.review": "{path}: what a workflow file would run and write, and its problems (nothing saved)",
    "runs.start": "{workflow_id} or {path}, {params}?, {from_node}?; returns {run_id}",
    "runs.cancel": "{run_id}",
    "runs.active": "runs in progress",
    "runs.wait": "{run_id, timeout}: the run's summary once it ended",
    "history.list": "{limit, before?, offset?, workflow_id, status, trigger}: runs newest first; before = the "
                    "last run_id listed gives the next page (offset still works but reads every row it skips)",
    "history.count": "{workflow_id, status, trigger}: how many runs match",
    "history.workflows": "workflows in the log (deleted ones too): id, latest name, run count",
    "history.get": "{run_id}",
    "history.mark_seen": "{run_id}",
    "history.pin": "{run_id, pinned}: a pinned run is never pruned",
    "history.output": "{run_id, node_id}: the workspace table holding that node's output of that run",
    "history.budget": "{days?, size?}: the history budget (size in bytes; null: no limit); given values set it",
    "history.prune": "{dry_run}: prune beyond the budget now, or list what would go",
    "triggers.list": "every registered trigger with its state",
    "connections.types": "connector types with their form fields (which are secret)",
    "connections.list": "connection metadata: settings, secret fields and which are set — never values",
    "connections.add": "{id, type, name, settings, secrets}: secrets go to the keychain only",
    "connections.edit": "{id, name?, settings?, secrets?}: replaces the given secrets",
    "connections.remove": "{id}: also deletes its secrets from the keychain",
    "connections.test": "{id}: connect in a worker and report",
    "connections.objects": "{id}: tables / objects",
    "connections.fields": "{id, object}: columns with types",
    "connections.sample": "{id, object, limit}: the first rows (scrubbed)",
    "secrets.status": "the keychain's state: ok, missing or locked, with how to fix it",
    "nodes.preview": "{workflow_id?, node, limit}: a Data Source's columns, types, first rows and findings",
    "nodes.sheets": "{workflow_id?, path}: the sheet names of a spreadsheet file",
    "nodes.try": "{workflow_id, node, limit, inputs?, sample, workflow?}: run a node on copies of samples of its "
                 "inputs; inputs that never ran are computed on a sample (reply: provenance, inputs)",
    "nodes.input_columns": "{workflow_id, node_id, inputs?, workflow?}: each input's columns (sampled if never run)",
    "plugins.list": "every loaded plugin: version, built-in or installed, status (ok / quarantined + error), "
                    "what it adds, kept earlier versions",
    "plugins.search": "{text}: catalog plugins from the verified index, with installed version and update flag",
    "plugins.install": "{name, version?}: download, verify, smoke-test, switch; PluginProgress events; reloads",
    "plugins.update": "{name?}: install newer catalog versions; reloads",
    "plugins.remove": "{name}: remove a catalog plugin; reloads",
    "plugins.rollback": "{name}: switch back to the previous kept version (offline); reloads",
    "plugins.reload": "reload plugins now (refused with the reason while a run is active)",
    "tables.page": "{table, connection?, offset, limit, order_by?, descending?, search?}: one page of a result "
                   "table, wherever it lives, optionally sorted by a column and (workspace) filtered by text",
    "ai.assist_node": "{workflow_id, node_id, request, session?, connection?, model?, options?}: a proposal for "
                      "the node, verified on the sample (status verified / failed / question)",
    "ai.accept_proposal": "{workflow_id, proposal_id}: save a verified proposal as the node's config + provenance",
    "ai.get_proposal": "{proposal_id}: a proposal as it was returned",
    "ai.provenance": "{workflow_id}: {node id: generated | edited} for AI-written nodes",
    "ai.propose_workflow": "{request, connection?, model?, options?}: a workflow proposal, valid or with its "
                           "problems",
}


# AI calls and chat sessions: their messages and methods are in engine.messages_ai, in this catalog.
from engine.messages_ai import AI_METHODS  # noqa: E402

METHODS.update(AI_METHODS)
