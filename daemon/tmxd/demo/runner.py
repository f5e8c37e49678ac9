"""``tmxd demo``: a throwaway Task Master project and a walk through what tmxd does.

The demo builds a git repository with a small ``.taskmaster/tasks/tasks.json`` in a temp
folder (:mod:`tmxd.demo.context`), then runs the steps listed in :data:`STEPS`, in that
order. A step is a plain function of a :class:`~tmxd.demo.context.DemoContext` that shows
real commands and their output; each area of tmxd keeps its steps in its own module
(``setup``, ``tasks``, ``commits``, ``daemon``, ``metrics``, ``autopilot``,
``workflow``), and a new
step is one more line here.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tmxd.demo import autopilot, commits, daemon, metrics, setup, tasks, workflow
from tmxd.demo.context import DemoContext, build_project, demo_env
from tmxd.errors import TmxdError

StepFunc = Callable[[DemoContext], None]


@dataclass(frozen=True)
class Step:
    title: str
    func: StepFunc


#: Every step of the demo, in the order it runs.
STEPS: tuple[Step, ...] = (
    Step("Wire the project to Claude Code and MCP: tmxd init", setup.step_init),
    Step("Check the setup: tmxd doctor", setup.step_doctor),
    Step("Read the plan: tmxd list", tasks.step_list),
    Step("What to do next: tmxd next", tasks.step_next),
    Step("Finish a subtask: set-status and its cascade", tasks.step_set_status),
    Step("Take a note: update-subtask", tasks.step_update_subtask),
    Step("The change in git: a minimal diff", tasks.step_git_diff),
    Step("Git hooks: installed by init", commits.step_install),
    Step("Commits land on their tasks: tmxd sync", commits.step_commits),
    Step("Amend moves the note; Closes-Task finishes the task", commits.step_rewrite),
    Step("The daemon: edits and commits recorded as they happen", daemon.step_daemon),
    Step("How the work went: tmxd report", metrics.step_report),
    Step("Autopilot: a ready task run by an agent, validated, done", autopilot.step_autopilot),
    Step("Commits that name no task: the one in progress gets them", workflow.step_unnamed_commits),
    Step("An editor finishes the last subtask: the parent follows", workflow.step_cascade),
    Step("Event commands: [notify] runs yours when a task is ready", workflow.step_notify),
    Step("Stale work: one rule for the hourly check and the report", workflow.step_stale),
)


#: The demo project's folder, so its name reads well where tmxd names a project
#: (`tmxd report`'s heading: "project demo-app").
DEMO_NAME = "demo-app"


def steps() -> list[Step]:
    """Every step, in the order the demo runs them."""
    return list(STEPS)


def run_demo(
    echo: Callable[[str], None],
    *,
    keep: bool = False,
    heading: Callable[[str], str] = lambda s: s,
    only: Sequence[str] | None = None,
) -> Path | None:
    """Build the project, run every step, clean up (unless ``keep``); return the kept folder."""
    if shutil.which("git") is None:
        raise TmxdError("the demo needs git on PATH; install git and retry")
    folder = Path(tempfile.mkdtemp(prefix="tmxd-demo-"))
    root = folder / DEMO_NAME
    root.mkdir()
    try:
        env = demo_env(folder)
        build_project(root, env)
        ctx = DemoContext(root=root, env=env, echo=echo)
        echo(f"A throwaway Task Master project in {root}")
        chosen = steps()
        if only:
            chosen = [s for s in chosen if any(word.lower() in s.title.lower() for word in only)]
        for number, step in enumerate(chosen, start=1):
            echo("")
            echo(heading(f"[{number}/{len(chosen)}] {step.title}"))
            step.func(ctx)
        echo("")
        if keep:
            echo(f"Kept the project in {root}")
            return root
        echo("Done; the demo project was removed (use --keep to keep it).")
        return None
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
