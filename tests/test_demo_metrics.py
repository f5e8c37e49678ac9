from __future__ import annotations

import re
from pathlib import Path

from tmxd.demo.autopilot import step_autopilot
from tmxd.demo.context import DemoContext, build_project, demo_env
from tmxd.demo.daemon import step_daemon
from tmxd.demo.metrics import step_report
from tmxd.demo.runner import steps
from tmxd.metrics.recorder import Recorder


def context(tmp_path: Path) -> tuple[DemoContext, list[str]]:
    root = tmp_path / "project"
    root.mkdir()
    env = demo_env(tmp_path)
    build_project(root, env)
    lines: list[str] = []
    return DemoContext(root=root, env=env, echo=lines.append), lines


def test_step_is_registered_in_the_metrics_range() -> None:
    funcs = [s.func for s in steps()]  # after the daemon's step, before the autopilot's
    assert funcs.count(step_report) == 1
    assert funcs.index(step_daemon) < funcs.index(step_report) < funcs.index(step_autopilot)


def test_report_step_over_recorded_work(tmp_path: Path) -> None:
    ctx, lines = context(tmp_path)
    with Recorder.open(Path(ctx.env["TMXD_DB"])) as rec:
        rec.transition(ctx.root, "3.1", "pending", "in-progress", "tmxd", title="Graph")
        rec.transition(ctx.root, "2.2", "pending", "done", "tmxd", title="Merge defaults")
    step_report(ctx)
    out = "\n".join(lines)
    assert "$ tmxd report --since 1d -p" in out
    assert re.search(r"tasks changed +2 ", out)  # two transitions; no agent ran (total tasks 0)
    assert "3 inline SVG charts" in out
    assert "transitions" in out and not (ctx.root / "report.html").exists()


def test_report_step_with_nothing_recorded(tmp_path: Path) -> None:
    ctx, lines = context(tmp_path)
    step_report(ctx)
    out = "\n".join(lines)
    assert "nothing recorded yet" in out
    assert "Nothing was recorded" in out
    assert "$ tmxd metrics" in out
