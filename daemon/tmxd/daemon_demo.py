"""The daemon's step of ``tmxd demo``: a real daemon reacting to an edit and two commits.

The step runs real commands in the demo project (whose state, runtime dir and
database are private to the demo): ``tmxd hooks install``, ``tmxd watch add .``,
``tmxd start``; then "an editor" changes a subtask's status in ``tasks.json``
and two commits name that subtask (``Task:``, then ``Closes-Task:``). It shows
what the daemon made of them — its log of transitions and notes, ``tmxd
status``, the subtask's notes — and ends with ``tmxd stop``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tmxd import clock, control
from tmxd.demo import DemoContext, demo_step
from tmxd.errors import TmxdError
from tmxd.taskmaster.document import Task
from tmxd.taskmaster.project import Project, find_project
from tmxd.taskmaster.store import TaskStore

WAIT_S = 60.0
_LOCATIONS = ("TMXD_STATE_DIR", "TMXD_RUNTIME_DIR", "TMXD_DB")


@demo_step(200, "The daemon: edits and commits recorded as they happen")
def step_daemon(ctx: DemoContext) -> None:
    project = find_project(explicit=ctx.root)
    sub = pick_subtask(project)
    ctx.say("One daemon per user watches registered projects (a few folders each, never the")
    ctx.say("whole repository) and reacts within a fraction of a second.")
    ctx.tmxd("hooks", "install")
    ctx.tmxd("watch", "add", ".")
    ctx.tmxd("start")
    try:
        with demo_locations(ctx.env):
            wait_until(watching, "the daemon to watch the project")
            new_status = "in-progress" if sub.status == "pending" else "review"
            ctx.say(f'An editor sets {sub.id} "{sub.title}" to {new_status} in tasks.json:')
            seen = transitions_seen()
            edit_status(project.tasks_path, sub.id, new_status)
            wait_until(lambda: transitions_seen() > seen, "the edit to be recorded")
            ctx.git("add", "-A")
            ctx.git("commit", "-q", "-m", f"Start {sub.title}", "-m", f"Task: {sub.id}")
            wait_until(lambda: len(notes(project, sub.id)) >= 1, "the commit's note")
            (ctx.root / "demo_daemon.txt").write_text(f"{sub.title}\n", encoding="utf-8")
            ctx.git("add", "demo_daemon.txt")
            ctx.git("commit", "-q", "-m", f"Finish {sub.title}", "-m", f"Closes-Task: {sub.id}")
            wait_until(lambda: status_of(project, sub.id) == "done", "Closes-Task")
        ctx.say("What the daemon did (from its log):")
        for line in daemon_log_lines(ctx.env, project.root):
            ctx.say(f"    {line}")
        ctx.say(f"The notes the two commits left on {sub.id}:")
        for note in notes(project, sub.id):
            ctx.say(f"    {note}")
        ctx.tmxd("status")
    finally:
        ctx.tmxd("stop", check=False)


def pick_subtask(project: Project) -> Task:
    """An open subtask to work on: one already in progress, else the first pending one.

    In the full demo that is the subtask the set-status step started, which leaves the
    pending ones to the autopilot step.
    """
    doc = TaskStore(project).read()
    tag = project.active_tag(None, doc.tag_names())
    subtasks = [
        sub
        for task in doc.tasks(tag)
        if task.status not in ("done", "cancelled")
        for sub in task.subtasks
    ]
    for wanted in ("in-progress", "pending"):
        for sub in subtasks:
            if sub.status == wanted:
                return sub
    raise TmxdError(f"{project.tasks_path}: no open subtask for the daemon demo to work on")


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
    return any(p.get("baseline") and p.get("watch") != "not watched" for p in _projects())


def transitions_seen() -> int:
    return sum(int(p.get("transitions") or 0) for p in _projects())


def edit_status(tasks_path: Path, task_id: str, status: str) -> None:
    """What an editor does: rewrite the file with one status changed (temp file + rename)."""
    data: Any = json.loads(tasks_path.read_text(encoding="utf-8"))
    parent_id, _, sub_id = task_id.partition(".")
    containers = [v for v in data.values() if isinstance(v, dict)] if isinstance(data, dict) else []
    for container in containers:
        for task in container.get("tasks", []):
            if str(task.get("id")) != parent_id:
                continue
            for sub in task.get("subtasks", []):
                if str(sub.get("id")) == sub_id:
                    sub["status"] = status
    tmp = tasks_path.with_name(".tasks.json.demo~")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, tasks_path)


def status_of(project: Project, task_id: str) -> str | None:
    with contextlib.suppress(TmxdError):
        found = TaskStore(project).read().find(task_id, project.active_tag(None))
        return found.status if found else None
    return None


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
