"""tmxd doctor's MCP check: real servers started from .mcp.json, as Claude Code starts them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ORACLE_DIR, SOURCE_ROOT, copy_corpus, oracle_missing
from tmxd.setup import doctor, scaffold
from tmxd.setup.mcp_probe import expand, launch, probe_servers

TASK_MASTER = ORACLE_DIR / "node_modules" / "task-master-ai" / "dist" / "mcp-server.js"


def tmxd_entry() -> dict[str, object]:
    """This checkout's tmxd, started the way an entry for `python -m tmxd` would be."""
    return {
        "type": "stdio",
        "command": sys.executable,
        "args": ["-m", "tmxd", "mcp"],
        "env": {"PYTHONPATH": str(SOURCE_ROOT)},
    }


def test_expansion_follows_claude_codes_rules() -> None:
    env = {"HOME": "/home/ada", "EMPTY": ""}
    assert expand("${HOME}/bin", env) == "/home/ada/bin"
    assert expand("${NOPE:-/usr/bin}/x", env) == "/usr/bin/x"
    assert expand("${EMPTY:-fallback}", env) == "fallback"
    assert expand("${NOPE}", env) == "${NOPE}"  # unset, no default: left as written


def test_launch_sets_the_project_folder_and_keeps_npm_offline(tmp_path: Path) -> None:
    entry = {"command": "${PY:-python3}", "args": ["-m", "${MOD}"], "env": {"K": "${SECRET}"}}
    command, args, env = launch(entry, tmp_path, {"MOD": "tmxd", "SECRET": "s3"})
    assert (command, args) == ("python3", ["-m", "tmxd"])
    assert env["K"] == "s3" and env["CLAUDE_PROJECT_DIR"] == str(tmp_path)
    assert env["npm_config_offline"] == "true"


def test_probe_lists_tools_and_calls_next_task(tmp_path: Path) -> None:
    copy_corpus("133", tmp_path)
    broken = {"type": "stdio", "command": sys.executable, "args": ["-c", "import sys; sys.exit(3)"]}
    ours, dead = probe_servers(
        [("tmxd", tmxd_entry()), ("dead", broken)], tmp_path, {"PATH": "/usr/bin:/bin"}
    )
    assert ours.ok, ours.detail
    assert ours.next_task == "11.3" and "next_task" in ours.tools and len(ours.tools) == 10
    assert ours.detail.startswith("10 tools, next_task → 11.3 in ")
    assert not dead.ok and "did not answer" in dead.detail


@pytest.mark.skipif(oracle_missing() is not None, reason=str(oracle_missing()))
def test_probe_starts_task_masters_server_too(tmp_path: Path) -> None:
    copy_corpus("133", tmp_path)
    entry = {
        "type": "stdio",
        "command": "node",
        "args": [str(TASK_MASTER)],
        "env": {"TASK_MASTER_TOOLS": "next_task,get_task", "HOME": str(tmp_path / "home")},
    }
    (theirs,) = probe_servers([("task-master-ai", entry)], tmp_path, dict(os.environ))
    assert theirs.ok, theirs.detail
    assert set(theirs.tools) == {"next_task", "get_task"}
    assert theirs.next_task == "11.3"


def project_with_mcp(tmp_path: Path, servers: dict[str, object]) -> doctor.Context:
    copy_corpus("001", tmp_path)
    (tmp_path / ".mcp.json").write_text(json.dumps({"mcpServers": servers}))
    ctx = doctor.Context(explicit=tmp_path)
    assert doctor.check_project(ctx).status == "ok"
    return ctx


def test_doctor_passes_with_a_working_tmxd_server(tmp_path: Path) -> None:
    ctx = project_with_mcp(tmp_path, {"tmxd": tmxd_entry()})
    ctx.env["PATH"] = str(tmp_path / "no-node")  # Task Master's server is not even tried
    result = doctor.check_mcp_servers(ctx)
    assert result.status == "ok", result
    assert result.summary.startswith("tmxd: 10 tools, next_task → ")


