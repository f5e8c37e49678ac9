"""``tmxd init``: wire a Task Master project to Claude Code, MCP and tmxd.

:func:`plan` computes, without touching anything, the new text of every file
init owns a part of:

``.mcp.json``                        the Task Master MCP server (``npx -y task-master-ai``),
                                     optionally the filesystem and git servers; API keys
                                     only as ``${VAR}`` references, never values
``.claude/settings.json``            ``permissions.allow`` for the workflow's commands and the
                                     real ``PostToolUse``/``PostToolUseFailure``/``Stop``/
                                     ``SessionEnd`` hooks running ``tmxd hook claude``
``.claude/commands/taskmaster-*.md`` the ``/taskmaster-workflow`` and ``/taskmaster-debug``
                                     slash commands
``.taskmaster/tmxd.toml``            every option of every config section, commented, at
                                     its default

JSON files are merged with :mod:`tmxd.taskmaster.jsonedit` (our entries added or
updated, every other byte kept); an existing slash command that differs from
ours is kept unless ``force``; the TOML file only ever gains commented lines
for options it does not mention. :func:`apply` writes the changed files
atomically. Running init twice changes nothing the second time.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tmxd.config import Section, config_path, option, render_toml_value, section
from tmxd.errors import InputError, TmxdError
from tmxd.fsutil import write_atomic
from tmxd.taskmaster.jsonedit import JsonEditor, new_text

HOOK_COMMAND = "tmxd hook claude"
TOOL_MATCHER = "Edit|Write|MultiEdit|Bash"
TASK_MASTER_SERVER = "task-master-ai"
COMMAND_FILES = ("taskmaster-workflow.md", "taskmaster-debug.md")
OPTIONAL_SERVERS = ("filesystem", "git")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class InitConfig:
    mcp_servers: list[str] = option(
        [TASK_MASTER_SERVER],
        "MCP servers `tmxd init` writes to .mcp.json: task-master-ai, filesystem, git",
    )
    task_master_tools: str = option(
        "core", "TASK_MASTER_TOOLS for the Task Master MCP server: core, standard, all or a list"
    )
    mcp_env_keys: list[str] = option(
        ["ANTHROPIC_API_KEY", "PERPLEXITY_API_KEY"],
        "API key variables given to the Task Master MCP server as ${VAR} references, never values",
    )
    test_commands: list[str] = option(
        [],
        "Test and lint commands Claude Code may run without asking "
        "(empty: detected from pyproject.toml, package.json, Cargo.toml, go.mod, Makefile)",
    )
    extra_allow: list[str] = option([], "More permissions.allow rules for .claude/settings.json")
    hook_timeout: int = option(10, "Timeout in seconds of the `tmxd hook claude` hooks")


INIT = section("init", InitConfig, "What `tmxd init` writes for Claude Code and MCP.")


@dataclass(frozen=True)
class FileChange:
    """One file init owns a part of: its text before (None: absent) and after."""

    path: Path
    old: str | None
    new: str
    note: str = ""

    @property
    def changed(self) -> bool:
        return self.old != self.new

    @property
    def action(self) -> str:
        if self.old is None:
            return "create"
        return "update" if self.changed else "unchanged"

    def diff(self, root: Path) -> str:
        """A unified diff (``a/<path>`` → ``b/<path>``); empty when nothing changes."""
        if not self.changed:
            return ""
        rel = self.path.relative_to(root).as_posix()
        old_lines = (self.old or "").splitlines(keepends=True)
        new_lines = self.new.splitlines(keepends=True)
        lines = difflib.unified_diff(
            _terminated(old_lines),
            _terminated(new_lines),
            fromfile="/dev/null" if self.old is None else f"a/{rel}",
            tofile=f"b/{rel}",
        )
        return "".join(lines)


@dataclass(frozen=True)
class Plan:
    root: Path
    changes: list[FileChange]
    warnings: list[str] = field(default_factory=list)

    @property
    def pending(self) -> list[FileChange]:
        return [c for c in self.changes if c.changed]


@dataclass(frozen=True)
class Options:
    with_servers: tuple[str, ...] = ()
    force: bool = False


# -- planning ------------------------------------------------------------------


def plan(root: Path, options: Options | None = None) -> Plan:
    """Everything init would write in ``root``; raises InputError for files it cannot merge."""
    options = options or Options()
    cfg = INIT.load(root)
    warnings: list[str] = []
    errors: list[str] = []
    changes: list[FileChange] = []
    builders: list[Callable[[], list[FileChange]]] = [
        lambda: [plan_mcp(root, cfg, options.with_servers, warnings)],
        lambda: [plan_settings(root, cfg, warnings)],
        lambda: plan_commands(root, options.force, warnings),
        lambda: [plan_toml(root)],
    ]
    for build in builders:
        try:
            changes.extend(build())
        except InputError as exc:
            errors.append(exc.message)
    if errors:
        raise InputError("; ".join(errors))
    return Plan(root, changes, warnings)


def plan_mcp(
    root: Path, cfg: InitConfig, extra: Sequence[str], warnings: list[str] | None = None
) -> FileChange:
    path = root / ".mcp.json"
    old = _read(path)
    servers = mcp_servers(cfg, extra)
    editor = JsonEditor(old if old is not None else "{}", path)
    for name, entry in servers.items():
        env = entry.pop("env", None)
        editor.ensure(("mcpServers", name), entry)
        for key, value in (env or {}).items():
            editor.ensure_default(("mcpServers", name, "env", key), value)
    if warnings is not None:
        warnings.extend(literal_secrets(editor.data, path))
    new = editor.text if old is not None else new_text(editor.data)
    return FileChange(path, old, new)


def mcp_servers(cfg: InitConfig, extra: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """The ``mcpServers`` entries init owns, by name."""
    wanted = [*cfg.mcp_servers, *(s for s in extra if s not in cfg.mcp_servers)]
    unknown = [s for s in wanted if s not in (TASK_MASTER_SERVER, *OPTIONAL_SERVERS)]
    if unknown:
        raise InputError(
            f"unknown MCP server {unknown[0]!r} in [init] mcp_servers; "
            f"choose from {TASK_MASTER_SERVER}, {', '.join(OPTIONAL_SERVERS)}"
        )
    bad_keys = [k for k in cfg.mcp_env_keys if not _ENV_NAME.match(k)]
    if bad_keys:
        raise InputError(
            f"[init] mcp_env_keys: {bad_keys[0]!r} is not an environment variable name"
        )
    servers: dict[str, dict[str, Any]] = {}
    if TASK_MASTER_SERVER in wanted:
        env = {"TASK_MASTER_TOOLS": cfg.task_master_tools}
        env.update({key: "${" + key + "}" for key in cfg.mcp_env_keys})
        servers[TASK_MASTER_SERVER] = {
            "type": "stdio",
            "command": "npx",
            "args": ["-y", "task-master-ai"],
            "env": env,
        }
    if "filesystem" in wanted:
        servers["filesystem"] = {
            "type": "stdio",
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem", "."],
        }
    if "git" in wanted:
        servers["git"] = {
            "type": "stdio",
            "command": "uvx",
            "args": ["mcp-server-git", "--repository", "."],
        }
    return servers


def plan_settings(root: Path, cfg: InitConfig, warnings: list[str] | None = None) -> FileChange:
    path = root / ".claude" / "settings.json"
    old = _read(path)
    editor = JsonEditor(old if old is not None else "{}", path)
    editor.ensure_items(("permissions", "allow"), allow_rules(root, cfg))
    for event, group in hook_groups(cfg.hook_timeout).items():
        _ensure_hook(editor, event, group)
    if warnings is not None:
        warnings.extend(
            f"{path}: {problem}; Claude Code ignores the whole file until it is fixed"
            for problem in settings_problems(editor.data)
        )
        if editor.get(("allowedTools",)) is not None:
            warnings.append(
                f"{path}: top-level allowedTools is a legacy key Claude Code no longer reads; "
                "move its rules into permissions.allow"
            )
    new = editor.text if old is not None else new_text(editor.data)
    return FileChange(path, old, new)


def hook_groups(timeout: int = 10) -> dict[str, dict[str, Any]]:
    """The hook matcher groups init installs, by real Claude Code event name."""
    handler = {"type": "command", "command": HOOK_COMMAND, "timeout": timeout}
    return {
        "PostToolUse": {"matcher": TOOL_MATCHER, "hooks": [handler]},
        "PostToolUseFailure": {"matcher": TOOL_MATCHER, "hooks": [handler]},
        "Stop": {"hooks": [handler]},
        "SessionEnd": {"hooks": [handler]},
    }


def _ensure_hook(editor: JsonEditor, event: str, group: dict[str, Any]) -> None:
    """Add our group to ``hooks.<event>``, or bring an existing one of ours up to date."""
    groups = editor.get(("hooks", event))
    if groups is None:
        editor.ensure(("hooks", event), [group])
        return
    if not isinstance(groups, list):
        editor.append(("hooks", event), group)  # raises the shape error
    for gi, existing in enumerate(groups):
        handlers = existing.get("hooks") if isinstance(existing, dict) else None
        if not isinstance(handlers, list):
            continue
        for hi, handler in enumerate(handlers):
            if is_our_handler(handler):
                editor.ensure(("hooks", event, gi, "hooks", hi), group["hooks"][0])
                only_ours = all(is_our_handler(h) for h in handlers)
                if "matcher" in group and only_ours:
                    editor.ensure(("hooks", event, gi, "matcher"), group["matcher"])
                return
    editor.append(("hooks", event), group)


# Hook events Claude Code fires (the 2.1.197 binary's list, plus DirectoryAdded from the docs).
# Handlers under any other key (``beforeEdit``, ``afterCommit``, ...) silently never run.
HOOK_EVENTS = frozenset(
    {
        "PreToolUse", "PostToolUse", "PostToolUseFailure", "PostToolBatch", "Notification",
        "UserPromptSubmit", "UserPromptExpansion", "SessionStart", "SessionEnd", "Stop",
        "StopFailure", "SubagentStart", "SubagentStop", "PreCompact", "PostCompact",
        "PermissionRequest", "PermissionDenied", "Setup", "TeammateIdle", "TaskCreated",
        "TaskCompleted", "Elicitation", "ElicitationResult", "ConfigChange", "WorktreeCreate",
        "WorktreeRemove", "InstructionsLoaded", "CwdChanged", "FileChanged", "MessageDisplay",
        "DirectoryAdded",
    }
)  # fmt: skip
HANDLER_TYPES = frozenset({"command", "http", "mcp_tool", "prompt", "agent"})


def settings_problems(data: Any) -> list[str]:
    """Shape errors that make Claude Code drop a settings file whole."""
    if not isinstance(data, dict):
        return ["the file is not a JSON object"]
    problems: list[str] = []
    perms = data.get("permissions", {})
    if not isinstance(perms, dict):
        problems.append("permissions must be an object")
        perms = {}
    for key in ("allow", "ask", "deny"):
        rules = perms.get(key, [])
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            problems.append(f"permissions.{key} must be a list of strings")
    hooks = data.get("hooks", {})
    if not isinstance(hooks, dict):
        return [*problems, "hooks must be an object"]
    for event, groups in hooks.items():
        if not isinstance(groups, list):
            problems.append(f"hooks.{event} must be a list")
            continue
        for group in groups:
            handlers = group.get("hooks") if isinstance(group, dict) else None
            if not isinstance(handlers, list):
                problems.append(f"every hooks.{event} entry needs a hooks list")
                continue
            if not isinstance(group.get("matcher", ""), str):
                problems.append(f"hooks.{event}: matcher must be a string")
            for handler in handlers:
                problems.extend(_handler_problems(event, handler))
    return problems


def _handler_problems(event: str, handler: Any) -> list[str]:
    if not isinstance(handler, dict) or handler.get("type") not in HANDLER_TYPES:
        return [f"hooks.{event}: a handler needs a type ({', '.join(sorted(HANDLER_TYPES))})"]
    if handler["type"] == "command" and not isinstance(handler.get("command"), str):
        return [f"hooks.{event}: a command handler needs a command string"]
    timeout = handler.get("timeout", 1)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        return [f"hooks.{event}: timeout must be a positive number of seconds"]
    return []


def settings_warnings(data: dict[str, Any]) -> list[str]:
    """What works but is not what tmxd expects (assumes :func:`settings_problems` is empty)."""
    found = []
    hooks = data.get("hooks", {})
    for event in hooks:
        if event not in HOOK_EVENTS:
            found.append(f"hooks.{event} is not a Claude Code hook event: it never runs")
    if "allowedTools" in data:
        found.append("top-level allowedTools is a legacy key; move it to permissions.allow")
    for event in hook_groups():
        handlers = [h for g in hooks.get(event, []) for h in g["hooks"]]
        if not any(is_our_handler(h) for h in handlers):
            found.append(f"no `{HOOK_COMMAND}` hook for {event}: tool calls are not recorded")
    return found


def is_our_handler(handler: Any) -> bool:
    return (
        isinstance(handler, dict)
        and isinstance(handler.get("command"), str)
        and HOOK_COMMAND in handler["command"]
    )


def allow_rules(root: Path, cfg: InitConfig) -> list[str]:
    """``permissions.allow`` rules for the commands the workflow runs."""
    rules = [
        "Bash(task-master *)",
        "Bash(tmxd *)",
        "Bash(git status *)",
        "Bash(git diff *)",
        "Bash(git log *)",
        "Bash(git show *)",
        "Bash(git add *)",
        "Bash(git commit *)",
        f"mcp__{TASK_MASTER_SERVER}__*",
    ]
    tests = cfg.test_commands or detect_test_commands(root)
    rules.extend(f"Bash({command} *)" for command in tests)
    rules.extend(cfg.extra_allow)
    return list(dict.fromkeys(rules))


def detect_test_commands(root: Path) -> list[str]:
    """Test and lint commands suggested by the project's build files."""
    found: list[str] = []
    if (root / "pyproject.toml").is_file() or (root / "setup.py").is_file():
        found += ["pytest", "python -m pytest", "ruff", "mypy"]
    if (root / "package.json").is_file():
        found += ["npm test", "npm run test", "npm run lint", "npx jest", "npx vitest"]
    if (root / "Cargo.toml").is_file():
        found += ["cargo test", "cargo clippy"]
    if (root / "go.mod").is_file():
        found += ["go test", "go vet"]
    if (root / "Makefile").is_file():
        found += ["make test", "make check"]
    return found


