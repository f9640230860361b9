"""What a plugin implements, and what a node handler gets to work with.

A **node type** is a :class:`NodeType` subclass declared in a plugin manifest. The
engine uses its class attributes (ports, arity) and :meth:`NodeType.validate_config`
to validate workflows without running anything; a worker process calls
:meth:`NodeType.execute` with a :class:`NodeContext`.

Data moves as tables: a handler reads its inputs' workspace tables and leaves its
result in a table it names in :class:`NodeOutput` (usually ``ctx.output_table``,
or an input table unchanged for Branch and in-place transforms). Rows never leave
the worker.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from engine import kept, templates, workspace
from engine.errors import NodeError
from engine.model import parameters
from engine.model.secret_placement import RULE as SECRET_RULE

PARAM_PREFIX = "dfparam_"
PREVIEW_RUN = "try"   # the run id of a "try" preview's context: no run
# The plugin API this DagFlux provides. A manifest's ``api_version`` (default 1) above it
# is refused: the plugin was written for a newer DagFlux. Raise it when this module grows
# something a plugin may rely on.
PLUGIN_API_VERSION = 2
# 2: object-storage connectors (``Connector.object_store``, :mod:`engine.connectors.objects`,
#    :mod:`engine.connectors.arrowfs`) — what the S3 and Azure Blob catalog plugins build on.
__all__ = ["PLUGIN_API_VERSION", "ConfigProblem", "InputTable", "NodeContext", "NodeOutput", "NodeType", "require"]


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a node's configuration; ``field`` is the config key."""

    field: str
    message: str


def require(config: Mapping[str, Any], *names: str) -> list[ConfigProblem]:
    """Problems for every required field that is missing or empty."""
    return [ConfigProblem(n, f"'{n}' is required") for n in names
            if config.get(n) in (None, "", [], {})]


@dataclass(frozen=True)
class InputTable:
    node_id: str
    table: str
    records: int | None = None
    connection: str | None = None     # where the table lives; None = the workspace


@dataclass
class NodeOutput:
    table: str | None = None          # table holding the result
    records: int | None = None        # rows in that table
    connection: str | None = None     # the connection the table lives in; None = the workspace
    branch: str | None = None         # the output port taken (Branch only)
    info: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)   # shown in the run's node detail and history


def _pick(inputs: list[tuple[str, str]], ref: templates.Reference, fallback: Any) -> str:
    """Input references render as the already-quoted names in ``inputs``."""
    if ref.kind == "input" and len(inputs) == 1:
        return inputs[0][1]
    if ref.kind == "input_pos" and ref.arg and int(ref.arg) <= len(inputs):
        return inputs[int(ref.arg) - 1][1]
    if ref.kind == "input_node":
        for node_id, name in inputs:
            if node_id == ref.arg:
                return name
    return fallback(ref)


