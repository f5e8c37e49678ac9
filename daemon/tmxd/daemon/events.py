"""What the daemon reacts to: one small frozen dataclass per kind of event.

Every source puts what it saw on the daemon's one queue as an event; the engine
thread takes them off in order and dispatches on their type. The watcher's
debounced batches become project events (:func:`from_watch`), the timer and the
``reconcile`` request a :class:`Tick`, the project registry :class:`ProjectAdded`
and :class:`ProjectRemoved`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TasksFileChanged:
    """``tasks.json`` (or ``state.json``, which picks its active tag) was written."""

    root: Path


@dataclass(frozen=True)
class ConfigChanged:
    """The project's ``.taskmaster/tmxd.toml`` was written."""

    root: Path


@dataclass(frozen=True)
class HooksSpooled:
    """git hooks appended to the repository's spool.

    Its lines say what happened: commits created, commits rewritten (amend,
    rebase), a checkout or a merge; draining the spool acts on each.
    """

    root: Path


@dataclass(frozen=True)
class HeadMoved:
    """HEAD or a branch moved and no hook line came with it (hooks missing, a reset)."""

    root: Path


@dataclass(frozen=True)
class Tick:
    """Time to look at every project again: the periodic reconcile, or a request for one."""


@dataclass(frozen=True)
class ProjectAdded:
    """A registered project (at start, on reload): load it and watch it."""

    root: Path


@dataclass(frozen=True)
class ProjectRemoved:
    """A project no longer registered: forget it."""

    root: Path


@dataclass(frozen=True)
class Shutdown:
    """The last event: handle what is queued before it, then end the engine thread."""


ProjectEvent = TasksFileChanged | ConfigChanged | HooksSpooled | HeadMoved
Event = ProjectEvent | Tick | ProjectAdded | ProjectRemoved | Shutdown


def from_watch(root: Path, kinds: Collection[str]) -> list[ProjectEvent]:
    """The events one debounced batch of the watcher means, in the order to handle them.

    ``kinds`` are the watcher's names for the files that changed
    (:meth:`tmxd.daemon.watch.WatchSpec.classify`). A commit writes the spool and
    moves a branch: that is one :class:`HooksSpooled`, not also a :class:`HeadMoved`.
    A new complexity report means nothing to the daemon yet.
    """
    events: list[ProjectEvent] = []
    if "config" in kinds:
        events.append(ConfigChanged(root))
    if "tasks" in kinds or "state" in kinds:
        events.append(TasksFileChanged(root))
    if "spool" in kinds:
        events.append(HooksSpooled(root))
    elif "git" in kinds:
        events.append(HeadMoved(root))
    return events
