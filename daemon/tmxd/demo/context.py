"""What every demo step works with: the throwaway project, its environment, and
:class:`DemoContext`, which runs a command and shows it with its output.

Steps share one project, so each works on its own part of :data:`DEMO_TASKS`: the store's
steps finish 2.2 (and so task 2) and start 3.1; the hooks' commits close task 4; the daemon
adds a task of its own; the autopilot runs 3.2.

The demo needs no Node, no network and no AI key. Its commands get their own state,
runtime and metrics locations inside the demo folder, so it never touches the user's.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tmxd import git, paths, proc
from tmxd.config import config_path
from tmxd.errors import TmxdError
from tmxd.fsutil import write_atomic


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

    def config_text(self) -> str:
        """The project's ``.taskmaster/tmxd.toml`` ("" when there is none)."""
        try:
            return config_path(self.root).read_text(encoding="utf-8")
        except OSError:
            return ""

    def set_option(self, table: str, key: str, value: object) -> str:
        """Set ``key`` in ``[table]`` of tmxd.toml to ``value`` (JSON is TOML for strings and
        lists), over its line or its commented-out default; return the line written."""
        lines = self.config_text().splitlines(keepends=True)
        line = f"{key} = {json.dumps(value)}\n"
        header = f"[{table}]\n"
        if header not in lines:
            lines += [f"\n{header}", line]
        else:
            start = lines.index(header)
            end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), None)
            region = range(start + 1, len(lines) if end is None else end)
            found = [i for i in region if lines[i].startswith((f"{key} =", f"# {key} ="))]
            if found:
                lines[found[0]] = line
                for i in reversed(found[1:]):
                    del lines[i]
            else:
                lines.insert(start + 1, line)
        path = config_path(self.root)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, "".join(lines))
        return line.rstrip("\n")

    def run(
        self, argv: Sequence[str], *, show: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the project, print ``$ command`` and its output, indented."""
        shown = show or shlex.join(argv)
        self.echo(f"$ {shown}")
        done = proc.run_captured(argv, cwd=self.root, env=self.env)
        return self._show(shown, done, check)

    def tmxd(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run this tmxd (the same interpreter and source) as ``tmxd <args>``."""
        return self.run(
            [sys.executable, "-m", "tmxd", *args], show=shlex.join(["tmxd", *args]), check=check
        )

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``git <args>`` in the project (through :mod:`tmxd.git`) and show it."""
        shown = shlex.join(["git", *args])
        self.echo(f"$ {shown}")
        raw = git.run_git(self.root, args, check=False, env=self.env)
        done = subprocess.CompletedProcess(
            raw.args, raw.returncode, git.decode(raw.stdout), git.decode(raw.stderr)
        )
        return self._show(shown, done, check)

    def _show(
        self, shown: str, done: subprocess.CompletedProcess[str], check: bool
    ) -> subprocess.CompletedProcess[str]:
        for line in (done.stdout + done.stderr).rstrip("\n").splitlines():
            self.echo("    " + line)
        if check and done.returncode != 0:
            raise TmxdError(f"demo command `{shown}` failed with exit code {done.returncode}")
        return done


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
    # The Claude Code hooks that `tmxd init` writes run `tmxd`: the demo puts the folder
    # of the tmxd running it first on PATH (a venv's bin, when run as `.venv/bin/tmxd`).
    here = Path(sys.executable).parent
    if (here / "tmxd").is_file():
        env["PATH"] = os.pathsep.join([str(here), env.get("PATH", "")])
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
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["commit", "-q", "-m", "Plan the project with Task Master"],
    ):
        git.run_git(root, args, env=env)
