"""Data Source: makes one input readable downstream.

``source: file`` re-imports a local file into the node's workspace table on every
run (streamed in batches, names sanitised, types inferred — see
:mod:`engine.io.readers`; columns that are numbers except for some values, and a file
with no rows, are the node's warnings); ``source: workspace`` reads an existing workspace table
in place, without a copy; ``source: connection`` reads a database table in place
(``connection``, ``table``); ``source: rest`` walks a REST fetch spec (``connection``,
``path``, ``records_path``, ``pagination`` …) into the node's workspace table;
``source: storage`` reads an object (``path``) or every object under a prefix (a ``path``
ending in ``/``) of an object-storage connection — S3, Azure Blob, from catalog plugins —
into the node's workspace table (:mod:`engine.connectors.objects`). An input edge, if
any, only orders execution.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from engine import workspace
from engine.errors import NodeError
from engine.io import readers
from engine.io.rows import write_rows
from engine.plugin_api import ConfigProblem, NodeContext, NodeOutput, NodeType, require

SOURCES = ("file", "workspace", "connection", "rest", "storage")
_OPTION_NAME = re.compile(r"option '(\w+)'")


def _option_problems(options: Mapping[str, Any]) -> list[ConfigProblem]:
    """Problems of the reading options every format shares (null markers, column types),
    found before a run; the format's own options are checked when the file is read."""
    from engine.io.readers._options import null_markers, type_choice

    problems = []
    for check in (null_markers, type_choice):
        try:
            check("options", options)
        except NodeError as exc:
            text = str(exc).removeprefix("options: ")
            named = _OPTION_NAME.match(text)
            problems.append(ConfigProblem(f"options.{named.group(1)}" if named else "options", text))
    return problems


class DataSourceNode(NodeType):
    type_name = "data_source"
    label = "Data Source"
    min_inputs = 0
    max_inputs = 1
    reads_input_table = False

    def credential_fields(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        """A REST request's header and query values may carry its own connection's secrets."""
        return ("headers", "params") if config.get("source") == "rest" else ()

    def validate_config(self, config: Mapping[str, Any], input_ids: list[str]) -> list[ConfigProblem]:
        source = config.get("source", "file")
        if source not in SOURCES:
            return [ConfigProblem("source", f"must be one of {', '.join(SOURCES)}, not {source!r}")]
        if source == "workspace":
            return require(config, "table")
        if source == "connection":
            return require(config, "connection", "table")
        if source == "rest":
            return require(config, "connection", "path")
        if source == "storage":
            return require(config, "connection", "path") + self._format_problems(config)
        return require(config, "path") + self._format_problems(config)

    def _format_problems(self, config: Mapping[str, Any]) -> list[ConfigProblem]:
        problems = []
        fmt = config.get("format")
        if fmt is not None and fmt not in readers.FORMATS:
            problems.append(ConfigProblem("format", f"unknown format {fmt!r} "
                                                    f"(supported: {', '.join(readers.FORMATS)})"))
        options = config.get("options", {})
        if not isinstance(options, dict):
            problems.append(ConfigProblem("options", "must be an object"))
        else:
            problems += _option_problems(options)
        return problems

    def execute(self, ctx: NodeContext) -> NodeOutput:
        source = ctx.config.get("source", "file")
        if source == "workspace":
            return self._workspace_table(ctx)
        if source == "connection":
            return self._connection_table(ctx)
        if source == "rest":
            return self._rest(ctx)
        if source == "storage":
            return self._storage(ctx)
        path = ctx.resolve_path(str(ctx.config["path"]))
        if not path.exists():
            raise NodeError(f"node '{ctx.label}': input file {path} does not exist")
        if path.is_dir():
            raise NodeError(f"node '{ctx.label}': {path} is a folder, not a file")
        with ctx.building_table() as staging:
            result = readers.import_file(ctx.conn, ctx.lease, path, staging, ctx.config.get("format"),
                                         ctx.config.get("options") or {}, max_rows=ctx.sample_rows)
            records = ctx.publish(staging)
        warnings = [f"{path.name}: {f['message']}" for f in result.findings]
        if records == 0:
            # Not an error (a header-only file is a valid empty table), but never a surprise.
            warnings.append(f"0 rows read from {path.name}: the table has its columns and no rows")
        return NodeOutput(table=ctx.output_table, records=records,
                          info={"columns": [list(c) for c in result.columns], "findings": result.findings},
                          warnings=warnings)

    def _connection_table(self, ctx: NodeContext) -> NodeOutput:
        """A database table is read in place: nothing is copied."""
        connection, table = str(ctx.config["connection"]), str(ctx.config["table"])
        connector = ctx.location(connection)
        if not connector.table_exists(table):
            raise NodeError(f"node '{ctx.label}': connection '{connector.name}' has no table '{table}'")
        return NodeOutput(table=table, connection=connection, records=connector.count(table))

    def _rest(self, ctx: NodeContext) -> NodeOutput:
        """Every page the fetch spec walks lands in the node's workspace table."""
        connector = ctx.location(str(ctx.config["connection"]))
        spec = {k: v for k, v in ctx.config.items() if k not in ("source", "connection", "description")}
        if ctx.sample_rows is not None:     # a sample for "try": stop fetching after that many records
            spec["max_records"] = min(int(spec.get("max_records") or ctx.sample_rows), ctx.sample_rows)
        records = (record for page in connector.fetch(spec) for record in page)
        with ctx.building_table() as staging:
            write_rows(ctx.conn, ctx.lease, staging, records, ctx.label)
            count = ctx.publish(staging)
        return NodeOutput(table=ctx.output_table, records=count)

    def _storage(self, ctx: NodeContext) -> NodeOutput:
        from engine.connectors.objects import read_objects

        store = ctx.location(str(ctx.config["connection"]))
        if not getattr(store, "object_store", False):
            raise NodeError(f"node '{ctx.label}': connection '{store.name}' is not object storage; "
                            f"use source 'connection' for a database table")
        records, columns, warnings = read_objects(ctx, store, ctx.render_path(str(ctx.config["path"])),
                                                  ctx.config.get("format"), ctx.config.get("options") or {})
        return NodeOutput(table=ctx.output_table, records=records, info={"columns": columns}, warnings=warnings)

    def _workspace_table(self, ctx: NodeContext) -> NodeOutput:
        name = str(ctx.config["table"])
        if not workspace.table_exists(ctx.conn, name):
            raise NodeError(f"node '{ctx.label}': the workspace has no table '{name}'")
        return NodeOutput(table=name, records=workspace.count_rows(ctx.conn, name))
