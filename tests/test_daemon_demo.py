from __future__ import annotations

from pathlib import Path

import pytest

from daemon_project import make_project, transitions
from helpers import git
from tmxd import control, daemon_demo
from tmxd.errors import DaemonNotRunning, TmxdError
from tmxd.taskmaster.project import find_project


def test_demo_step_runs_a_real_daemon_end_to_end(tmp_path: Path, hermetic_env: Path) -> None:
    root = tmp_path / "demo"
    make_project(root)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "demo project")
    lines: list[str] = []
    outcome = daemon_demo.run_step(root, lines.append)
    text = "\n".join(lines)
    assert outcome.subtask == "1.1"
    assert outcome.stopped
    assert len(outcome.notes) == 2 and all("Committed changes" in n for n in outcome.notes)
    assert any("1.1 pending -> in-progress (external)" in t for t in outcome.transitions)
    assert any("1.1 in-progress -> done (commit" in t for t in outcome.transitions)
    assert "an editor sets 1.1" in text and "Closes-Task: 1.1" in text and "stopped cleanly" in text
    rows = transitions()
    assert ("1.1", "pending", "in-progress", "external") in rows
    assert ("1.1", "in-progress", "done", "commit") in rows
    # the demo daemon had a runtime dir of its own and is gone
    with pytest.raises(DaemonNotRunning):
        control.request("ping")


def test_demo_step_needs_a_pending_subtask(tmp_path: Path) -> None:
    root = tmp_path / "done"
    make_project(root, git=False, t1="done")
    with pytest.raises(TmxdError, match="no pending subtask"):
        daemon_demo.pick_subtask(find_project(explicit=root))
