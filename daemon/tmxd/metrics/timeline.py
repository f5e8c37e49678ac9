"""One task's history from the metrics database: transitions, commits, agent runs, tool calls.

What ``tmxd mcp``'s ``task_history`` tool answers. A task's subtasks (``5.1``, ``5.2`` for
``5``) are included, each row naming its task. Rows come oldest first; a project the
database has never seen has an empty history.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tmxd.metrics.schema import MetricsError
from tmxd.metrics.stale import LINK_TAG

# How many rows of each kind one answer carries at most (the newest are kept).
LIMIT = 500

_MATCH = "(task_id = ? OR substr(task_id, 1, length(?) + 1) = ? || '.')"


def _rows(conn: sqlite3.Connection, sql: str, params: list[Any]) -> list[Any]:
    """The newest ``LIMIT`` rows (the query sorts newest first), oldest first."""
    return list(reversed(conn.execute(sql, params).fetchall()))


def task_timeline(
    conn: sqlite3.Connection, project: Path, task_id: str, tag: str | None = None
) -> dict[str, Any]:
    """Transitions, commits, executions and tool calls of ``task_id`` and its subtasks."""
    out: dict[str, Any] = {
        "taskId": task_id,
        "transitions": [],
        "commits": [],
        "executions": [],
        "toolCalls": [],
    }
    try:
        row = conn.execute(
            "SELECT id FROM projects WHERE root = ?", (str(Path(project).resolve()),)
        ).fetchone()
        if row is None:
            return out
        pid = int(row[0])
        match = [pid, task_id, task_id, task_id]
        by_tag = " AND tag = ?" if tag is not None else ""
        link_in_tag = f" AND {LINK_TAG} = ?" if tag is not None else ""
        tag_params = [tag] if tag is not None else []
        out["transitions"] = [
            {
                "taskId": r[0],
                "from": r[1],
                "to": r[2],
                "source": r[3],
                "at": r[4],
                "tag": r[5],
                "title": r[6],
            }
            for r in _rows(
                conn,
                "SELECT task_id, old_status, new_status, source, at, tag, title FROM transitions "
                f"WHERE project_id = ? AND {_MATCH}{by_tag} ORDER BY at DESC, id DESC LIMIT ?",
                [*match, *tag_params, LIMIT],
            )
        ]
        out["commits"] = [
            {
                "taskId": r[0],
                "sha": r[1],
                "subject": r[2],
                "author": r[3],
                "committedAt": r[4],
                "files": r[5],
                "insertions": r[6],
                "deletions": r[7],
                "branch": r[8],
            }
            for r in _rows(
                conn,
                "SELECT ct.task_id, c.sha, c.subject, c.author, c.committed_at, c.files, "
                "c.insertions, c.deletions, c.branch FROM commit_tasks ct "
                "JOIN commits c ON c.id = ct.commit_id "
                f"WHERE ct.project_id = ? AND {_MATCH.replace('task_id', 'ct.task_id')}"
                f"{link_in_tag} ORDER BY c.committed_at DESC, c.id DESC LIMIT ?",
                [*match, *tag_params, LIMIT],
            )
        ]
        out["executions"] = [
            {
                "taskId": r[0],
                "attempt": r[1],
                "route": r[2],
                "agent": r[3],
                "startedAt": r[4],
                "finishedAt": r[5],
                "durationMs": r[6],
                "success": None if r[7] is None else bool(r[7]),
                "exitCode": r[8],
                "toolCalls": r[9],
                "turns": r[10],
                "inputTokens": r[11],
                "outputTokens": r[12],
                "costUsd": r[13],
                "error": r[14],
            }
            for r in _rows(
                conn,
                "SELECT task_id, attempt, route, agent, started_at, finished_at, duration_ms, "
                "success, exit_code, tool_calls, turns, input_tokens, output_tokens, cost_usd, "
                f"error FROM executions WHERE project_id = ? AND {_MATCH}{by_tag} "
                "ORDER BY started_at DESC, id DESC LIMIT ?",
                [*match, *tag_params, LIMIT],
            )
        ]
        out["toolCalls"] = [
            {"tool": r[0], "calls": r[1], "failed": r[2], "last": r[3]}
            for r in conn.execute(
                "SELECT tool, count(*), sum(success = 0), max(at) FROM tool_calls "
                f"WHERE project_id = ? AND {_MATCH} GROUP BY tool ORDER BY count(*) DESC, tool",
                match,
            )
        ]
    except sqlite3.Error as exc:
        raise MetricsError(f"cannot read the history of task {task_id}: {exc}") from exc
    return out
