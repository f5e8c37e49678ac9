"""`tmxd approve` / `tmxd reject` on tasks waiting in review, for each reason they wait."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from autopilot_support import details, make_project, statuses, task
from helpers import git, run_tmxd
from tmxd import paths
from tmxd.autopilot import gate, state, worktrees
from tmxd.commits import hooks
from tmxd.errors import InputError, TmxdError
from tmxd.taskmaster.project import find_project


def waiting(tmp_path: Path, kind: str) -> Path:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Ship it", status="review")])
    state.StateFile(root).set_review("master", "1", kind, "why it waits")
    return root


def test_approve_an_expand_review_sends_the_task_back_to_pending(tmp_path: Path) -> None:
    root = waiting(tmp_path, "expand")
    message = gate.approve(find_project(root), "1", note="run it whole")
    assert message == "task 1 approved: pending; `tmxd autopilot` will run it"
    assert statuses(root) == {"1": "pending"}
    assert "tmxd: approved: run it whole" in details(root, "1")
    sf = state.StateFile(root)
    assert sf.is_approved("master", "1") and sf.review("master", "1") is None


def _conflicting_branch(root: Path) -> None:
    """Branch tmxd/task-1 and the current branch both changed README.md."""
    git(root, "checkout", "-q", "-b", "tmxd/task-1")
    (root / "README.md").write_text("from the task\n")
    git(root, "commit", "-q", "-am", "Ship it\n\nTask: 1")
    git(root, "checkout", "-q", "main")
    (root / "README.md").write_text("from main\n")
    git(root, "commit", "-q", "-am", "main moved on")


def test_approve_a_merge_review_merges_the_branch_and_only_then_is_done(tmp_path: Path) -> None:
    root = waiting(tmp_path, "merge")
    _conflicting_branch(root)
    head = git(root, "rev-parse", "HEAD")
    with pytest.raises(TmxdError) as failed:
        gate.approve(find_project(root), "1")
    assert failed.value.exit_code == 1
    assert str(failed.value) == (
        "task 1 stays in review: merging tmxd/task-1 conflicts in README.md; resolve it: "
        "merge the current branch into tmxd/task-1 and fix the conflicts there, then approve "
        "again"
    )
    assert statuses(root) == {"1": "review"} and git(root, "rev-parse", "HEAD") == head
    assert state.StateFile(root).review("master", "1") is not None
    # the conflict resolved on the task's branch: approve merges it
    git(root, "checkout", "-q", "tmxd/task-1")
    git(root, "merge", "-q", "main", check=False)
    (root / "README.md").write_text("both\n")
    git(root, "commit", "-q", "-am", "resolve")
    git(root, "checkout", "-q", "main")
    message = gate.approve(find_project(root), "1")
    assert message == "task 1 approved: merged 2 commit(s) from tmxd/task-1; done"
    assert statuses(root) == {"1": "done"}
    assert (root / "README.md").read_text() == "both\n"
    assert not worktrees.branch_exists(root, "tmxd/task-1")
    assert "Merge task 1: Ship it" in git(root, "log", "-1", "--format=%s")


def test_approve_a_merge_review_without_its_branch_changes_nothing(tmp_path: Path) -> None:
    root = waiting(tmp_path, "merge")
    with pytest.raises(TmxdError, match="branch tmxd/task-1 no longer exists"):
        gate.approve(find_project(root), "1")
    assert statuses(root) == {"1": "review"}


def test_reject_a_merge_review_sends_it_back_to_pending(tmp_path: Path) -> None:
    root = waiting(tmp_path, "merge")
    assert gate.reject(find_project(root), "1") == "task 1 rejected: pending"
    assert statuses(root) == {"1": "pending"}
    assert not state.StateFile(root).is_approved("master", "1")


def _linked_commits() -> dict[str, list[str]]:
    """The metrics' commits by sha (short), with the tasks each is linked to."""
    conn = sqlite3.connect(paths.db_path())
    try:
        rows = conn.execute(
            "SELECT c.sha, t.task_id FROM commits c "
            "LEFT JOIN commit_tasks t ON t.commit_id = c.id ORDER BY c.id"
        ).fetchall()
    finally:
        conn.close()
    linked: dict[str, list[str]] = {}
    for sha, task_id in rows:
        linked.setdefault(sha[:7], []).extend([task_id] if task_id else [])
    return linked


def test_rejecting_a_merge_marks_its_commits_notes_and_drops_them_from_the_metrics(
    tmp_path: Path,
) -> None:
    """The branch's commits are on no branch once it is deleted: their notes say so, as a
    failed attempt's do, and the metrics no longer count them for the task."""
    root = waiting(tmp_path, "merge")
    hooks.install(root)
    _conflicting_branch(root)  # Ship it (Task: 1) on tmxd/task-1, "main moved on" on main
    sync = run_tmxd("sync", "-p", str(root), cwd=root)  # the notes, as the run left them
    assert sync.returncode == 0, sync.stderr
    gone = git(root, "rev-parse", "--short=7", "tmxd/task-1").strip()
    kept = git(root, "rev-parse", "--short=7", "main").strip()
    assert f"Committed changes: Ship it ({gone})" in details(root, "1")
    assert _linked_commits()[gone] == ["1"]
    assert gate.reject(find_project(root), "1") == "task 1 rejected: pending"
    assert not worktrees.branch_exists(root, "tmxd/task-1")
    assert git(root, "branch", "--all", "--contains", gone, check=False).strip() == ""
    note = details(root, "1")
    assert f"Committed changes: Ship it ({gone}) — 1 file, +1/-1 [reverted by tmxd autopilot: " in (
        " ".join(note.split())
    )
    assert (
        "[reverted by tmxd autopilot: the merge of task 1 was rejected and its branch "
        "tmxd/task-1 deleted, the commit is on no branch]"
    ) in " ".join(note.split())
    assert note.count("[reverted by") == 1
    linked = _linked_commits()
    assert gone not in linked
    # control: the commit on the current branch is still there, in the metrics too
    assert kept in linked


def test_rejecting_a_merge_leaves_a_commit_another_branch_has(tmp_path: Path) -> None:
    """Control: a commit of the task's branch that another branch also has is not gone."""
    root = waiting(tmp_path, "merge")
    hooks.install(root)
    _conflicting_branch(root)
    git(root, "branch", "keep-it", "tmxd/task-1")
    assert run_tmxd("sync", "-p", str(root), cwd=root).returncode == 0
    sha = git(root, "rev-parse", "--short=7", "tmxd/task-1").strip()
    assert gate.reject(find_project(root), "1") == "task 1 rejected: pending"
    assert not worktrees.branch_exists(root, "tmxd/task-1")
    assert f"Committed changes: Ship it ({sha})" in details(root, "1")
    assert "[reverted by" not in details(root, "1")
    assert _linked_commits()[sha] == ["1"]


def test_unknown_task_and_task_not_in_review_are_input_errors(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Ship it")])
    project = find_project(root)
    with pytest.raises(InputError, match="task 9 not found in tag master"):
        gate.approve(project, "9")
    with pytest.raises(InputError, match="task 1 is pending, not waiting in review"):
        gate.reject(project, "1")
    assert statuses(root) == {"1": "pending"}