def literal_secrets(data: Any, path: Path) -> list[str]:
    """Warnings for ``*_KEY``/``*_TOKEN``/``*SECRET*`` values that are not ``${VAR}`` references."""
    found: list[str] = []
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    for name, entry in (servers or {}).items() if isinstance(servers, dict) else ():
        env = entry.get("env") if isinstance(entry, dict) else None
        for key, value in (env or {}).items() if isinstance(env, dict) else ():
            if _secret_name(key) and isinstance(value, str) and value and "${" not in value:
                found.append(
                    f"{path}: mcpServers.{name}.env.{key} holds a literal value; "
                    f'write "${{{key}}}" and keep the key in your environment'
                )
    return found


def _secret_name(key: str) -> bool:
    upper = key.upper()
    return upper.endswith(("_KEY", "_TOKEN")) or "SECRET" in upper or "PASSWORD" in upper


def plan_commands(root: Path, force: bool, warnings: list[str]) -> list[FileChange]:
    changes = []
    for name in COMMAND_FILES:
        path = root / ".claude" / "commands" / name
        ours = command_text(name)
        old = _read(path)
        if old is not None and old != ours and not force:
            warnings.append(
                f"{path}: kept your version (it differs from tmxd's); "
                "`tmxd init --force` replaces it"
            )
            changes.append(FileChange(path, old, old, note="kept"))
        else:
            changes.append(FileChange(path, old, ours))
    return changes


