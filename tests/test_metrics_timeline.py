"""A task's history from a real metrics database: its rows and its subtasks', nobody else's."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tmxd.metrics.recorder import Recorder
from tmxd.metrics.schema import MetricsError
from tmxd.metrics.timeline import task_timeline

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
FAILED_RUN: dict[str, Any] = {
    "success": False, "exit_code": 1, "tool_calls": 4, "turns": 3, "input_tokens": 100,
    "output_tokens": 20, "cost_usd": 0.01, "peak_rss_bytes": None, "error": "tests failed",
}  # fmt: skip


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_rows_of_the_task_and_its_subtasks_oldest_first(tmp_path: Path) -> None:
    root, other = tmp_path / "p", tmp_path / "q"
    root.mkdir()
    other.mkdir()
    with Recorder.open(tmp_path / "m.db") as rec:
        rec.transition(root, "5.1", "pending", "in-progress", "mcp", at=at(2), title="Sub")
        rec.transition(root, "5", "pending", "in-progress", "tmxd", at=at(1), title="Top")
        rec.transition(root, "50", "pending", "done", "tmxd", at=at(3))  # not a subtask of 5
        rec.transition(root, "5", "in-progress", "done", "tmxd", tag="feature", at=at(4))
        rec.transition(other, "5", "pending", "done", "tmxd", at=at(5))
        rec.commit(root, "a" * 40, "Parse [5.1]", "Ada", at(6), 2, 10, 1, "main", ["5.1"])
        rec.commit(root, "b" * 40, "Other [50]", "Ada", at(7), 1, 1, 0, "main", ["50"])
        run = rec.execution_started(root, "5.1", 1, "medium", "claude", at=at(8))
        rec.execution_finished(run, **FAILED_RUN, at=at(9))
        rec.tool_call(root, "s1", "mcp__tmxd__next_task", True, 1.5, "5.1", at=at(10))
        rec.tool_call(root, "s1", "Bash", False, 20.0, "5.1", at=at(11))
        rec.tool_call(root, "s1", "Bash", True, 20.0, "5", at=at(12))
        rec.tool_call(root, "s1", "Bash", True, 20.0, "50", at=at(13))
        conn = rec.db.conn
        got = task_timeline(conn, root, "5", "master")
        assert [(t["taskId"], t["to"], t["source"]) for t in got["transitions"]] == [
            ("5", "in-progress", "tmxd"),
            ("5.1", "in-progress", "mcp"),
        ]
        assert got["transitions"][0]["at"] == "2026-11-20T09:01:00.000Z"
        assert [(c["taskId"], c["sha"][:1], c["insertions"]) for c in got["commits"]] == [
            ("5.1", "a", 10)
        ]
        (execution,) = got["executions"]
        assert execution["taskId"] == "5.1" and execution["success"] is False
        assert execution["error"] == "tests failed" and execution["durationMs"] == 60000.0
        assert [
            (c["tool"], c["calls"], c["failed"], c["last"][11:16]) for c in got["toolCalls"]
        ] == [
            ("Bash", 2, 1, "09:12"),
            ("mcp__tmxd__next_task", 1, 0, "09:10"),
        ]
        feature = task_timeline(conn, root, "5", "feature")
        assert [t["to"] for t in feature["transitions"]] == ["done"]
        assert len(task_timeline(conn, root, "5")["transitions"]) == 3  # every tag
        unseen = task_timeline(conn, tmp_path / "never", "5")
        assert unseen["transitions"] == unseen["commits"] == unseen["executions"] == []


def test_a_broken_database_is_one_clear_error(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "empty.db")
    conn.execute("CREATE TABLE projects (id INTEGER PRIMARY KEY, root TEXT)")
    conn.execute("INSERT INTO projects (root) VALUES (?)", [str(tmp_path.resolve())])
    with pytest.raises(MetricsError, match="cannot read the history of task 5"):
        task_timeline(conn, tmp_path, "5")
    conn.close()
