"""The daemon's step of ``tmxd demo``: a real daemon reacting to edits and commits.

:func:`run_step` starts ``tmxd run`` on the demo's throwaway project (with its
own runtime dir, so a daemon the user already runs is neither stopped nor
reused), lets "an editor" change a status in ``tasks.json``, makes two commits
naming a subtask (``Task:`` then ``Closes-Task:``), shows the notes and
transitions the daemon produced, and stops it with SIGTERM. No Node, network
or key; the git hooks are installed if they are not yet.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tmxd import clock, control, daemon, gitio, hooks
from tmxd.errors import TmxdError
from tmxd.taskmaster.document import Task
from tmxd.taskmaster.project import Project, find_project
from tmxd.taskmaster.store import TaskStore

WAIT_S = 60.0


@dataclass
class DemoOutcome:
    subtask: str
    transitions: list[str] = field(default_factory=list)  # the daemon's log lines
    notes: list[str] = field(default_factory=list)  # commit notes now on the subtask
    stopped: bool = False


@contextlib.contextmanager
def private_runtime() -> Iterator[Path]:
    """A runtime dir of its own for the demo daemon (socket, lock, pid)."""
    old = os.environ.get("TMXD_RUNTIME_DIR")
    with tempfile.TemporaryDirectory(prefix="tmxd-demo-") as tmp:
        os.environ["TMXD_RUNTIME_DIR"] = tmp
        try:
            yield Path(tmp)
        finally:
            if old is None:
                os.environ.pop("TMXD_RUNTIME_DIR", None)
            else:
                os.environ["TMXD_RUNTIME_DIR"] = old


def pick_subtask(project: Project) -> Task:
    """The first pending subtask of a task that is not done (what the demo works on)."""
    doc = TaskStore(project).read()
    tag = project.active_tag(None)
    for task in doc.tasks(tag):
        if task.status in ("done", "cancelled"):
            continue
        for sub in task.subtasks:
            if sub.status == "pending":
                return sub
    raise TmxdError(f"{project.tasks_path}: no pending subtask for the daemon demo to work on")


def run_step(root: Path, say: Callable[[str], None]) -> DemoOutcome:
    """Run the daemon part of the demo in the project at ``root``; report through ``say``."""
    project = find_project(explicit=root)
    hooks.install(project.root)
    sub = pick_subtask(project)
    outcome = DemoOutcome(sub.id)
    with private_runtime() as runtime:
        log_file = runtime / "daemon.log"
        pid = daemon.start_background(log_file, extra_args=["--project", str(project.root)])
        say(f"$ tmxd run --project .     (pid {pid}, logging to its own file)")
        try:
            _wait(lambda: _watching(), "the daemon to watch the project")
            _work(project, sub, say)
            outcome.notes = _notes(project, sub.id)
        finally:
            stopped = daemon.stop_running()
            outcome.stopped = stopped == pid
        outcome.transitions = [
            line.split(": ", 1)[1]
            for line in log_file.read_text(errors="replace").splitlines()
            if " -> " in line or "note for commit" in line or "unblocked" in line
        ]
    say("what the daemon did:")
    for line in outcome.transitions:
        say(f"  {line.replace(str(project.root) + ': ', '')}")
    say(f"notes on {sub.id} now:")
    for note in outcome.notes:
        say(f"  {note}")
    say(f"$ tmxd stop     (pid {pid}: {'stopped cleanly' if outcome.stopped else 'still running'})")
    return outcome


def _work(project: Project, sub: Task, say: Callable[[str], None]) -> None:
    say(f'an editor sets {sub.id} "{sub.title}" to in-progress in tasks.json')
    _edit_status(project.tasks_path, sub.id, "in-progress")
    _wait(lambda: _status(project, sub.id) == "in-progress", "the edit")
    first = _commit(project.root, "demo_daemon_1.txt", f"Start {sub.title}", f"Task: {sub.id}")
    say(f'$ git commit -m "Start {sub.title}" -m "Task: {sub.id}"      -> {first[:7]}')
    _wait(lambda: any(first[:7] in n for n in _notes(project, sub.id)), "the first note")
    second = _commit(
        project.root, "demo_daemon_2.txt", f"Finish {sub.title}", f"Closes-Task: {sub.id}"
    )
    say(f'$ git commit -m "Finish {sub.title}" -m "Closes-Task: {sub.id}"  -> {second[:7]}')
    _wait(lambda: _status(project, sub.id) == "done", "Closes-Task")


def _watching() -> bool:
    with contextlib.suppress(TmxdError):
        projects = control.request("status", timeout=10).get("projects", [])
        return bool(projects) and bool(projects[0].get("baseline"))
    return False


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = clock.monotonic() + WAIT_S
    while not condition():
        if clock.monotonic() > deadline:
            raise TmxdError(f"demo: the daemon did not show {what} within {WAIT_S:g} s")
        time.sleep(0.05)


def _edit_status(tasks_path: Path, task_id: str, status: str) -> None:
    """What an editor does: rewrite the file with one status changed (temp file + rename)."""
    data: Any = json.loads(tasks_path.read_text(encoding="utf-8"))
    parent_id, _, sub_id = task_id.partition(".")
    containers = [v for v in data.values() if isinstance(v, dict)] if isinstance(data, dict) else []
    for container in containers or [data]:
        for task in container.get("tasks", []):
            if str(task.get("id")) != parent_id:
                continue
            for sub in task.get("subtasks", []):
                if str(sub.get("id")) == sub_id:
                    sub["status"] = status
    tmp = tasks_path.with_name(".tasks.json.demo~")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, tasks_path)


def _commit(root: Path, name: str, subject: str, trailer: str) -> str:
    (root / name).write_text(f"{subject}\n", encoding="utf-8")
    gitio.run_git(root, ["add", name])
    gitio.run_git(root, ["commit", "-q", "-m", subject, "-m", trailer])
    return gitio.git_text(root, "rev-parse", "HEAD")


def _status(project: Project, task_id: str) -> str | None:
    with contextlib.suppress(TmxdError):
        found = TaskStore(project).read().find(task_id, project.active_tag(None))
        return found.status if found else None
    return None


def _notes(project: Project, task_id: str) -> list[str]:
    with contextlib.suppress(TmxdError):
        found = TaskStore(project).read().find(task_id, project.active_tag(None))
        details = found.details if found else ""
        return [line for line in str(details).splitlines() if line.startswith("Committed changes")]
    return []
