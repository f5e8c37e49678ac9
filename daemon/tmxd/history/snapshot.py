"""Snapshots of a tasks file and what changed between two of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tmxd.metrics.records import REMOVED
from tmxd.taskmaster.status import DONE_LIKE

if TYPE_CHECKING:
    from tmxd.taskmaster.document import TasksFile


@dataclass(frozen=True)
class TaskState:
    status: str
    title: str
    deps: tuple[str, ...] = ()


Snapshot = dict[str, dict[str, TaskState]]  # tag -> task id ("5", "5.2") -> state


@dataclass(frozen=True)
class Transition:
    tag: str
    task_id: str
    old: str | None  # None: the task appeared
    new: str
    title: str


@dataclass(frozen=True)
class Unblocked:
    tag: str
    task_id: str
    title: str


def snapshot_of(tasks_file: TasksFile) -> Snapshot:
    """Every task's and subtask's status, title and dependencies, per tag."""
    snap: Snapshot = {}
    for tag in tasks_file.tag_names():
        states: dict[str, TaskState] = {}
        stack = list(reversed(tasks_file.tasks(tag)))
        while stack:
            task = stack.pop()
            states[str(task.id)] = TaskState(
                str(task.status), str(task.title or ""), tuple(str(d) for d in task.dependencies)
            )
            stack.extend(reversed(task.subtasks))
        snap[tag] = states
    return snap


def diff(before: Snapshot, after: Snapshot) -> list[Transition]:
    """Status changes from ``before`` to ``after``; new tasks come with ``old=None``, tasks
    gone from the file with ``new=REMOVED``."""
    changes: list[Transition] = []
    for tag, states in after.items():
        previous = before.get(tag, {})
        for task_id, state in states.items():
            prior = previous.get(task_id)
            if prior is None:
                changes.append(Transition(tag, task_id, None, state.status, state.title))
            elif prior.status != state.status:
                changes.append(Transition(tag, task_id, prior.status, state.status, state.title))
    for tag, states in before.items():
        now = after.get(tag, {})
        changes += [
            Transition(tag, task_id, state.status, REMOVED, state.title)
            for task_id, state in states.items()
            if task_id not in now
        ]
    return changes


def newly_unblocked(before: Snapshot, after: Snapshot) -> list[Unblocked]:
    """Pending tasks whose dependencies are all done now but were not all done before."""
    found: list[Unblocked] = []
    for tag, states in after.items():
        previous = before.get(tag)
        if previous is None:
            continue
        done_now = {i for i, s in states.items() if s.status in DONE_LIKE}
        done_before = {i for i, s in previous.items() if s.status in DONE_LIKE}
        for task_id, state in states.items():
            if state.status != "pending" or not state.deps or task_id not in previous:
                continue
            if all(d in done_now for d in state.deps) and not all(
                d in done_before for d in state.deps
            ):
                found.append(Unblocked(tag, task_id, state.title))
    return found
