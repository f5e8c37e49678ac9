from __future__ import annotations

import json
from pathlib import Path

import pytest

from tmxd.demo.context import DEMO_TASKS, DemoContext, build_project, demo_env
from tmxd.errors import TmxdError


def test_the_project_is_committed_and_the_environment_is_the_demos_own(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    env = demo_env(tmp_path)
    assert env["TMXD_STATE_DIR"].startswith(str(tmp_path))
    assert env["GIT_CONFIG_GLOBAL"] and "TASKMASTER_TAG" not in env
    build_project(root, env)
    assert json.loads((root / ".taskmaster" / "tasks" / "tasks.json").read_text()) == DEMO_TASKS
    lines: list[str] = []
    ctx = DemoContext(root=root, env=env, echo=lines.append)
    done = ctx.git("log", "--format=%an: %s")
    assert done.returncode == 0
    assert lines == [
        "$ git log '--format=%an: %s'",
        "    Demo Developer: Plan the project with Task Master",
    ]


def test_a_failing_command_is_shown_then_reported(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    env = demo_env(tmp_path)
    build_project(root, env)
    lines: list[str] = []
    ctx = DemoContext(root=root, env=env, echo=lines.append)
    with pytest.raises(TmxdError, match="demo command `git rev-parse --verify nope` failed"):
        ctx.git("rev-parse", "--verify", "nope")
    assert lines[0] == "$ git rev-parse --verify nope" and "fatal" in lines[1]
    assert ctx.tmxd("next", check=False).returncode == 0
    assert lines[2] == "$ tmxd next" and any("Subtask 2.2" in line for line in lines)
