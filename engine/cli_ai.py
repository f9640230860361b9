"""``dagflux ai …``: chat with an AI connection from the terminal, and manage chat sessions.

* ``dagflux ai chat [--session ID] [--connection C] [--model M] [-m TEXT]`` — with ``-m``
  one message and its streamed reply (stdout), then exit; without it, on a terminal, an
  interactive chat (``/exit`` or Ctrl+D ends it; Ctrl+C stops a reply mid-stream, which is
  saved as cancelled); with standard input not a terminal, all of it is one message.
  Exit codes: 0 the reply completed, 1 it failed (the error on stderr), 130 cancelled.
* ``dagflux ai sessions list | show ID | rename ID TITLE | delete ID``.
* ``dagflux ai usage [--days N]`` — tokens per day and per session.

Through the engine when one runs (the calls run in its workers); otherwise this process
holds the data-dir lock and runs one worker itself. Either way the key is resolved only
in a worker; this process never sees it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import queue
import sys
from typing import Any

from engine.errors import DagfluxError
from engine.messages import Message
from engine.messages_ai import AiCallFinished, AiDelta

EXIT_OK, EXIT_FAILED, EXIT_CANCELLED = 0, 1, 130


def add_parsers(sub: Any) -> Any:
    """Add ``dagflux ai`` with chat, sessions and usage; returns the ``ai`` subparsers (the
    assistant adds its subcommands there, :mod:`engine.cli_ai_assist`)."""
    a = sub.add_parser("ai", help="chat with an AI connection; chat sessions and token usage")
    asub = a.add_subparsers(metavar="ACTION", required=True)
    c = asub.add_parser("chat", help="chat (interactive on a terminal, or one message with -m)")
    c.add_argument("--session", help="continue this session (default: a new one)")
    c.add_argument("--connection", help="the AI connection to use (default: the session's)")
    c.add_argument("--model", help="the model (default: the session's, else the connection's)")
    c.add_argument("-m", "--message", help="send this one message, print the reply and exit")
    c.add_argument("--max-tokens", type=int, default=None)
    c.add_argument("--temperature", type=float, default=None)
    c.add_argument("--json", action="store_true", help="with -m: print the finished reply as one JSON object")
    c.set_defaults(func=cmd_chat)
    s = asub.add_parser("sessions", help="list, show, rename or delete chat sessions")
    s.add_argument("action", choices=["list", "show", "rename", "delete"])
    s.add_argument("args", nargs="*", help="show/delete: ID; rename: ID TITLE")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_sessions)
    u = asub.add_parser("usage", help="tokens per day and per session")
    u.add_argument("--days", type=int, default=None, help="only the last N days")
    u.add_argument("--json", action="store_true")
    u.set_defaults(func=cmd_usage)
    return asub


# --- commands ------------------------------------------------------------------------

def cmd_sessions(args: argparse.Namespace) -> int:
    with _open_link() as link:
        a = args.args
        if args.action == "list":
            return _print(args, link.call("chats.list"), _list_text)
        _need(a, 2 if args.action == "rename" else 1, "ID TITLE" if args.action == "rename" else "ID")
        if args.action == "show":
            return _print(args, link.call("chats.messages", id=a[0]), _show_text)
        if args.action == "rename":
            return _print(args, link.call("chats.rename", id=a[0], title=" ".join(a[1:])),
                          lambda s: f"renamed {s['id']}: {s['title']}")
        link.call("chats.delete", id=a[0])
        return _print(args, True, lambda _: f"deleted chat session {a[0]}")


def cmd_usage(args: argparse.Namespace) -> int:
    with _open_link() as link:
        return _print(args, link.call("chats.usage", days=args.days), _usage_text)


def cmd_chat(args: argparse.Namespace) -> int:
    options = {k: v for k, v in (("max_tokens", args.max_tokens), ("temperature", args.temperature))
               if v is not None}
    with _open_link() as link:
        session = args.session
        if session:
            link.call("chats.messages", id=session)   # a clear error for an unknown id before anything else
        else:
            session = link.call("chats.create", connection=args.connection, model=args.model)["id"]
        if args.message is not None or not sys.stdin.isatty():
            text = args.message if args.message is not None else sys.stdin.read()
            end = _turn(link, session, text, args.connection, args.model, options, quiet=args.json,
                        fresh=not args.session)
            if args.json:
                print(json.dumps(_end_dict(end)))
            return _exit_code(end)
        return _interactive(link, session, args, options)


def _interactive(link: Any, session: str, args: argparse.Namespace, options: dict) -> int:
    _err(f"chat session {session} — /exit or Ctrl+D to leave, Ctrl+C stops a reply")
    code = EXIT_OK
    connection, model = args.connection, args.model
    while True:
        try:
            text = input("you> ")
        except EOFError:
            print()
            return code
        except KeyboardInterrupt:
            print()
            return code
        if text.strip() in ("/exit", "/quit"):
            return code
        if not text.strip():
            continue
        end = _turn(link, session, text, connection, model, options)
        connection = model = None   # the session remembers them
        code = _exit_code(end)


def _turn(link: Any, session: str, text: str, connection: str | None, model: str | None, options: dict,
          quiet: bool = False, fresh: bool = False) -> AiCallFinished:
    """Send one message; stream the reply to stdout; Ctrl+C cancels it. Returns its end.
    A ``fresh`` session (created for this message) is removed again if the message is refused."""
    try:
        started = link.call("chats.send", id=session, text=text, connection=connection, model=model,
                            options=options or None)
    except DagfluxError:
        if fresh:
            link.call("chats.delete", id=session)
        raise
    call_id = started["call_id"]
    end: AiCallFinished | None = None
    while end is None:
        try:
            end = _stream(link, call_id, quiet)
        except KeyboardInterrupt:
            link.call("chats.cancel", call_id=call_id)
    if not quiet:
        print(flush=True)
        _err(_end_line(end))
    return end


def _stream(link: Any, call_id: str, quiet: bool) -> AiCallFinished:
    while True:
        try:
            msg = link.events.get(timeout=0.5)
        except queue.Empty:
            if link.lost():
                raise DagfluxError("lost the engine while the reply was streaming") from None
            continue
        if isinstance(msg, AiDelta) and msg.call_id == call_id and not quiet:
            sys.stdout.write(msg.text)
            sys.stdout.flush()
        elif isinstance(msg, AiCallFinished) and msg.call_id == call_id:
            return msg


def _exit_code(end: AiCallFinished) -> int:
    return {"succeeded": EXIT_OK, "cancelled": EXIT_CANCELLED}.get(end.status, EXIT_FAILED)


def _end_line(end: AiCallFinished) -> str:
    tokens = f"{end.input_tokens if end.input_tokens is not None else '?'} in / " \
             f"{end.output_tokens if end.output_tokens is not None else '?'} out"
    where = f"[{end.connection} · {end.model or 'default model'} · {tokens} · {end.duration_ms / 1000:.1f} s]"
    if end.status == "succeeded":
        return where
    if end.status == "cancelled":
        return f"■ cancelled {where}"
    return f"✗ {end.error} {where}"


def _end_dict(end: AiCallFinished) -> dict:
    return {k: getattr(end, k) for k in ("status", "text", "error", "error_kind", "connection", "provider", "model",
                                         "input_tokens", "output_tokens", "duration_ms", "ttft_ms", "session_id",
                                         "message_id")}


# --- text ----------------------------------------------------------------------------

def _when(ts: Any) -> str:
    return datetime.datetime.fromtimestamp(float(ts or 0)).strftime("%Y-%m-%d %H:%M")


def _list_text(sessions: list[dict]) -> str:
    if not sessions:
        return "no chat sessions yet; start one with `dagflux ai chat --connection ID`"
    lines = []
    for s in sessions:
        if s.get("error"):
            lines.append(f"{s['id']:<14} (unreadable) {s['error']}")
            continue
        lines.append(f"{s['id']:<14} {_when(s['updated_at'])}  {s['messages']:>3} msgs  "
                     f"{s['tokens_in']:>6} in {s['tokens_out']:>6} out  {s['connection'] or '-'}"
                     f"{'/' + s['model'] if s['model'] else ''}  {s['title']}")
    return "\n".join(lines)


def _show_text(doc: dict) -> str:
    lines = [f"{doc['id']}: {doc['title'] or '(untitled)'} — connection {doc['connection'] or '-'}"
             f"{', model ' + doc['model'] if doc['model'] else ''}"]
    for m in doc["messages"]:
        if m["role"] == "assistant":
            tokens = f"{m.get('tokens_in', '?')}→{m.get('tokens_out', '?')} tokens"
            status = "" if m.get("status") == "complete" else f" {m.get('status')}: {m.get('error') or ''}"
            lines.append(f"[{m['id']}] assistant ({m.get('provider', '?')} {m.get('model', '')}, {tokens}, "
                         f"{float(m.get('duration_ms') or 0) / 1000:.1f} s){status}\n{m['content']}")
        else:
            lines.append(f"[{m['id']}] {m['role']}\n{m['content']}")
    return "\n\n".join(lines)


def _usage_text(usage: dict) -> str:
    if not usage["days"]:
        return "no AI replies recorded yet"
    lines = ["day          replies  tokens in  tokens out"]
    lines += [f"{d['day']}  {d['replies']:>7}  {d['tokens_in']:>9}  {d['tokens_out']:>10}" for d in usage["days"]]
    lines += ["", "session        replies  tokens in  tokens out  title"]
    lines += [f"{s['id']:<14} {s['replies']:>7}  {s['tokens_in']:>9}  {s['tokens_out']:>10}  {s['title']}"
              for s in usage["sessions"]]
    return "\n".join(lines)


def _print(args: argparse.Namespace, value: Any, text: Any) -> int:
    print(json.dumps(value) if args.json else text(value))
    return EXIT_OK


def _need(args: list[str], count: int, usage: str) -> None:
    if len(args) < count:
        raise DagfluxError(f"this needs {usage}")


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- engine or this process ------------------------------------------------------------

def _open_link() -> Any:
    from engine.service.ipc import EngineUnavailable

    events: queue.SimpleQueue[Message] = queue.SimpleQueue()
    try:
        from engine.client import EngineClient

        client = EngineClient.connect(timeout=2.0, on_event=events.put)
    except EngineUnavailable:
        return _Offline(events)
    return _Engine(client, events)


class _Engine:
    def __init__(self, client: Any, events: queue.SimpleQueue) -> None:
        self.client, self.events = client, events

    def call(self, method: str, **params: Any) -> Any:
        return self.client.call(method, **params)

    def lost(self) -> bool:
        return bool(self.client.disconnected.is_set())

    def __enter__(self) -> _Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()


class _Offline:
    """No engine: hold the data-dir lock; one worker of our own makes the calls."""

    def __init__(self, events: queue.SimpleQueue) -> None:
        self.events = events
        self.pool: Any = None

    def __enter__(self) -> _Offline:
        from engine.ai.calls import AiCallManager
        from engine.ai.chat import ChatService
        from engine.ai.sessions import ChatStore
        from engine.lock import DataDirLock
        from engine.paths import default_paths, ensure_data_dir
        from engine.plugins import load_registry

        self.paths = ensure_data_dir(default_paths())
        self.lock = DataDirLock(self.paths.lock, role="cli")
        self.lock.acquire()
        registry = load_registry([self.paths.plugins])
        self.service = ChatService(ChatStore(self.paths.chats),
                                   AiCallManager(self, self.paths.connections, registry.ai_providers))
        return self

    # the executor interface, with the worker started only when a call needs one
    def submit(self, task: Any, on_event: Any = None) -> Any:
        if self.pool is None:
            from engine.workers.pool import WorkerPool

            self.pool = WorkerPool(self.paths.workspace, size=1, plugin_roots=[self.paths.plugins])
        return self.pool.submit(task, on_event=on_event)

    def cancel(self, future: Any) -> None:
        if self.pool is not None:
            self.pool.cancel(future)

    def lost(self) -> bool:
        return False

    def call(self, method: str, **p: Any) -> Any:
        s = self.service
        table = {
            "chats.list": lambda: s.list(), "chats.usage": lambda: s.usage(p.get("days")),
            "chats.create": lambda: s.create(p.get("title") or "", p.get("connection"), p.get("model")),
            "chats.messages": lambda: s.messages(p["id"]), "chats.rename": lambda: s.rename(p["id"], p["title"]),
            "chats.delete": lambda: s.delete(p["id"]), "chats.cancel": lambda: s.cancel(p["call_id"]),
            "chats.send": lambda: s.send(p["id"], p["text"], p.get("connection"), p.get("model"), p.get("options"),
                                         self.events.put),
        }
        return table[method]()

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.close()
        self.lock.release()
