"""What a workflow's own SQL may do in the workspace.

SQL written in a workflow (a Transformer's statements, a Branch condition, a Join's
generated query) runs on the worker's workspace connection, which can reach every file the
engine can. SQLite itself would let that SQL ``ATTACH`` (or ``VACUUM INTO``) any path —
reading or overwriting another database on the disk — load an extension, or flip a
``PRAGMA`` that weakens the workspace. :func:`guarded` installs an SQLite authorizer for the
duration of that SQL which allows:

* reading any table (results are shared across workflows by design);
* writing only the tables named in ``writable`` (the node's own output, or its input for
  an in-place Transformer) and anything in the connection's ``temp`` schema;
* the schema bookkeeping SQLite does for those writes (``sqlite_master``,
  ``sqlite_sequence``);
* the read-only ``PRAGMA`` table-valued functions (``table_info`` and friends).

Everything else — ATTACH/DETACH (VACUUM INTO attaches its target), ``load_extension``,
other PRAGMAs, triggers and views in the workspace, writes to any other table — fails
with "not authorized", which :func:`explain` turns into a sentence naming what was
refused. The engine's own statements run outside the guard.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

READ_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "collation_list", "function_list", "pragma_list",
})
DENIED_FUNCTIONS = frozenset({"load_extension", "writefile", "readfile", "edit", "fts3_tokenizer"})
_BOOKKEEPING = frozenset({"sqlite_master", "sqlite_schema", "sqlite_sequence", "sqlite_stat1",
                          "sqlite_stat4"})

_WRITES_ON_TABLE = {  # action code -> index of the table name among (arg1, arg2)
    sqlite3.SQLITE_INSERT: 0, sqlite3.SQLITE_UPDATE: 0, sqlite3.SQLITE_DELETE: 0,
    sqlite3.SQLITE_CREATE_TABLE: 0, sqlite3.SQLITE_DROP_TABLE: 0,
    sqlite3.SQLITE_ALTER_TABLE: 1, sqlite3.SQLITE_CREATE_INDEX: 1, sqlite3.SQLITE_DROP_INDEX: 1,
}
_SCHEMA_OBJECTS = {  # persistent objects that would act later, outside this node
    sqlite3.SQLITE_CREATE_TRIGGER: "create a trigger", sqlite3.SQLITE_DROP_TRIGGER: "drop a trigger",
    sqlite3.SQLITE_CREATE_VIEW: "create a view", sqlite3.SQLITE_DROP_VIEW: "drop a view",
    sqlite3.SQLITE_CREATE_VTABLE: "create a virtual table",
    sqlite3.SQLITE_DROP_VTABLE: "drop a virtual table",
}


class _Authorizer:
    def __init__(self, writable: Iterable[str] | None) -> None:
        # None: a database the user chose as a whole (a SQLite connection) — any table and
        # PRAGMA in it is theirs; only reaching other files and extensions is refused.
        self.writable = None if writable is None else {name.lower() for name in writable}
        self.refused: str | None = None

    def __call__(self, action: int, arg1: str | None, arg2: str | None, db: str | None,
                 trigger: str | None) -> int:
        why = self._why_not(action, arg1, arg2, db)
        if why is None:
            return sqlite3.SQLITE_OK
        if self.refused is None:
            self.refused = why
        return sqlite3.SQLITE_DENY

    def _why_not(self, action: int, arg1: str | None, arg2: str | None, db: str | None) -> str | None:
        if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
            return ("ATTACH, DETACH and VACUUM INTO are not allowed in a workflow's SQL "
                    "(they would reach database files outside the workspace)")
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in DENIED_FUNCTIONS:
            return f"the SQL function {arg2}() is not allowed in a workflow's SQL"
        if self.writable is None:
            return None
        if action == sqlite3.SQLITE_PRAGMA:
            if (arg1 or "").lower() in READ_PRAGMAS:  # with an argument these are queries too
                return None
            return f"PRAGMA {arg1} is not allowed in a workflow's SQL (only table_info and similar reads)"
        if db == "temp":
            return None
        if action in _SCHEMA_OBJECTS:
            return f"a workflow's SQL may not {_SCHEMA_OBJECTS[action]} in the workspace (a TEMP one is fine)"
        if action in _WRITES_ON_TABLE:
            table = (arg1, arg2)[_WRITES_ON_TABLE[action]] or ""
            if table.lower() in _BOOKKEEPING or table.lower() in self.writable:
                return None
            allowed = ", ".join(sorted(self.writable)) or "none — it only reads"
            return (f"this SQL may only change its own table ({allowed}); it tried to change "
                    f"'{table}'")
        return None


@contextmanager
def guarded(conn: sqlite3.Connection, writable: Iterable[str] = ()) -> Iterator[_Authorizer]:
    """Run workflow SQL on ``conn`` under the authorizer described in the module doc."""
    auth = _Authorizer(writable)
    conn.set_authorizer(auth)
    try:
        yield auth
    finally:
        conn.set_authorizer(None)


def bind_to_file(conn: sqlite3.Connection) -> _Authorizer:
    """Keep every statement on ``conn`` inside its own database file, for good (see ``None``
    in :class:`_Authorizer`); returns the authorizer for :func:`explain`."""
    auth = _Authorizer(None)
    conn.set_authorizer(auth)
    return auth


def explain(exc: sqlite3.Error, auth: _Authorizer) -> str:
    """The sentence to show for ``exc`` raised under ``auth`` (its first refusal, once)."""
    refused, auth.refused = auth.refused, None
    if refused and "not authorized" in str(exc):
        return refused
    return str(exc)
