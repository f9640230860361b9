"""``dagflux ai assist WORKFLOW NODE -m "request" [--connection C] [--accept]`` and
``dagflux ai propose -m "request"``.

``assist`` asks the node's assistant (:mod:`engine.ai.assist`) for the node's operation,
prints the proposal with its result on the sample — or why it failed — and, with
``--accept`` (or later ``dagflux ai accept WORKFLOW PROPOSAL``), saves a verified proposal
into the workflow. Exit 0: verified (and saved with
``--accept``); 1: failed or an error; 3: the assistant asks a question (answer with another
``-m``). ``propose`` prints a workflow proposal (exit 0 valid, 1 invalid).

Through the engine when one runs; otherwise this process holds the data-dir lock and uses
a worker itself, like ``dagflux connections``. WORKFLOW is a saved workflow's id.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from engine.errors import DagfluxError

EXIT_OK, EXIT_FAILED, EXIT_QUESTION = 0, 1, 3
AI_TIMEOUT_S = 900.0


def add_parsers(sub: Any) -> Any:
    """Add ``dagflux ai`` with the assistant's subcommands; returns the ``ai`` subparsers so
    other ``ai`` subcommands can be added to the same command."""
    ai = sub.add_parser("ai", help="the AI assistant")
    ai_sub = ai.add_subparsers(dest="ai_command", required=True)
    add_assist(ai_sub)
    return ai_sub


def add_assist(ai_sub: Any) -> None:
    a = ai_sub.add_parser("assist", help="ask a node's assistant for its SQL, code, condition or fetch spec")
    a.add_argument("workflow", help="a saved workflow's id")
    a.add_argument("node", help="the node's id")
    a.add_argument("-m", "--message", required=True, help="what the node should do, in words")
    a.add_argument("--connection", help="the AI connection (default: the workflow's, or the only one)")
    a.add_argument("--model", help="the model (default: the connection's)")
    a.add_argument("--session", help="the chat session this belongs to (recorded as provenance)")
    a.add_argument("--max-tokens", type=int, help="the longest reply, in tokens")
    a.add_argument("--accept", action="store_true", help="save the proposal when it ran cleanly on the sample")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_assist)
    c = ai_sub.add_parser("accept", help="save a verified proposal into its node")
    c.add_argument("workflow")
    c.add_argument("proposal", help="the proposal id `dagflux ai assist` printed")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_accept)
    p = ai_sub.add_parser("propose", help="propose a whole workflow from a request (nothing is saved)")
    p.add_argument("-m", "--message", required=True)
    p.add_argument("--connection")
    p.add_argument("--model")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_propose)


def cmd_assist(args: argparse.Namespace) -> int:
    options = {"max_tokens": args.max_tokens} if args.max_tokens else None
    with _caller() as call:
        result = call("ai.assist_node", workflow_id=args.workflow, node_id=args.node, request=args.message,
                      session=args.session, connection=args.connection, model=args.model, options=options)
        accepted = None
        if args.accept and result["status"] == "verified":
            accepted = call("ai.accept_proposal", workflow_id=args.workflow, proposal_id=result["id"])
    if args.json:
        print(json.dumps({**result, "accepted": accepted}, indent=1, default=str))
    else:
        print(_text(result, accepted, args.accept))
    return {"verified": EXIT_OK, "question": EXIT_QUESTION}.get(result["status"], EXIT_FAILED)


def cmd_accept(args: argparse.Namespace) -> int:
    with _caller() as call:
        accepted = call("ai.accept_proposal", workflow_id=args.workflow, proposal_id=args.proposal)
    print(json.dumps(accepted, indent=1) if args.json else
          f"saved into node '{accepted['node_id']}' of workflow '{accepted['workflow_id']}'")
    return EXIT_OK


def cmd_propose(args: argparse.Namespace) -> int:
    with _caller() as call:
        result = call("ai.propose_workflow", request=args.message, connection=args.connection, model=args.model)
    if args.json:
        print(json.dumps(result, indent=1, default=str))
    elif result["status"] == "valid":
        print(json.dumps(result["workflow"], indent=1))
        if result.get("explanation"):
            print(f"\n{result['explanation']}", file=sys.stderr)
    else:
        print("the proposed workflow is not valid:\n  " + "\n  ".join(result["problems"]), file=sys.stderr)
    return EXIT_OK if result["status"] == "valid" else EXIT_FAILED


def _text(result: dict[str, Any], accepted: dict | None, wanted: bool) -> str:
    p = result.get("proposal") or {}
    lines = [f"proposal {result['id']} — {result['status']} after {len(result['attempts'])} attempt(s)"]
    if result["status"] == "question":
        return "\n".join([*lines, f"the assistant asks: {result.get('question')}"])
    if p.get("code"):
        code = p["code"] if isinstance(p["code"], str) else json.dumps(p["code"], indent=1)
        lines += ["", code, ""]
    if p.get("explanation"):
        lines.append(p["explanation"])
    if result["status"] == "verified":
        sample = result.get("sample") or {}
        lines += ["", f"on the sample ({sample.get('note', '')}):", "  " + " | ".join(sample.get("columns", []))]
        lines += ["  " + " | ".join("" if v is None else str(v) for v in row) for row in sample.get("rows", [])]
        if accepted:
            lines += ["", f"saved into node '{accepted['node_id']}' of workflow '{accepted['workflow_id']}'"]
        elif not wanted:
            lines += ["", f"not saved: `dagflux ai accept {result['workflow_id']} {result['id']}` saves it"]
    else:
        lines += ["", f"it did not run cleanly: {result.get('error')}", "nothing was saved"]
    return "\n".join(lines)


class _caller:
    """``call(method, **params)`` through the engine, or an offline service holding the lock."""

    def __enter__(self) -> Any:
        from engine.service.ipc import EngineUnavailable

        self.offline: _Offline | None = None
        try:
            from engine.client import EngineClient

            self.client = EngineClient.connect(timeout=2.0)
        except EngineUnavailable:
            self.client = None
            self.offline = _Offline().__enter__()
            return self.offline.call
        return lambda method, **params: self.client.call(method, timeout=AI_TIMEOUT_S, **params)

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self.offline is not None:
            self.offline.__exit__(*exc)


class _Offline:
    """No engine: hold the data-dir lock, run the assistant here with one worker."""

    def __enter__(self) -> _Offline:
        from engine.ai.assist import AssistService
        from engine.ai.sessions import ChatStore
        from engine.connectors.service import ConnectionService
        from engine.history import History
        from engine.lock import DataDirLock
        from engine.paths import default_paths, ensure_data_dir
        from engine.plugins import load_registry
        from engine.service.previews import NodePanelService
        from engine.service.store import WorkflowStore
        from engine.workers.pool import WorkerPool

        paths = ensure_data_dir(default_paths())
        self.lock = DataDirLock(paths.lock, role="cli")
        self.lock.acquire()
        try:
            self.pool = WorkerPool(paths.workspace, size=1, plugin_roots=[paths.plugins])
            store = WorkflowStore(paths.workflows)
            history = self.history = History(paths.history)
            connections = ConnectionService(paths.connections, load_registry([paths.plugins]), self.pool)
            panels = NodePanelService(store, history, self.pool, connections)
            self.service = AssistService(store, history, self.pool, connections, panels,
                                         paths.root / "ai" / "proposals")
            self.chats = ChatStore(paths.chats)
        except BaseException:
            self.lock.release()
            raise
        return self

    def call(self, method: str, **params: Any) -> Any:
        from engine.ai.workflow_proposal import propose_workflow

        s = self.service
        if method == "ai.assist_node" and params.get("session"):    # recorded in the session, as the engine does
            from engine.ai.assist_jobs import AssistJobs

            return AssistJobs(s, self.chats).run(params["workflow_id"], params["node_id"], params["request"],
                                                 params["session"], params.get("connection"), params.get("model"),
                                                 params.get("options"))
        if method == "ai.assist_node":
            return s.assist_node(params["workflow_id"], params["node_id"], params["request"], params.get("session"),
                                 params.get("connection"), params.get("model"), params.get("options"))
        if method == "ai.accept_proposal":
            return s.accept(params["workflow_id"], params["proposal_id"])
        if method == "ai.propose_workflow":
            return propose_workflow(s, params["request"], params.get("connection"), params.get("model"))
        raise DagfluxError(f"unknown call '{method}'")

    def __exit__(self, *exc: object) -> None:
        try:
            self.pool.close()
            self.history.close()
        finally:
            self.lock.release()
