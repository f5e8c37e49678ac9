from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import git
from tmxd.demo.context import DemoContext, build_project, demo_env
from tmxd.demo.runner import steps
from tmxd.demo.setup import step_doctor, step_init


def context(tmp_path: Path) -> tuple[DemoContext, list[str]]:
    root = tmp_path / "project"
    root.mkdir()
    env = demo_env(tmp_path)
    build_project(root, env)
    lines: list[str] = []
    return DemoContext(root=root, env=env, echo=lines.append), lines


def test_steps_come_first() -> None:
    orders = {s.func: n for n, s in enumerate(steps())}
    assert (
        orders[step_init]
        < orders[step_doctor]
        < min(o for f, o in orders.items() if f not in (step_init, step_doctor))
    )


def test_init_step_summarises_writes_and_commits(tmp_path: Path) -> None:
    ctx, lines = context(tmp_path)
    step_init(ctx)
    out = "\n".join(lines)
    assert "$ tmxd init --dry-run" in out
    assert "    .mcp.json: would create" in out
    assert "    .claude/settings.json: would create" in out
    assert "+++ b/" not in out  # the summary only
    assert "$ tmxd init --yes" in out
    assert "tmxd hooks install: ok: git hooks: 4 installed" in out
    assert "    .mcp.json: unchanged" in out
    settings = json.loads((ctx.root / ".claude" / "settings.json").read_text())
    assert settings["hooks"]["PostToolUse"][0]["hooks"][0]["command"] == "tmxd hook claude"
    assert git(ctx.root, "status", "--porcelain") == ""
    assert "tmxd init" in git(ctx.root, "log", "-1", "--format=%s")


@pytest.mark.slow
def test_doctor_step_shows_the_checklist(tmp_path: Path) -> None:
    ctx, lines = context(tmp_path)
    step_init(ctx)
    lines.clear()
    step_doctor(ctx)
    out = "\n".join(lines)
    assert "$ tmxd doctor" in out
    assert "ok   project: " in out
    assert "ok   git hooks: installed in " in out
    assert "$ tmxd start" in out and "$ tmxd stop" in out
    assert "ok   daemon: running (pid " in out
    assert "fail " not in out and "doctor exits 1" not in out
    assert "not on PATH" not in out  # the demo's PATH has this tmxd
