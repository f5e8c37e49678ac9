"""Worktrees: outside the repository, provisioned, merged back, conflicts aborted, pruned."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import git, init_repo
from tmxd import paths
from tmxd.autopilot import state, workspace, worktrees
from tmxd.errors import InputError


def _base(repo: Path) -> Path:
    return worktrees.base_dir(repo)


def _commit(wt: worktrees.Worktree, subject: str) -> str | None:
    before = workspace.of_commit(wt.path, wt.base)
    after = workspace.snapshot(wt.path, wt.provisioned, wt.path.parent / "scratch")
    return workspace.commit(wt.path, before, after, f"{subject}\n\nTask: {wt.task_id}\n")


def test_worktrees_live_in_the_state_dir_outside_the_repository(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    base = _base(repo)
    assert base.parent == paths.state_dir() / "worktrees"
    assert base.name == state.project_key(repo)
    assert worktrees.location_problem(repo, base) is None
    wt = worktrees.create(repo, "3.1", base)
    assert wt.branch == "tmxd/task-3.1" and wt.path == base / "task-3.1"
    assert not wt.path.is_relative_to(repo)
    assert git(wt.path, "rev-parse", "--abbrev-ref", "HEAD").strip() == "tmxd/task-3.1"
    worktrees.finish(repo, wt, keep_branch=False)
    assert not wt.path.exists()


def test_a_configured_folder_inside_the_project_or_git_is_refused(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    assert worktrees.base_dir(repo, "../elsewhere").parent == (tmp_path / "elsewhere")
    for inside, what in ((".git/wt", ".git folder"), ("build/wt", "working tree")):
        base = worktrees.base_dir(repo, inside)
        problem = worktrees.location_problem(repo, base)
        assert problem is not None and what in problem
        with pytest.raises(InputError, match=r"autopilot\.worktree_dir: .* outside the project"):
            worktrees.require_location(repo, base)


def test_what_the_agent_needs_is_copied_or_linked(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / ".gitignore").write_text(".claude/settings.local.json\n.mcp.json\n.taskmaster/\n")
    (repo / ".claude" / "commands").mkdir(parents=True)
    (repo / ".claude" / "settings.json").write_text('{"hooks": {}}\n')
    (repo / ".claude" / "commands" / "impl.md").write_text("Implement $ARGUMENTS\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "tracked settings")
    (repo / ".claude" / "settings.local.json").write_text('{"env": {}}\n')
    (repo / ".mcp.json").write_text(json.dumps({"mcpServers": {}}))
    (repo / ".taskmaster" / "tasks").mkdir(parents=True)
    (repo / ".taskmaster" / "tasks" / "tasks.json").write_text("{}")
    wt = worktrees.create(repo, "1", _base(repo))
    assert sorted(wt.provisioned) == [".claude/settings.local.json", ".mcp.json", ".taskmaster"]
    assert (wt.path / ".claude" / "settings.local.json").read_text() == '{"env": {}}\n'
    assert not (wt.path / ".mcp.json").is_symlink()
    assert (wt.path / ".taskmaster").resolve() == (repo / ".taskmaster").resolve()
    # copies are never evidence of work, nor committed
    assert _commit(wt, "nothing") is None
    (wt.path / "work.txt").write_text("done\n")
    sha = _commit(wt, "work")
    assert sha is not None
    assert git(wt.path, "show", "--name-only", "--format=", sha).split() == ["work.txt"]
    worktrees.finish(repo, wt, keep_branch=False)
    assert (repo / ".taskmaster" / "tasks" / "tasks.json").read_text() == "{}"


def test_create_commit_merge_and_finish(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    wt = worktrees.create(repo, "3.1", _base(repo))
    (wt.path / "feature.txt").write_text("feature\n")
    assert _commit(wt, "Add feature")
    message = git(wt.path, "log", "-1", "--format=%B")
    assert message.startswith("Add feature") and "Task: 3.1" in message
    result = worktrees.merge_back(repo, wt, "Merge task 3.1: feature")
    assert result.merged and result.commits == 1
    assert (repo / "feature.txt").read_text() == "feature\n"
    assert git(repo, "log", "-1", "--format=%s").strip() == "Merge task 3.1: feature"
    again = worktrees.merge_branch(repo, wt.branch, "3.1", "again")
    assert again.merged and again.commits == 0 and "already merged" in again.detail
    worktrees.finish(repo, wt, keep_branch=False)
    assert git(repo, "branch", "--list", "tmxd/*").strip() == ""
    assert str(wt.path) not in git(repo, "worktree", "list")


def test_merge_leaves_untouched_dirty_files_alone(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / "tasks.json").write_text("{}\n")
    git(repo, "add", "tasks.json")
    git(repo, "commit", "-q", "-m", "tasks")
    (repo / "tasks.json").write_text('{"dirty": true}\n')
    wt = worktrees.create(repo, "1", _base(repo))
    (wt.path / "code.py").write_text("x = 1\n")
    _commit(wt, "code")
    assert worktrees.merge_back(repo, wt, "merge").merged
    assert (repo / "tasks.json").read_text() == '{"dirty": true}\n'
    worktrees.finish(repo, wt, keep_branch=False)


def test_conflict_is_aborted_named_and_the_branch_kept(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    wt = worktrees.create(repo, "2", _base(repo))
    (wt.path / "README.md").write_text("from the task\n")
    _commit(wt, "task edit")
    (repo / "README.md").write_text("from main\n")
    git(repo, "commit", "-q", "-am", "main edit")
    head = git(repo, "rev-parse", "HEAD")
    result = worktrees.merge_back(repo, wt, "merge 2")
    assert not result.merged
    assert result.conflicts == ("README.md",)
    assert result.detail == "merging tmxd/task-2 conflicts in README.md"
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain").strip() == ""
    assert (repo / "README.md").read_text() == "from main\n"
    worktrees.finish(repo, wt, keep_branch=True)
    assert worktrees.branch_exists(repo, "tmxd/task-2")


def test_create_replaces_leftovers_and_reset_cleans(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    first = worktrees.create(repo, "4", _base(repo))
    (first.path / "junk.txt").write_text("left by a killed run\n")
    again = worktrees.create(repo, "4", _base(repo))
    assert again.path == first.path
    assert not (again.path / "junk.txt").exists()
    (again.path / "README.md").write_text("changed\n")
    (again.path / "new.txt").write_text("new\n")
    worktrees.reset(again, repo)
    assert git(again.path, "status", "--porcelain", "--untracked-files=all").strip() == ""
    worktrees.finish(repo, again, keep_branch=False)


def test_prune_removes_leftovers_but_keeps_work_in_hand(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    base = _base(repo)
    stale = worktrees.create(repo, "1", base)
    busy = worktrees.create(repo, "2", base)
    git(repo, "branch", "tmxd/task-3")  # a merge review's branch
    legacy = worktrees.legacy_base(repo) / "task-4"
    legacy.parent.mkdir(parents=True)
    git(repo, "worktree", "add", "-q", "-b", "tmxd/task-4", str(legacy))
    (base / "task-5").mkdir()  # a folder git forgot
    removed = worktrees.prune(repo, base, keep={"2", "3"})
    assert not stale.path.exists() and busy.path.exists() and not legacy.exists()
    assert not (base / "task-5").exists()
    branches = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/tmxd/")
    assert set(branches.split()) == {"tmxd/task-2", "tmxd/task-3"}
    assert "tmxd/task-1" in removed and str(legacy) in removed
    assert worktrees.present(repo, base) == [busy.path]
    worktrees.finish(repo, busy, keep_branch=False)


def test_require_repo(tmp_path: Path) -> None:
    empty = init_repo(tmp_path / "empty", commit=False)
    with pytest.raises(InputError, match="needs a git repository with a commit"):
        worktrees.require_repo(empty)
    worktrees.require_repo(init_repo(tmp_path / "ok"))


def test_merge_waits_for_a_busy_index(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    wt = worktrees.create(repo, "5", _base(repo))
    (wt.path / "five.txt").write_text("5\n")
    _commit(wt, "five")
    lock = repo / ".git" / "index.lock"
    lock.write_text("")
    timer = threading.Timer(0.5, lock.unlink)
    timer.start()
    result = worktrees.merge_back(repo, wt, "merge 5")
    timer.join()
    assert result.merged, result.detail
    worktrees.finish(repo, wt, keep_branch=False)


def _half_merged_task_8(tmp_path: Path) -> tuple[Path, worktrees.Worktree]:
    """A repository with autopilot's merge of task 8 started and not committed, as a
    killed run leaves it."""
    repo = init_repo(tmp_path / "repo")
    wt = worktrees.create(repo, "8", _base(repo))
    (wt.path / "eight.txt").write_text("8\n")
    _commit(wt, "eight")
    git(
        repo, "merge", "--no-ff", "--no-commit", "-m", "Merge task 8: eight\n\nTask: 8\n", wt.branch
    )
    return repo, wt


def test_a_half_done_merge_of_ours_is_aborted_and_others_are_kept(tmp_path: Path) -> None:
    repo, wt = _half_merged_task_8(tmp_path)
    assert worktrees.abort_stale_merge(repo, {"7"}) is None
    assert git(repo, "rev-parse", "-q", "--verify", "MERGE_HEAD", check=False).strip()
    assert worktrees.abort_stale_merge(repo, {"8"}) == "8"
    assert git(repo, "rev-parse", "-q", "--verify", "MERGE_HEAD", check=False).strip() == ""
    assert git(repo, "status", "--porcelain").strip() == ""
    worktrees.finish(repo, wt, keep_branch=False)


def test_a_merge_the_killed_runs_git_is_still_finishing_is_left_to_land(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tmxd was killed, its `git merge` child was not: it holds the index, so the abort
    fails; once that git has committed the merge there is nothing to abort."""
    repo, wt = _half_merged_task_8(tmp_path)
    lock = repo / ".git" / "index.lock"
    lock.write_text("")
    waits: list[float] = []

    def the_other_git_finishes(seconds: float) -> None:
        waits.append(seconds)
        lock.unlink()
        git(repo, "commit", "--no-edit")

    # only this module's waits (git's own retries wait on the real clock)
    monkeypatch.setattr(worktrees, "time", SimpleNamespace(sleep=the_other_git_finishes))
    assert worktrees.abort_stale_merge(repo, {"8"}) is None
    assert len(waits) == 1
    git(repo, "merge-base", "--is-ancestor", wt.branch, "HEAD")  # raises if it is not
    assert git(repo, "log", "-1", "--format=%s").strip() == "Merge task 8: eight"
    worktrees.finish(repo, wt, keep_branch=False)


