"""The daemon advancing the workflow, as a real process in a project set up with ``tmxd init``:
the cascade after an editor's save, commits that name no task, event commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon_project import make_project, transitions, write_renamed
from daemonproc import DaemonProcess
from helpers import git, run_tmxd, wait_until
from notify_support import received, recorder_command, use_command
from tmxd.commits import sync

# What a task title can hold; each must reach the notify command as one argument, inert.
HOSTILE = "Evaluate \"it\" 'now' $(touch pwned); `id` && echo x | sh\nsecond line"


@pytest.fixture
def notified(tmp_path: Path) -> Path:
    """The file the project's notify command writes its argv to."""
    return tmp_path / "notified.jsonl"


@pytest.fixture
def project(tmp_path: Path, notified: Path) -> Path:
    """Subtask 1.1 done, 1.2 in progress (so task 1 too), task 2 waiting on task 1 with a
    hostile title; set up with `tmxd init`, its notify command one that records its argv."""
    root = tmp_path / "proj"
    tasks = make_project(root, t1="in-progress", t1_1="done", t1_2="in-progress")
    doc = json.loads(tasks.read_text())
    doc["master"]["tasks"][1]["title"] = HOSTILE
    tasks.write_text(json.dumps(doc, indent=2, ensure_ascii=False))
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "add tasks")
    done = run_tmxd("init", "--yes", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    command, out = recorder_command(tmp_path)
    assert out == notified
    use_command(root, command)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "tmxd init")
    # its note (on 1.2, the one task in progress) is written now, not by the daemon while a
    # test's editor saves the file: an editor takes no lock, and one of the two would be lost
    synced = run_tmxd("sync", cwd=root)
    assert "(the only task in progress)" in synced.stdout, synced.stdout + synced.stderr
    return root


@pytest.fixture
def tasks(project: Path) -> Path:
    path = project / ".taskmaster" / "tasks" / "tasks.json"
    assert _task(path, "2")["title"] == HOSTILE
    return path


@pytest.fixture
def daemon(tmp_path: Path, project: Path) -> Iterator[DaemonProcess]:
    d = DaemonProcess(tmp_path / "daemon.log", "--project", str(project)).start()
    try:
        wait_until(lambda: _project(d).get("baseline"), what="the baseline snapshot")
        yield d
    finally:
        d.stop()


def _project(d: DaemonProcess) -> dict[str, object]:
    projects = d.status()["projects"]
    return projects[0] if projects else {}


def _task(tasks: Path, task_id: str) -> dict[str, object]:
    top, _, sub = task_id.partition(".")
    task = next(t for t in json.loads(tasks.read_text())["master"]["tasks"] if str(t["id"]) == top)
    return task if not sub else next(s for s in task["subtasks"] if str(s["id"]) == sub)


def _commit(root: Path, name: str, message: str) -> str:
    (root / name).write_text(name + "\n")
    git(root, "add", name)
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


def test_an_editors_save_of_the_last_subtask_finishes_the_parent(
    daemon: DaemonProcess, tasks: Path, notified: Path
) -> None:
    write_renamed(tasks, t1="in-progress", t1_1="done", t1_2="done")
    wait_until(lambda: _task(tasks, "1")["status"] == "done", what="the parent to follow")
    wait_until(lambda: len(transitions()) >= 2, what="the cascade's transition row")
    # one more outside edit: handled after the daemon looked at its own write
    write_renamed(tasks, t1="done", t1_1="done", t1_2="done", t3="review")
    wait_until(lambda: len(transitions()) >= 3, what="the later edit")
    assert transitions() == [
        ("1.2", "in-progress", "done", "external"),
        ("1", "in-progress", "done", "cascade"),
        ("3", "done", "review", "external"),
    ]
    assert "task 1 in-progress -> done (cascade)" in daemon.log()
    # the parent's cascade unblocked task 2: the notify command heard of it, once
    wait_until(lambda: received(notified), what="the notify command")
    assert [argv[:2] for argv in received(notified)] == [["task-ready", "2"]]


def test_a_commit_naming_no_task_lands_on_the_one_in_progress(
    daemon: DaemonProcess, project: Path, tasks: Path
) -> None:
    sha = _commit(project, "a.txt", "Handle empty input")
    mark = f"Handle empty input ({sha[:7]})"
    wait_until(lambda: mark in str(_task(tasks, "1.2")["details"]), what="the inferred note")
    assert "(linked: the only task in progress)" in str(_task(tasks, "1.2")["details"])
    # a second subtask in progress: the next such commit goes nowhere, and is counted
    write_renamed(tasks, t1="in-progress", t1_1="in-progress", t1_2="in-progress")
    wait_until(lambda: len(transitions()) >= 1, what="the edit")
    other = _commit(project, "b.txt", "Refactor the lexer")
    wait_until(lambda: sync.unlinked_commits(project), what="the unlinked commit")
    assert [(e.sha, e.unlinked) for e in sync.unlinked_commits(project)] == [(other, 2)]
    for task_id in ("1", "1.1", "1.2", "2"):
        assert other[:7] not in str(_task(tasks, task_id)["details"])
    status = run_tmxd("hooks", "status", cwd=project)
    assert "unlinked: 1 commit(s) named no task" in status.stdout


def test_a_closing_commit_runs_the_notify_command_for_the_task_it_unblocks(
    daemon: DaemonProcess, project: Path, tasks: Path, notified: Path
) -> None:
    _commit(project, "g.txt", "Finish the grammar\n\nCloses-Task: 1.2")
    wait_until(lambda: received(notified), what="the notify command")
    (argv,) = received(notified)
    event, task, title, folder, message = argv
    assert (event, task, title, folder) == ("task-ready", "2", HOSTILE, str(project))
    assert message == "proj: task 2 is ready: " + " ".join(HOSTILE.split())
    assert not (project / "pwned").exists()
    assert ("1", "in-progress", "done", "commit") in transitions()