class NodeType:
    """Base class of every node type; subclasses set the class attributes."""

    type_name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    output_ports: ClassVar[tuple[str, ...]] = ("out",)
    reads_input_table: ClassVar[bool] = True
    """False for nodes whose input only orders execution (Data Source after Start)."""

    def validate_config(self, config: Mapping[str, Any], input_ids: list[str]) -> list[ConfigProblem]:
        return []

    def modifies_input(self, config: Mapping[str, Any]) -> bool:
        """True when the node changes its input table in place."""
        return False

    def provides_table(self, config: Mapping[str, Any]) -> bool:
        """False when the node's output carries no table (Start with a plain trigger)."""
        return bool(self.output_ports)

    def runs_isolated(self, config: Mapping[str, Any]) -> bool:
        """True when the node runs user code and needs a fresh, restricted worker."""
        return False

    def credential_fields(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        """Config fields whose values are credentials sent through the node's own connection:
        the only places a ``{{ secret.… }}`` reference may appear (see
        :mod:`engine.model.secret_placement`). None by default."""
        return ()

    def execute(self, ctx: NodeContext) -> NodeOutput:
        raise NotImplementedError


class NodeContext:
    """Everything a handler needs, built by the worker for one task."""

    def __init__(self, *, workflow_id: str, run_id: str, node_id: str, node_type: str,
                 title: str, config: Mapping[str, Any], base_dir: Path,
                 inputs: list[InputTable], output_table: str,
                 conn: sqlite3.Connection, lease: workspace.WriteLease,
                 workspace_path: Path, isolated: bool = False,
                 payload: list[dict[str, Any]] | None = None, connections: Any = None,
                 params: Mapping[str, Any] | None = None) -> None:
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.node_id = node_id
        self.node_type = node_type
        self.title = title
        self.config = config
        self.base_dir = base_dir
        self.inputs = inputs
        self.output_table = output_table
        self.conn = conn
        self.lease = lease
        self.workspace_path = workspace_path
        self.isolated = isolated
        self.payload = payload
        """Rows delivered by the trigger that started the run (Start node only)."""
        self.connections = connections
        """The worker's :class:`~engine.connectors.runtime.ConnectionRuntime`."""
        self.params = dict(params or {})
        """The run's workflow parameter values (:mod:`engine.model.parameters`)."""
        self.sample_rows: int | None = None
        """Set only when the node computes an input for "try on sample" (never in a run): a
        source then reads at most this many rows (:mod:`engine.workers.sample_cache`)."""

    def location(self, connection_id: str | None) -> Any:
        """A connector for ``connection_id``, or for the workspace when it is None."""
        if connection_id is None:
            from engine.connectors.local import WorkspaceConnector

            return WorkspaceConnector(self.conn, self.lease, keep=(self.output_table, self.keep_run))
        if self.connections is None:
            raise NodeError(f"node '{self.label}': connections are not available here")
        return self.connections.connector(connection_id)

    def render_for(self, text: str, location: Any) -> str:
        """Resolve references for SQL that runs in ``location``: tables quoted in its dialect.
        A secret reference is refused: secrets are credentials, never SQL values. So is a
        parameter: SQL that binds them is rendered by :meth:`render_bound`."""
        sql, _ = self._render_in(text, location, bind=False)
        return sql

    def render_bound(self, text: str, location: Any) -> tuple[str, dict[str, Any]]:
        """Like :meth:`render_for`, with each ``{{ param.X }}`` a placeholder in the driver's
        style (``:dfparam_X`` for SQLite, ``%(dfparam_X)s`` for PostgreSQL and MariaDB — whose
        literal ``%`` is then doubled); returns the SQL and the bindings ({} when none is used)."""
        return self._render_in(text, location, bind=True)

    def _render_in(self, text: str, location: Any, bind: bool) -> tuple[str, dict[str, Any]]:
        inputs = [(i.node_id, location.qualified(i.table) if i.connection else location.quote_ident(i.table))
                  for i in self.inputs]
        pyformat = getattr(location, "dialect", "sqlite") in ("postgresql", "mysql")
        used = bind and any(True for _ in parameters.references(text))
        escape = (lambda part: part.replace("%", "%%")) if used and pyformat else (lambda part: part)

        def resolve(ref: templates.Reference) -> str:
            if ref.kind == "secret":  # SQL is data: a secret there could be selected into a table
                raise NodeError(f"node '{self.label}': {SECRET_RULE} — {ref.text} is not allowed in SQL")
            if ref.kind == "param":
                if not bind:
                    raise NodeError(f"node '{self.label}': {ref.text}: parameters are bound in SQL that reads "
                                    f"(a SELECT into the workspace, a Branch condition); this SQL changes "
                                    f"tables in connection '{location.name}'")
                if ref.arg not in self.params:
                    raise NodeError(f"node '{self.label}': {ref.text} has no value in this run")
                return f"%({PARAM_PREFIX}{ref.arg})s" if pyformat else f":{PARAM_PREFIX}{ref.arg}"
            if ref.kind in ("input", "input_pos", "input_node"):
                return escape(_pick(inputs, ref, templates.table_resolver(inputs, None, str)))
            if ref.kind == "table":
                return escape(location.qualified(ref.arg or ""))
            return escape(location.quote_ident(self.output_table))

        sql = templates.render(text, resolve, escape)
        if not used:
            return sql, {}
        # psycopg and PyMySQL adapt Python values themselves (a bool stays a boolean)
        return sql, ({f"{PARAM_PREFIX}{k}": v for k, v in self.params.items()} if pyformat else self.sql_params)

    @property
    def label(self) -> str:
        return self.title or self.node_id

    def input(self) -> InputTable:
        if len(self.inputs) != 1:
            raise NodeError(f"node '{self.label}' needs exactly one input table, has {len(self.inputs)}")
        return self.inputs[0]

    def render(self, text: str) -> str:
        """Resolve template references to quoted workspace table names; a ``{{ param.X }}``
        becomes the named placeholder ``:dfparam_X``, whose value :attr:`sql_params` binds —
        a parameter's value never becomes SQL text."""
        tables = templates.table_resolver([(i.node_id, i.table) for i in self.inputs],
                                          self.output_table, workspace.quote_ident)

        def resolve(ref: templates.Reference) -> str:
            if ref.kind != "param":
                return tables(ref)
            if ref.arg not in self.params:
                raise NodeError(f"node '{self.label}': {ref.text} has no value in this run")
            return f":{PARAM_PREFIX}{ref.arg}"

        return templates.render(text, resolve)

    @property
    def sql_params(self) -> dict[str, Any]:
        """Bindings for SQL rendered by :meth:`render` (SQLite takes named parameters)."""
        return {f"{PARAM_PREFIX}{k}": int(v) if isinstance(v, bool) else v for k, v in self.params.items()}

    def render_path(self, text: str) -> str:
        """A config path with its ``{{ param.X }}`` references replaced by the values as text;
        any other ``{{ … }}`` stays as written (paths have no table references)."""
        missing = [ref.text for ref in parameters.references(text) if ref.arg not in self.params]
        if missing:
            raise NodeError(f"node '{self.label}': {missing[0]} has no value in this run")
        return parameters.fill_text(text, self.params)

    def resolve_path(self, value: str) -> Path:
        """A path from the config (parameters filled in), relative to the workflow file's folder."""
        path = Path(self.render_path(value)).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    def write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One short write transaction under the workspace write lease."""
        return workspace.write_transaction(self.conn, self.lease)

    def staging_table(self) -> str:
        return workspace.staging_name(self.output_table)

    @property
    def keep_run(self) -> str | None:
        """The run this node's output belongs to (None for a "try" preview, which is no run)."""
        return None if self.run_id == PREVIEW_RUN else self.run_id

    def set_aside(self, conn: sqlite3.Connection) -> None:
        """In the transaction that replaces the node's output table, first: keep the result it
        replaces under its run's name (:mod:`engine.kept`)."""
        kept.set_aside(conn, self.output_table, self.keep_run)

    def publish(self, staging: str) -> int:
        """Swap ``staging`` in as this node's output table; returns its row count."""
        workspace.publish_table(self.conn, self.lease, staging, self.output_table, self.set_aside)
        return workspace.count_rows(self.conn, self.output_table)

    @contextlib.contextmanager
    def building_table(self) -> Iterator[str]:
        """Yield a staging table name; drop it if building fails."""
        staging = self.staging_table()
        try:
            yield staging
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                with self.write():
                    self.conn.execute(f"DROP TABLE IF EXISTS {workspace.quote_ident(staging)}")
            raise
