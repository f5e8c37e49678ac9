"""gitio: clean environment, repository paths, commit details from real repositories."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from helpers import git, init_repo
from tmxd import git as tmxd_git
from tmxd.errors import InputError


def test_clean_env_drops_repository_variables_only() -> None:
    env = tmxd_git.clean_env(
        {
            "GIT_DIR": "/x",
            "GIT_INDEX_FILE": "/x/index",
            "GIT_CONFIG_KEY_0": "a",
            "GIT_AUTHOR_NAME": "Ada",
            "PATH": "/bin",
        }
    )
    assert env == {"GIT_AUTHOR_NAME": "Ada", "PATH": "/bin", "GIT_TERMINAL_PROMPT": "0"}


def test_run_git_ignores_a_hook_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = init_repo(tmp_path / "r")
    other = init_repo(tmp_path / "other")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    assert tmxd_git.repo_paths(repo).common_dir == (repo / ".git").resolve()


def test_repo_paths_and_errors(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    (repo / "sub").mkdir()
    paths = tmxd_git.repo_paths(repo / "sub")
    assert paths.toplevel == repo.resolve()
    assert paths.hooks_dir == (repo / ".git" / "hooks").resolve()
    with pytest.raises(InputError, match="not a git repository"):
        tmxd_git.repo_paths(tmp_path)
    with pytest.raises(InputError, match="no such directory"):
        tmxd_git.repo_paths(tmp_path / "missing")


def test_config_get_reports_scope(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    assert tmxd_git.config_get(repo, "core.hooksPath") is None
    git(repo, "config", "core.hooksPath", ".githooks")
    value = tmxd_git.config_get(repo, "core.hooksPath")
    assert value is not None and (value.scope, value.value) == ("local", ".githooks")


def test_commit_info_root_normal_and_merge(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    root = tmxd_git.commit_info(repo, "HEAD")
    assert (root.files, root.insertions, root.deletions, root.parents) == (1, 1, 0, ())
    assert root.subject == "initial commit" and root.author == "Ada Tester <ada@example.invalid>"
    git(repo, "commit", "-q", "--amend", "--no-edit", "--date", "2026-01-02T03:04:05Z")
    amended = tmxd_git.commit_info(repo, "HEAD")
    assert amended.authored_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert amended.committed_at != amended.authored_at  # an amend keeps only the author date
    git(repo, "checkout", "-q", "-b", "side")
    (repo / "s.txt").write_text("1\n2\n3\n")
    git(repo, "add", "s.txt")
    git(repo, "commit", "-q", "-m", "side")
    git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text("changed\n")
    (repo / "bin.dat").write_bytes(b"\0\1\2")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "main work\n\nbody line\n\nTask: 1")
    info = tmxd_git.commit_info(repo, "HEAD")
    assert (info.files, info.insertions, info.deletions) == (2, 1, 1)  # binary: no lines
    assert sorted(info.paths) == ["README.md", "bin.dat"]
    assert info.message == "main work\n\nbody line\n\nTask: 1"
    git(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    merge = tmxd_git.commit_info(repo, "HEAD")
    assert len(merge.parents) == 2
    assert (merge.files, merge.insertions) == (1, 3)  # against the first parent
    assert merge.paths == ("s.txt",)
    assert tmxd_git.commit_exists(repo, merge.sha)
    assert not tmxd_git.commit_exists(repo, "0" * 40)
    with pytest.raises(tmxd_git.GitError):
        tmxd_git.commit_info(repo, "0" * 40)


def test_non_utf8_messages_are_decoded(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    (repo / "a").write_text("a")
    git(repo, "add", "a")
    subprocess.run(
        ["git", "commit", "-q", "-F", "-"],
        cwd=repo,
        input="caf\xe9 latin-1 [2]\n".encode("latin-1"),
        check=True,
        env=os.environ,
    )
    assert tmxd_git.commit_info(repo, "HEAD").subject == "café latin-1 [2]"
    git(repo, "config", "i18n.commitEncoding", "ISO-8859-1")
    (repo / "b").write_text("b")
    git(repo, "add", "b")
    subprocess.run(
        ["git", "commit", "-q", "-F", "-"], cwd=repo, input="na\xefve".encode("latin-1"), check=True
    )
    assert tmxd_git.commit_info(repo, "HEAD").subject == "naïve"


def test_head_on_an_unborn_branch(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r", commit=False)
    assert tmxd_git.head(repo) is None
    (repo / "a").write_text("a")
    git(repo, "add", "a")
    git(repo, "commit", "-q", "-m", "a")
    assert tmxd_git.head(repo) == git(repo, "rev-parse", "HEAD").strip()
