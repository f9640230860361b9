"""The undo stack and the command interface every model edit implements.

The concrete commands live in :mod:`engine.model.commands`. Guarantees of the pair:

* **Exact undo.** ``undo()`` restores the model as it was before ``redo()``: node order,
  edge order (which is input order) and every field, so ``fileformat.to_dict`` compares
  equal. This rests on the stack discipline: a command is only undone in the state its
  ``redo()`` left, and only redone in the state it first ran in.
* **All or nothing.** A command that cannot apply (unknown node, duplicate edge or id,
  malformed fragment) raises :class:`~engine.errors.ModelError` from ``redo()`` before
  its first edit, so no event is emitted; :meth:`UndoStack.push` then records nothing.
  A hand-built :class:`MacroCommand` whose child fails rolls back the children already
  applied (their events and the reverse events are emitted) before re-raising.
* **Merging.** While a gesture runs the canvas pushes one :class:`MoveNodesCommand` per
  frame; the stack folds each into the one on top when that one accepts
  (:meth:`Command.merge_with`), so a drag is one undo step from its start to its last
  position. The merge window opens with each push and closes on
  :meth:`UndoStack.end_merge` (call it when the finger lifts), ``undo``, ``redo``,
  ``set_clean`` and ``clear``: two separate drags of the same node are two steps, and an
  edit is never merged into the saved state.
* **Clean state.** :meth:`UndoStack.set_clean` marks the saved state; ``is_clean`` is true
  exactly when undo/redo lead back to it. Once the marked state is unreachable (dropped
  from the redo tail or trimmed by the depth limit), the stack stays unclean until the
  next ``set_clean``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

StackListener = Callable[["UndoStack"], None]


class Command(ABC):
    """One undoable edit. ``text`` names it for the Undo/Redo labels."""

    text: str = ""

    @abstractmethod
    def redo(self) -> None:
        """Apply the edit; raise ModelError, having changed nothing, if it cannot apply."""

    @abstractmethod
    def undo(self) -> None:
        """Revert exactly what the last ``redo()`` did."""

    def merge_with(self, other: Command) -> bool:
        """Absorb ``other`` (already applied, pushed right after this one); True if merged."""
        return False


# --- the stack ---------------------------------------------------------------------------
class UndoStack:
    """The document's history: commands applied so far and the redo tail after them."""

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"undo limit must be at least 1, not {limit}")
        self.limit = limit
        self._commands: list[Command] = []
        self._index = 0  # how many commands are applied; the rest are the redo tail
        self._clean_index: int | None = 0  # None: the saved state cannot be reached
        self._merge_open = False
        self._listeners: list[StackListener] = []

    # --- observation -------------------------------------------------------------
    def subscribe(self, listener: StackListener) -> Callable[[], None]:
        """Call ``listener(stack)`` whenever the history or clean state may have changed."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener(self)

    # --- queries -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._commands)

    @property
    def index(self) -> int:
        return self._index

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._commands)

    @property
    def undo_text(self) -> str:
        return self._commands[self._index - 1].text if self.can_undo else ""

    @property
    def redo_text(self) -> str:
        return self._commands[self._index].text if self.can_redo else ""

    @property
    def is_clean(self) -> bool:
        return self._clean_index == self._index

    # --- edits -------------------------------------------------------------------
    def push(self, command: Command) -> None:
        """Apply ``command`` and record it (or merge it into the top command).

        If ``command.redo()`` raises, the stack is left exactly as it was."""
        command.redo()
        del self._commands[self._index:]
        if self._clean_index is not None and self._clean_index > self._index:
            self._clean_index = None
        if not self._merge_into_top(command):
            self._commands.append(command)
            self._index += 1
            self._trim()
        self._merge_open = True
        self._notify()

    execute = push

    def _merge_into_top(self, command: Command) -> bool:
        # Never merge into the saved state: the document would change while the
        # stack still claimed it was clean.
        if not self._merge_open or self._index == 0 or self._clean_index == self._index:
            return False
        return self._commands[self._index - 1].merge_with(command)

    def _trim(self) -> None:
        while self.limit is not None and len(self._commands) > self.limit:
            del self._commands[0]
            self._index -= 1
            if self._clean_index is not None:
                self._clean_index = self._clean_index - 1 if self._clean_index > 0 else None

    def end_merge(self) -> None:
        """Close the merge window: the next command starts a new undo step."""
        self._merge_open = False

    def undo(self) -> None:
        """Undo the last applied command; nothing happens when there is none."""
        if not self.can_undo:
            return
        self._merge_open = False
        self._commands[self._index - 1].undo()
        self._index -= 1
        self._notify()

    def redo(self) -> None:
        """Redo the next command of the redo tail; nothing happens when there is none."""
        if not self.can_redo:
            return
        self._merge_open = False
        self._commands[self._index].redo()
        self._index += 1
        self._notify()

    def set_clean(self) -> None:
        """Mark the current state as saved (call after a successful save)."""
        self._clean_index = self._index
        self._merge_open = False
        self._notify()

    def clear(self) -> None:
        """Forget the history; the document keeps its current content and clean state."""
        self._clean_index = 0 if self.is_clean else None
        self._commands.clear()
        self._index = 0
        self._merge_open = False
        self._notify()
