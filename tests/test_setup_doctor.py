from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from daemonproc import DaemonProcess
from helpers import copy_corpus, git, init_repo, run_tmxd
from tmxd.setup import doctor, scaffold
from tmxd.setup.doctor import Context


def make_shims(folder: Path, *names: str) -> str:
    """A PATH holding executables with these names (doctor only looks them up)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        exe = folder / name
        exe.write_text("#!/bin/sh\nexit 0\n")
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"


@dataclass
class Setup:
    root: Path
    daemon: DaemonProcess


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    """A healthy project: `tmxd init` done, hooks installed, a daemon watching it."""
    root = init_repo(tmp_path / "proj")
    copy_corpus("001", root)
    scaffold.apply(scaffold.plan(root).changes)
    assert scaffold.install_git_hooks(root).ok
    assert scaffold.register_project(root).ok
    # the daemon gets its own metrics file, so the faults below break only what doctor reads
    daemon = DaemonProcess(
        tmp_path / "daemon.log", env={"TMXD_DB": str(tmp_path / "daemon-metrics.db")}
    ).start()
    monkeypatch.chdir(root)
    monkeypatch.setenv("PATH", make_shims(tmp_path / "bin", "tmxd", "claude", "task-master", "npx"))
    yield Setup(root, daemon)
    daemon.stop()


@pytest.fixture
def healthy(setup: Setup) -> Path:
    return setup.root


def context(root: Path, tmp_path: Path) -> Context:
    inotify = tmp_path / "inotify"
    inotify.mkdir(exist_ok=True)
    (inotify / "max_user_watches").write_text("524288\n")
    (inotify / "max_user_instances").write_text("512\n")
    return Context(explicit=root, inotify_dir=inotify)


def failing(results: list[doctor.CheckResult]) -> list[str]:
    return [r.name for r in results if r.status == "fail"]


def test_healthy_project_has_no_failures(healthy: Path, tmp_path: Path) -> None:
    results = doctor.run_checks(ctx=context(healthy, tmp_path))
    assert failing(results) == []
    by_name = {r.name: r for r in results}
    assert set(by_name) == {name for name, _ in doctor.CHECKS}
    for name in (
        "config",
        ".mcp.json",
        ".claude/settings.json",
        "tools on PATH",
        "autopilot worktrees",
        "inotify",
        "log",
    ):
        assert by_name[name].status == "ok", by_name[name]


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def remove_tasks(s: Setup) -> None:
    (s.root / ".taskmaster" / "tasks" / "tasks.json").unlink()


def corrupt_tasks(s: Setup) -> None:
    write(s.root / ".taskmaster" / "tasks" / "tasks.json", '{\n  "master": {"tasks": [}\n')


def break_dependencies(s: Setup) -> None:
    path = s.root / ".taskmaster" / "tasks" / "tasks.json"
    data = json.loads(path.read_text())
    tasks = next(iter(data.values()))["tasks"] if "tasks" not in data else data["tasks"]
    tasks[0]["dependencies"] = [*tasks[0].get("dependencies", []), 999]
    write(path, json.dumps(data, indent=2))


def break_config(s: Setup) -> None:
    write(s.root / ".taskmaster" / "tmxd.toml", "[init]\nhook_timout = 3\n")


def break_notify_config(s: Setup) -> None:
    write(s.root / ".taskmaster" / "tmxd.toml", '[notify]\non = ["task-done"]\n')


def remove_git_hook(s: Setup) -> None:
    (s.root / ".git" / "hooks" / "post-commit").unlink()


def shadow_git_hooks(s: Setup) -> None:
    git(s.root, "config", "core.hooksPath", ".githooks")


def stop_daemon(s: Setup) -> None:
    s.daemon.stop()


def unwatch_project(s: Setup) -> None:
    from tmxd.daemon import control, registry

    assert registry.remove_project(s.root)
    control.request("reload", timeout=30)


def break_metrics(s: Setup) -> None:
    write(Path(os.environ["TMXD_DB"]), "this is not a database, just text " * 200)


def break_mcp_json(s: Setup) -> None:
    write(s.root / ".mcp.json", '{"mcpServers": {"task-master-ai": {"command": "npx",}}}')


def break_mcp_shape(s: Setup) -> None:
    write(s.root / ".mcp.json", '{"mcpServers": {"remote": {"url": "http://127.0.0.1:9/mcp"}}}')


def break_settings_json(s: Setup) -> None:
    write(s.root / ".claude" / "settings.json", "{\n  hooks: {}\n}\n")


def break_settings_shape(s: Setup) -> None:
    path = s.root / ".claude" / "settings.json"
    data = json.loads(path.read_text())
    data["permissions"]["allow"] = "Write"
    write(path, json.dumps(data))


def worktrees_inside_git(s: Setup) -> None:
    write(s.root / ".taskmaster" / "tmxd.toml", '[autopilot]\nworktree_dir = ".git/wt"\n')


FAULTS: list[tuple[Callable[[Setup], None], str, str]] = [
    (remove_tasks, "project", "task-master init"),
    (corrupt_tasks, "project", "line 2 column 24"),
    (break_dependencies, "dependencies", "depends on non-existent task 999"),
    (break_config, "config", "tmxd.toml"),
    (break_notify_config, "config", "unknown event 'task-done'"),
    (remove_git_hook, "git hooks", "post-commit missing"),
    (shadow_git_hooks, "git hooks", "core.hooksPath='.githooks'"),
    (stop_daemon, "daemon", "tmxd start"),
    (unwatch_project, "daemon", "tmxd watch add"),
    (break_metrics, "metrics", "metrics.db"),
    (break_mcp_json, ".mcp.json", "line 1 column 53"),
    (break_mcp_shape, ".mcp.json", '"type": "http"'),
    (break_settings_json, ".claude/settings.json", "line 2 column 3"),
    (break_settings_shape, ".claude/settings.json", "permissions.allow must be a list"),
    (worktrees_inside_git, "autopilot worktrees", "inside the repository's .git folder"),
]


@pytest.mark.parametrize(("fault", "check", "detail"), FAULTS, ids=[f[0].__name__ for f in FAULTS])
def test_each_fault_fails_exactly_its_check(
    setup: Setup, tmp_path: Path, fault: Callable[[Setup], None], check: str, detail: str
) -> None:
    fault(setup)
    results = doctor.run_checks(ctx=context(setup.root, tmp_path))
    assert failing(results) == [check], [r for r in results if r.status != "ok"]
    result = next(r for r in results if r.name == check)
    assert detail in result.summary + result.fix
    assert result.fix


def test_spool_backlog_fails_until_synced(tmp_path: Path) -> None:
    from tmxd import git as tmxd_git
    from tmxd.clock import now
    from tmxd.commits import spool

    root = init_repo(tmp_path / "proj")
    copy_corpus("001", root)
    ctx = _found(root, tmp_path)
    assert doctor.check_spool(ctx).status == "ok"
    common = tmxd_git.repo_paths(root).common_dir
    queue = spool.Spool(common)
    queue.ensure()
    head = git(root, "rev-parse", "HEAD").strip()
    record = spool.SpoolRecord(
        "post-checkout", now() - timedelta(minutes=10), head, "refs/heads/main",
        ("0" * 40, head, "1"), (), common,
    )  # fmt: skip
    with open(queue.active, "a") as fh:
        fh.write(spool.format_line(record) + "\n")
    result = doctor.check_spool(ctx)
    assert result.status == "fail"
    assert result.summary.startswith("1 hook event(s) waiting in ")
    assert "tmxd sync" in result.fix
    proc = run_tmxd("sync", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert doctor.check_spool(ctx).status == "ok"


def test_unknown_hook_names_and_legacy_keys_warn(healthy: Path, tmp_path: Path) -> None:
    path = healthy / ".claude" / "settings.json"
    data = json.loads(path.read_text())
    data["hooks"]["afterCommit"] = [{"hooks": [{"type": "command", "command": "true"}]}]
    path.write_text(json.dumps(data))
    result = doctor.check_claude_settings(_found(healthy, tmp_path))
    assert result.status == "warn"
    assert "afterCommit is not a Claude Code hook event" in result.summary


def _found(root: Path, tmp_path: Path) -> Context:
    ctx = context(root, tmp_path)
    ctx.root = root
    return ctx


def test_worktrees_of_an_older_tmxd_inside_git_warn(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "proj")
    copy_corpus("001", root)
    legacy = root / ".git" / "tmxd" / "worktrees" / "task-3"
    legacy.parent.mkdir(parents=True)
    git(root, "worktree", "add", "-q", "-b", "tmxd/task-3", str(legacy))
    result = doctor.check_worktrees(_found(root, tmp_path))
    assert result.status == "warn"
    assert result.summary.startswith("1 worktree(s) of an older tmxd inside .git")
    assert "the next `tmxd autopilot` removes them" in result.fix


def test_low_inotify_limits_warn(tmp_path: Path) -> None:
    ctx = context(tmp_path, tmp_path)
    (ctx.inotify_dir / "max_user_watches").write_text("8192\n")
    result = doctor.check_inotify(ctx)
    assert result.status == "warn"
    assert "max_user_watches=8192" in result.summary
    assert "sysctl" in result.fix


def test_recent_log_errors_warn(tmp_path: Path) -> None:
    log = doctor.log_path()
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(
        "2020-01-01T00:00:00+00:00 ERROR old problem\n"
        f"{doctor.clock.now().isoformat()} ERROR tmxd.engine: cannot read tasks.json\n"
    )
    result = doctor.check_log(context(tmp_path, tmp_path))
    assert result.status == "warn"
    assert result.summary.startswith("1 error(s) in the last 24 h")
    assert "cannot read tasks.json" in result.summary


def test_missing_tools_only_warn(tmp_path: Path) -> None:
    ctx = context(tmp_path, tmp_path)
    ctx.env = {"PATH": str(tmp_path / "empty")}
    result = doctor.check_tools(ctx)
    assert result.status == "warn"
    assert "claude, task-master, npx" in result.summary


def test_cli_json_format_and_exit_code(healthy: Path) -> None:
    (healthy / ".mcp.json").write_text("{")
    proc = run_tmxd("doctor", "--format", "json", cwd=healthy)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is False
    mcp = next(c for c in report["checks"] if c["name"] == ".mcp.json")
    assert mcp["status"] == "fail"
    assert set(mcp) == {"name", "status", "summary", "fix"}


def test_cli_text_prints_fix_lines(setup: Setup) -> None:
    break_config(setup)
    proc = run_tmxd("doctor", cwd=setup.root)
    assert proc.returncode == 1
    assert "fail config: " in proc.stdout
    assert "     fix: edit " in proc.stdout


def test_daemon_not_running_says_its_fix_once(tmp_path: Path) -> None:
    result = doctor.check_daemon(context(tmp_path, tmp_path))
    assert result.status == "fail"
    assert result.summary.startswith("not running (nothing listens on ")
    assert "tmxd start" not in result.summary
    assert result.fix.count("tmxd start") == 1


def test_missing_mcp_launchers_get_their_own_fix(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "proj")
    write(
        root / ".mcp.json",
        json.dumps(
            {
                "mcpServers": {
                    "task-master-ai": {"command": "npx", "args": ["-y", "task-master-ai"]},
                    "fetch": {"command": "uvx", "args": ["mcp-server-fetch"]},
                }
            }
        ),
    )
    ctx = _found(root, tmp_path)
    ctx.env = {"PATH": make_shims(tmp_path / "bin", "npx").split(os.pathsep)[0]}
    result = doctor.check_mcp_json(ctx)
    assert result.status == "warn"
    assert "uvx not on PATH" in result.summary
    assert "install uv" in result.fix and "Node.js" not in result.fix


def test_configured_claude_bin_is_what_tools_checks(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "proj")
    copy_corpus("001", root)
    claude = tmp_path / "opt" / "claude-code" / "claude"
    make_shims(claude.parent, "claude")
    write(root / ".taskmaster" / "tmxd.toml", f'[autopilot]\nclaude_bin = "{claude}"\n')
    ctx = _found(root, tmp_path)
    ctx.env = {"PATH": make_shims(tmp_path / "bin", "task-master", "npx").split(os.pathsep)[0]}
    result = doctor.check_tools(ctx)
    assert result.status == "ok", result
    assert str(claude) in result.summary
    claude.unlink()
    result = doctor.check_tools(ctx)
    assert result.status == "warn"
    assert f"not found: {claude}" in result.summary
    assert "claude_bin" in result.fix and "@anthropic-ai/claude-code" not in result.fix


def test_tmxd_not_on_path_fix_names_the_running_tmxd(
    healthy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _found(healthy, tmp_path)
    ctx.env = {"PATH": str(tmp_path / "empty")}
    result = doctor.check_claude_settings(ctx)
    assert result.status == "warn"
    assert "pipx install tmxd" not in result.fix
    import sys

    bin_dir = Path(sys.executable).parent
    if (bin_dir / "tmxd").is_file():
        assert str(bin_dir) in result.fix
    else:
        assert "pipx install " in result.fix


def test_service_check_reads_the_installed_units_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tmxd.daemon import service

    root = init_repo(tmp_path / "proj")
    copy_corpus("001", root)
    ctx = _found(root, tmp_path)
    assert doctor.check_service(ctx).summary.startswith("not installed")
    shell_path = make_shims(tmp_path / "npm-global" / "bin", "claude", "task-master")
    monkeypatch.setenv("PATH", shell_path)
    ctx.env = {"PATH": shell_path}
    plan = service.install_plan("systemd", enable=False)
    service.execute(plan)  # what `tmxd service install --no-enable` does
    result = doctor.check_service(ctx)
    assert result.status == "ok", result
    # a unit written before the tools were installed where they are now
    unit = service.systemd_unit_path()
    unit.write_text(unit.read_text().replace(f"{tmp_path / 'npm-global' / 'bin'}:", ""))
    result = doctor.check_service(ctx)
    assert result.status == "warn", result
    assert "claude, task-master found in your shell but not on the service's PATH" in result.summary
    assert "tmxd service install" in result.fix


def test_an_open_breaker_warns_with_the_command_that_closes_it(tmp_path: Path) -> None:
    import time

    from tmxd.autopilot import state
    from tmxd.autopilot.resilience import BreakerSnapshot, save_snapshot

    root = init_repo(tmp_path / "proj")
    copy_corpus("001", root)
    ctx = _found(root, tmp_path)
    assert doctor.check_breaker(ctx) == doctor.CheckResult("autopilot breaker", "ok", "closed")
    snap = BreakerSnapshot(state="open", failures=3, opened_at=time.time(), reason="no network")
    save_snapshot(state.breaker_path(root), snap)
    result = doctor.check_breaker(ctx)
    assert result.status == "warn" and "last failure: no network" in result.summary
    assert result.fix == (
        "fix the cause of the failures, then `tmxd autopilot --reset-breaker` "
        "(or let its trial run decide)"
    )


def test_the_autopilots_checks_and_their_tools(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "proj")
    copy_corpus("001", root)
    ctx = _found(root, tmp_path)
    assert doctor.check_autopilot_checks(ctx).summary.startswith("none detected yet")
    write(root / "tests" / "test_app.py", "def test_x():\n    pass\n")
    ctx.env = {"PATH": str(tmp_path / "empty-bin")}
    missing = doctor.check_autopilot_checks(ctx)
    assert missing.status == "warn"
    assert missing.summary.startswith("pytest: not found in a project virtualenv")
    assert missing.summary.endswith("(`tmxd autopilot` refuses to start)")
    assert missing.fix.startswith("`pip install pytest`")
    ctx.env = {"PATH": make_shims(tmp_path / "bin", "pytest")}
    found = doctor.check_autopilot_checks(ctx)
    assert found.status == "ok" and found.summary == f"pytest -q ({tmp_path / 'bin' / 'pytest'})"


def test_a_project_without_git_gets_a_warning_and_its_fix(tmp_path: Path) -> None:
    """A Task Master project outside git works (transitions, reports, MCP); only its
    commits cannot be linked: a warning that says how, not a failure without a fix."""
    root = tmp_path / "nogit"
    copy_corpus("001", root)
    ctx = _found(root, tmp_path)
    result = doctor.check_git_hooks(ctx)
    assert (result.status, result.fix) == ("warn", "`git init` there, then `tmxd hooks install`")
    assert result.summary == (
        f"{ctx.root} is not in a git repository: commits cannot be linked to its tasks"
    )


def test_doctor_names_the_renamed_keys(tmp_path: Path) -> None:
    from tmxd.setup import doctor

    cfg = tmp_path / ".taskmaster" / "tmxd.toml"
    cfg.parent.mkdir()
    cfg.write_text('[metrics]\ndaily_report_dir = "r"\n')
    ctx = doctor.Context(root=tmp_path)
    result = doctor.check_config(ctx)
    assert result.status == doctor.WARN
    assert "metrics.daily_report_dir -> report.dir" in result.summary
    cfg.write_text('[report]\ndir = "r"\n')
    assert doctor.check_config(ctx).status == doctor.OK


def test_the_agent_is_looked_up_on_the_running_daemon_s_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon was started from a shell without `claude`: its autopilot mode cannot
    start agents, though the shell running doctor finds `claude`."""
    root = init_repo(tmp_path / "proj")
    copy_corpus("001", root)
    write(root / ".taskmaster" / "tmxd.toml", "[autopilot]\nenabled = true\n")
    shell_path = make_shims(tmp_path / "bin", "claude", "task-master", "npx")
    daemon = DaemonProcess(
        tmp_path / "daemon.log", "--project", str(root), env={"PATH": "/usr/bin:/bin"}
    ).start()
    try:
        monkeypatch.setenv("PATH", shell_path)
        ctx = _found(root, tmp_path)
        assert doctor.check_tools(ctx).status == "ok"  # the shell finds claude
        result = doctor.check_daemon(ctx)
    finally:
        daemon.stop()
    assert result.status == "warn", result
    assert "its autopilot cannot start agents: 'claude' is not on the daemon's PATH" in (
        result.summary
    )
    assert "`tmxd stop`, then `tmxd start`" in result.fix and "claude_bin" in result.fix
    found = {"path": str(tmp_path / "bin")}
    assert doctor._daemon_agent_missing(ctx, found) is None
    assert doctor._daemon_agent_missing(ctx, {"path": "/usr/bin:/bin"}) == "claude"
    write(root / ".taskmaster" / "tmxd.toml", "[autopilot]\nenabled = false\n")
    assert doctor._daemon_agent_missing(ctx, {"path": "/usr/bin:/bin"}) is None


@pytest.mark.parametrize(
    ("fault", "fix"),
    [
        ("missing", "in {root}: `task-master init`, then `task-master parse-prd <prd file>` or"),
        ("invalid", "repair {path} (tmxd leaves it untouched)"),
        ("dangling link", "point the link {path} at a tasks file"),
        ("folder", "move the folder {path} away"),
    ],
)
def test_an_unreadable_tasks_json_gets_the_fix_for_its_fault(
    tmp_path: Path, fault: str, fix: str
) -> None:
    """A missing tasks.json is Task Master's to create (not "fix it"); one that is there but
    broken is the user's to repair. The control: the same project with its file is ok."""
    root = tmp_path / "proj"
    path = copy_corpus("001", root)
    assert doctor.check_project(Context(explicit=root)).status == "ok"
    path.unlink()
    if fault == "invalid":
        path.write_text('{"master": {"tasks": [}\n')
    elif fault == "dangling link":
        path.symlink_to(root / "nowhere.json")
    elif fault == "folder":
        path.mkdir()
    result = doctor.check_project(Context(explicit=root))
    assert result.status == "fail"
    assert result.fix.startswith(fix.format(root=root.resolve(), path=path))
    assert ("task-master init" in result.fix) == (fault == "missing")
