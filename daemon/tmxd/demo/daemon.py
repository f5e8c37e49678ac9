"""The daemon's step of ``tmxd demo``: a real daemon reacting to an edit and two commits.

The step runs real commands in the demo project (whose state, runtime dir and
database are private to the demo): ``tmxd watch list`` (``tmxd init`` registered
the project and installed the hooks), ``tmxd start``; then "an editor" changes a
subtask's status in ``tasks.json`` and two commits name that subtask (``Task:``,
then ``Closes-Task:``). It shows what the daemon made of them — its log of
transitions and notes, ``tmxd status``, the subtask's notes — and ends with
``tmxd stop``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tmxd import clock
from tmxd.daemon import control
from tmxd.demo.context import DemoContext
from tmxd.errors import TmxdError
from tmxd.fsutil import write_atomic
from tmxd.taskmaster.project import Project, find_project
from tmxd.taskmaster.store import TaskStore

WAIT_S = 60.0
_LOCATIONS = ("TMXD_STATE_DIR", "TMXD_RUNTIME_DIR", "TMXD_DB")


def step_daemon(ctx: DemoContext) -> None:
    project = find_project(explicit=ctx.root)
    ctx.say("One daemon per user watches registered projects (a few folders each, never the")
    ctx.say("whole repository) and reacts within a fraction of a second.")
    ctx.say("`tmxd init` registered the project (`tmxd watch add`), so starting is all:")
    ctx.tmxd("watch", "list")
    ctx.tmxd("start")
    try:
        with demo_locations(ctx.env):
            wait_until(watching, "the daemon to watch the project")
            ctx.say(f'An editor adds task "{DEMO_TITLE}" to tasks.json, already in progress:')
            seen = transitions_seen()
            task_id = add_task(project.tasks_path, project.active_tag(None))
            wait_until(lambda: transitions_seen() > seen, "the edit to be recorded")
            ctx.git("add", "-A")
            ctx.git("commit", "-q", "-m", "Outline the daemon docs", "-m", f"Task: {task_id}")
            wait_until(lambda: len(notes(project, task_id)) >= 1, "the commit's note")
            (ctx.root / "demo_daemon.md").write_text("# The daemon\n", encoding="utf-8")
            ctx.git("add", "demo_daemon.md")
            seen = transitions_seen()
            ctx.git("commit", "-q", "-m", "Write the daemon docs", "-m", f"Closes-Task: {task_id}")
            # the daemon's own word (it counts a change once its log has it), not tasks.json's
            wait_until(lambda: transitions_seen() > seen, "Closes-Task")
        ctx.say("What the daemon did (from its log):")
        for line in daemon_log_lines(ctx.env, project.root):
            ctx.say(f"    {line}")
        ctx.say(f"The notes the two commits left on task {task_id}:")
        for note in notes(project, task_id):
            ctx.say(f"    {note}")
        ctx.tmxd("status")
    finally:
        ctx.tmxd("stop", check=False)


DEMO_TITLE = "Document the daemon"


def add_task(tasks_path: Path, tag: str, title: str = DEMO_TITLE) -> str:
    """What a person does in an editor: add a task, already in progress; returns its id.

    A task of its own, so the work the other demo steps rely on stays untouched.
    """
    data: Any = json.loads(tasks_path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get(tag), dict):
        tasks = data[tag].setdefault("tasks", [])
    elif isinstance(data, dict) and isinstance(data.get("tasks"), list):
        tasks = data["tasks"]
    else:
        raise TmxdError(f"{tasks_path}: no tag '{tag}' for the daemon demo to add a task to")
    ids = [int(t["id"]) for t in tasks if str(t.get("id", "")).isdigit()]
    new_id = max(ids, default=0) + 1
    tasks.append(
        {
            "id": new_id,
            "title": title,
            "description": "Explain what the daemon watches and records",
            "details": "",
            "testStrategy": "",
            "status": "in-progress",
            "dependencies": [],
            "priority": "medium",
            "subtasks": [],
        }
    )
    write_atomic(tasks_path, json.dumps(data, indent=2, ensure_ascii=False))
    return str(new_id)


@contextlib.contextmanager
def demo_locations(env: dict[str, str]) -> Iterator[None]:
    """Talk to the demo's daemon: its state, runtime dir and database, for this block."""
    saved = {key: os.environ.get(key) for key in _LOCATIONS}
    os.environ.update({key: env[key] for key in _LOCATIONS if key in env})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = clock.monotonic() + WAIT_S
    while not condition():
        if clock.monotonic() > deadline:
            raise TmxdError(f"demo: the daemon did not show {what} within {WAIT_S:g} s")
        time.sleep(0.05)


def _projects() -> list[dict[str, Any]]:
    with contextlib.suppress(TmxdError):
        found = control.request("status", timeout=10).get("projects", [])
        return [p for p in found if isinstance(p, dict)]
    return []


def watching() -> bool:
    """The daemon watches the project and has caught up with it (what was committed
    before it started is drained): an edit from now on is recorded as one."""
    return any(p.get("caught_up") and p.get("watch") != "not watched" for p in _projects())


def transitions_seen() -> int:
    return sum(int(p.get("transitions") or 0) for p in _projects())


def notes(project: Project, task_id: str) -> list[str]:
    with contextlib.suppress(TmxdError):
        found = TaskStore(project).read().find(task_id, project.active_tag(None))
        details = found.details if found else ""
        return [line for line in details.splitlines() if line.startswith("Committed changes")]
    return []


def daemon_log_lines(env: dict[str, str], root: Path) -> list[str]:
    """The daemon's lines about transitions, notes and unblocked tasks, without the prefix."""
    log_file = Path(env["TMXD_STATE_DIR"]) / "daemon.log"
    try:
        lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    wanted = (" -> ", "note for commit", "now unblocked")
    return [
        line.split(": ", 1)[1].replace(f"{root.resolve()}: ", "").replace(f"{root}: ", "")
        for line in lines
        if ": " in line and any(w in line for w in wanted)
    ]
