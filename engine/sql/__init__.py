"""SQL helpers for the local SQLite workspace.

:mod:`engine.sql.statements` splits user SQL into statements; :mod:`engine.sql.join`
builds the SELECT a Join node runs; :func:`fold_ident` is how SQLite compares
identifiers. Importing this package has no side effects.
"""

from __future__ import annotations

__all__ = ["fold_ident"]

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold_ident(name: str) -> str:
    """The form in which SQLite compares identifiers: ASCII letters lower-cased, the rest as is.

    Two column names with equal folds clash in one table (``ID`` and ``id``), while
    ``Ä`` and ``ä`` do not.
    """
    return name.translate(_ASCII_LOWER)
