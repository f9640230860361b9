"""The connector interface, implemented by plugins (built-ins in ``plugins/connectors``).

A connector class declares the fields of its connection form (:class:`FieldSpec`,
which marks the secret ones) and, once constructed **inside a worker** with every
field resolved, knows how to: test the connection, list objects, list fields with
types, sample N rows, read in batches, write in bulk (create / replace / append),
run SQL in its own dialect and quote identifiers for it. The engine and the UI
only ever see the class attributes, never an instance (instances hold secrets).

Errors are :class:`ConnectorError` with messages that name the connection, never a
secret value; the worker's scrubber is a second line of defence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from engine.errors import DagfluxError

Row = tuple[Any, ...]
Columns = list[tuple[str, str]]          # (name, declared type)
WRITE_MODES = ("create", "replace", "append")


class ConnectorError(DagfluxError):
    """A connector operation failed (server down, wrong password, missing table …).

    ``transient`` says whether a later attempt may succeed (see :mod:`engine.retry`):
    True for a refused or lost connection, a timeout, an HTTP 5xx/429; None when unknown."""

    def __init__(self, message: str, transient: bool | None = None) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    secret: bool = False
    required: bool = True
    default: Any = None
    kind: str = "text"                    # text | int | bool | choice | url
    choices: tuple[str, ...] = ()
    help: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "secret": self.secret, "required": self.required,
                "default": self.default, "kind": self.kind, "choices": list(self.choices), "help": self.help}


class Connector:
    """Base class; subclasses set the class attributes and implement the methods."""

    type_name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    dialect: ClassVar[str] = ""           # postgresql | mysql | sqlite | rest
    relational: ClassVar[bool] = True
    object_store: ClassVar[bool] = False
    """True for file/object storage (S3, Azure Blob): it implements :meth:`object_keys`,
    :meth:`download` and :meth:`upload`, and Data Source / Output move files through it
    (:mod:`engine.connectors.objects`) instead of SQL."""
    fields: ClassVar[tuple[FieldSpec, ...]] = ()

    def __init__(self, connection_id: str, name: str, settings: Mapping[str, Any]) -> None:
        self.connection_id = connection_id
        self.name = name or connection_id
        self.settings = dict(settings)

    # --- metadata (class level; safe anywhere) -----------------------------------
    @classmethod
    def secret_fields(cls) -> list[str]:
        return [f.name for f in cls.fields if f.secret]

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {"type": cls.type_name, "label": cls.label, "dialect": cls.dialect,
                "relational": cls.relational, "object_store": cls.object_store,
                "fields": [f.to_dict() for f in cls.fields]}

    # --- lifecycle -----------------------------------------------------------------
    def close(self) -> None:
        """Close pooled resources; the instance may be used again (it reconnects)."""

    def secret_values(self) -> list[str]:
        return [str(self.settings[f]) for f in self.secret_fields() if self.settings.get(f)]

    # --- operations (inside a worker) ---------------------------------------------
    def test(self) -> str:
        """Connect and return a short description of the server ("PostgreSQL 15.4")."""
        raise NotImplementedError

    def list_objects(self) -> list[str]:
        raise NotImplementedError

    def list_fields(self, obj: str) -> Columns:
        raise NotImplementedError

    def sample(self, obj: str, limit: int = 5) -> tuple[list[str], list[Row]]:
        raise NotImplementedError

    def read_batches(self, sql: str, params: Sequence[Any] = (), batch_size: int = 10_000
                     ) -> Iterator[tuple[list[str], list[Row]]]:
        """Run a query and yield ``(column names, rows)`` batches — at least one, possibly
        empty, so that the column names of an empty result are known too."""
        raise NotImplementedError

    def write(self, table: str, columns: Columns, batches: Iterable[list[Row]], mode: str = "create") -> int:
        """Bulk-write rows into ``table``; transactional: on failure the table is as it was."""
        raise NotImplementedError

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; returns the affected row count (or -1)."""
        raise NotImplementedError

    def execute_many(self, statements: Sequence[str]) -> None:
        """Run several statements in one transaction (all or nothing)."""
        raise NotImplementedError

    def write_temporary(self, table: str, columns: Columns, batches: Iterable[list[Row]]) -> int:
        """Write rows into a TEMP table of this connector's session (replacing one of the same
        name). The database drops it when the session ends — also when the process holding
        the session is killed — so staging data cannot outlive the work that needs it."""
        raise NotImplementedError

    def drop_temporary(self, table: str) -> None:
        """Drop a table made by :meth:`write_temporary` (nothing if it is gone)."""
        raise NotImplementedError

    def replace_table_as(self, table: str, select_sql: str) -> None:
        """Make ``table`` the result of ``select_sql``: readers and a failure see the old
        table or the new one, never none. This default suits databases whose DDL is
        transactional (PostgreSQL, SQLite); others override it (MariaDB builds a staging
        table and swaps it in with one atomic rename)."""
        target = self.qualified(table)
        self.execute_many([f"DROP TABLE IF EXISTS {target}", f"CREATE TABLE {target} AS {select_sql}"])

    def quote_ident(self, name: str) -> str:
        raise NotImplementedError

    # --- object storage (``object_store = True``) --------------------------------------
    def object_keys(self, path: str) -> list[str]:
        """The object at ``path``, or every object under it when it is a prefix (a folder);
        sorted; [] when nothing is there."""
        raise NotImplementedError

    def download(self, key: str, target: Path, max_bytes: int | None = None) -> int:
        """Stream the object ``key`` into the file ``target`` in chunks (never whole in
        memory); stop after ``max_bytes`` when given. Returns the bytes written."""
        raise NotImplementedError

    def upload(self, source: Path, key: str) -> int:
        """Stream the file ``source`` to the object ``key`` (multipart for large files),
        replacing it. Returns the bytes sent."""
        raise NotImplementedError

    def open_ranged(self, key: str) -> Any:
        """The object ``key`` as a random-access ``pyarrow`` file that fetches only the byte
        ranges read (a Parquet sample then reads the footer and the first pages, not the
        whole object); None when the store cannot, and the object is downloaded instead."""
        return None

    def qualified(self, obj: str) -> str:
        """A possibly schema-qualified object name ("sales.orders"), quoted for the dialect."""
        return ".".join(self.quote_ident(part) for part in split_qualified(obj))

    def count(self, obj: str) -> int:
        for _, rows in self.read_batches(f"SELECT count(*) FROM {self.qualified(obj)}"):
            return int(rows[0][0])
        return 0

    def table_exists(self, obj: str) -> bool:
        return obj in self.list_objects()

    def drop_table(self, obj: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS {self.qualified(obj)}")


def split_qualified(obj: str) -> list[str]:
    """``schema.table`` → ``["schema", "table"]``; a quoted part may contain dots."""
    parts, current, quoted = [], "", False
    i = 0
    while i < len(obj):
        ch = obj[i]
        if ch == '"':
            if quoted and i + 1 < len(obj) and obj[i + 1] == '"':
                current += '"'
                i += 1
            else:
                quoted = not quoted
        elif ch == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
        i += 1
    parts.append(current)
    return [p for p in parts if p != ""] or [obj]


def map_declared_type(declared: str, exact: Mapping[str, str], *, integer: str, real: str, blob: str,
                      text: str) -> str:
    """A destination column type for a declared type (SQLite-style, or another database's).

    Known names map through ``exact``; otherwise SQLite's affinity rules decide (``INT`` →
    ``integer``, ``REAL``/``FLOA``/``DOUB`` → ``real``, ``BLOB`` → ``blob``) and everything
    else — dates, times, arrays, json, uuid, ``''`` — becomes ``text``, so a write never
    fails on a type name.
    """
    name = " ".join(re.sub(r"\(.*?\)", " ", declared or "").lower().replace("unsigned", " ").split())
    if name == "decimal blob":          # the workspace's exact decimal column (engine.decimals)
        name = "decimal"
    if name in exact:
        return exact[name]
    if name.endswith("[]") or name.startswith(("interval", "point", "time", "date")):
        return text
    if "int" in name:
        return integer
    if "blob" in name:
        return blob
    if any(key in name for key in ("real", "floa", "doub")):
        return real
    return text


def is_unsigned_bigint(declared: str) -> bool:
    """``BIGINT UNSIGNED`` (any display width): values up to 2⁶⁴ − 1, beyond a signed bigint."""
    return bool(re.fullmatch(r"\s*(bigint|int8)\s*(\(\s*\d+\s*\))?\s+unsigned(\s+zerofill)?\s*",
                             declared or "", re.IGNORECASE))
