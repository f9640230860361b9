"""The Output format ``ai_analysis``: a prompt plus the input table → the model's answer as
a Markdown file, and the same text in the run's history.

Config (an Output node): ``{"format": "ai_analysis", "prompt": "…", "path": "out/x.md",
"ai_connection": "<AI connection>", "model"?: "…", "max_tokens"?: n}`` (``path`` defaults
to ``<node id>.md``; ``if_exists`` and ``options.create_dirs`` as for other formats).

**What the model sees — the context budget.** Always the table's schema (``CREATE TABLE``)
and its row count. Unless the workflow is *schema only*: per-column aggregates (non-null
count, distinct count, min, max, and the mean of numeric columns) for the first
:data:`AGG_COLUMNS` columns, then sample rows (at most :data:`SAMPLE_ROWS`, cells cut to
:data:`~engine.ai.context.CELL_MAX` characters) while the context stays under
:data:`BUDGET_CHARS` characters (about 4,000 tokens); what was left out is said in the
prompt. Sensitive columns (``settings.ai.sensitive_columns``) get neither sample values nor
aggregates. The workflow's ``settings.ai`` reaches the node as ``_workflow_ai`` in its
config (set by the runner; not part of the file).

**Where the answer goes.** The Markdown file (atomic write: temp file, fsync, rename), and
the node's output table — one row (``prompt``, ``answer``, ``model``, ``path``,
``generated_at``) — which each run keeps (``dagflux history RUN --node NODE --show``).
The call runs in this worker, which alone resolves the AI key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from engine import workspace
from engine.ai.context import Privacy, TableView, cell
from engine.atomic import atomic_write_text
from engine.errors import DagfluxError, NodeError
from engine.plugin_api import ConfigProblem, NodeContext, NodeOutput

FORMAT = "ai_analysis"
BUDGET_CHARS = 16_000
SAMPLE_ROWS = 20
AGG_COLUMNS = 40
NUMERIC = ("INT", "REAL", "FLOA", "DOUB", "NUM", "DEC")
CONFIG_KEYS = ("format", "prompt", "path", "ai_connection", "model", "max_tokens", "if_exists", "options",
               "description", "_workflow_ai")
SYSTEM = ("You are a data analyst. Answer the user's question about the table described below, in Markdown. "
          "Base every statement on the schema, counts, aggregates and sample given; say when they are not "
          "enough to answer.")


def validate(config: Mapping[str, Any]) -> list[ConfigProblem]:
    problems = [ConfigProblem(k, "not a setting of the ai_analysis format") for k in config if k not in CONFIG_KEYS]
    if not str(config.get("prompt") or "").strip():
        problems.append(ConfigProblem("prompt", "say what the analysis should answer"))
    if not str(config.get("ai_connection") or "").strip():
        problems.append(ConfigProblem("ai_connection", "choose the AI connection that writes the analysis"))
    if "max_tokens" in config and (not isinstance(config["max_tokens"], int) or config["max_tokens"] < 1):
        problems.append(ConfigProblem("max_tokens", "must be a whole number ≥ 1"))
    unknown = sorted(set(config.get("options") or {}) - {"create_dirs"})
    if unknown:
        problems.append(ConfigProblem("options", f"ai_analysis takes only create_dirs, not {', '.join(unknown)}"))
    if config.get("if_exists", "overwrite") not in ("overwrite", "fail"):
        problems.append(ConfigProblem("if_exists", "must be one of overwrite, fail"))
    return problems


def run(ctx: NodeContext) -> NodeOutput:
    from engine.workers.ai_ops import call_model, provider_of

    config = ctx.config
    path = ctx.resolve_path(str(config.get("path") or f"{ctx.node_id}.md"))
    if config.get("if_exists") == "fail" and path.exists():
        raise NodeError(f"node '{ctx.label}': {path} exists (if_exists is 'fail')")
    source = ctx.input()
    privacy = Privacy.from_settings({"ai": config.get("_workflow_ai") or {}})
    context = describe(_reader(ctx, source.table, source.connection), source.node_id, source.table, privacy)
    messages = [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"{context}\n\nQuestion: {str(config['prompt']).strip()}"}]
    options = {"temperature": 0, "max_tokens": int(config.get("max_tokens") or 2048)}
    try:
        reply = call_model(provider_of(ctx.connections, str(config["ai_connection"])), messages,
                           config.get("model"), options)
    except DagfluxError as exc:
        raise NodeError(f"node '{ctx.label}': {exc}") from None
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not path.parent.exists() and (config.get("options") or {}).get("create_dirs"):
        path.parent.mkdir(parents=True, exist_ok=True)
    if not path.parent.exists():
        raise NodeError(f"node '{ctx.label}': the folder {path.parent} does not exist")
    atomic_write_text(path, markdown(ctx.label, str(config["prompt"]), source.table, reply, at))
    _keep(ctx, str(config["prompt"]), reply["text"], str(reply.get("model") or ""), str(path), at)
    return NodeOutput(table=ctx.output_table, records=1, info={"path": str(path)})


def markdown(label: str, prompt: str, table: str, reply: Mapping[str, Any], at: str) -> str:
    quoted = "\n".join("> " + line for line in prompt.strip().splitlines())
    return (f"# {label}\n\n{quoted}\n\n{reply['text'].strip()}\n\n---\n"
            f"*AI analysis of `{table}` by {reply.get('model') or 'the model'} ({reply.get('provider')}), {at}.*\n")


def describe(reader: Any, node_id: str, table: str, privacy: Privacy) -> str:
    """The table as the model sees it, within :data:`BUDGET_CHARS` (see the module doc)."""
    columns, total = reader.columns(), reader.count()
    view = TableView(node_id, table, reader.dialect, columns, total,
                     hidden=[n for n, _ in columns if privacy.hides(node_id, n)])
    parts = [f"Table {table}: {total:,} rows.", view.create_table()]
    if privacy.schema_only:
        parts.append("(schema only: no values from this table are shared)")
        return "\n".join(parts)
    shown = [(n, t) for n, t in columns if n not in view.hidden]
    aggs = reader.aggregates(shown[:AGG_COLUMNS])
    parts.append("Per-column aggregates (non-null, distinct, min, max, mean):")
    parts += [json.dumps({"column": n, **a}, ensure_ascii=False, default=str) for n, a in aggs]
    if len(shown) > AGG_COLUMNS:
        parts.append(f"(aggregates of {len(shown) - AGG_COLUMNS} more columns left out for the budget)")
    names = [n for n, _ in shown]
    rows = reader.sample(names, SAMPLE_ROWS) if names else []
    parts.append(f"Sample rows, columns {json.dumps(names, ensure_ascii=False)}:")
    used, kept = sum(len(p) + 1 for p in parts), 0
    for row in rows:
        line = json.dumps([cell(v) for v in row], ensure_ascii=False, default=str)
        if used + len(line) + 1 > BUDGET_CHARS:
            break
        parts.append(line)
        used, kept = used + len(line) + 1, kept + 1
    if kept < len(rows):
        parts.append(f"({len(rows) - kept} more sample rows left out for the budget)")
    return "\n".join(parts)


def _reader(ctx: NodeContext, table: str, connection: str | None) -> Any:
    return _DbReader(ctx.location(connection), table) if connection else _WorkspaceReader(ctx.conn, table)


class _WorkspaceReader:
    dialect = "sqlite"

    def __init__(self, conn: Any, table: str) -> None:
        self.conn, self.table, self.quoted = conn, table, workspace.quote_ident(table)

    def columns(self) -> list[tuple[str, str]]:
        return workspace.columns(self.conn, self.table)

    def count(self) -> int:
        return workspace.count_rows(self.conn, self.table)

    def query(self, sql: str) -> list[Sequence[Any]]:
        return self.conn.execute(sql).fetchall()

    def quote(self, name: str) -> str:
        return workspace.quote_ident(name)

    def sample(self, names: list[str], limit: int) -> list[Sequence[Any]]:
        return self.query(f"SELECT {', '.join(map(self.quote, names))} FROM {self.quoted} LIMIT {int(limit)}")

    def aggregates(self, columns: list[tuple[str, str]]) -> list[tuple[str, dict[str, Any]]]:
        return _aggregates(self, columns)


class _DbReader(_WorkspaceReader):
    def __init__(self, db: Any, table: str) -> None:
        self.db, self.table, self.quoted, self.dialect = db, table, db.qualified(table), db.dialect

    def columns(self) -> list[tuple[str, str]]:
        return [(n, t) for n, t in self.db.list_fields(self.table)]

    def count(self) -> int:
        return int(self.db.count(self.table))

    def query(self, sql: str) -> list[Sequence[Any]]:
        rows: list[Sequence[Any]] = []
        for _, batch in self.db.read_batches(sql, (), 1000):
            rows += batch
        return rows

    def quote(self, name: str) -> str:
        return str(self.db.quote_ident(name))


def _aggregates(reader: Any, columns: list[tuple[str, str]]) -> list[tuple[str, dict[str, Any]]]:
    if not columns:
        return []
    parts = []
    for name, kind in columns:
        q = reader.quote(name)
        mean = f"avg({q})" if any(k in (kind or "").upper() for k in NUMERIC) else "NULL"
        parts.append(f"count({q}), count(DISTINCT {q}), min({q}), max({q}), {mean}")
    row = reader.query(f"SELECT {', '.join(parts)} FROM {reader.quoted}")[0]
    out = []
    for i, (name, _) in enumerate(columns):
        non_null, distinct, low, high, mean = row[i * 5:i * 5 + 5]
        stats = {"non_null": non_null, "distinct": distinct, "min": cell(low), "max": cell(high)}
        if mean is not None:
            stats["mean"] = round(float(mean), 6)
        out.append((name, stats))
    return out


def _keep(ctx: NodeContext, prompt: str, answer: str, model: str, path: str, at: str) -> None:
    """The answer as the node's one-row output table, kept with the run (engine.kept)."""
    target = workspace.quote_ident(ctx.output_table)
    with ctx.write() as conn:
        ctx.set_aside(conn)
        conn.execute(f"DROP TABLE IF EXISTS {target}")
        conn.execute(f"CREATE TABLE {target} (prompt TEXT, answer TEXT, model TEXT, path TEXT, generated_at TEXT)")
        conn.execute(f"INSERT INTO {target} VALUES (?, ?, ?, ?, ?)", (prompt, answer, model, path, at))
