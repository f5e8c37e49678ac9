"""``tmxd doctor``: every check of the debug checklist, each with a one-line fix.

Each check is a small function taking a :class:`Context` and returning a
:class:`CheckResult` — ``ok``, ``warn`` (worth knowing, nothing is broken) or
``fail`` (tmxd cannot do its job until it is fixed). A check that cannot run
because an earlier one failed (no project, unreadable tasks.json) says so as a
warning, so one fault makes exactly one check fail.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tmxd import clock, paths
from tmxd.errors import DaemonNotRunning, TmxdError
from tmxd.proc import INOTIFY_DIR, inotify_limits

if TYPE_CHECKING:
    from tmxd.autopilot.config import AutopilotConfig

OK, WARN, FAIL = "ok", "warn", "fail"
MIN_INOTIFY_WATCHES = 65536
MIN_INOTIFY_INSTANCES = 128
RECENT_LOG_WINDOW = timedelta(hours=24)
SPOOL_GRACE_S = 60.0
WATCH_SETTLE_S = 5.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str
    summary: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "summary": self.summary, "fix": self.fix}


@dataclass
class Context:
    """What the checks share: the project (found once) and the environment."""

    explicit: Path | None = None
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    root: Path | None = None
    project: Any = None  # tmxd.taskmaster.project.Project once found
    tasks_ok: bool = False
    inotify_dir: Path = INOTIFY_DIR
    hooks_status: Any = None
    log_file: Path | None = None

    def which(self, name: str) -> str | None:
        return shutil.which(name, path=self.env.get("PATH"))


Check = Callable[[Context], CheckResult]


def run_checks(explicit: Path | None = None, ctx: Context | None = None) -> list[CheckResult]:
    """Run every check in order; a crashing check is reported, never raised."""
    ctx = ctx or Context(explicit=explicit)
    results = []
    for name, check in CHECKS:
        try:
            results.append(check(ctx))
        except TmxdError as exc:
            results.append(CheckResult(name, FAIL, exc.message))
        except Exception as exc:
            results.append(
                CheckResult(name, FAIL, f"the check itself failed: {type(exc).__name__}: {exc}")
            )
    return results


def _skipped(name: str, why: str) -> CheckResult:
    return CheckResult(name, WARN, f"not checked: {why}")


# -- Task Master project -----------------------------------------------------------


def check_project(ctx: Context) -> CheckResult:
    name = "project"
    from tmxd.taskmaster.project import find_project
    from tmxd.taskmaster.store import TaskStore

    try:
        ctx.project = find_project(ctx.explicit)
    except TmxdError as exc:
        return CheckResult(
            name, FAIL, exc.message, "run `task-master init` here, or pass -p <project dir>"
        )
    ctx.root = ctx.project.root
    try:
        tasks_file = TaskStore(ctx.project).read()
    except TmxdError as exc:
        return CheckResult(
            name, FAIL, exc.message, _tasks_fix(ctx.project.tasks_path, ctx.project.root)
        )
    tag = ctx.project.active_tag()
    count = len(tasks_file.tasks(tag)) if tasks_file.has_tag(tag) else 0
    ctx.tasks_ok = True
    return CheckResult(name, OK, f"{ctx.project.tasks_path}: valid, {count} tasks in tag {tag!r}")


def _tasks_fix(path: Path, root: Path) -> str:
    """The fix line for a tasks.json that cannot be read: Task Master creates a missing
    one; one that is there but broken is the user's to repair."""
    if not path.exists() and not path.is_symlink():
        return (
            f"in {root}: `task-master init`, then `task-master parse-prd <prd file>` "
            "or `task-master add-task`"
        )
    if path.is_symlink() and not path.exists():
        return f"point the link {path} at a tasks file, or remove it and let Task Master create one"
    if path.is_dir():
        return f"move the folder {path} away; Task Master keeps its tasks in a file there"
    if not os.access(path, os.R_OK):
        return f"make {path} readable for you (chmod u+r)"
    return f"repair {path} (tmxd leaves it untouched)"