def command_text(name: str) -> str:
    return resources.files("tmxd").joinpath("resources", "claude", name).read_text("utf-8")


# -- tmxd.toml -----------------------------------------------------------------

_HEADER = re.compile(r"^\s*#?\s*\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(?:#.*)?$")
TOML_INTRO = (
    "# tmxd configuration for this project.\n"
    "# Every option is listed at its default, commented out: uncomment a line to change it.\n"
    "# `tmxd doctor` checks this file; `tmxd init` adds options new versions of tmxd introduce.\n"
)


def registered_sections() -> list[Section[Any]]:
    """Every table of tmxd.toml, by name: one line per area that owns one."""
    from tmxd.autopilot.config import AUTOPILOT
    from tmxd.commits.linking import LINKS
    from tmxd.daemon.settings import DAEMON
    from tmxd.metrics.settings import METRICS

    return sorted([AUTOPILOT, DAEMON, INIT, LINKS, METRICS], key=lambda sec: sec.name)


def render_section(sec: Section[Any], header: bool = True) -> list[str]:
    lines = [f"[{sec.name}]\n"] if header else []
    lines.append(f"# {sec.doc}\n")
    for fld in dataclasses.fields(sec.cls):
        lines.extend(["\n", *render_option(sec, fld)])
    return lines


