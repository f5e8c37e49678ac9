"""Worktrees: one per task on tmxd/task-<id>, merged back, conflicts aborted cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import git, init_repo
from tmxd.autopilot import worktrees
from tmxd.errors import TmxdError


def test_create_commit_merge_and_finish(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    wt = worktrees.create(repo, "3.1")
    assert wt.branch == "tmxd/task-3.1"
    assert wt.path.is_dir() and wt.path.is_relative_to(repo / ".git")
    assert git(wt.path, "rev-parse", "--abbrev-ref", "HEAD").strip() == "tmxd/task-3.1"
    (wt.path / "feature.txt").write_text("feature\n")
    assert worktrees.commit_all(wt, "Add feature [3.1]")
    assert not worktrees.commit_all(wt, "nothing left")
    message = git(wt.path, "log", "-1", "--format=%B")
    assert message.startswith("Add feature [3.1]") and "Task: 3.1" in message
    result = worktrees.merge_back(repo, wt, "Merge task 3.1: feature")
    assert result.merged and result.commits == 1
    assert (repo / "feature.txt").read_text() == "feature\n"
    assert git(repo, "log", "-1", "--format=%s").strip() == "Merge task 3.1: feature"
    worktrees.finish(repo, wt, keep_branch=False)
    assert not wt.path.exists()
    assert git(repo, "branch", "--list", "tmxd/*").strip() == ""
    assert str(wt.path) not in git(repo, "worktree", "list")


def test_merge_leaves_untouched_dirty_files_alone(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / "tasks.json").write_text("{}\n")
    git(repo, "add", "tasks.json")
    git(repo, "commit", "-q", "-m", "tasks")
    (repo / "tasks.json").write_text('{"dirty": true}\n')
    wt = worktrees.create(repo, "1")
    (wt.path / "code.py").write_text("x = 1\n")
    worktrees.commit_all(wt, "code")
    assert worktrees.merge_back(repo, wt, "merge").merged
    assert (repo / "tasks.json").read_text() == '{"dirty": true}\n'
    worktrees.finish(repo, wt, keep_branch=False)


def test_conflict_is_aborted_and_the_branch_kept(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    wt = worktrees.create(repo, "2")
    (wt.path / "README.md").write_text("from the task\n")
    worktrees.commit_all(wt, "task edit")
    (repo / "README.md").write_text("from main\n")
    git(repo, "commit", "-q", "-am", "main edit")
    head = git(repo, "rev-parse", "HEAD")
    result = worktrees.merge_back(repo, wt, "merge 2")
    assert not result.merged
    assert "README.md" in result.detail
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain").strip() == ""
    assert (repo / "README.md").read_text() == "from main\n"
    worktrees.finish(repo, wt, keep_branch=True)
    assert "tmxd/task-2" in git(repo, "branch", "--list", "tmxd/*")


def test_nothing_to_merge_is_fine(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    wt = worktrees.create(repo, "9")
    result = worktrees.merge_back(repo, wt, "merge")
    assert result.merged and result.commits == 0
    worktrees.finish(repo, wt, keep_branch=False)


def test_create_replaces_leftovers_and_reset_cleans(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    first = worktrees.create(repo, "4")
    (first.path / "junk.txt").write_text("left by a killed run\n")
    again = worktrees.create(repo, "4")
    assert again.path == first.path
    assert not (again.path / "junk.txt").exists()
    (again.path / "README.md").write_text("changed\n")
    (again.path / "new.txt").write_text("new\n")
    worktrees.reset(again)
    assert not worktrees.has_changes(again)
    worktrees.finish(repo, again, keep_branch=False)


def test_require_repo(tmp_path: Path) -> None:
    empty = init_repo(tmp_path / "empty", commit=False)
    with pytest.raises(TmxdError, match="needs a git repository with a commit"):
        worktrees.require_repo(empty)
    worktrees.require_repo(init_repo(tmp_path / "ok"))


def test_merge_waits_for_a_busy_index(tmp_path: Path) -> None:
    import threading

    repo = init_repo(tmp_path / "repo")
    wt = worktrees.create(repo, "5")
    (wt.path / "five.txt").write_text("5\n")
    worktrees.commit_all(wt, "five")
    lock = repo / ".git" / "index.lock"
    lock.write_text("")
    timer = threading.Timer(0.5, lock.unlink)
    timer.start()
    result = worktrees.merge_back(repo, wt, "merge 5")
    timer.join()
    assert result.merged, result.detail
    worktrees.finish(repo, wt, keep_branch=False)


def test_a_half_done_merge_of_ours_is_aborted_and_others_are_kept(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    wt = worktrees.create(repo, "8")
    (wt.path / "eight.txt").write_text("8\n")
    worktrees.commit_all(wt, "eight")
    git(
        repo, "merge", "--no-ff", "--no-commit", "-m", "Merge task 8: eight\n\nTask: 8\n", wt.branch
    )
    assert worktrees.abort_stale_merge(repo, {"7"}) is None
    assert git(repo, "rev-parse", "-q", "--verify", "MERGE_HEAD", check=False).strip()
    assert worktrees.abort_stale_merge(repo, {"8"}) == "8"
    assert git(repo, "rev-parse", "-q", "--verify", "MERGE_HEAD", check=False).strip() == ""
    assert git(repo, "status", "--porcelain").strip() == ""
    worktrees.finish(repo, wt, keep_branch=False)
