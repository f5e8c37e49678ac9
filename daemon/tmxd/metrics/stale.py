"""The one stale rule, used by the daemon's hourly check and by ``tmxd report``.

A task is *stale* when it has been in progress for ``stale_hours`` or more with no
linked commit since it started: no commit linked to it (or to one of its subtasks:
work on 5.2 is work on 5) since its move to in-progress. A commit from before that
move does not count; one since does, for as long as the task stays in progress.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tmxd.metrics.recorder import from_db_time, to_db_time

if TYPE_CHECKING:
    from tmxd.metrics.recorder import Recorder


def stale_for(
    in_progress_since: datetime, last_commit: datetime | None, now: datetime, stale_hours: float
) -> float | None:
    """Hours in progress when the task (in progress) is stale by now, else None."""
    if last_commit is not None and last_commit >= in_progress_since:
        return None
    hours = now - in_progress_since
    if hours < timedelta(hours=stale_hours):
        return None
    return hours.total_seconds() / 3600.0


# a link recorded before tmxd kept its tag (see metrics.schema) is taken as master's
LINK_TAG = "coalesce(ct.tag, 'master')"


def last_commit_per_task(
    conn: sqlite3.Connection, where: str, params: list[Any], until_s: str
) -> dict[tuple[int, str, str], datetime]:
    """``(project id, tag, task id)`` → its latest linked commit up to ``until_s``.

    ``where`` filters ``commit_tasks`` (alias ``ct``). A subtask's commit also counts
    for its parent task.
    """
    cur = conn.execute(
        f"SELECT ct.project_id, {LINK_TAG}, ct.task_id, max(c.committed_at) "
        f"FROM commit_tasks ct JOIN commits c ON c.id = ct.commit_id "
        f"WHERE {where} AND c.committed_at <= ? GROUP BY 1, 2, 3",
        [*params, until_s],
    )
    latest: dict[tuple[int, str, str], datetime] = {}
    for project_id, tag, task_id, at in cur:
        moment = from_db_time(at)
        parent = str(task_id).split(".", 1)[0]
        for key in {(project_id, tag, task_id), (project_id, tag, parent)}:
            if key not in latest or latest[key] < moment:
                latest[key] = moment
    return latest


def last_commits(
    recorder: Recorder, project: Path, until: datetime
) -> dict[tuple[str, str], datetime]:
    """``(tag, task id)`` → its latest linked commit in ``project`` (see
    :func:`last_commit_per_task`)."""
    from tmxd.metrics.schema import MetricsError

    try:
        conn = recorder.db.conn
        row = conn.execute(
            "SELECT id FROM projects WHERE root = ?", (str(Path(project).resolve()),)
        ).fetchone()
        if row is None:
            return {}
        found = last_commit_per_task(conn, "ct.project_id = ?", [row[0]], to_db_time(until))
    except sqlite3.Error as exc:
        raise MetricsError(f"{recorder.path}: cannot read commits: {exc}") from exc
    return {(tag, task_id): moment for (_pid, tag, task_id), moment in found.items()}
