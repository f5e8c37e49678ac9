"""Commit notes for the autopilot's own commits, written now rather than by a daemon.

The autopilot's commits carry a ``Task: <id>`` trailer; tmxd's post-commit hook
spools them, and :func:`link_commits` drains that spool at once (the same work as
``tmxd sync``), so each task's "Committed changes" note lands even when no daemon
runs. The write is attributed, so a running daemon does not count it twice.

A commit an agent made during a failed attempt is taken off the branch with the
attempt's changes, and a rejected merge review's branch is deleted with its commits;
:func:`mark_reverted` says so in the notes that name them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tmxd import git
from tmxd.commits.spool import Spool
from tmxd.commits.sync import LEDGER_NAME, ProcessedCommits, sync_project
from tmxd.errors import TmxdError
from tmxd.history.observe import attributed
from tmxd.taskmaster import ops
from tmxd.taskmaster.project import Project
from tmxd.taskmaster.store import TaskStore, retry_if_saved_meanwhile

if TYPE_CHECKING:
    from tmxd.metrics.recorder import Recorder


def link_commits(project: Project, recorder: Recorder | None, tag: str) -> str | None:
    """Drain the commit hooks' spool now; None, or why the notes wait for `tmxd sync`."""
    try:
        with attributed(
            project.root, project.tasks_path, "commit", recorder, others="external"
        ) as scope:
            sync_project(project, recorder, tag=tag, record_status=scope.record)
    except TmxdError as exc:
        return f"commit notes not written now ({exc.message}); `tmxd sync` writes them"
    return None


def mark_reverted(
    project: Project,
    tag: str,
    shas: Sequence[str],
    why: str,
    recorder: Recorder | None = None,
) -> list[str]:
    """Append `` [<why>]`` to each note of the commits ``shas`` (the processed-commits
    ledger says which tasks they were noted on); return those task ids. With a
    ``recorder``, the commits also leave the metrics (their rows and task links), as a
    rewritten commit does: the metrics follow the history."""
    if recorder is not None:
        for sha in shas:
            recorder.commit_gone(project.root, sha)
    try:
        ledger = ProcessedCommits(Spool(git.repo_paths(project.root).common_dir).dir / LEDGER_NAME)
    except TmxdError:
        return []
    notes = [
        (task_id, note)
        for sha in shas
        if (entry := ledger.get(sha)) is not None
        for task_id, note in entry.notes.items()
    ]
    if not notes:
        return []
    return _mark_notes(TaskStore(project), notes, tag, why)


@retry_if_saved_meanwhile
def _mark_notes(store: TaskStore, notes: list[tuple[str, str]], tag: str, why: str) -> list[str]:
    """Mark each ``(task id, note)`` with ``[why]``, in one locked write; the ids marked."""
    marked: list[str] = []
    with store.edit() as doc:
        active = ops.resolve_tag(store, doc, tag)
        for task_id, note in notes:
            found = ops.locate(doc, task_id, active)
            if found is not None and _mark(found[1], note, f"{note} [{why}]"):
                marked.append(task_id)
        doc.invalidate()
    return list(dict.fromkeys(marked))


def _mark(raw: dict[str, Any], note: str, marked: str) -> bool:
    """Rewrite ``note`` to ``marked`` once in a raw task's details (a string or a list)."""
    details = raw.get("details")
    if isinstance(details, list):
        items = [str(d) for d in details]
        hit = next((i for i, d in enumerate(items) if note in d and marked not in d), None)
        if hit is None:
            return False
        items[hit] = items[hit].replace(note, marked, 1)
        raw["details"] = items
        return True
    if not isinstance(details, str) or note not in details or marked in details:
        return False
    raw["details"] = details.replace(note, marked, 1)
    return True
