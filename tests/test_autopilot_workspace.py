"""Snapshots of a working tree: the evidence of change, patches, undo and precise commits."""

from __future__ import annotations

from pathlib import Path

from helpers import git, init_repo
from tmxd.autopilot import workspace

TASKS = ".taskmaster/tasks/tasks.json"


def _repo(tmp_path: Path) -> Path:
    repo = init_repo(tmp_path / "repo")
    (repo / ".taskmaster" / "tasks").mkdir(parents=True)
    (repo / TASKS).write_text("{}\n")
    (repo / "kept.txt").write_text("kept\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "files")
    return repo


def _snap(repo: Path) -> workspace.Snapshot:
    return workspace.snapshot(repo, [TASKS], repo.parent / "scratch")


def test_a_snapshot_sees_untracked_files_and_never_touches_the_index(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / "README.md").write_text("staged by the user\n")
    git(repo, "add", "README.md")
    before = _snap(repo)
    index = git(repo, "write-tree")
    (repo / "new.txt").write_text("new\n")
    (repo / TASKS).write_text('{"status": "tmxd writes this"}\n')
    after = _snap(repo)
    assert git(repo, "write-tree") == index
    assert workspace.changed(before, after)
    assert workspace.changed_paths(repo, before, after) == ["new.txt"]
    assert workspace.changed_paths(repo, after, _snap(repo)) == []


def test_restore_puts_back_only_what_changed(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / "kept.txt").write_text("the user's edit\n")
    (repo / "mine.txt").write_text("untracked, the user's\n")
    before = _snap(repo)
    (repo / "kept.txt").write_text("the agent's edit\n")
    (repo / "deep" / "er").mkdir(parents=True)
    (repo / "deep" / "er" / "x.py").write_text("x\n")
    (repo / "README.md").unlink()
    git(repo, "add", "kept.txt")  # the agent staged, then committed something else
    (repo / "c.txt").write_text("c\n")
    git(repo, "add", "c.txt")
    git(repo, "commit", "-q", "-m", "agent commit", "--", "c.txt")
    after = _snap(repo)
    patch = workspace.save_patch(repo, before, after, tmp_path / "p" / "a.patch")
    assert patch is not None and "deep/er/x.py" in patch.read_text()
    restored = workspace.restore(repo, before, after)
    assert sorted(restored) == ["README.md", "c.txt", "deep/er/x.py", "kept.txt"]
    assert (repo / "kept.txt").read_text() == "the user's edit\n"
    assert (repo / "mine.txt").read_text() == "untracked, the user's\n"
    assert (repo / "README.md").exists() and not (repo / "deep").exists()
    assert not (repo / "c.txt").exists()
    assert git(repo, "rev-parse", "HEAD").strip() == before.head
    assert git(repo, "write-tree").strip() == before.index_tree
    assert workspace.changed_paths(repo, before, _snap(repo)) == []


def test_restore_never_takes_back_a_merge_someone_else_made(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    git(repo, "branch", "side")
    before = _snap(repo)
    git(repo, "checkout", "-q", "side")
    (repo / "side.txt").write_text("side\n")
    git(repo, "add", "side.txt")
    git(repo, "commit", "-q", "-m", "side")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge side", "side")
    after = _snap(repo)
    workspace.restore(repo, before, after)
    assert git(repo, "log", "-1", "--format=%s").strip() == "Merge side"


def test_commit_takes_exactly_the_attempts_paths(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / "README.md").write_text("the user's, staged\n")
    git(repo, "add", "README.md")
    (repo / "mine.txt").write_text("the user's, untracked\n")
    before = _snap(repo)
    (repo / "feature.py").write_text("feature = 1\n")
    (repo / "kept.txt").unlink()
    (repo / TASKS).write_text('{"tmxd": "status"}\n')
    after = _snap(repo)
    sha = workspace.commit(repo, before, after, "Add the feature\n\nTask: 3\n")
    assert sha is not None
    files = git(repo, "show", "--name-status", "--format=%s%n%b", sha)
    assert files.split() == [
        "Add",
        "the",
        "feature",
        "Task:",
        "3",
        "A",
        "feature.py",
        "D",
        "kept.txt",
    ]
    assert git(repo, "diff", "--cached", "--name-only").split() == ["README.md"]
    status = git(repo, "status", "--porcelain").splitlines()
    assert sorted(status) == [f" M {TASKS}", "?? mine.txt", "M  README.md"]
    assert workspace.commit(repo, before, after, "again") is None  # nothing left of it


def test_dirty_counts_tracked_changes_outside_the_given_folders(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / "untracked.txt").write_text("u\n")
    (repo / TASKS).write_text('{"changed": true}\n')
    assert workspace.dirty(repo, [".taskmaster/"]) == []
    (repo / "kept.txt").write_text("edited\n")
    git(repo, "mv", "README.md", "READ.md")
    assert sorted(workspace.dirty(repo, [".taskmaster/"])) == ["READ.md", "kept.txt"]