def test_doctor_fails_a_broken_tmxd_entry_and_warns_for_task_master(tmp_path: Path) -> None:
    ctx = project_with_mcp(
        tmp_path,
        {
            "tmxd": {"type": "stdio", "command": str(tmp_path / "gone" / "tmxd"), "args": ["mcp"]},
            "task-master-ai": tmxd_entry(),
        },
    )
    result = doctor.check_mcp_servers(ctx)
    assert result.status == "fail"
    assert "tmxd: `" in result.summary and "did not answer" in result.summary
    assert "task-master-ai: 10 tools" in result.summary
    assert "`tmxd init` rewrites the entry" in result.fix
    ctx = project_with_mcp(
        tmp_path,
        {"tmxd": tmxd_entry(), "task-master-ai": {"command": "false", "args": []}},
    )
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "node").symlink_to("/bin/true")  # Node "is installed"; the server itself fails
    ctx.env["PATH"] = f"{shims}:/usr/bin:/bin"
    warned = doctor.check_mcp_servers(ctx)
    assert warned.status == "warn", warned
    assert "tmxd: 10 tools" in warned.summary and "task-master-ai: `false`" in warned.summary
    assert "npx -y task-master-ai" in warned.fix


def test_doctor_after_init_names_both_servers(tmp_path: Path) -> None:
    copy_corpus("001", tmp_path)
    scaffold.apply(scaffold.plan(tmp_path).changes)
    ctx = doctor.Context(explicit=tmp_path)
    doctor.check_project(ctx)
    result = doctor.check_mcp_servers(ctx)
    assert result.status in ("ok", "warn")  # Task Master's npx server is not cached here
    assert result.summary.startswith("tmxd: 10 tools, next_task → ")
    skipped = doctor.check_mcp_servers(doctor.Context(explicit=tmp_path))
    assert skipped.status == "warn" and "not checked" in skipped.summary


def test_launch_keeps_npm_logs_out_of_the_users_folder(tmp_path: Path) -> None:
    entry = {"command": "npx", "args": ["-y", "task-master-ai"]}
    _, _, plain = launch(entry, tmp_path, {})
    assert "npm_config_logs_max" not in plain  # never logs-max=0 alone: npm would prune
    _, _, env = launch(entry, tmp_path, {"npm_config_logs_max": "10"}, tmp_path / "logs")
    assert env["npm_config_logs_max"] == "0"
    assert env["npm_config_logs_dir"] == str(tmp_path / "logs")


@pytest.mark.skipif(shutil.which("npx") is None, reason="npx is not installed")
def test_probing_an_npx_server_leaves_no_npm_log(tmp_path: Path) -> None:
    """`tmxd doctor` starts Task Master's server with npx: npm writes a debug log into
    ~/.npm/_logs for a failed run (the control below shows it does), the probe makes it
    write none — and leaves the logs already there alone."""
    home = tmp_path / "home"
    logs = home / ".npm" / "_logs"
    logs.mkdir(parents=True)
    old = logs / "2020-01-01T00_00_00_000Z-debug-0.log"
    old.write_text("the user's\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(home)}
    missing = "tmxd-probe-no-such-package-0"  # offline and not cached: npx fails at once
    control = subprocess.run(
        ["npx", "-y", missing],
        env={**env, "npm_config_offline": "true"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert control.returncode != 0
    written = set(logs.iterdir()) - {old}
    assert written, control.stderr  # npm does log a failed run
    for path in written:
        path.unlink()
    copy_corpus("001", tmp_path)
    (probe,) = probe_servers([("npx", {"command": "npx", "args": ["-y", missing]})], tmp_path, env)
    assert not probe.ok
    assert "only-if-cached" in probe.detail, probe.detail  # npm's own error, not the log line
    assert sorted(logs.iterdir()) == [old] and old.read_text() == "the user's\n"