def check_dependencies(ctx: Context) -> CheckResult:
    name = "dependencies"
    if not ctx.tasks_ok:
        return _skipped(name, "tasks.json is not readable")
    from tmxd.taskmaster.dependencies import validate_dependencies
    from tmxd.taskmaster.store import TaskStore

    tasks_file = TaskStore(ctx.project).read()
    tag = ctx.project.active_tag()
    issues = validate_dependencies(tasks_file, tag)
    if issues:
        first = issues[0].message
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        return CheckResult(
            name,
            FAIL,
            f"{len(issues)} dependency problem(s) in tag {tag!r}: {first}{more}",
            "run `tmxd validate-dependencies` to list them, `task-master fix-dependencies` "
            "to repair them",
        )
    return CheckResult(name, OK, f"no dependency problems in tag {tag!r}")


# -- configuration ------------------------------------------------------------------


def check_config(ctx: Context) -> CheckResult:
    name = "config"
    if ctx.root is None:
        return _skipped(name, "no project")
    from tmxd.config import config_path
    from tmxd.setup.scaffold import registered_sections

    path = config_path(ctx.root)
    for sec in registered_sections():
        try:
            sec.load(ctx.root)
        except TmxdError as exc:
            return CheckResult(
                name,
                FAIL,
                exc.message,
                f"edit {path} (`tmxd init --dry-run` shows every option with its default)",
            )
    if not path.is_file():
        return CheckResult(name, OK, f"{path} absent: every option at its default")
    from tmxd.config import read_config, renamed_in

    old = renamed_in(read_config(path))
    if old:
        names = ", ".join(f"{r.old_section}.{r.old_key} -> {r.section}.{r.key}" for r in old)
        return CheckResult(
            name,
            WARN,
            f"{path}: valid, with keys that have new names ({names})",
            f"rename them in {path}; they are read under their new names meanwhile",
        )
    return CheckResult(name, OK, f"{path}: valid")


# -- git hooks and spool --------------------------------------------------------------


def _hooks_status(ctx: Context) -> Any:
    """``tmxd.commits.hooks.status`` for the project (computed once)."""
    if ctx.hooks_status is None:
        from tmxd.commits import hooks

        ctx.hooks_status = hooks.status(ctx.root or Path.cwd())
    return ctx.hooks_status


def check_git_hooks(ctx: Context) -> CheckResult:
    name = "git hooks"
    if ctx.root is None:
        return _skipped(name, "no project")
    from tmxd import git

    try:
        status = _hooks_status(ctx)
    except git.NotARepository:
        return CheckResult(
            name,
            WARN,
            f"{ctx.root} is not in a git repository: commits cannot be linked to its tasks",
            "`git init` there, then `tmxd hooks install`",
        )
    problem = status.problem
    if problem is None:
        return CheckResult(name, OK, status.summary)
    configured = status.hooks_path
    if configured is not None:
        return CheckResult(
            name,
            FAIL,
            f"{problem} (core.hooksPath={configured.value!r} in the {configured.scope} git config)",
            "run `tmxd hooks install` to install there, or `git config --unset core.hooksPath` "
            "to use .git/hooks again",
        )
    return CheckResult(name, FAIL, problem, "run `tmxd hooks install`")


