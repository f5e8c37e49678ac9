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
    match = re.search(r"An editor sets (\d+\.\d+) .* to ([a-z-]+) in tasks.json", text)
    assert match, text
    sub, status = match.groups()
    assert f"task {sub} " in text and f" -> {status} (external)" in text
    assert "note for commit" in text and f"added to task {sub}" in text
    assert f"task {sub} {status} -> done (commit" in text
    assert text.count("    Committed changes: ") == 2
    assert "$ tmxd stop" in text and "tmxd stopped (pid " in text


def test_pick_subtask_prefers_work_in_progress(tmp_path: Path) -> None:
    make_project(tmp_path / "a", git=False, t1="in-progress", t1_2="in-progress")
    assert daemon_demo.pick_subtask(find_project(explicit=tmp_path / "a")).id == "1.2"
    make_project(tmp_path / "b", git=False)
    assert daemon_demo.pick_subtask(find_project(explicit=tmp_path / "b")).id == "1.1"
    make_project(tmp_path / "c", git=False, t1="done")
    with pytest.raises(TmxdError, match="no open subtask"):
        daemon_demo.pick_subtask(find_project(explicit=tmp_path / "c"))
