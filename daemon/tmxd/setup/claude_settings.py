"""Merging tmxd's entries into Claude Code's settings files, and checking those files.

``tmxd init`` adds tmxd's and Task Master's MCP servers to ``.mcp.json`` (API keys only as
``${VAR}`` references) and, to ``.claude/settings.json``, the permissions the workflow
needs and the hooks that run ``tmxd hook claude``; every other byte stays as the user
wrote it (:class:`tmxd.taskmaster.jsonedit.JsonEditor`). ``tmxd doctor`` uses the same
rules to say what is wrong with them. The ``[init]`` table of tmxd.toml configures both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tmxd import paths
from tmxd.config import option, section
from tmxd.errors import InputError
from tmxd.taskmaster.jsonedit import JsonEditor, new_text

HOOK_COMMAND = "tmxd hook claude"
TOOL_MATCHER = "Edit|Write|MultiEdit|Bash"
TMXD_SERVER = "tmxd"
TASK_MASTER_SERVER = "task-master-ai"
OPTIONAL_SERVERS = ("filesystem", "git")
# Task Master's MCP tools that need a model. With tmxd's server beside it, Task Master's
# is limited to these (TASK_MASTER_TOOLS takes a comma list): tmxd answers the others
# (get_tasks, next_task, get_task, set_task_status, update_subtask, validate_dependencies)
# natively, and the model never sees two tools that do the same thing.
TASK_MASTER_AI_TOOLS = (
    "parse_prd",
    "expand_task",
    "expand_all",
    "analyze_project_complexity",
    "add_task",
    "update_task",
    "update",
    "scope_up_task",
    "scope_down_task",
    "research",
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class InitConfig:
    mcp_servers: list[str] = option(
        [TMXD_SERVER, TASK_MASTER_SERVER],
        "MCP servers `tmxd init` writes to .mcp.json: tmxd, task-master-ai, filesystem, git",
    )
    task_master_tools: str = option(
        "auto",
        "TASK_MASTER_TOOLS for the Task Master MCP server: core, standard, all, a comma list, "
        "or auto (its AI tools when tmxd's server is written too, else core)",
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


def merge_mcp(
    old: str | None,
    path: Path,
    cfg: InitConfig,
    extra: Sequence[str] = (),
    warnings: list[str] | None = None,
) -> str:
    """``.mcp.json`` with tmxd's servers merged into ``old`` (None: a new file).

    Entries tmxd owns are added or brought up to date; every other byte is kept. An env
    key the user set keeps its value. Literal secrets already there are warned about.
    """
    servers = mcp_servers(cfg, extra)
    editor = JsonEditor(old if old is not None else "{}", path)
    for name, entry in servers.items():
        env = entry.pop("env", None)
        editor.ensure(("mcpServers", name), entry)
        for key, value in (env or {}).items():
            where = ("mcpServers", name, "env", key)
            if key == "TASK_MASTER_TOOLS" and editor.get(where) == "core" != value:
                editor.ensure(where, value)  # Task Master's default, as older inits wrote it
            else:
                editor.ensure_default(where, value)
    if warnings is not None:
        warnings.extend(literal_secrets(editor.data, path))
    return editor.text if old is not None else new_text(editor.data)


def merge_settings(
    old: str | None,
    path: Path,
    root: Path,
    cfg: InitConfig,
    warnings: list[str] | None = None,
) -> str:
    """``.claude/settings.json`` with tmxd's permissions and hooks merged into ``old``."""
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
    return editor.text if old is not None else new_text(editor.data)


def mcp_servers(cfg: InitConfig, extra: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """The ``mcpServers`` entries init owns, by name."""
    wanted = [*cfg.mcp_servers, *(s for s in extra if s not in cfg.mcp_servers)]
    known = (TMXD_SERVER, TASK_MASTER_SERVER, *OPTIONAL_SERVERS)
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise InputError(
            f"unknown MCP server {unknown[0]!r} in [init] mcp_servers; "
            f"choose from {', '.join(known)}"
        )
    bad_keys = [k for k in cfg.mcp_env_keys if not _ENV_NAME.match(k)]
    if bad_keys:
        raise InputError(
            f"[init] mcp_env_keys: {bad_keys[0]!r} is not an environment variable name"
        )
    servers: dict[str, dict[str, Any]] = {}
    if TMXD_SERVER in wanted:
        command, args = paths.tmxd_command()
        servers[TMXD_SERVER] = {"type": "stdio", "command": command, "args": [*args, "mcp"]}
    if TASK_MASTER_SERVER in wanted:
        tools = cfg.task_master_tools
        if tools == "auto":
            tools = ",".join(TASK_MASTER_AI_TOOLS) if TMXD_SERVER in wanted else "core"
        env = {"TASK_MASTER_TOOLS": tools}
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
    ]
    rules.extend(
        f"mcp__{server}__*"
        for server in (TMXD_SERVER, TASK_MASTER_SERVER)
        if server in cfg.mcp_servers
    )
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