def check_merge_driver(ctx: Context) -> CheckResult:
    name = "merge driver"
    if ctx.project is None:
        return _skipped(name, "no project")
    from tmxd.commits import merge_driver

    try:
        st = merge_driver.status(ctx.project.root, ctx.project.tasks_path, which=ctx.which)
    except TmxdError as exc:
        return _skipped(name, exc.message)
    resolve = "`tmxd merge-driver --resolve ID FIELD ours|theirs` for each line"
    if st.conflicts and st.unmerged:
        return CheckResult(
            name,
            FAIL,
            f"a merge stopped on {st.conflicts} conflict(s) in {st.path}; {st.report} lists them",
            f"{resolve}, then `git add {st.path}` and commit (or continue the rebase)",
        )
    if st.conflicts:
        return CheckResult(
            name,
            WARN,
            f"{st.report} lists {st.conflicts} conflict(s), but git no longer holds {st.path} "
            "unmerged (the merge was concluded or aborted)",
            f"{resolve} if they still matter, else delete {st.report}",
        )
    register = "run `tmxd hooks install`"
    if st.routed and st.command is None:
        return CheckResult(
            name,
            FAIL,
            f".gitattributes routes {st.path} to merge={merge_driver.DRIVER}, but this clone's "
            "git config does not define that driver, so git merges it as text",
            f"{register} (git reads merge drivers from each clone's config, never from the "
            "repository)",
        )
    if st.command is not None and not st.runnable:
        return CheckResult(
            name,
            WARN if st.fallback else FAIL,
            f"merge.{merge_driver.DRIVER}.driver runs {st.command!r}, whose tmxd is not there"
            + (" (merges fall back to git's text merge)" if st.fallback else ""),
            f"{register} again (it writes tmxd's absolute path when tmxd is not on PATH)",
        )
    if st.command is not None and not st.fallback:
        return CheckResult(
            name,
            WARN,
            f"merge.{merge_driver.DRIVER}.driver has no fallback: merges of {st.path} fail "
            "whenever tmxd cannot run (not on git's PATH, uninstalled)",
            f"{register} again (the driver then falls back to git's own text merge)",
        )
    if not st.routed:
        return CheckResult(
            name,
            WARN,
            f"{st.path} merges as text (merge attribute: {st.attribute}); branches that both "
            "change it conflict",
            f"{register}, then commit .gitattributes so every clone routes it to the driver",
        )
    return CheckResult(name, OK, f"{st.path} merges through `tmxd merge-driver`")


def check_spool(ctx: Context) -> CheckResult:
    name = "spool"
    if ctx.root is None:
        return _skipped(name, "no project")
    from tmxd import git
    from tmxd.commits import spool

    try:
        queue = spool.Spool(git.repo_paths(ctx.root).common_dir)
    except TmxdError as exc:
        return _skipped(name, exc.message)
    waiting = queue.pending()
    if not waiting.lines:
        return CheckResult(name, OK, "drained: no hook events waiting")
    age = (clock.now() - waiting.oldest).total_seconds() if waiting.oldest else 0.0
    if age < SPOOL_GRACE_S:
        return CheckResult(name, OK, f"{waiting.lines} hook event(s) arrived in the last minute")
    return CheckResult(
        name,
        FAIL,
        f"{waiting.lines} hook event(s) waiting in {queue.dir} for {int(age)} s",
        "run `tmxd sync` (a running daemon watching this project drains it by itself)",
    )


# -- daemon ---------------------------------------------------------------------------


def check_daemon(ctx: Context) -> CheckResult:
    name = "daemon"
    from tmxd.daemon import control

    try:
        status = control.request("status", timeout=5.0)
    except DaemonNotRunning:
        return CheckResult(
            name,
            FAIL,
            f"not running (nothing listens on {control.socket_path()})",
            "`tmxd start` (or `tmxd service install` where systemd or launchd runs)",
        )
    except TmxdError as exc:
        return CheckResult(name, FAIL, exc.message, "`tmxd stop`, then `tmxd start`")
    if status.get("log_file"):
        ctx.log_file = Path(status["log_file"])
    pid = status.get("pid", "?")
    if ctx.root is None:
        return _ok_unless_gone(name, f"running (pid {pid})", status)
    watch = _watch_mode(status.get("projects", []), ctx.root)
    deadline = clock.monotonic() + WATCH_SETTLE_S
    while watch == "not watched" and clock.monotonic() < deadline:
        time.sleep(0.1)  # a daemon that just started or reloaded sets its watches up
        watch = _watch_mode(control.request("status", timeout=5.0).get("projects", []), ctx.root)
    if watch is None or watch == "not watched":
        return CheckResult(
            name,
            FAIL,
            f"running (pid {pid}) but not watching {ctx.root}",
            f"run `tmxd watch add {ctx.root}`",
        )
    running = f"running (pid {pid}), watching this project ({watch})"
    program = _daemon_agent_missing(ctx, status)
    if program is not None:
        return CheckResult(
            name,
            WARN,
            f"{running}, but its autopilot cannot start agents: {program!r} is not on the "
            "daemon's PATH (it keeps the PATH of the shell or service that started it)",
            f"restart it where {program!r} is found (`tmxd stop`, then `tmxd start` from such a "
            "shell; `tmxd service install` again for the service), or set [autopilot] "
            "claude_bin (or command) to an absolute path",
        )
    return _ok_unless_gone(name, running, status)


