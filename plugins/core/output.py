"""Output: exports one upstream table to a file, atomically (:mod:`engine.io.writers`).

The input may live anywhere: a workspace table or a connection's table is exported the
same way (a connection's table is streamed from its database by the worker, never copied
into the workspace).

The default file name, when ``path`` is empty, is ``<node id>.csv`` beside the
workflow file. ``if_exists`` is ``overwrite`` (default) or ``fail``. With
``connection`` (and ``table``, ``mode``: replace / append / fail) the table is
written to that connection instead; when that connection is object storage (S3, Azure
Blob — ``object_store`` connectors from catalog plugins), ``path`` names the object
written, in the format of its extension or ``format``. With ``format: ai_analysis`` a
model answers ``prompt`` about the table into a Markdown file (:mod:`engine.ai.analysis`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.ai import analysis
from engine.connectors.transfer import transfer
from engine.errors import NodeError
from engine.io import writers
from engine.plugin_api import ConfigProblem, NodeContext, NodeOutput, NodeType

POLICIES = ("overwrite", "fail")

# What an Output does when the connection's table exists: replace it (atomically), append to
# it, or fail. ``create`` is the older name of ``fail``, still read.
OUTPUT_MODES = ("replace", "append", "fail")
_CONNECTOR_MODE = {"replace": "replace", "append": "append", "fail": "create", "create": "create"}


class OutputNode(NodeType):
    type_name = "output"
    label = "Output"
    output_ports = ()

    def validate_config(self, config: Mapping[str, Any], input_ids: list[str]) -> list[ConfigProblem]:
        if config.get("format") == analysis.FORMAT:
            return analysis.validate(config)
        problems = []
        fmt = config.get("format")
        path = config.get("path")
        if fmt is not None and fmt not in writers.WRITE_FORMATS:
            problems.append(ConfigProblem("format", f"unknown format {fmt!r} "
                                                    f"(supported: {', '.join(writers.WRITE_FORMATS)})"))
        if fmt is None and path and writers.format_for_path(Path(str(path))) is None:
            problems.append(ConfigProblem("format", f"cannot tell the format from '{path}'; set 'format'"))
        if "connection" in config and not config.get("connection"):
            problems.append(ConfigProblem("connection", "choose the connection to write to"))
        if config.get("connection"):
            if config.get("mode", "replace") not in _CONNECTOR_MODE:
                problems.append(ConfigProblem("mode", f"must be one of {', '.join(OUTPUT_MODES)}"))
            return problems
        if config.get("if_exists", "overwrite") not in POLICIES:
            problems.append(ConfigProblem("if_exists", f"must be one of {', '.join(POLICIES)}"))
        return problems

    def execute(self, ctx: NodeContext) -> NodeOutput:
        source = ctx.input()
        if ctx.config.get("format") == analysis.FORMAT:
            return analysis.run(ctx)
        if ctx.config.get("connection"):
            return self._to_connection(ctx, str(ctx.config["connection"]))
        path = ctx.resolve_path(str(ctx.config.get("path") or f"{ctx.node_id}.csv"))
        fmt = ctx.config.get("format") or writers.format_for_path(path)
        if fmt is None:
            raise NodeError(f"node '{ctx.label}': cannot tell the format of {path}; set 'format'")
        options = dict(ctx.config.get("options") or {})
        options["if_exists"] = ctx.config.get("if_exists", "overwrite")
        if source.connection is None:
            records = writers.export_table(ctx.conn, source.table, path, fmt, options)
        else:
            records = writers.export_connection_table(ctx.location(source.connection), source.table, path, fmt,
                                                      options, ctx.conn)
        return NodeOutput(table=source.table, connection=source.connection, records=records,
                          info={"path": str(path)})

    def _to_connection(self, ctx: NodeContext, connection: str) -> NodeOutput:
        """Write the input table into a connection's table (replace / append / fail);
        the connector writes transactionally, so a failure leaves the destination as it was."""
        source = ctx.input()
        dest = ctx.location(connection)
        if getattr(dest, "object_store", False):
            from engine.connectors.objects import write_object

            key = ctx.render_path(str(ctx.config.get("path") or f"{ctx.node_id}.csv"))
            options = {**dict(ctx.config.get("options") or {}), "if_exists": ctx.config.get("if_exists", "overwrite")}
            records = write_object(ctx, dest, key, ctx.config.get("format"), options)
            return NodeOutput(table=source.table, connection=source.connection, records=records,
                              info={"connection": connection, "path": key})
        table = str(ctx.config.get("table") or ctx.node_id)
        mode = _CONNECTOR_MODE[ctx.config.get("mode", "replace")]    # the connectors' name for it
        if source.connection == connection:  # same database: let it copy, no rows travel
            records = _copy_inside(dest, source.table, table, mode)
        else:   # streamed through this worker: the source's cursor feeds the destination's bulk load
            reader = ctx.location(source.connection)
            records = transfer(reader, f"SELECT * FROM {reader.qualified(source.table)}", dest, table, mode,
                               declared=reader.list_fields(source.table))
        return NodeOutput(table=table, connection=connection, records=records,
                          info={"connection": connection, "table": table})


def _copy_inside(db: Any, source: str, table: str, mode: str) -> int:
    """``INSERT … SELECT`` (append) or ``CREATE TABLE … AS`` (create, replace) inside the
    database; replace swaps the new table in atomically (``replace_table_as``)."""
    target, origin = db.qualified(table), db.qualified(source)
    if mode == "append":
        if not db.table_exists(table):
            raise NodeError(f"connection '{db.name}' has no table '{table}' to append to")
        db.execute_many([f"INSERT INTO {target} SELECT * FROM {origin}"])
    else:
        if mode == "create" and db.table_exists(table):
            raise NodeError(f"connection '{db.name}' already has a table '{table}' (mode is 'fail')")
        db.replace_table_as(table, f"SELECT * FROM {origin}")
    return db.count(table)
