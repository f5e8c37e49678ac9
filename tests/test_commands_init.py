from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers import copy_corpus, init_repo, run_tmxd, subprocess_env, tmxd_argv

SECRETS = {
    "ANTHROPIC_API_KEY": "sk-test-secret-123",
    "PERPLEXITY_API_KEY": "pplx-test-secret-456",
    "OPENAI_API_KEY": "sk-openai-test-789",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = init_repo(tmp_path / "proj")
    copy_corpus("001", root)
    return root


def tmxd(project: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_tmxd(*args, cwd=project, env=SECRETS, input=stdin)


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}


def test_init_writes_files_and_never_a_secret(project: Path) -> None:
    proc = tmxd(project, "init", "--yes")
    assert proc.returncode == 0, proc.stderr
    for name in (".mcp.json", ".claude/settings.json", ".taskmaster/tmxd.toml"):
        assert f"{name}: created" in proc.stdout
    written = snapshot(project)
    assert len(written) >= 6
    for path, data in written.items():
        for value in SECRETS.values():
            assert value.encode() not in data, f"{path} contains a secret"
    mcp = json.loads((project / ".mcp.json").read_text())
    assert mcp["mcpServers"]["task-master-ai"]["env"]["ANTHROPIC_API_KEY"] == "${ANTHROPIC_API_KEY}"


def test_second_init_changes_nothing(project: Path) -> None:
    assert tmxd(project, "init", "--yes").returncode == 0
    before = snapshot(project)
    proc = tmxd(project, "init")  # nothing to change: no --yes needed
    assert proc.returncode == 0, proc.stderr
    assert "created" not in proc.stdout and "updated" not in proc.stdout
    assert ".mcp.json: unchanged" in proc.stdout
    assert snapshot(project) == before
    dry = tmxd(project, "init", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would" not in dry.stdout, dry.stdout
    assert "tmxd hooks install: unchanged: the git hooks are installed" in dry.stdout
    assert "unchanged: the project is registered" in dry.stdout
    plan = json.loads(tmxd(project, "init", "--dry-run", "--format", "json").stdout)
    assert {f["action"] for f in plan["files"]} == {"unchanged"}
    assert {s["message"].split(":")[0] for s in plan["steps"]} == {"unchanged"}
    assert len(plan["steps"]) == 3  # hooks, merge driver, registration
    assert snapshot(project) == before


def test_dry_run_json(project: Path) -> None:
    before = snapshot(project)
    proc = tmxd(project, "init", "--dry-run", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["dry_run"] is True and plan["root"] == str(project.resolve())
    files = {f["path"]: f for f in plan["files"]}
    assert files[".mcp.json"]["action"] == "create"
    assert "+++ b/.mcp.json" in files[".mcp.json"]["diff"]
    assert [s["message"] for s in plan["steps"]] == [
        "would install the git hooks",
        "would route tasks.json to `tmxd merge-driver`",
        "would register the project with the daemon",
    ]
    assert snapshot(project) == before


def test_dry_run_prints_diffs_and_writes_nothing(project: Path) -> None:
    before = snapshot(project)
    proc = tmxd(project, "init", "--dry-run", "--with", "git")
    assert proc.returncode == 0, proc.stderr
    for name in (
        ".mcp.json",
        ".claude/settings.json",
        ".claude/commands/taskmaster-workflow.md",
        ".claude/commands/taskmaster-debug.md",
        ".taskmaster/tmxd.toml",
    ):
        assert f"+++ b/{name}\n" in proc.stdout
        assert f"{name}: would create" in proc.stdout
    assert '+  "mcpServers": {' in proc.stdout
    assert '"mcp-server-git"' in proc.stdout
    assert snapshot(project) == before


def test_invalid_settings_is_reported_and_nothing_written(project: Path) -> None:
    settings = project / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{"hooks": {"Stop": [}}\n')
    before = snapshot(project)
    proc = tmxd(project, "init", "--yes")
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {settings}: line 1 column 21: Expecting value")
    assert "Traceback" not in proc.stderr
    assert snapshot(project) == before


def test_without_yes_on_a_pipe_refuses(project: Path) -> None:
    proc = tmxd(project, "init")
    assert proc.returncode == 2
    assert "pass --yes" in proc.stderr
    assert not (project / ".mcp.json").exists()


def test_outside_a_project_is_usage_error(tmp_path: Path) -> None:
    proc = tmxd(tmp_path, "init", "--yes")
    assert proc.returncode == 2
    assert "not a Task Master project" in proc.stderr


def test_hook_claude_at_a_terminal_explains_itself(project: Path) -> None:
    """A real process: its stdin is a terminal, which only a process of its own can have."""
    import os
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            tmxd_argv("hook", "claude"),
            cwd=project,
            env=subprocess_env(),
            stdin=slave,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(slave)
        os.close(master)
    assert (proc.returncode, proc.stdout) == (0, "")
    assert "reads a Claude Code hook event as JSON on stdin" in proc.stderr


def test_init_outside_git_registers_the_project_and_says_why_hooks_were_skipped(
    tmp_path: Path,
) -> None:
    """A Task Master project need not be a git repository: init does all it can, says in
    one line that commits cannot be linked without git, and succeeds."""
    from tmxd.daemon import registry

    root = tmp_path / "nogit"
    copy_corpus("001", root)
    line = (
        f"git hooks and merge driver: skipped: {root} is not in a git repository, so commits "
        "cannot be linked to tasks (after `git init`, run `tmxd hooks install`)"
    )
    dry = tmxd(root, "init", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert line in dry.stdout.splitlines()
    proc = tmxd(root, "init", "--yes")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert line in proc.stdout.splitlines()
    assert "failed" not in proc.stdout and "not a git repository" not in proc.stdout
    assert root.resolve() in [p.resolve() for p in registry.list_projects()]
    assert not (root / ".gitattributes").exists() and (root / ".mcp.json").exists()
    steps = json.loads(tmxd(root, "init", "--dry-run", "--format", "json").stdout)["steps"]
    assert steps[0]["name"] == "git hooks and merge driver"
