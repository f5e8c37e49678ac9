from __future__ import annotations

import re
from pathlib import Path

import pytest

from daemon_project import make_project
from tmxd import daemon_demo
from tmxd.demo import run_demo, steps
from tmxd.errors import TmxdError
from tmxd.taskmaster.project import find_project


def test_daemon_step_is_registered_in_the_daemon_range() -> None:
    (step,) = [s for s in steps() if s.func is daemon_demo.step_daemon]
    assert 200 <= step.order < 300


def test_daemon_step_runs_a_real_daemon_end_to_end() -> None:
    lines: list[str] = []
    run_demo(lines.append, only=["daemon"])
    text = "\n".join(lines)
    assert "$ tmxd start" in text and "tmxd started (pid " in text
    match = re.search(r"An editor sets ([\d.]+) .* to ([a-z-]+) in tasks.json", text)
    assert match, text
    sub, status = match.groups()
    assert f"task {sub} " in text and f" -> {status} (external)" in text, text
    assert "note for commit" in text and f"added to task {sub}" in text, text
    assert re.search(rf"task {re.escape(sub)} [a-z-]+ -> done \(commit", text), text
    assert text.count("    Committed changes: ") == 2, text
    assert "$ tmxd stop" in text and "tmxd stopped (pid " in text


def test_pick_leaves_the_next_task_to_later_steps(tmp_path: Path) -> None:
    # 1.1 is what `tmxd next` would pick: take another one
    make_project(tmp_path / "a", git=False, t1="in-progress")
    assert daemon_demo.pick_subtask(find_project(explicit=tmp_path / "a")).id == "1.2"
    make_project(tmp_path / "b", git=False, t1="in-progress", t1_2="in-progress")
    assert daemon_demo.pick_subtask(find_project(explicit=tmp_path / "b")).id == "1.2"
    # next is task 2 (1 done): nothing but task 2 is open, and it is reserved
    make_project(tmp_path / "c", git=False, t1="done", t1_1="done", t1_2="done")
    with pytest.raises(TmxdError, match="no open task"):
        daemon_demo.pick_subtask(find_project(explicit=tmp_path / "c"))
    make_project(tmp_path / "d", git=False, t1="done", t1_1="done", t1_2="done", t3="deferred")
    assert daemon_demo.pick_subtask(find_project(explicit=tmp_path / "d")).id == "3"


def test_edited_status() -> None:
    assert daemon_demo.edited_status("pending") == "in-progress"
    assert daemon_demo.edited_status("in-progress") == "review"
    assert daemon_demo.edited_status("deferred") == "pending"
