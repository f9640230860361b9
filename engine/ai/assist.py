"""The per-node assistant: ask for a node's operation in words, get a proposal that has run.

:meth:`AssistService.assist_node` works for a Transformer (SQL in its input's dialect, or
Python), a Join (SQL over its inputs; it may ask one clarifying question), a Branch
(condition) and a REST Data Source (fetch spec). One round:

1. a worker reads the inputs and builds the prompt (:mod:`engine.workers.ai_ops`) and calls
   the node's AI connection — the key never leaves that worker;
2. the reply is read as a proposal (:mod:`engine.ai.proposal`);
3. SQL is parsed and refused before it runs unless it is one read-only SELECT of the node's
   inputs (:mod:`engine.ai.sql_guard`); the node's config with the proposal must validate;
4. the proposal runs on the sample in a worker, through the same path as "Try on sample"
   (:class:`engine.service.previews.NodePanelService`; a Branch condition as
   ``SELECT (<condition>) AS value FROM {{ input }}``, which must give one row; a REST spec
   through the Data Source preview).

A failure at 2–4 is fed back to the model and the round repeats, at most
:data:`MAX_REPAIRS` times. The result — ``verified``, ``failed`` (with the error and every
attempt) or ``question`` — is kept as ``<data dir>/ai/proposals/<id>.json`` (atomic write).
:meth:`AssistService.accept` writes only a *verified* proposal into the workflow, as
ordinary config plus provenance (:mod:`engine.ai.provenance`); a failed one can be read but
never saved.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Mapping, Sequence
from concurrent.futures import CancelledError
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.ai import provenance
from engine.ai.cancel import CancelToken
from engine.ai.prompts import repair_message
from engine.ai.proposal import Proposal, ProposalUnreadable, parse_reply
from engine.ai.sql_guard import InputRef, SqlRefused, check_condition, check_select
from engine.atomic import atomic_write_text
from engine.errors import DagfluxError
from engine.messages import OpResult, RunOp
from engine.model import fileformat
from engine.model.validation import validate

MAX_REPAIRS = 2
DEFAULT_OPTIONS = {"max_tokens": 1024, "temperature": 0}
SAMPLE_ROWS_TRIED = 1000
AI_CALL_TIMEOUT_S = 300.0
_op_ids = itertools.count(3_000_000)
REST_SPEC_KEYS = ("path", "method", "headers", "params", "body", "records_path", "pagination", "max_pages",
                  "max_records")


class AssistService:
    def __init__(self, store: Any, history: Any, executor: Any, connections: Any, panels: Any,
                 folder: Path) -> None:
        self.store, self.history, self.executor = store, history, executor
        self.connections, self.panels, self.folder = connections, panels, Path(folder)

    # --- the calls -------------------------------------------------------------------------
    def assist_node(self, workflow_id: str, node_id: str, request: str, session: str | None = None,
                    connection: str | None = None, model: str | None = None,
                    options: Mapping[str, Any] | None = None, stream: str | None = None,
                    on_event: Any = None, token: CancelToken | None = None) -> dict[str, Any]:
        """One proposal (see the module doc). With ``stream`` and ``on_event``, every round's
        reply text also reaches ``on_event`` as it comes, as ``AiDelta(call_id=stream)``. With
        ``token``, :meth:`CancelToken.cancel` ends the round in flight (its worker, and so the
        provider's stream, is stopped) and the result is ``status: cancelled`` with the text
        streamed so far: nothing is tried, nothing can be accepted."""
        if not str(request or "").strip():
            raise DagfluxError("say what the node should do (the request is empty)")
        wf = self.store.load(workflow_id)
        node = wf.node(node_id)
        kind = kind_of(node.type, node.config, node.label)
        connection = self.connection(wf.settings, connection)
        input_ids = [e.source for e in wf.inputs_of(node_id)]
        inputs = self.panels.sampled_inputs(workflow_id, wf, input_ids) if kind != "rest" else []
        dialect = self._dialect(node, inputs)
        record = {"id": _new_id("prop"), "workflow_id": workflow_id, "node_id": node_id, "node_type": node.type,
                  "kind": kind, "dialect": dialect, "request": request, "session": session, "connection": connection,
                  "created_at": _now(), "attempts": [], "usage": {"input_tokens": 0, "output_tokens": 0}}
        history: list[dict[str, str]] = []
        node_doc = fileformat.node_to_dict(node)
        for _ in range(1 + MAX_REPAIRS):
            if token is not None and token.cancelled:
                return self._cancelled(record, token)
            reply = self.op("ai.assist_round", f"AI proposal for '{node.label}'", timeout=AI_CALL_TIMEOUT_S,
                             connection=connection, kind=kind, dialect=dialect, node=node_doc, request=request,
                             inputs=inputs, settings=wf.settings, current=current_code(node.type, node.config),
                             last_error=self._last_error(workflow_id, node_id), history=history, model=model,
                             options={**DEFAULT_OPTIONS, **(options or {})}, stream=stream if on_event else None,
                             on_event=on_event, token=token)
            if reply is None:
                return self._cancelled(record, token)
            record["model"] = reply.get("model")
            _add_usage(record["usage"], reply.get("usage") or {})
            attempt: dict[str, Any] = {"message_id": _new_id("msg"), "reply": reply["text"],
                                       "duration_ms": reply.get("duration_ms")}
            record["attempts"].append(attempt)
            try:
                proposal = parse_reply(reply["text"], default_mode(kind))
                attempt["proposal"] = proposal.to_dict()
                if proposal.mode == "question":
                    return self._finish(record, "question", proposal, attempt)
                attempt["sample"] = self._check_and_try(wf, node, kind, proposal, inputs, dialect, input_ids)
            except SqlRefused as exc:
                attempt.update(error=f"refused before running ({exc.reason}): {exc}", refused=exc.reason)
            except (ProposalUnreadable, DagfluxError) as exc:
                attempt["error"] = str(exc)
            if token is not None and token.cancelled:
                return self._cancelled(record, token)
            if "error" not in attempt:
                return self._finish(record, "verified", proposal, attempt)
            history += [{"role": "assistant", "content": reply["text"]},
                        {"role": "user", "content": repair_message(attempt["error"])}]
        last = record["attempts"][-1]
        return self._finish(record, "failed", None, last)

    def verify(self, workflow_id: str, node_id: str, proposal: Proposal) -> dict[str, Any]:
        """Guard, validate and try ``proposal`` on the sample, as a round of :meth:`assist_node`
        does; the sample output, or the error (:class:`SqlRefused` for a refusal)."""
        wf = self.store.load(workflow_id)
        node = wf.node(node_id)
        kind = kind_of(node.type, node.config, node.label)
        input_ids = [e.source for e in wf.inputs_of(node_id)]
        inputs = self.panels.sampled_inputs(workflow_id, wf, input_ids) if kind != "rest" else []
        return self._check_and_try(wf, node, kind, proposal, inputs, self._dialect(node, inputs), input_ids)

    def accept(self, workflow_id: str, proposal_id: str) -> dict[str, Any]:
        """Write a verified proposal into its node (ordinary config + provenance)."""
        record = self.load(proposal_id)
        if record["workflow_id"] != workflow_id:
            raise DagfluxError(f"proposal {proposal_id} is for workflow '{record['workflow_id']}', "
                               f"not '{workflow_id}'")
        if record["status"] != "verified":
            why = record.get("error") or record["status"]
            raise DagfluxError(f"proposal {proposal_id} did not run cleanly on the sample ({why}); "
                               f"it cannot be saved — ask again")
        wf = self.store.load(workflow_id)
        node = wf.node(record["node_id"])
        if node.type != record["node_type"]:
            raise DagfluxError(f"node '{node.id}' is now a {node.type}, not the {record['node_type']} the "
                               f"proposal was made for")
        p = record["proposal"]
        node.config = build_config(node.type, node.config, record["kind"], Proposal(p["mode"], p["code"], ""))
        node.ai = provenance.stamp(node.type, node.config, record.get("session"), record["message_id"],
                                   record.get("connection"), record.get("model"))
        problems = [p for p in validate(wf, self.types()) if node.id in p.nodes]
        if problems:
            raise DagfluxError(f"node '{node.label}' would not be valid: " + "; ".join(map(str, problems)))
        self.store.save(wf)
        record["accepted_at"] = node.ai["at"]
        self.save(record)
        return {"workflow_id": workflow_id, "node_id": node.id, "config": node.config, "ai": node.ai}

    def load(self, proposal_id: str) -> dict[str, Any]:
        if not proposal_id.replace("-", "").replace("_", "").isalnum():
            raise DagfluxError(f"'{proposal_id}' is not a proposal id")
        path = self.folder / f"{proposal_id}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DagfluxError(f"no proposal '{proposal_id}'") from None
        except ValueError:
            raise DagfluxError(f"{path} cannot be read; it was left as it is") from None

    def provenance(self, workflow_id: str) -> dict[str, str]:
        """``{node id: "generated" | "edited"}`` for the nodes an accepted proposal wrote."""
        wf = self.store.load(workflow_id)
        out = {}
        for node in wf.nodes:
            state = provenance.state(node.type, node.config, node.ai)
            if state:
                out[node.id] = state
        return out

    # --- steps -------------------------------------------------------------------------------
    def _check_and_try(self, wf: Any, node: Any, kind: str, proposal: Proposal, inputs: Sequence[Mapping[str, Any]],
                       dialect: str, input_ids: list[str]) -> dict[str, Any]:
        candidate = self._candidate(wf, node, kind, proposal, inputs, dialect)
        return self._verify(wf.id, candidate, kind, input_ids)

    def _finish(self, record: dict, status: str, proposal: Proposal | None, attempt: dict) -> dict[str, Any]:
        record.update(status=status, message_id=attempt["message_id"], error=attempt.get("error"),
                      refused=attempt.get("refused"), sample=attempt.get("sample"),
                      proposal=proposal.to_dict() if proposal else attempt.get("proposal"))
        if status == "question":
            record["question"] = proposal.code if proposal else ""
        self.save(record)
        return record

    def _cancelled(self, record: dict, token: CancelToken | None) -> dict[str, Any]:
        partial = token.text() if token is not None else ""
        attempt = {"message_id": _new_id("msg"), "reply": partial, "error": "stopped before a proposal was ready"}
        record["attempts"].append(attempt)
        return self._finish(record, "cancelled", None, attempt)

    def _candidate(self, wf: Any, node: Any, kind: str, proposal: Proposal, inputs: Sequence[Mapping[str, Any]],
                   dialect: str) -> dict[str, Any]:
        allowed = allowed_modes(kind)
        if proposal.mode not in allowed:
            raise ProposalUnreadable(f"this node takes a proposal of mode {' or '.join(allowed)}, not "
                                     f"'{proposal.mode}'")
        refs = [InputRef(str(i["node_id"]), str(i["table"])) for i in inputs]
        if proposal.mode == "sql":
            check_select(proposal.code, dialect, refs)
        elif proposal.mode == "condition":
            check_condition(proposal.code, dialect, refs)
        config = build_config(node.type, node.config, kind, proposal)
        trial = wf.clone()
        trial.node(node.id).config = config
        problems = [p for p in validate(trial, self.types()) if node.id in p.nodes]
        if problems:
            raise DagfluxError("the node's settings would not be valid: " + "; ".join(map(str, problems)))
        return {"id": node.id, "type": node.type, "title": node.title, "config": config}

    def _verify(self, workflow_id: str, candidate: dict[str, Any], kind: str, input_ids: list[str]) -> dict:
        if kind == "rest":
            return self.panels.preview(workflow_id, candidate, 5)
        if kind == "condition":
            probe = {"id": candidate["id"], "type": "transformer", "title": candidate.get("title", ""),
                     "config": {"language": "sql", "mode": "new_table",
                                "sql": f"SELECT ({candidate['config']['condition']}) AS value FROM {{{{ input }}}}"}}
            sample = self.panels.try_sample(workflow_id, probe, 5, input_ids, SAMPLE_ROWS_TRIED)
            if sample.get("total") != 1:
                raise DagfluxError(f"the condition must give exactly one value — use an aggregate such as "
                                   f"count(*) > 0 (on the sample it gave {sample.get('total')} rows)")
            return sample
        return self.panels.try_sample(workflow_id, candidate, 5, input_ids, SAMPLE_ROWS_TRIED)

    def connection(self, settings: Mapping[str, Any] | None, connection: str | None) -> str:
        """The AI connection to use: the one named, the workflow's (``settings.ai.connection``),
        or the only AI connection there is."""
        chosen = connection or (((settings or {}).get("ai") or {}).get("connection"))
        ai_types = set(self.connections.registry.ai_providers)
        if chosen:
            meta = self.connections.store.get(chosen)
            if meta.get("type") not in ai_types:
                raise DagfluxError(f"connection '{chosen}' is a {meta.get('type')} connection, not an AI provider")
            return str(chosen)
        found = [c["id"] for c in self.connections.store.list() if c.get("type") in ai_types]
        if len(found) == 1:
            return str(found[0])
        if not found:
            raise DagfluxError("no AI connection: add one with `dagflux connections add openai NAME --set "
                               "base_url=… --set model=…` (or anthropic, gemini)")
        raise DagfluxError(f"several AI connections ({', '.join(found)}): choose one with --connection")

    def _dialect(self, node: Any, inputs: Sequence[Mapping[str, Any]]) -> str:
        where = {i.get("connection") for i in inputs}
        if node.type == "join":
            where = {node.config.get("destination") or None}
        where.discard(None)
        if not where:
            return "sqlite"
        meta = self.connections.store.get(str(sorted(where)[0]))
        cls = self.connections.registry.connection_types.get(meta.get("type"))
        return str(getattr(cls, "dialect", "") or "sqlite")

    def _last_error(self, workflow_id: str, node_id: str) -> str | None:
        for run in self.history.list_runs(limit=5, workflow_id=workflow_id):
            for row in self.history.get_run(run["run_id"]).get("nodes", []):
                if row.get("node_id") == node_id:
                    return row.get("error") if row.get("status") == "failed" else None
        return None

    def types(self) -> Mapping[str, Any]:
        return self.connections.registry.node_types

    def op(self, op: str, title: str, timeout: float, on_event: Any = None, token: CancelToken | None = None,
           **params: Any) -> Any:
        """The op's value; None when ``token`` stopped it."""
        task = RunOp(id=next(_op_ids), op=op, params=params, timeout_s=timeout, title=title,
                     connections=str(self.connections.path))
        if token is not None:
            on_event = token.watch(on_event)
        future = self.executor.submit(task, on_event=on_event) if on_event else self.executor.submit(task)
        if token is not None and not token.attach(self.executor, future):
            return None
        try:
            reply: OpResult = future.result()
        except CancelledError:
            reply = OpResult(id=task.id, status="cancelled", error="cancelled")
        if token is not None and token.cancelled:
            return None
        if reply.status != "succeeded":
            raise DagfluxError(reply.error or f"{title} failed")
        return reply.value

    def save(self, record: Mapping[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.folder / f"{record['id']}.json", json.dumps(record, indent=1, sort_keys=True,
                                                                           default=str) + "\n")


# --- what each kind of node takes ----------------------------------------------------------------
def kind_of(node_type: str, config: Mapping[str, Any], label: str) -> str:
    if node_type == "transformer":
        return "python" if config.get("language") == "python" else "sql"
    if node_type == "join":
        return "join"
    if node_type == "branch":
        return "condition"
    if node_type == "data_source" and config.get("source") == "rest":
        return "rest"
    raise DagfluxError(f"the assistant writes Transformer SQL or Python, Join SQL, Branch conditions and REST "
                       f"Data Source settings; '{label}' is a {node_type}"
                       + (" that does not read a REST API" if node_type == "data_source" else ""))


def default_mode(kind: str) -> str:
    return {"join": "sql"}.get(kind, kind)


def allowed_modes(kind: str) -> tuple[str, ...]:
    return {"sql": ("sql", "python"), "python": ("python", "sql"), "join": ("sql",), "condition": ("condition",),
            "rest": ("rest",)}[kind]


def current_code(node_type: str, config: Mapping[str, Any]) -> Any:
    if node_type == "transformer":
        return config.get("code") if config.get("language") == "python" else config.get("sql")
    if node_type == "join":
        return config.get("sql") or ({k: config[k] for k in ("joins", "columns") if k in config} or None)
    if node_type == "branch":
        return config.get("condition")
    return {k: config[k] for k in REST_SPEC_KEYS if k in config} or None


def build_config(node_type: str, config: Mapping[str, Any], kind: str, proposal: Proposal) -> dict[str, Any]:
    """The node's config with the proposal in it; settings that are not the operation are kept."""
    keep = {k: v for k, v in config.items() if k == "description"}
    if node_type == "transformer" and proposal.mode == "python":
        return {**keep, **{k: v for k, v in config.items() if k == "limits"}, "language": "python",
                "code": proposal.code}
    if node_type == "transformer":
        storage = {k: v for k, v in config.items() if k == "storage"}
        return {**keep, **storage, "language": "sql", "mode": "new_table", "sql": proposal.code}
    if node_type == "join":
        return {**keep, **{k: v for k, v in config.items() if k == "destination"}, "sql": proposal.code}
    if node_type == "branch":
        return {**keep, "condition": proposal.code}
    spec = {k: v for k, v in dict(proposal.code).items() if k in REST_SPEC_KEYS}
    if "path" not in spec:
        raise ProposalUnreadable("a REST fetch spec needs at least 'path'")
    kept = {k: v for k, v in config.items() if k not in REST_SPEC_KEYS}
    return {**kept, **spec, "source": "rest"}


def _add_usage(total: dict[str, int], usage: Mapping[str, Any]) -> None:
    for key in ("input_tokens", "output_tokens"):
        if isinstance(usage.get(key), int):
            total[key] += usage[key]


def _new_id(prefix: str) -> str:
    return f"{prefix}-{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(5)}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