def test_a_finished_worktree_is_kept_clean_and_reused(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    base = _base(repo)
    first = worktrees.create(repo, "1", base)
    (first.path / "work.txt").write_text("task 1\n")
    _commit(first, "task 1")
    assert worktrees.merge_back(repo, first, "merge 1").merged
    (first.path / "junk.pyc").write_text("ignored or not, it goes\n")
    worktrees.finish(repo, first, keep_branch=False)
    (spare,) = worktrees.spares(base)
    assert not first.path.exists() and worktrees.present(repo, base) == []
    assert git(spare, "status", "--porcelain", "--untracked-files=all").strip() == ""
    second = worktrees.create(repo, "2", base)
    assert worktrees.spares(base) == [] and second.path == base / "task-2"
    assert git(second.path, "rev-parse", "HEAD") == git(repo, "rev-parse", "HEAD")
    assert git(second.path, "rev-parse", "--abbrev-ref", "HEAD").strip() == "tmxd/task-2"
    assert (second.path / "work.txt").read_text() == "task 1\n"
    assert not (second.path / "junk.pyc").exists()
    worktrees.finish(repo, second, keep_branch=False)
    assert worktrees.prune(repo, base, set(), spares_kept=0) == []
    assert worktrees.spares(base) == []
    assert git(repo, "worktree", "list").count("\n") == 1


def test_a_merge_blocked_by_an_untracked_file_names_it_and_what_to_do(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    wt = worktrees.create(repo, "8", _base(repo))
    (wt.path / "eight.txt").write_text("from the task\n")
    _commit(wt, "eight")
    (repo / "eight.txt").write_text("the user's own, untracked\n")
    result = worktrees.merge_back(repo, wt, "merge 8")
    assert not result.merged
    assert result.detail == (
        f"merging tmxd/task-8 would overwrite untracked file(s) in {repo}: eight.txt"
    )
    assert result.fix == "move or delete it (or commit it on the current branch)"
    assert (repo / "eight.txt").read_text() == "the user's own, untracked\n"
    (repo / "eight.txt").unlink()
    assert worktrees.merge_back(repo, wt, "merge 8").merged
    worktrees.finish(repo, wt, keep_branch=False)


def test_a_task_in_review_keeps_its_worktree_on_its_branch_until_the_branch_goes(
    tmp_path: Path,
) -> None:
    """The conflict is resolved in the task's own worktree: no branch switch (and no stash)
    in the user's working tree. Removing the branch removes that worktree."""
    repo = init_repo(tmp_path / "repo")
    wt = worktrees.create(repo, "2", _base(repo))
    (wt.path / "README.md").write_text("from the task\n")
    _commit(wt, "task edit")
    (wt.path / "scratch.log").write_text("untracked leftovers go\n")
    worktrees.finish(repo, wt, keep_branch=True, review=True)
    assert worktrees.checked_out_at(repo, "tmxd/task-2") == wt.path
    assert git(wt.path, "status", "--porcelain").strip() == ""
    assert not (wt.path / "scratch.log").exists()
    assert worktrees.prune(repo, _base(repo), {"2"}) == []  # a review's worktree is kept
    worktrees.remove_branch(repo, "tmxd/task-2")
    assert not wt.path.exists() and not worktrees.branch_exists(repo, "tmxd/task-2")
    assert worktrees.checked_out_at(repo, "tmxd/task-2") is None
