"""The autopilot's step of ``tmxd demo``: one task run end to end by a scripted agent.

No Node, no network, no key: the agent is ``python -m tmxd.autopilot.scripted``,
which speaks Claude Code's stream-json and writes one file. The step shows the
whole path — route, in progress, agent, validation, done with a note — and the
execution row it left in the metrics database.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tmxd import paths
from tmxd.autopilot.config import AutopilotConfig
from tmxd.autopilot.runner import Autopilot, RunOptions, RunSummary, log_lines
from tmxd.demo.context import DemoContext
from tmxd.metrics.recorder import Recorder
from tmxd.taskmaster.project import find_project

TOML = ".taskmaster/tmxd.toml"


def scripted_command() -> list[str]:
    """The scripted agent as a command agent's argv (see :mod:`tmxd.autopilot.scripted`)."""
    return [sys.executable, "-m", "tmxd.autopilot.scripted", "{task_id}", "{prompt_file}"]


def scripted_config() -> AutopilotConfig:
    """The demo's agent and checks: the scripted agent, and one check that reads its work.

    The check is written first and fails until the agent's file is there, so the run
    skips the baseline (the checks before any change), as a test-first project does."""
    check = (
        "import pathlib, sys\n"
        "p = pathlib.Path('demo_autopilot.txt')\n"
        "sys.exit(0 if p.exists() and p.read_text().strip() else 'demo_autopilot.txt is missing')"
    )
    return AutopilotConfig(
        agent="command",
        command=scripted_command(),
        validate=[[sys.executable, "-c", check]],
        timeout_s=60.0,
        max_attempts=2,
        backoff_base_s=0.1,
        backoff_cap_s=0.5,
        baseline=False,
    )


def run_step(
    root: Path,
    recorder: Recorder | None,
    out: Callable[[str], None],
    *,
    task_id: str | None = None,
) -> RunSummary:
    """Run one ready task of the project at ``root`` (or ``task_id``) through the scripted agent."""
    project = find_project(root)
    with tempfile.TemporaryDirectory(prefix="tmxd-demo-agent-") as scratch:
        plan = Path(scratch) / "plan.json"
        plan.write_text(
            json.dumps(
                {
                    "default": {
                        "action": "edit",
                        "file": "demo_autopilot.txt",
                        "content": "written by the scripted agent\n",
                        "cost": 0.0,
                    }
                }
            ),
            encoding="utf-8",
        )
        env = paths.importable_env()
        env["TMXD_SCRIPTED_PLAN"] = str(plan)
        env["TMXD_SCRIPTED_STATE"] = str(Path(scratch) / "state")
        out("autopilot: one task through a scripted agent (stream-json, no model, no network)")
        pilot = Autopilot(
            project,
            scripted_config(),
            recorder,
            options=RunOptions(once=True, task_id=task_id),
            env=env,
            out=lambda line: out("  " + line),
        )
        summary = pilot.run()
    for line in log_lines(summary):
        out("  " + line)
    return summary


def _status(ctx: DemoContext, task_id: str) -> str | None:
    from tmxd.taskmaster.store import TaskStore

    project = find_project(ctx.root)
    found = TaskStore(project).read().find(task_id, project.active_tag())
    return found.status if found else None


def step_autopilot(ctx: DemoContext) -> None:
    if _status(ctx, "3.1") not in (None, "done"):
        ctx.say("Finish subtask 3.1 by hand, so 3.2 (which depends on it) is ready:")
        ctx.tmxd("set-status", "3.1", "done")
    ctx.say("The autopilot routes the next ready task, marks it in-progress, hands the agent a")
    ctx.say("prompt (task, parent, dependencies' notes), validates, and marks it done.")
    ctx.say("The agent is Claude Code by default; here it is a scripted stand-in that speaks")
    ctx.say("its stream-json (no model, no network), set in .taskmaster/tmxd.toml:")
    for key, value in (("agent", "command"), ("command", scripted_command())):
        ctx.say("    " + ctx.set_option("autopilot", key, value))
    ctx.git("commit", "-q", "-m", "Run the autopilot with the scripted agent", TOML)
    ctx.tmxd("autopilot", "--dry-run")
    ctx.run(
        [sys.executable, "-m", "tmxd.demo.autopilot"],
        show="tmxd autopilot --once   # agent: python -m tmxd.autopilot.scripted",
    )
    ctx.say("Its work, committed on the current branch with a Task: trailer, and the notes")
    ctx.say("the run and the commit left on the subtask (which also finished task 3):")
    ctx.git("log", "-1", "--stat", "--format=%s%n%n%b")
    ctx.tmxd("show", "3.2")


def main() -> int:
    """``python -m tmxd.autopilot.demo``: the step's run, in the current project."""
    with Recorder.open() as recorder:
        summary = run_step(Path.cwd(), recorder, print)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
