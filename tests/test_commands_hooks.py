"""`tmxd hooks install|uninstall|status` through the real CLI process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import git, init_repo, run_tmxd


def test_install_status_uninstall_round_trip(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    installed = run_tmxd("hooks", "install", "-p", str(repo))
    assert installed.returncode == 0, installed.stderr
    assert "post-commit         installed" in installed.stdout
    (repo / "a").write_text("a")
    git(repo, "add", "a")
    git(repo, "commit", "-q", "-m", "one [1]")
    status = run_tmxd("hooks", "status", "--format", "json", cwd=repo)
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["hooks"] == {
        "post-commit": "installed",
        "post-merge": "installed",
        "post-checkout": "installed",
        "post-rewrite": "installed",
        "prepare-commit-msg": "missing",
    }
    assert data["pending"] == 1
    text = run_tmxd("hooks", "status", cwd=repo).stdout
    assert "1 unprocessed line(s)" in text and "tmxd sync" in text
    removed = run_tmxd("hooks", "uninstall", cwd=repo)
    assert removed.returncode == 0
    assert "post-commit         removed" in removed.stdout
    assert not (repo / ".git" / "hooks" / "post-commit").exists()


def test_suggest_trailer_installs_prepare_commit_msg(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    out = run_tmxd("hooks", "install", "--suggest-trailer", cwd=repo)
    assert "prepare-commit-msg  installed" in out.stdout


def test_errors_are_one_line_with_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = run_tmxd("hooks", "install", cwd=tmp_path)
    assert outside.returncode == 2
    assert outside.stderr.startswith("error: ") and outside.stderr.count("\n") == 1
    repo = init_repo(tmp_path / "r")
    cfg = tmp_path / "global.gitconfig"
    cfg.write_text(f"[core]\n\thooksPath = {tmp_path / 'shared'}\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(cfg))
    refused = run_tmxd("hooks", "install", cwd=repo)
    assert refused.returncode == 1
    assert "--force" in refused.stderr and "Traceback" not in refused.stderr
    forced = run_tmxd("hooks", "install", "--force", cwd=repo)
    assert forced.returncode == 0
    assert (tmp_path / "shared" / "post-commit").is_file()


def test_status_says_pending_commits_wait_for_an_invalid_tasks_json(tmp_path: Path) -> None:
    from helpers import copy_corpus

    repo = init_repo(tmp_path / "r")
    tasks = copy_corpus("001", repo)
    assert run_tmxd("hooks", "install", cwd=repo).returncode == 0
    tasks.write_text("{")
    (repo / "a").write_text("a")
    git(repo, "add", "a")
    git(repo, "commit", "-q", "-m", "one [1]")
    text = run_tmxd("hooks", "status", cwd=repo).stdout
    assert "they wait for tasks.json: .taskmaster/tasks/tasks.json: line 1" in text
    assert "noted once it reads again" in text and "tmxd sync" not in text
