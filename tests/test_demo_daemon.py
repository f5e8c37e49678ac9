from __future__ import annotations

import re
from pathlib import Path

import pytest

from daemon_project import make_project
from tmxd.demo import daemon as daemon_demo
from tmxd.demo.commits import step_rewrite
from tmxd.demo.metrics import step_report
from tmxd.demo.runner import run_demo, steps
from tmxd.errors import TmxdError
from tmxd.taskmaster.project import find_project


def test_daemon_step_is_registered_in_the_daemon_range() -> None:
    funcs = [s.func for s in steps()]  # after the hooks' steps, before the report's
    assert funcs.count(daemon_demo.step_daemon) == 1
    assert funcs.index(step_rewrite) < funcs.index(daemon_demo.step_daemon)
    assert funcs.index(daemon_demo.step_daemon) < funcs.index(step_report)


def test_daemon_step_runs_a_real_daemon_end_to_end() -> None:
    lines: list[str] = []
    run_demo(lines.append, only=["tmxd init", "daemon"])  # init installs hooks, registers
    text = "\n".join(lines)
    assert "[2/2] The daemon" in text
    assert "$ tmxd hooks install" not in text and "$ tmxd watch add" not in text
    assert "$ tmxd start" in text and "tmxd started (pid " in text
    match = re.search(r"-m 'Task: (\d+)'", text)
    assert "An editor adds task" in text and match, text
    new_id = match.group(1)
    assert f"task {new_id} (new) -> in-progress (external)" in text, text
    assert "note for commit" in text and f"added to task {new_id}" in text, text
    assert f"task {new_id} in-progress -> done (commit" in text, text
    assert text.count("    Committed changes: ") == 2, text
    assert "$ tmxd stop" in text and "tmxd stopped (pid " in text


def test_add_task_appends_an_in_progress_task(tmp_path: Path) -> None:
    tasks = make_project(tmp_path / "a", git=False)
    assert daemon_demo.add_task(tasks, "master") == "4"
    added = find_project(explicit=tmp_path / "a")
    from tmxd.taskmaster.store import TaskStore

    task = TaskStore(added).read().find("4", "master")
    assert task is not None and task.status == "in-progress"
    assert task.title == daemon_demo.DEMO_TITLE
    with pytest.raises(TmxdError, match="no tag 'feature'"):
        daemon_demo.add_task(tasks, "feature")