def _ok_unless_gone(name: str, running: str, status: dict[str, Any]) -> CheckResult:
    """OK, or a warning naming the daemon's projects whose folder was deleted or moved."""
    gone = [
        str(entry["root"])
        for entry in status.get("projects", [])
        if isinstance(entry, dict) and entry.get("gone") and entry.get("root")
    ]
    if not gone:
        return CheckResult(name, OK, running)
    return CheckResult(
        name,
        WARN,
        f"{running}; {len(gone)} watched project folder(s) are gone (deleted or moved): "
        + ", ".join(gone),
        " and ".join(f"`tmxd watch remove {root}`" for root in gone)
        + " (then `tmxd watch add` a moved folder where it is now)",
    )


def _daemon_agent_missing(ctx: Context, status: dict[str, Any]) -> str | None:
    """The agent program of the project's autopilot mode, when the running daemon cannot
    find it on its own PATH (None when the mode is off, or the daemon finds it)."""
    from tmxd.autopilot.config import load as load_autopilot

    daemon_path = status.get("path")
    if ctx.root is None or not isinstance(daemon_path, str):
        return None  # a daemon from before it reported its PATH
    try:
        cfg = load_autopilot(ctx.root)
    except TmxdError:
        return None  # the config check reports it
    if not cfg.enabled:
        return None
    program = cfg.claude_bin if cfg.agent == "claude" else (cfg.command or [""])[0]
    if not program or "{" in program or _runnable(ctx, program, daemon_path):
        return None  # (a templated program is only known per task)
    return program


def check_service(ctx: Context) -> CheckResult:
    """What the installed service starts: its interpreter, and the tools on its PATH."""
    name = "service"
    from tmxd.daemon import service

    installed = service.installed_unit()
    if installed is None:
        return CheckResult(name, OK, "not installed (`tmxd start` runs the daemon)")
    platform, unit = installed
    try:
        python, env = service.installed_environment(platform, unit)
    except (OSError, ValueError) as exc:
        return CheckResult(name, FAIL, f"{unit}: unreadable: {exc}", "`tmxd service install`")
    if not python or not os.access(python, os.X_OK):
        return CheckResult(
            name,
            FAIL,
            f"{unit} starts {python or 'nothing'}, which is not an executable",
            "`tmxd service install` again (with the tmxd you use now)",
        )
    path = env.get("PATH") or service.DEFAULT_PATH
    tools = {"git": "git", "claude": _claude_bin(ctx), "task-master": "task-master"}
    missing = [
        command
        for command in tools.values()
        if _runnable(ctx, command) and not _runnable(ctx, command, path)
    ]
    if missing:
        status = FAIL if "git" in missing else WARN
        return CheckResult(
            name,
            status,
            f"{unit}: {', '.join(missing)} found in your shell but not on the service's PATH",
            "`tmxd service install` again: it puts their folders on the service's PATH",
        )
    return CheckResult(name, OK, f"{unit}: {python}, its PATH has what your shell's has")


def _watch_mode(projects: list[Any], root: Path) -> str | None:
    for entry in projects:
        where = entry.get("root") if isinstance(entry, dict) else entry
        if where and Path(str(where)).resolve() == root.resolve():
            return str(entry.get("watch", "watched")) if isinstance(entry, dict) else "watched"
    return None


# -- metrics ---------------------------------------------------------------------------


