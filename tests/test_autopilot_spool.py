"""The hook spool around an autopilot run: commits made before a claim are linked
against the state before it, and a run leaves none of its own hook lines waiting."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autopilot_support import agent_env, details, make_project, task
from helpers import git, run_tmxd_process, subprocess_env
from tmxd import paths
from tmxd.autopilot import config as ap_config
from tmxd.autopilot.runner import Autopilot, RunOptions, RunSummary
from tmxd.commits import hooks, spool
from tmxd.metrics.recorder import Recorder
from tmxd.taskmaster.project import find_project

# git dates commits to the second; a commit dated an hour ahead is, for the linking
# rule, made no earlier than any claim of the run: the same-second case, without racing
# the clock.
LATER = str(int(time.time()) + 3600)


def _run(root: Path, on_line: Callable[[str], None], **options: Any) -> RunSummary:
    project = find_project(root)
    with Recorder.open() as recorder:
        return Autopilot(
            project,
            ap_config.load(root),
            recorder,
            options=RunOptions(**options),
            env=subprocess_env(agent_env(root)),
            rng=random.Random(1),
            out=on_line,
        ).run()


def _commit(root: Path, name: str, subject: str, *, date: str | None = None) -> str:
    """Commit ``name`` as the user would; ``date``: the committer date (epoch seconds)."""
    (root / name).write_text(f"{subject}\n")
    git(root, "add", name)
    env = dict(os.environ)
    if date is not None:
        env["GIT_COMMITTER_DATE"] = f"@{date} +0000"
    subprocess.run(["git", "commit", "-q", "-m", subject], cwd=root, env=env, check=True)
    return git(root, "rev-parse", "HEAD").strip()


def _unlinked(root: Path) -> dict[str, int]:
    out = run_tmxd_process("hooks", "status", "--format", "json", cwd=root)
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout)["unlinked"])


def _pending(root: Path) -> int:
    return spool.Spool(root / ".git").pending().lines


def test_a_commit_made_before_a_parallel_run_never_lands_on_a_task_it_claims(
    tmp_path: Path,
) -> None:
    """Task 2 is still in progress when task 1 is merged (it hangs until the run is
    stopped); the user's commit from before the run, dated no earlier than the claims,
    is linked before anything is claimed: to no task."""
    root = tmp_path / "proj"
    make_project(
        root,
        [task(1, "Fast task"), task(2, "Slow task")],
        plan={"default": {"action": "edit"}, "tasks": {"2": {"action": "hang"}}},
        config='on_failure = "pending"\n',
    )
    hooks.install(root)
    typo = _commit(root, "README.md", "Fix README typo", date=LATER)
    stop = threading.Event()
    at_claim: list[dict[str, int]] = []
    done: list[str] = []

    def on_line(line: str) -> None:
        if " in progress (" in line:  # just after a claim
            at_claim.append(_unlinked(root))
        elif line.startswith("task 1: done"):
            done.append(line)
            stop.set()

    project = find_project(root)
    with Recorder.open() as recorder:
        pilot = Autopilot(
            project,
            ap_config.load(root),
            recorder,
            options=RunOptions(parallel=2),
            env=subprocess_env(agent_env(root)),
            rng=random.Random(1),
            out=on_line,
            stop=stop,
        )
        pilot.run()
    assert done, "task 1 was not done"
    # processed before the claims, with none in progress (after them, tasks 1 and 2 both
    # in progress, it would count "with several", or go to one of them)
    none = {"total": 1, "none_in_progress": 1, "several_in_progress": 0}
    assert len(at_claim) == 2 and all(seen == none for seen in at_claim)
    assert typo[:7] not in details(root, "1") + details(root, "2")
    assert _unlinked(root) == {"total": 1, "none_in_progress": 1, "several_in_progress": 0}


def test_a_commit_made_between_two_claims_is_linked_before_the_second(tmp_path: Path) -> None:
    """Sequential run: the user commits after task 1 is done, dated no earlier than
    task 2's claim; it is linked before task 2 is claimed: with nothing in progress, it
    goes to no task (linked after the claim, it would have gone to task 2)."""
    root = tmp_path / "proj"
    make_project(root, [task(1, "First"), task(2, "Second")])
    hooks.install(root)
    made: dict[str, str] = {}
    at_claim: list[dict[str, int]] = []

    def on_line(line: str) -> None:
        if line.startswith("task 1: done"):
            made["between"] = _commit(root, "README.md", "Fix README typo", date=LATER)
        elif line.startswith("task 2: in progress"):  # just after the claim
            at_claim.append(_unlinked(root))

    assert _run(root, on_line).ok
    assert made["between"][:7] not in details(root, "1") + details(root, "2")
    # processed before the claim, with none in progress (after it, task 2 would be)
    assert at_claim == [{"total": 1, "none_in_progress": 1, "several_in_progress": 0}]
    assert _unlinked(root) == {"total": 1, "none_in_progress": 1, "several_in_progress": 0}


def test_a_parallel_run_leaves_none_of_its_hook_lines_waiting(tmp_path: Path) -> None:
    """Cleaning a finished worktree into a spare checks it out (post-checkout spools a
    line) after the task's last drain: the run drains once more at the end."""
    root = tmp_path / "proj"
    make_project(root, [task(1, "One"), task(2, "Two"), task(3, "Three")])
    hooks.install(root)
    assert _run(root, lambda line: None, parallel=3).ok
    assert _pending(root) == 0
    doctor = run_tmxd_process("doctor", cwd=root)
    assert "fail spool" not in doctor.stdout, doctor.stdout
    # positive control: the cleanups did spool post-checkout lines (now processed), the
    # detached checkouts of the spares among them
    with sqlite3.connect(paths.db_path()) as db:
        rows = [
            json.loads(data)
            for (data,) in db.execute("SELECT data FROM events WHERE kind = 'checkout'")
        ]
    assert sum(1 for r in rows if r.get("detached")) >= 3
