"""``tmxd demo``: a throwaway Task Master project and a walk through what tmxd does.

The demo builds a git repository with a small ``.taskmaster/tasks/tasks.json`` in a temp
folder, then runs a list of *steps*. Each step is a plain function of a
:class:`DemoContext`; it shows real commands (``ctx.tmxd(...)``, ``ctx.run([...])``) and
their output. Every area of tmxd contributes steps from its own module::

    from tmxd.demo.runner import DemoContext, demo_step

    @demo_step(200, "The daemon records every transition")
    def daemon_step(ctx: DemoContext) -> None:
        ctx.tmxd("start")
        ...

and lists that module in :data:`DEMO_MODULES`. Steps run in ``order``; the project's own
steps use 10–90 (list, next, set-status and its cascade, update-subtask, the git diff).
Suggested ranges: init 5, hooks 100s, daemon 200s, metrics 300s, autopilot 400s.

Steps share one project, so each works on its own part of :data:`DEMO_TASKS`: the store's
steps finish 2.2 (and so task 2) and start 3.1; the hooks' commits close 3.1; the daemon
takes the subtask in progress by then (5.1); the autopilot runs 3.2.

The demo needs no Node, no network and no AI key. Its subprocesses get their own state,
runtime and metrics locations inside the demo folder, so it never touches the user's.
"""

from __future__ import annotations

import importlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tmxd import paths
from tmxd.errors import TmxdError

#: Modules whose import registers demo steps (one line per area).
DEMO_MODULES: tuple[str, ...] = (
    "tmxd.demo.runner",
    "tmxd.demo.setup",
    "tmxd.demo.commits",
    "tmxd.demo.daemon",
    "tmxd.demo.metrics",
    "tmxd.demo.autopilot",
)

StepFunc = Callable[["DemoContext"], None]


@dataclass(frozen=True)
class Step:
    order: int
    title: str
    func: StepFunc


_STEPS: list[Step] = []


def demo_step(order: int, title: str) -> Callable[[StepFunc], StepFunc]:
    """Register ``func`` as a demo step shown under ``title``, run in ``order``."""

    def register(func: StepFunc) -> StepFunc:
        if not any(s.func is func for s in _STEPS):
            _STEPS.append(Step(order, title, func))
        return func

    return register


def steps() -> list[Step]:
    """Every registered step, in order (importing :data:`DEMO_MODULES` first)."""
    for name in DEMO_MODULES:
        importlib.import_module(name)
    return sorted(_STEPS, key=lambda s: s.order)


@dataclass
class DemoContext:
    """What a step gets: the project folder, an environment, and ways to show commands."""

    root: Path
    env: dict[str, str]
    echo: Callable[[str], None]
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def tasks_path(self) -> Path:
        return self.root / ".taskmaster" / "tasks" / "tasks.json"

    def say(self, text: str) -> None:
        """A line of explanation."""
        self.echo(text)

    def run(
        self, argv: Sequence[str], *, show: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the project, print ``$ command`` and its output, indented."""
        shown = show or shlex.join(argv)
        self.echo(f"$ {shown}")
        proc = subprocess.run(
            list(argv),
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        for line in (proc.stdout + proc.stderr).rstrip("\n").splitlines():
            self.echo("    " + line)
        if check and proc.returncode != 0:
            raise TmxdError(f"demo command `{shown}` failed with exit code {proc.returncode}")
        return proc

    def tmxd(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run this tmxd (the same interpreter and source) as ``tmxd <args>``."""
        return self.run(
            [sys.executable, "-m", "tmxd", *args], show=shlex.join(["tmxd", *args]), check=check
        )

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(["git", *args], check=check)


DEMO_TASKS: dict[str, Any] = {
    "master": {
        "tasks": [
            {
                "id": 1,
                "title": "Project scaffolding",
                "description": "Create the repository layout and tooling",
                "details": "Package layout, linting, CI skeleton.",
                "testStrategy": "CI runs green on the empty project",
                "status": "done",
                "dependencies": [],
                "priority": "high",
                "subtasks": [],
            },
            {
                "id": 2,
                "title": "Config loader",
                "description": "Load and validate configuration",
                "details": "Read config.json and merge defaults.",
                "testStrategy": "Unit tests for the merge rules",
                "status": "in-progress",
                "dependencies": [1],
                "priority": "high",
                "subtasks": [
                    {
                        "id": 1,
                        "title": "Parse the config file",
                        "description": "JSON with comments rejected",
                        "details": "",
                        "status": "done",
                        "dependencies": [],
                    },
                    {
                        "id": 2,
                        "title": "Merge defaults",
                        "description": "Defaults under user values",
                        "details": "",
                        "status": "pending",
                        "dependencies": [1],
                    },
                ],
            },
            {
                "id": 3,
                "title": "Task graph engine",
                "description": "Dependency graph and next-task selection",
                "details": "Topological order, cycle detection.",
                "testStrategy": "Property tests on random graphs",
                "status": "pending",
                "dependencies": [2],
                "priority": "medium",
                "subtasks": [
                    {
                        "id": 1,
                        "title": "Graph data structure",
                        "description": "Adjacency lists",
                        "details": "",
                        "status": "pending",
                        "dependencies": [],
                    },
                    {
                        "id": 2,
                        "title": "Cycle detection",
                        "description": "Report cycles with their path",
                        "details": "",
                        "status": "pending",
                        "dependencies": [1],
                    },
                ],
            },
            {
                "id": 4,
                "title": "Write user docs",
                "description": "README and a tutorial",
                "details": "",
                "testStrategy": "",
                "status": "deferred",
                "dependencies": [3],
                "priority": "low",
                "subtasks": [],
            },
            {
                "id": 5,
                "title": "Release packaging",
                "description": "Build and publish the wheel",
                "details": "",
                "testStrategy": "Install the wheel in a fresh venv",
                "status": "in-progress",
                "dependencies": [1],
                "priority": "low",
                "subtasks": [
                    {
                        "id": 1,
                        "title": "Build the wheel",
                        "description": "python -m build",
                        "details": "",
                        "status": "in-progress",
                        "dependencies": [],
                    }
                ],
            },
        ],
        "metadata": {
            "created": "2026-01-01T00:00:00.000Z",
            "updated": "2026-01-01T00:00:00.000Z",
            "description": "Tasks for master context",
        },
    }
}


def demo_env(folder: Path) -> dict[str, str]:
    """The environment of the demo's commands: this tmxd, private state, fixed git author."""
    env = paths.importable_env(
        {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "TMXD_"))}
    )
    state = folder / ".demo-state"
    env.update(
        TMXD_STATE_DIR=str(state / "state"),
        TMXD_RUNTIME_DIR=str(state / "run"),
        TMXD_DB=str(state / "state" / "metrics.db"),
        GIT_AUTHOR_NAME="Demo Developer",
        GIT_AUTHOR_EMAIL="demo@example.invalid",
        GIT_COMMITTER_NAME="Demo Developer",
        GIT_COMMITTER_EMAIL="demo@example.invalid",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_PAGER="cat",
        NO_COLOR="1",
    )
    env.pop("TASKMASTER_TAG", None)
    return env


