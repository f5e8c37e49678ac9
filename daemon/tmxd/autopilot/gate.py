"""The approval gate: ``tmxd approve ID`` and ``tmxd reject ID``.

A task waits in ``review`` for one of three reasons (kept in the autopilot state):
``critical`` (routed to the gate), ``expand`` (complex, no subtasks) or ``merge``
(validated work on branch ``tmxd/task-<id>`` that could not be merged back).
Approve lets it go on; reject turns it down:

| review   | approve                                         | reject                        |
|----------|-------------------------------------------------|-------------------------------|
| critical | pending, approved for autopilot                 | deferred                      |
| expand   | pending, run whole                              | deferred                      |
| merge    | merges the branch again: done once it is merged | pending, the branch deleted   |

A rejected merge's commits that only its branch had are on no branch afterwards: their
notes are marked so and they leave the metrics (:func:`notes.mark_reverted`).

A merge approval that still conflicts changes nothing and fails (exit 1) naming
the branch and the conflicting files: a task is never done while its work is not
merged.
"""

from __future__ import annotations

from tmxd import clock
from tmxd.autopilot import state, worktrees
from tmxd.autopilot.notes import link_commits, mark_reverted
from tmxd.errors import InputError, TmxdError
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


def _waiting(project: Project, task_id: str, tag: str | None) -> tuple[TaskStore, str, str, str]:
    """Check ``task_id`` waits in review; return (store, tag, kind, title)."""
    tag = project.active_tag(tag)
    store = TaskStore(project)
    task = store.read().find(task_id, tag)
    if task is None:
        raise InputError(f"task {task_id} not found in tag {tag}; see `tmxd list`")
    review = state.StateFile(project.root).review(tag, task_id)
    if review is None and task.status != "review":
        raise InputError(
            f"task {task_id} is {task.status}, not waiting in review; nothing to approve or reject"
        )
    kind = str(review.get("kind", "critical")) if review else "critical"
    return store, tag, kind, task.title


def _decide(project: Project, tag: str, task_id: str, approved: bool) -> None:
    state.StateFile(project.root).decide(tag, task_id, approved, clock.iso_ms(clock.now()))


def merge_reviewed(project: Project, task_id: str, title: str) -> str:
    """Merge a reviewed task's branch into the current branch; TmxdError if it cannot."""
    root = project.root
    branch = worktrees.branch_name(task_id)
    if not worktrees.branch_exists(root, branch):
        raise TmxdError(
            f"task {task_id}: branch {branch} no longer exists, so its work cannot be merged; "
            f"if you merged it yourself, `tmxd set-status {task_id} done`, else "
            f"`tmxd reject {task_id}`"
        )
    subject = " ".join(title.split()) or f"Task {task_id}"
    result = worktrees.merge_branch(root, branch, task_id, f"Merge task {task_id}: {subject}")
    if not result.merged:
        held = worktrees.checked_out_at(root, branch)
        where = f" in {held}" if held is not None else ""
        fix = result.fix or (
            f"resolve it: merge the current branch into {branch}{where} and fix the conflicts there"
        )
        raise TmxdError(
            f"task {task_id} stays in review: {result.detail}; {fix}, then approve again"
        )
    worktrees.remove_branch(root, branch)
    return result.detail


def approve(
    project: Project, task_id: str, *, tag: str | None = None, note: str | None = None
) -> str:
    """Approve ``task_id``; return one line saying what happened."""
    store, tag, kind, title = _waiting(project, task_id, tag)
    merged = merge_reviewed(project, task_id, title) if kind == "merge" else None
    _decide(project, tag, task_id, True)
    current = store.read().find(task_id, tag)
    if merged is not None:
        status = "done"
    else:
        # a task in progress held at the gate (its subtasks waited) keeps its status
        status = "pending" if current is None or current.status == "review" else current.status
    _set_status(project, store, task_id, status, tag)
    text = f"tmxd: approved{': ' + note if note else ''}"
    if merged is not None:
        text += f"; {merged}"
    ops.append_note(store, task_id, text, tag=tag)
    if merged is not None:
        from tmxd.metrics.recorder import Recorder

        with Recorder.open() as recorder:
            link_commits(project, recorder, tag)
        return f"task {task_id} approved: {merged}; done"
    return f"task {task_id} approved: {status}; `tmxd autopilot` will run it"


def reject(
    project: Project, task_id: str, *, tag: str | None = None, note: str | None = None
) -> str:
    """Reject ``task_id``; return one line saying what happened."""
    store, tag, kind, _ = _waiting(project, task_id, tag)
    _decide(project, tag, task_id, False)
    dropped: tuple[str, ...] = ()
    if kind == "merge":
        branch = worktrees.branch_name(task_id)
        dropped = _only_on(project, branch)
        worktrees.remove_branch(project.root, branch)
        status = "pending"
    else:
        status = "deferred"
    _set_status(project, store, task_id, status, tag)
    ops.append_note(store, task_id, f"tmxd: rejected{': ' + note if note else ''}", tag=tag)
    if dropped:
        _unmerged(project, tag, task_id, branch, dropped)
    return f"task {task_id} rejected: {status}"


def _only_on(project: Project, branch: str) -> tuple[str, ...]:
    """The commits ``branch`` has that no other branch has: deleting it leaves them on
    none (the task's unmerged work)."""
    if not worktrees.branch_exists(project.root, branch):
        return ()
    listed = worktrees.git(
        project.root,
        "rev-list",
        f"refs/heads/{branch}",
        "--not",
        f"--exclude={branch}",  # relative to refs/heads/, as --branches wants
        "--branches",
        check=False,
    )
    return tuple(listed.stdout.split()) if listed.returncode == 0 else ()


def _unmerged(project: Project, tag: str, task_id: str, branch: str, shas: tuple[str, ...]) -> None:
    """A rejected merge's commits are on no branch now: their notes say so, as a failed
    attempt's do, and they leave the metrics (see ``notes.mark_reverted``)."""
    from tmxd.metrics.recorder import Recorder

    with Recorder.open() as recorder:
        link_commits(project, recorder, tag)  # notes still in the hooks' spool land first
        mark_reverted(
            project,
            tag,
            shas,
            f"reverted by tmxd autopilot: the merge of task {task_id} was rejected and its branch "
            f"{branch} deleted, the commit is on no branch",
            recorder,
        )