def check_metrics(ctx: Context) -> CheckResult:
    name = "metrics"
    path = paths.db_path()
    from tmxd.metrics.recorder import Recorder

    if not path.exists():
        folder = next((p for p in path.parents if p.exists()), path.parent)
        if os.access(folder, os.W_OK):
            return CheckResult(name, OK, f"{path}: not created yet (created on first use)")
        return CheckResult(
            name, FAIL, f"{folder}: not writable", f"fix the permissions of {folder}"
        )
    try:
        with Recorder.open(path):
            pass  # opening applies pending migrations and refuses newer schemas
    except TmxdError as exc:
        return CheckResult(name, FAIL, exc.message, "move the file away or set TMXD_DB")
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        return CheckResult(
            name, FAIL, f"{path}: not writable", f"fix the permissions: chmod u+w {path}"
        )
    return CheckResult(name, OK, f"{path}: writable, schema up to date")


# -- Claude Code and MCP -------------------------------------------------------------


def check_mcp_json(ctx: Context) -> CheckResult:
    name = ".mcp.json"
    if ctx.root is None:
        return _skipped(name, "no project")
    from tmxd.setup import claude_settings
    from tmxd.taskmaster.jsonedit import loads

    path = ctx.root / ".mcp.json"
    if not path.is_file():
        return CheckResult(name, WARN, f"{path}: absent", "run `tmxd init`")
    try:
        data = loads(path.read_text(encoding="utf-8"), path)
    except TmxdError as exc:
        return CheckResult(name, FAIL, exc.message, "fix the JSON, then run `tmxd init`")
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        return CheckResult(name, FAIL, f"{path}: no mcpServers object", "run `tmxd init`")
    for server, entry in servers.items():
        problem = _server_problem(entry)
        if problem:
            return CheckResult(
                name,
                FAIL,
                f"{path}: mcpServers.{server}: {problem}",
                "fix the entry (see `tmxd init --dry-run`)",
            )
    secrets = claude_settings.literal_secrets(data, path)
    if secrets:
        return CheckResult(name, WARN, secrets[0], "never commit key values: use ${VAR}")
    if claude_settings.TASK_MASTER_SERVER not in servers:
        return CheckResult(name, WARN, f"{path}: no task-master-ai server", "run `tmxd init`")
    missing = sorted(
        {
            entry["command"]
            for entry in servers.values()
            if isinstance(entry.get("command"), str)
            and "$" not in entry["command"]
            and ctx.which(entry["command"]) is None
        }
    )
    if missing:
        return CheckResult(
            name,
            WARN,
            f"{path}: {', '.join(missing)} not on PATH",
            "; ".join(_install_hint(command) for command in missing),
        )
    return CheckResult(name, OK, f"{path}: valid, {len(servers)} server(s)")


def check_mcp_servers(ctx: Context) -> CheckResult:
    """Start tmxd's server (and, with Node, Task Master's), list tools, call next_task."""
    name = "MCP servers"
    if ctx.root is None:
        return _skipped(name, "no project")
    if not ctx.tasks_ok:
        return _skipped(name, "tasks.json is not readable")
    from tmxd.setup import claude_settings
    from tmxd.setup.mcp_probe import expand, probe_servers
    from tmxd.taskmaster.jsonedit import loads

    path = ctx.root / ".mcp.json"
    try:
        data = loads(path.read_text(encoding="utf-8"), path)
    except (OSError, TmxdError):
        data = None
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        return _skipped(name, "see the .mcp.json check")
    wanted = (claude_settings.TMXD_SERVER, claude_settings.TASK_MASTER_SERVER)
    entries = [
        (server, servers[server])
        for server in wanted
        if isinstance(servers.get(server), dict)
        and servers[server].get("type", "stdio") == "stdio"
        and isinstance(servers[server].get("command"), str)
    ]
    notes = []
    if claude_settings.TASK_MASTER_SERVER in dict(entries) and ctx.which("node") is None:
        entries = [e for e in entries if e[0] != claude_settings.TASK_MASTER_SERVER]
        notes.append("task-master-ai not started: Node.js is not installed")
    if not entries:
        return CheckResult(name, WARN, "no tmxd server in .mcp.json", "run `tmxd init`")
    probes = probe_servers(entries, ctx.root, ctx.env)
    summary = "; ".join([*(f"{p.server}: {p.detail}" for p in probes), *notes])
    broken = {p.server for p in probes if not p.ok}
    if claude_settings.TMXD_SERVER in broken:
        command = expand(dict(entries)[claude_settings.TMXD_SERVER]["command"], ctx.env)
        return CheckResult(
            name,
            FAIL,
            summary,
            f"run `{command} mcp` in {ctx.root} to see its error; `tmxd init` rewrites the entry",
        )
    if broken:
        return CheckResult(
            name,
            WARN,
            summary,
            "Claude Code starts Task Master's server with npx, which downloads it on first "
            "use: run `npx -y task-master-ai` once (online) to cache it",
        )
    if claude_settings.TMXD_SERVER not in dict(entries):
        return CheckResult(name, WARN, summary + "; no tmxd server", "run `tmxd init`")
    return CheckResult(name, OK, summary)


