"""Shared set-up for the autopilot tests: a Task Master project in git and a scripted agent."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

from helpers import git, init_repo


def task(
    tid: int,
    title: str,
    deps: list[int] | None = None,
    *,
    status: str = "pending",
    priority: str = "medium",
    details: str = "",
    subtasks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "id": tid,
        "title": title,
        "description": f"Description of {title}",
        "details": details,
        "testStrategy": "",
        "status": status,
        "dependencies": deps or [],
        "priority": priority,
        "subtasks": subtasks or [],
    }


def make_project(
    root: Path,
    tasks: list[dict[str, Any]],
    *,
    config: str = "",
    plan: dict[str, Any] | None = None,
) -> Path:
    """A git repository with .taskmaster/tasks/tasks.json (committed) and tmxd.toml."""
    init_repo(root)
    tm = root / ".taskmaster"
    (tm / "tasks").mkdir(parents=True)
    data = {"master": {"tasks": tasks, "metadata": {"created": "2026-01-01T00:00:00.000Z"}}}
    (tm / "tasks" / "tasks.json").write_text(json.dumps(data, indent=2, ensure_ascii=False))
    (tm / "state.json").write_text(json.dumps({"currentTag": "master"}))
    plan_file = root.parent / f"{root.name}-plan.json"
    plan_file.write_text(json.dumps(plan or {"default": {"action": "edit"}}))
    state_dir = root.parent / f"{root.name}-agent-state"
    agent = json.dumps(
        [sys.executable, "-m", "tmxd.autopilot.scripted", "{task_id}", "{prompt_file}"]
    )
    base = [
        'agent = "command"',
        f"command = {agent}",
        "backoff_base_s = 0.01",
        "backoff_cap_s = 0.05",
        "timeout_s = 60",
        "validate = []",
    ]
    overridden = {line.split("=")[0].strip() for line in config.splitlines() if "=" in line}
    kept = [line for line in base if line.split("=")[0].strip() not in overridden]
    (tm / "tmxd.toml").write_text("[autopilot]\n" + "\n".join(kept) + "\n" + config)
    (root / ".gitignore").write_text(".taskmaster/tmxd.toml\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Add tasks")
    return state_dir


def agent_env(root: Path) -> dict[str, str]:
    """What the scripted agent needs: its plan and a place to count runs."""
    return {
        "TMXD_SCRIPTED_PLAN": str(root.parent / f"{root.name}-plan.json"),
        "TMXD_SCRIPTED_STATE": str(root.parent / f"{root.name}-agent-state"),
    }


def set_plan(root: Path, plan: dict[str, Any]) -> None:
    (root.parent / f"{root.name}-plan.json").write_text(json.dumps(plan))


def statuses(root: Path) -> dict[str, str]:
    data = json.loads((root / ".taskmaster" / "tasks" / "tasks.json").read_text())
    out = {}
    for t in data["master"]["tasks"]:
        out[str(t["id"])] = t["status"]
        for s in t.get("subtasks", []):
            out[f"{t['id']}.{s['id']}"] = s["status"]
    return out


def details(root: Path, task_id: str) -> str:
    data = json.loads((root / ".taskmaster" / "tasks" / "tasks.json").read_text())
    top, _, sub = task_id.partition(".")
    for t in data["master"]["tasks"]:
        if str(t["id"]) == top:
            if not sub:
                return str(t.get("details", ""))
            for s in t["subtasks"]:
                if str(s["id"]) == sub:
                    return str(s.get("details", ""))
    raise KeyError(task_id)


def executions(db: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT * FROM executions ORDER BY id").fetchall()
    finally:
        conn.close()
    return [dict(r) for r in rows]


def runs(root: Path, task_id: str) -> int:
    counter = root.parent / f"{root.name}-agent-state" / f"runs-{task_id}"
    return int(counter.read_text()) if counter.exists() else 0


def hang_pids(pids_file: Path) -> tuple[int, int] | None:
    """``(leader, child)`` a ``hang`` agent wrote, once the line is whole: the file exists
    a moment before its pids are in it."""
    try:
        text = pids_file.read_text()
    except FileNotFoundError:
        return None
    if not text.endswith("\n"):
        return None
    leader, child = map(int, text.split())
    return leader, child


def project_venv(root: Path) -> Path:
    """A real virtualenv of the project, ``root/.venv`` (ignored by git), whose pytest is
    the project's own tool: ``python -m venv --without-pip`` (no network), the test-suite's
    packages reached through a ``.pth`` file, and the ``pytest`` script pip would write."""
    import importlib.metadata
    import subprocess

    import pytest

    venv = root / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "test-suite.pth").write_text(str(Path(pytest.__file__).resolve().parents[1]) + "\n")
    (entry,) = importlib.metadata.entry_points(group="console_scripts", name="pytest")
    script = venv / "bin" / "pytest"
    script.write_text(
        f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom {entry.module} import {entry.attr}\n"
        f"sys.exit({entry.attr}())\n"
    )
    script.chmod(0o755)
    with (root / ".gitignore").open("a") as fh:
        fh.write(".venv/\n")
    git(root, "add", ".gitignore")
    git(root, "commit", "-q", "-m", "Ignore the virtualenv")
    return venv


def add_tests(root: Path, body: str, message: str = "Add tests") -> None:
    """Commit ``tests/test_project.py`` with ``body``: the project's own test-suite."""
    (root / "tests").mkdir(exist_ok=True)
    (root / "tests" / "test_project.py").write_text(body)
    git(root, "add", "tests")
    git(root, "commit", "-q", "-m", message)


def assert_one_task_interrupted(out: str, fmt: str, title: str, signal_name: str) -> None:
    """The summary of a run stopped by ``signal_name`` while task 1 (``title``) ran: it
    lists and counts the interrupted task and says why the run stopped."""
    if fmt == "json":
        data = json.loads(out)
        assert [(r["task"], r["outcome"], r["status"]) for r in data["results"]] == [
            ("1", "interrupted", "pending")
        ]
        assert data["attempts"]["interrupted"] == 1
        assert data["stop_reason"] == f"interrupted by {signal_name}"
    else:
        assert out.splitlines()[-3:] == [
            "autopilot: 0 done, 0 failed, 0 to review, 1 interrupted; "
            "1 attempt(s): 0 succeeded, 0 failed, 1 interrupted",
            f"interrupted: task 1 ({title}), status restored to pending",
            f"stopped: interrupted by {signal_name}",
        ]
