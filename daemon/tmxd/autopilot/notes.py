"""Commit notes for the autopilot's own commits, written now rather than by a daemon.

The autopilot's commits carry a ``Task: <id>`` trailer; tmxd's post-commit hook
spools them, and :func:`link_commits` drains that spool at once (the same work as
``tmxd sync``), so each task's "Committed changes" note lands even when no daemon
runs. The write is attributed, so a running daemon does not count it twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tmxd.commits.sync import sync_project
from tmxd.errors import TmxdError
from tmxd.history.observe import attributed
from tmxd.taskmaster.project import Project

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
