"""Task Master's statuses and the rule that recomputes a parent from its subtasks."""

from __future__ import annotations

from collections.abc import Sequence

from tmxd.errors import InputError

#: The statuses ``task-master set-status`` accepts (tm-core 0.43.1), in its order.
VALID_STATUSES: tuple[str, ...] = (
    "pending",
    "in-progress",
    "done",
    "deferred",
    "cancelled",
    "blocked",
    "review",
)

#: Statuses that count as finished in ``task-master list`` (``next`` only counts ``done``).
COMPLETE_STATUSES: frozenset[str] = frozenset({"done", "completed", "cancelled"})

#: Statuses that mean the work is done: a change into one from any other is work done,
#: a rewrite between them (Task Master's save turns ``completed`` into ``done``) is not.
DONE_LIKE: frozenset[str] = frozenset({"done", "completed"})

#: The status glyphs of ``task-master list``.
SYMBOLS: dict[str, str] = {
    "done": "✓",
    "completed": "✓",
    "in-progress": "▶",
    "pending": "○",
    "deferred": "x",
    "cancelled": "x",
    "review": "?",
    "blocked": "!",
}

#: click colour names per status, for terminals.
COLOURS: dict[str, str] = {
    "done": "green",
    "completed": "green",
    "in-progress": "blue",
    "pending": "yellow",
    "deferred": "bright_black",
    "cancelled": "bright_black",
    "review": "magenta",
    "blocked": "red",
}


def check_status(status: str) -> str:
    """``status`` if Task Master accepts it, else an input error listing the valid ones."""
    if status in VALID_STATUSES:
        return status
    raise InputError(f'invalid status "{status}"; valid statuses: {", ".join(VALID_STATUSES)}')


def symbol(status: str) -> str:
    return SYMBOLS.get(status, "X")


def parent_status(current: str, subtask_statuses: Sequence[str]) -> str:
    """A parent's status after one of its subtasks changed (tm-core ``set-status``).

    All subtasks done (or ``completed``) → ``done``; else any in progress or any done →
    ``in-progress``; else all pending → ``pending``; otherwise unchanged. Cancelled
    subtasks do not count as done.
    """
    if not subtask_statuses:
        return current
    done_like = [s in ("done", "completed") for s in subtask_statuses]
    if all(done_like):
        return "done"
    if any(done_like) or any(s == "in-progress" for s in subtask_statuses):
        return "in-progress"
    if all(s == "pending" for s in subtask_statuses):
        return "pending"
    return current
