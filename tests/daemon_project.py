"""A small Task Master project for the daemon's tests, and reading what was recorded."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from helpers import init_repo


def tasks_doc(**statuses: str) -> dict[str, Any]:
    """A tagged tasks.json; ``statuses`` overrides by id (``t1="done"``, ``t1_1=...``)."""

    def st(key: str, default: str = "pending") -> str:
        return statuses.get(key, default)

    return {
        "master": {
            "tasks": [
                {
                    "id": 1,
                    "title": "Set up the parser",
                    "description": "d",
                    "details": "",
                    "testStrategy": "",
                    "status": st("t1"),
                    "dependencies": [],
                    "priority": "high",
                    "subtasks": [
                        {
                            "id": 1,
                            "title": "Tokenizer",
                            "description": "",
                            "details": "",
                            "status": st("t1_1"),
                            "dependencies": [],
                        },
                        {
                            "id": 2,
                            "title": "Grammar",
                            "description": "",
                            "details": "",
                            "status": st("t1_2"),
                            "dependencies": [1],
                        },
                    ],
                },
                {
                    "id": 2,
                    "title": "Evaluate expressions",
                    "description": "d",
                    "details": "",
                    "testStrategy": "",
                    "status": st("t2"),
                    "dependencies": [1],
                    "priority": "medium",
                    "subtasks": [],
                },
                {
                    "id": 3,
                    "title": "Write the README",
                    "description": "d",
                    "details": "",
                    "testStrategy": "",
                    "status": st("t3", "done"),
                    "dependencies": [],
                    "priority": "low",
                    "subtasks": [],
                },
            ],
            "metadata": {"created": "2026-11-01T00:00:00.000Z", "description": "Tasks"},
        }
    }


def render(doc: dict[str, Any]) -> str:
    """Task Master's format: 2-space JSON, non-ASCII unescaped, no trailing newline."""
    return json.dumps(doc, indent=2, ensure_ascii=False)


def make_project(root: Path, *, git: bool = True, **statuses: str) -> Path:
    """A project at ``root`` (a git repo by default); returns tasks.json."""
    if git:
        init_repo(root)
    tasks = root / ".taskmaster" / "tasks" / "tasks.json"
    tasks.parent.mkdir(parents=True, exist_ok=True)
    tasks.write_text(render(tasks_doc(**statuses)))
    (root / ".taskmaster" / "state.json").write_text(
        json.dumps({"currentTag": "master", "migrationNoticeShown": True})
    )
    return tasks


def engine_project(tmp_path: Path, config: str = "") -> tuple[Path, Path]:
    """``(root, tasks.json)`` of a git project at ``tmp_path/p``; ``config`` is its tmxd.toml."""
    root = tmp_path / "p"
    tasks = make_project(root)
    if config:
        (root / ".taskmaster" / "tmxd.toml").write_text(config)
    return root, tasks


def write_plain(tasks: Path, **statuses: str) -> None:
    tasks.write_text(render(tasks_doc(**statuses)))


def write_renamed(tasks: Path, **statuses: str) -> None:
    """An editor's save: a temp file renamed over the original."""
    tmp = tasks.with_name(".tasks.json.tmp~")
    tmp.write_text(render(tasks_doc(**statuses)))
    os.replace(tmp, tasks)


def query(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the metrics database (the daemon may be writing it)."""
    path = os.environ["TMXD_DB"]
    if not Path(path).exists():
        return []
    conn = sqlite3.connect(path, timeout=30)
    try:
        return list(conn.execute(sql, params).fetchall())
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()


def transitions() -> list[tuple[str, str | None, str, str]]:
    """``(task, from, to, source)`` rows in the order recorded."""
    return [
        (row[0], row[1], row[2], row[3])
        for row in query(
            "SELECT task_id, old_status, new_status, source FROM transitions "
            "WHERE source != 'baseline' ORDER BY id"
        )
    ]