def render_option(sec: Section[Any], fld: dataclasses.Field[Any]) -> list[str]:
    default = getattr(sec.defaults(), fld.name)
    help_text = fld.metadata.get("help", "")
    value = '""  # not set by default' if default is None else render_toml_value(default)
    return [f"# {help_text}\n", f"# {fld.name} = {value}\n"]


def render_toml(sections: Iterable[Section[Any]]) -> str:
    parts = [TOML_INTRO]
    for sec in sections:
        parts.append("\n" + "".join(render_section(sec)))
    return "".join(parts)


def plan_toml(root: Path) -> FileChange:
    path = config_path(root)
    old = _read(path)
    sections = registered_sections()
    if old is None:
        return FileChange(path, None, render_toml(sections))
    try:
        existing = tomllib.loads(old)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}; fix the file or remove it") from exc
    return FileChange(path, old, merge_toml(old, sections, existing))


def merge_toml(text: str, sections: Sequence[Section[Any]], parsed: dict[str, Any]) -> str:
    """Add commented lines for the sections and options ``text`` does not mention yet."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    headers = [(i, m.group(1)) for i, line in enumerate(lines) if (m := _HEADER.match(line))]
    inserts: dict[int, list[str]] = {}
    appended: list[str] = []
    for sec in sections:
        found = [pos for pos, (_, name) in enumerate(headers) if name == sec.name]
        if not found:
            block = render_section(sec)
            if sec.name in parsed:  # defined by dotted keys: a header would be a TOML error
                block[0] = "# " + block[0]
            appended += ["\n", *block]
            continue
        start = headers[found[0]][0]
        following = [i for i, _ in headers if i > start]
        end = following[0] if following else len(lines)
        region = "".join(lines[start:end])
        missing: list[str] = []
        for fld in dataclasses.fields(sec.cls):
            if not re.search(rf"^\s*#?\s*{re.escape(fld.name)}\s*=", region, re.M):
                missing += ["\n", *render_option(sec, fld)]
        while end > start + 1 and not lines[end - 1].strip():
            end -= 1
        if missing:
            inserts.setdefault(end, []).extend(missing)
    if not inserts and not appended:
        return text
    out: list[str] = []
    for i, line in enumerate(lines):
        out.extend(inserts.get(i, []))
        out.append(line)
    out.extend(inserts.get(len(lines), []))
    out.extend(appended)
    return "".join(out)


# -- project and follow-up steps -----------------------------------------------


def find_root(explicit: Path | None = None, cwd: Path | None = None) -> Path:
    """The Task Master project root, found the way Task Master finds it."""
    from tmxd.taskmaster.project import find_project

    return find_project(explicit, cwd).root


@dataclass(frozen=True)
class StepResult:
    """A follow-up step of init: ``ok`` is None when it was skipped."""

    name: str
    ok: bool | None
    message: str


def install_git_hooks(root: Path, dry_run: bool = False) -> StepResult:
    """``tmxd hooks install`` for the project's repository."""
    from tmxd.commits import hooks

    name = "tmxd hooks install"
    if dry_run:
        return StepResult(name, None, "would install the git hooks")
    try:
        changes = hooks.install(root)
    except TmxdError as exc:
        return StepResult(name, False, exc.message)
    actions = Counter(change.action for change in changes)
    done = ", ".join(f"{count} {action}" for action, count in sorted(actions.items()))
    return StepResult(name, True, f"git hooks: {done}" if done else "git hooks installed")


def register_project(root: Path, dry_run: bool = False) -> StepResult:
    """``tmxd watch add <root>``: the daemon watches this project from now on."""
    from tmxd.daemon import registry

    name = f"tmxd watch add {root}"
    if dry_run:
        return StepResult(name, None, "would register the project with the daemon")
    try:
        registry.add_project(root)
    except TmxdError as exc:
        return StepResult(name, False, exc.message)
    return StepResult(name, True, "project registered with the daemon")


# -- applying ------------------------------------------------------------------


def apply(changes: Iterable[FileChange]) -> list[Path]:
    """Write every changed file atomically; return the paths written."""
    written = []
    for change in changes:
        if change.changed:
            change.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(change.path, change.new)  # an existing file keeps its mode
            written.append(change.path)
    return written


def _read(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc


def _terminated(lines: list[str]) -> list[str]:
    if lines and not lines[-1].endswith("\n"):
        return [*lines[:-1], lines[-1] + "\n"]
    return lines