def build_project(root: Path, env: dict[str, str]) -> None:
    """A git repository with a Task Master tasks.json, committed."""
    tasks = root / ".taskmaster" / "tasks" / "tasks.json"
    tasks.parent.mkdir(parents=True)
    tasks.write_text(json.dumps(DEMO_TASKS, indent=2, ensure_ascii=False), encoding="utf-8")
    (root / ".taskmaster" / "state.json").write_text(
        json.dumps({"currentTag": "master", "migrationNoticeShown": True}, indent=2),
        encoding="utf-8",
    )
    (root / ".gitignore").write_text(".demo-state/\n", encoding="utf-8")
    (root / "README.md").write_text("# demo project\n", encoding="utf-8")
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "Plan the project with Task Master"],
    ):
        proc = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise TmxdError(f"demo: `{' '.join(argv)}` failed: {proc.stderr.strip()}")


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
    root = folder / "project"
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


# -- the task store's steps --------------------------------------------------------------


@demo_step(10, "Read the plan: tmxd list")
def step_list(ctx: DemoContext) -> None:
    ctx.say("tmxd reads Task Master's tasks.json directly — no Node, no AI key.")
    ctx.tmxd("list", "--with-subtasks")


@demo_step(20, "What to do next: tmxd next")
def step_next(ctx: DemoContext) -> None:
    ctx.say("Same choice as `task-master next`: ready subtasks of in-progress tasks first.")
    ctx.tmxd("next")


@demo_step(30, "Finish a subtask: set-status and its cascade")
def step_set_status(ctx: DemoContext) -> None:
    ctx.say("Marking the last open subtask of task 2 done also finishes task 2,")
    ctx.say("as Task Master's set-status does.")
    ctx.tmxd("set-status", "2.2", "done")
    ctx.say("Starting a subtask moves its parent to in-progress:")
    ctx.tmxd("set-status", "--id", "3.1", "--status", "in-progress")


@demo_step(40, "Take a note: update-subtask")
def step_update_subtask(ctx: DemoContext) -> None:
    ctx.say("The note lands in the subtask's details in Task Master's own format.")
    ctx.tmxd("update-subtask", "--id", "3.1", "--prompt", "Adjacency lists keyed by full id.")
    ctx.tmxd("show", "3.1")


@demo_step(50, "The change in git: a minimal diff")
def step_git_diff(ctx: DemoContext) -> None:
    ctx.say("Only the changed values moved; everything else in tasks.json is byte-identical.")
    ctx.git("diff", "--stat")
    ctx.git("diff", "-U1")
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ctx.root, env=ctx.env, capture_output=True, text=True
    ).stdout.strip()
    if dirty:
        ctx.git("commit", "-q", "-am", "Finish the config loader, start the graph engine")
        ctx.say("Committed, so the next steps start from a clean tree.")