# How to get the launchers MCP servers are usually started with.
_LAUNCHERS = {
    "npx": "install Node.js (it brings npx)",
    "node": "install Node.js",
    "uvx": "install uv (it brings uvx): `pipx install uv` or `pip install --user uv`",
    "uv": "install uv: `pipx install uv` or `pip install --user uv`",
    "docker": "install Docker",
}


def _install_hint(command: str) -> str:
    return _LAUNCHERS.get(
        Path(command).name, f"install {command}, or change the command in .mcp.json"
    )


def _server_problem(entry: Any) -> str:
    if not isinstance(entry, dict):
        return "not an object"
    kind = entry.get("type", "stdio")
    if kind == "stdio":
        if not isinstance(entry.get("command"), str):
            return "a stdio server needs a command" + (
                ' (a "url" needs "type": "http")' if "url" in entry else ""
            )
        if not isinstance(entry.get("args", []), list):
            return "args must be a list"
        if not isinstance(entry.get("env", {}), dict):
            return "env must be an object"
        return ""
    if kind in ("http", "sse", "ws"):
        return "" if isinstance(entry.get("url"), str) else f"a {kind} server needs a url"
    return f"unknown type {kind!r}"


def check_claude_settings(ctx: Context) -> CheckResult:
    name = ".claude/settings.json"
    if ctx.root is None:
        return _skipped(name, "no project")
    from tmxd.setup import claude_settings
    from tmxd.taskmaster.jsonedit import loads

    path = ctx.root / ".claude" / "settings.json"
    if not path.is_file():
        return CheckResult(name, WARN, f"{path}: absent", "run `tmxd init`")
    try:
        data = loads(path.read_text(encoding="utf-8"), path)
    except TmxdError as exc:
        return CheckResult(
            name, FAIL, exc.message, "fix the JSON (Claude Code ignores the whole file)"
        )
    problems = claude_settings.settings_problems(data)
    if problems:
        return CheckResult(
            name,
            FAIL,
            f"{path}: {problems[0]} (Claude Code ignores the whole file)",
            "fix it by hand, then `tmxd init` adds what is missing",
        )
    warnings = claude_settings.settings_warnings(data)
    if warnings:
        return CheckResult(name, WARN, f"{path}: {warnings[0]}", "run `tmxd init`")
    if ctx.which("tmxd") is None:
        return CheckResult(
            name,
            WARN,
            "the hooks run `tmxd`, which is not on PATH: Claude Code sessions are not recorded",
            tmxd_on_path_hint(),
        )
    return CheckResult(name, OK, f"{path}: valid, tmxd hooks installed")


def tmxd_on_path_hint() -> str:
    """A fix for `tmxd` missing from PATH that works for the tmxd running now."""
    here = Path(sys.executable).parent
    if (here / "tmxd").is_file():
        return f"put {here} on PATH, or link it: `ln -s {here / 'tmxd'} ~/.local/bin/tmxd`"
    checkout = paths.source_root().parent
    if (checkout / "pyproject.toml").is_file():
        return (
            f"install this checkout: `pipx install {checkout}` (or `pip install --user {checkout}`)"
        )
    return "reinstall tmxd so that its `tmxd` command is on PATH"


