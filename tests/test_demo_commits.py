"""The hooks part of `tmxd demo`: real hooks, real commits, notes in tasks.json."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tmxd.demo import commits as hooks_demo
from tmxd.demo.context import DemoContext, build_project, demo_env
from tmxd.demo.daemon import step_daemon
from tmxd.demo.runner import steps
from tmxd.demo.tasks import step_git_diff


def context(tmp_path: Path) -> tuple[DemoContext, list[str]]:
    root = tmp_path / "project"
    root.mkdir()
    env = demo_env(tmp_path)
    build_project(root, env)
    lines: list[str] = []
    return DemoContext(root=root, env=env, echo=lines.append), lines


def task(ctx: DemoContext, task_id: str) -> dict[str, object]:
    data = json.loads(ctx.tasks_path.read_text())
    return next(t for t in data["master"]["tasks"] if str(t["id"]) == task_id)


def test_steps_are_registered_in_the_hooks_range() -> None:
    ours = [s for s in steps() if s.func.__module__ == "tmxd.demo.commits"]
    assert [s.func for s in ours] == [
        hooks_demo.step_install,
        hooks_demo.step_commits,
        hooks_demo.step_rewrite,
    ]
    funcs = [s.func for s in steps()]  # after the task store's steps, before the daemon's
    assert funcs.index(step_git_diff) < funcs.index(hooks_demo.step_install)
    assert funcs.index(hooks_demo.step_rewrite) < funcs.index(step_daemon)


def test_commits_become_notes_amend_moves_and_closes_task_finishes(tmp_path: Path) -> None:
    ctx, lines = context(tmp_path)
    before = json.loads(ctx.tasks_path.read_text())["master"]["tasks"][2]
    ctx.tmxd("hooks", "install")  # what the init step does
    lines.clear()
    hooks_demo.step_install(ctx)
    assert "$ tmxd hooks status" in lines and "$ tmxd hooks install" not in lines
    hooks_demo.step_commits(ctx)
    out = "\n".join(lines)
    assert "2 unprocessed line(s)" in out
    assert "unknown task id '99'" in out
    assert str(task(ctx, "4")["details"]).count("Committed changes: ") == 2
    hooks_demo.step_rewrite(ctx)
    docs = task(ctx, "4")
    notes = [ln for ln in str(docs["details"]).splitlines() if ln.startswith("Committed")]
    assert len(notes) == 3  # the amended commit's note was moved, not duplicated
    assert any(n.startswith("Committed changes: Document installation (") for n in notes)
    assert not any(n.startswith("Committed changes: Install (") for n in notes)
    assert docs["status"] == "done"
    assert task(ctx, "3") == before  # left as it was for the daemon and autopilot steps
    with sqlite3.connect(ctx.env["TMXD_DB"]) as conn:
        # the amended commit replaced its first version: 3 commits in the history, 3 rows
        assert conn.execute("SELECT count(*) FROM commits").fetchone() == (3,)
