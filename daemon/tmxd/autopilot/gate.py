"""The approval gate: ``tmxd approve ID`` and ``tmxd reject ID``.

A task waits in ``review`` for one of three reasons (kept in the autopilot state):
``critical`` (routed to the gate), ``expand`` (complex, no subtasks) or ``merge``
(validated work that could not be merged back). Approve lets it go on; reject
turns it down:

| review   | approve                         | reject                               |
|----------|---------------------------------|--------------------------------------|
| critical | pending, approved for autopilot | deferred                             |
| expand   | pending, run whole              | deferred                             |
| merge    | done (merge the branch first)   | pending, branch ``tmxd/task-<id>`` deleted |
"""

from __future__ import annotations

from tmxd import clock
from tmxd.autopilot import state, worktrees
from tmxd.errors import InputError
from tmxd.history.observe import attributed
from tmxd.taskmaster import ops
from tmxd.taskmaster.project import Project
from tmxd.taskmaster.store import TaskStore


def _set_status(project: Project, store: TaskStore, task_id: str, status: str, tag: str) -> None:
    from tmxd.metrics.recorder import Recorder

    with (
        Recorder.open() as recorder,
        attributed(project.root, project.tasks_path, "tmxd", recorder),
    ):
        ops.set_status(store, [task_id], status, tag=tag)


def _settle(
    project: Project, task_id: str, tag: str | None, approved: bool
) -> tuple[TaskStore, str, str]:
    """Check ``task_id`` waits in review, record the decision; return (store, tag, kind)."""
    tag = project.active_tag(tag)
    store = TaskStore(project)
    task = store.read().find(task_id, tag)
    if task is None:
        raise InputError(f"task {task_id} not found in tag {tag}; see `tmxd list`")
    states = state.StateFile(project.root)
    review = states.review(tag, task_id)
    if review is None and task.status != "review":
        raise InputError(
            f"task {task_id} is {task.status}, not waiting in review; nothing to approve or reject"
        )
    kind = str(review.get("kind", "critical")) if review else "critical"
    states.decide(tag, task_id, approved, clock.iso_ms(clock.now()))
    return store, tag, kind


def approve(
    project: Project, task_id: str, *, tag: str | None = None, note: str | None = None
) -> str:
    """Approve ``task_id``; return one line saying what happened."""
    store, tag, kind = _settle(project, task_id, tag, True)
    status = "done" if kind == "merge" else "pending"
    _set_status(project, store, task_id, status, tag)
    ops.append_note(store, task_id, f"tmxd: approved{': ' + note if note else ''}", tag=tag)
    if kind == "merge":
        return f"task {task_id} approved: done"
    return f"task {task_id} approved: pending; `tmxd autopilot` will run it"


def reject(
    project: Project, task_id: str, *, tag: str | None = None, note: str | None = None
) -> str:
    """Reject ``task_id``; return one line saying what happened."""
    store, tag, kind = _settle(project, task_id, tag, False)
    if kind == "merge":
        worktrees.git(project.root, "branch", "-D", worktrees.branch_name(task_id), check=False)
        status = "pending"
    else:
        status = "deferred"
    _set_status(project, store, task_id, status, tag)
    ops.append_note(store, task_id, f"tmxd: rejected{': ' + note if note else ''}", tag=tag)
    return f"task {task_id} rejected: {status}"
