"""The engine's exception tree, in one place.

    DagfluxError                      base of every error the engine raises on purpose
    ├── WorkflowFileError             a workflow file cannot be read (path, line, column)
    │   └── UnsupportedVersionError   a newer or unknown format version
    ├── WorkflowValidationError       the graph breaks a rule (carries every Problem)
    ├── ModelError                    an edit that the model refuses (unknown node, duplicate id)
    ├── TriggerError                  a Start trigger that cannot be used (engine.model.triggers)
    ├── TemplateError                 a ``{{ … }}`` reference that cannot be resolved
    ├── PluginError                   a plugin that cannot be loaded or lacks what it declares
    ├── WorkspaceError                workspace.sqlite is unusable (not a database, locked, …)
    ├── HistoryError                  history.sqlite is unusable
    ├── LockHeldError                 another process holds the data-dir lock
    ├── NodeError                     a node failed for a reason its handler explains
    │   └── JoinSpecError             a Join's structured spec does not fit its inputs (engine.sql.join)
    └── ProtocolError                 a message that does not fit the catalog

Every message names the file, node or field it is about.
"""

from __future__ import annotations


class DagfluxError(Exception):
    """Base class for every error the engine raises on purpose."""


class WorkflowFileError(DagfluxError):
    """A workflow file cannot be read or parsed."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class UnsupportedVersionError(WorkflowFileError):
    """The file declares a format version this engine cannot read."""


class WorkflowValidationError(DagfluxError):
    """The workflow breaks one or more graph rules; ``problems`` lists them all."""

    def __init__(self, problems: list, consequence: str = "") -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        then = f"; {consequence}" if consequence else ""
        super().__init__(f"workflow is invalid ({len(self.problems)} problem(s)){then}:\n{lines}")


class ModelError(DagfluxError):
    """An edit the workflow model refuses."""


class TemplateError(DagfluxError):
    """A template reference that cannot be resolved."""


class PluginError(DagfluxError):
    """A plugin cannot be loaded, or lacks what its manifest declares."""


class WorkspaceError(DagfluxError):
    """The SQLite workspace cannot be used."""


class HistoryError(DagfluxError):
    """The execution log cannot be used."""


class LockHeldError(DagfluxError):
    """Another process holds the data-dir lock."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class NodeError(DagfluxError):
    """A node failed; the message is shown to the user as the node's error."""


class ProtocolError(DagfluxError):
    """A message that does not fit the message catalog."""
