"""``tmxd demo`` as a user runs it: a real process, real git, the folder cleaned up."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from helpers import git, run_tmxd
from tmxd.demo import autopilot, commits, daemon, metrics, setup, tasks, workflow
from tmxd.demo.runner import STEPS, steps


@pytest.mark.slow
def test_demo_runs_every_step_and_cleans_up(
    demo_transcript: subprocess.CompletedProcess[str],
) -> None:
    proc = demo_transcript
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Traceback" not in proc.stderr
    for title in ("tmxd list", "tmxd next", "set-status", "update-subtask", "git diff"):
        assert title in out
    assert "parent 2: in-progress → done" in out
    assert '+        "status": "done",' in out
    assert "</info added on " in out
    assert "the demo project was removed" in out
    match = re.search(r"A throwaway Task Master project in (\S+)", out)
    assert match
    assert not Path(match.group(1)).parent.exists()
    assert Path(match.group(1)).parent.name.startswith("tmxd-demo-")
    assert "· project demo-app" in out and "project project" not in out  # the report heading
    assert Path(match.group(1)).is_relative_to(Path(tempfile.gettempdir()))


def test_demo_keep_leaves_a_clean_repository() -> None:
    proc = run_tmxd("demo", "--keep", "--only", "list", "--only", "diff")
    assert proc.returncode == 0, proc.stderr
    match = re.search(r"Kept the project in (\S+)", proc.stdout)
    assert match
    root = Path(match.group(1))
    try:
        assert (root / ".taskmaster" / "tasks" / "tasks.json").is_file()
        assert git(root, "status", "--porcelain") == ""
        assert "[1/2]" in proc.stdout and "[2/2]" in proc.stdout
    finally:
        import shutil

        shutil.rmtree(root.parent, ignore_errors=True)


def test_every_step_function_is_listed_once_in_run_order() -> None:
    modules = (setup, tasks, commits, daemon, metrics, autopilot, workflow)
    defined = [
        getattr(module, name)
        for module in modules
        for name in vars(module)
        if name.startswith("step_")
    ]
    listed = [s.func for s in steps()]
    assert sorted(listed, key=id) == sorted(defined, key=id)  # each one, and nothing else
    assert [s.func.__module__ for s in STEPS][:2] == ["tmxd.demo.setup"] * 2
    titles = [s.title for s in STEPS]
    assert len(set(titles)) == len(titles)
    assert titles.index("Read the plan: tmxd list") < titles.index("Git hooks: installed by init")