NPM_PACKAGES = {"claude": "@anthropic-ai/claude-code", "task-master": "task-master-ai"}


def check_tools(ctx: Context) -> CheckResult:
    name = "tools on PATH"
    claude = _claude_bin(ctx)
    tools = {"claude": claude, "task-master": "task-master", "npx": "npx"}
    missing = [tool for tool, command in tools.items() if not _runnable(ctx, command)]
    if missing:
        packages = [NPM_PACKAGES[tool] for tool in missing if tool in NPM_PACKAGES]
        fixes = []
        if "claude" in missing and claude != "claude":
            fixes.append(f"fix [autopilot] claude_bin ({claude!r} is not found)")
            packages.remove(NPM_PACKAGES["claude"])
        if packages:
            fixes.append(f"npm install -g {' '.join(packages)}")
        if "npx" in missing:
            fixes.append("install Node.js (it brings npx)")
        shown = [tools[tool] if tool == "claude" else tool for tool in missing]
        return CheckResult(
            name,
            WARN,
            f"not found: {', '.join(shown)} (tmxd works without them)",
            "; ".join(fixes),
        )
    return CheckResult(name, OK, f"{claude}, task-master and npx found")


def _claude_bin(ctx: Context) -> str:
    """The Claude Code executable the project's autopilot runs (``claude`` by default)."""
    if ctx.root is not None:
        from tmxd.autopilot.config import load as load_autopilot

        with contextlib.suppress(TmxdError):  # the config check reports it
            return load_autopilot(ctx.root).claude_bin
    return "claude"


def _runnable(ctx: Context, command: str, path: str | None = None) -> bool:
    """``command`` is on PATH (the shell's, or ``path``), or a path to an executable."""
    if os.sep in command:
        exe = Path(command).expanduser()
        return exe.is_file() and os.access(exe, os.X_OK)
    if path is not None:
        return shutil.which(command, path=path) is not None
    return ctx.which(command) is not None


def _autopilot_config(ctx: Context, name: str) -> tuple[Path, AutopilotConfig] | CheckResult:
    """The project and its ``[autopilot]`` settings, or check ``name`` skipped without them."""
    if ctx.root is None:
        return _skipped(name, "no project")
    from tmxd.autopilot import config

    try:
        return ctx.root, config.load(ctx.root)
    except TmxdError:
        return _skipped(name, "the config is invalid")


def check_worktrees(ctx: Context) -> CheckResult:
    name = "autopilot worktrees"
    loaded = _autopilot_config(ctx, name)
    if isinstance(loaded, CheckResult):
        return loaded
    root, cfg = loaded
    from tmxd.autopilot import worktrees

    base = worktrees.base_dir(root, cfg.worktree_dir)
    try:
        worktrees.require_repo(root)
    except TmxdError as exc:
        return CheckResult(name, WARN, exc.message, "git init && git add -A && git commit")
    problem = worktrees.location_problem(root, base)
    if problem is not None:
        return CheckResult(
            name,
            FAIL,
            problem,
            "set [autopilot] worktree_dir to a folder outside the project, or remove it",
        )
    found = worktrees.present(root, base)
    legacy = [p for p in found if p.parent == worktrees.legacy_base(root)]
    if legacy:
        return CheckResult(
            name,
            WARN,
            f"{len(legacy)} worktree(s) of an older tmxd inside .git (Claude Code cannot edit "
            "there)",
            "run `tmxd autopilot --dry-run` after stopping old runs, or `git worktree prune`; "
            "the next `tmxd autopilot` removes them",
        )
    extra = f"; {len(found)} present (a run in progress, or leftovers the next run removes)"
    return CheckResult(name, OK, f"{base}: outside the repository" + (extra if found else ""))


