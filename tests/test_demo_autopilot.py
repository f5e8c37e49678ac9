"""The demo step runs one task with the scripted agent and records it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from autopilot_support import details, executions, make_project, statuses, task
from tmxd import paths
from tmxd.demo.autopilot import run_step
from tmxd.metrics.recorder import Recorder


def test_demo_step_runs_one_task_to_done(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    make_project(root, [task(1, "Greet the user"), task(2, "Say goodbye", [1])], config="")
    (root / ".taskmaster" / "tmxd.toml").unlink()
    lines: list[str] = []
    with Recorder.open() as recorder:
        summary = run_step(root, recorder, lines.append)
    assert summary.ok and summary.count("done") == 1
    assert statuses(root) == {"1": "done", "2": "pending"}
    assert (root / "demo_autopilot.txt").read_text() == "written by the scripted agent\n"
    assert "tmxd autopilot: done on attempt 1" in details(root, "1")
    (row,) = executions(paths.db_path())
    assert row["task_id"] == "1" and row["success"] == 1 and row["tool_calls"] == 1
    assert lines[0].startswith("autopilot: one task through a scripted agent")
    assert any("task 1: in progress" in line for line in lines)
    assert lines[-2].strip().startswith("autopilot: 1 done, 0 failed")


@pytest.mark.slow
def test_tmxd_demo_shows_the_autopilot_step(
    demo_transcript: subprocess.CompletedProcess[str],
) -> None:
    proc = demo_transcript
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    step = out[out.index("Autopilot: a ready task run by an agent") :]
    assert "run     3.2      medium   Cycle detection" in step
    assert "task 3.2: done on attempt 1 (medium)" in step
    assert "Task: 3.2" in step and "demo_autopilot.txt | 1 +" in step
    assert "tmxd autopilot: done on attempt 1 (medium)" in step