def check_autopilot_checks(ctx: Context) -> CheckResult:
    """The checks the autopilot would run here, with the project's own tools for them."""
    name = "autopilot checks"
    loaded = _autopilot_config(ctx, name)
    if isinstance(loaded, CheckResult):
        return loaded
    root, cfg = loaded
    from tmxd.autopilot import validation
    from tmxd.autopilot.tools import MissingTool

    if cfg.validate or cfg.validate_basic:
        found = validation.configured(cfg.validate, cfg.validate_basic)
    else:
        found = validation.detect(root)
    if not found:
        return CheckResult(name, OK, "none detected yet (tests and linters are found at each run)")
    try:
        resolved = validation.resolve(found, [root], ctx.env)
    except MissingTool as exc:
        summary, _, fix = exc.message.partition("; ")
        return CheckResult(name, WARN, summary + " (`tmxd autopilot` refuses to start)", fix)
    return CheckResult(name, OK, "; ".join(c.describe() for c in resolved))


def check_breaker(ctx: Context) -> CheckResult:
    name = "autopilot breaker"
    loaded = _autopilot_config(ctx, name)
    if isinstance(loaded, CheckResult):
        return loaded
    root, cfg = loaded
    from tmxd.autopilot.runner import breaker_status

    status = breaker_status(root, cfg)
    if status["state"] == "closed":
        return CheckResult(name, OK, "closed")
    return CheckResult(
        name,
        WARN,
        str(status["summary"]),
        f"fix the cause of the failures, then `{status['fix']}` (or let its trial run decide)",
    )


# -- system ----------------------------------------------------------------------------


def check_inotify(ctx: Context) -> CheckResult:
    name = "inotify"
    if not sys.platform.startswith("linux"):
        return CheckResult(name, OK, f"not used on {sys.platform}")
    limits = inotify_limits(ctx.inotify_dir)
    if limits is None:
        return CheckResult(name, WARN, f"cannot read the limits in {ctx.inotify_dir}")
    watches, instances = limits
    if watches < MIN_INOTIFY_WATCHES or instances < MIN_INOTIFY_INSTANCES:
        return CheckResult(
            name,
            WARN,
            f"low limits: max_user_watches={watches}, max_user_instances={instances}",
            "sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512",
        )
    return CheckResult(name, OK, f"max_user_watches={watches}, max_user_instances={instances}")


_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)")


def log_path(ctx: Context | None = None) -> Path:
    """The daemon's log file: what the running daemon reports, else its default."""
    if ctx is not None and ctx.log_file is not None:
        return ctx.log_file
    return paths.daemon_log()


def check_log(ctx: Context) -> CheckResult:
    name = "log"
    path = log_path(ctx)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return CheckResult(name, OK, f"{path}: no log yet")
    since = clock.now() - RECENT_LOG_WINDOW
    errors = [line for line in lines if " ERROR " in line or " CRITICAL " in line]
    recent = [line for line in errors if (_log_time(line) or clock.now()) >= since]
    if recent:
        return CheckResult(
            name,
            WARN,
            f"{len(recent)} error(s) in the last 24 h; last: {recent[-1][:200]}",
            f"see {path}",
        )
    return CheckResult(name, OK, f"{path}: no errors in the last 24 h")


def _log_time(line: str) -> datetime | None:
    match = _LOG_LINE.match(line)
    if not match:
        return None
    text = match.group(1).replace(",", ".").replace(" ", "T").replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.astimezone()


CHECKS: list[tuple[str, Check]] = [
    ("project", check_project),
    ("dependencies", check_dependencies),
    ("config", check_config),
    ("git hooks", check_git_hooks),
    ("merge driver", check_merge_driver),
    ("daemon", check_daemon),
    ("service", check_service),
    ("spool", check_spool),
    ("metrics", check_metrics),
    (".mcp.json", check_mcp_json),
    ("MCP servers", check_mcp_servers),
    (".claude/settings.json", check_claude_settings),
    ("tools on PATH", check_tools),
    ("autopilot worktrees", check_worktrees),
    ("autopilot checks", check_autopilot_checks),
    ("autopilot breaker", check_breaker),
    ("inotify", check_inotify),
    ("log", check_log),
]
