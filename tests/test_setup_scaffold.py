from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from helpers import copy_corpus, init_repo
from tmxd.config import SECTIONS
from tmxd.errors import InputError
from tmxd.setup import scaffold

# Hook events of Claude Code (reference/claude-code.md §2.3: the 2.1.197 binary's list + docs).
REAL_EVENTS = {
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "PostToolBatch",
    "Notification",
    "UserPromptSubmit",
    "UserPromptExpansion",
    "SessionStart",
    "SessionEnd",
    "Stop",
    "StopFailure",
    "SubagentStart",
    "SubagentStop",
    "PreCompact",
    "PostCompact",
    "PermissionRequest",
    "PermissionDenied",
    "Setup",
    "TeammateIdle",
    "TaskCreated",
    "TaskCompleted",
    "Elicitation",
    "ElicitationResult",
    "ConfigChange",
    "WorktreeCreate",
    "WorktreeRemove",
    "InstructionsLoaded",
    "CwdChanged",
    "FileChanged",
    "MessageDisplay",
    "DirectoryAdded",
    "",
}
TOOL_EVENTS = {"PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest"}
HANDLER_TYPES = {"command", "http", "mcp_tool", "prompt", "agent"}


def validate_settings(data: Any) -> list[str]:
    """Problems Claude Code would have with a settings object (reference §2.2, §2.9, §3.1)."""
    problems = []
    if not isinstance(data, dict):
        return ["settings is not an object"]
    if "allowedTools" in data:
        problems.append("legacy top-level allowedTools")
    perms = data.get("permissions", {})
    for key in ("allow", "ask", "deny"):
        rules = perms.get(key, [])
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            problems.append(f"permissions.{key} must be a list of strings")
    for event, groups in data.get("hooks", {}).items():
        if event not in REAL_EVENTS:
            problems.append(f"{event} is not a Claude Code hook event")
        if not isinstance(groups, list):
            problems.append(f"hooks.{event} must be a list")
            continue
        for group in groups:
            if "matcher" in group and event not in TOOL_EVENTS:
                problems.append(f"{event} does not take a matcher")
            for handler in group.get("hooks", []):
                if handler.get("type") not in HANDLER_TYPES:
                    problems.append(f"bad handler type in {event}")
                timeout = handler.get("timeout", 600)
                if not isinstance(timeout, int) or not 1 <= timeout <= 600:
                    problems.append(f"timeout of {event} must be seconds")
    return problems


def only_insertions(old: str, new: str) -> bool:
    """True when ``new`` is ``old`` with text inserted and nothing removed or changed."""
    i = 0
    for char in new:
        if i < len(old) and char == old[i]:
            i += 1
    return i == len(old)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = init_repo(tmp_path / "proj")
    copy_corpus("001", root)
    return root


def apply_plan(root: Path, **kw: Any) -> scaffold.Plan:
    plan = scaffold.plan(root, scaffold.Options(**kw))
    scaffold.apply(plan.changes)
    return plan


def test_fresh_project_gets_every_file(project: Path) -> None:
    plan = apply_plan(project)
    assert {c.action for c in plan.changes} == {"create"}
    mcp = json.loads((project / ".mcp.json").read_text())
    tm = mcp["mcpServers"]["task-master-ai"]
    assert tm["type"] == "stdio" and tm["command"] == "npx"
    assert tm["args"] == ["-y", "task-master-ai"]
    assert tm["env"]["ANTHROPIC_API_KEY"] == "${ANTHROPIC_API_KEY}"
    settings = json.loads((project / ".claude" / "settings.json").read_text())
    assert validate_settings(settings) == []
    post = settings["hooks"]["PostToolUse"]
    assert post == [
        {
            "matcher": "Edit|Write|MultiEdit|Bash",
            "hooks": [{"type": "command", "command": "tmxd hook claude", "timeout": 10}],
        }
    ]
    for event in ("Stop", "SessionEnd"):
        assert settings["hooks"][event][0]["hooks"][0]["command"] == "tmxd hook claude"
    allow = settings["permissions"]["allow"]
    assert {"Bash(task-master *)", "Bash(tmxd *)", "Bash(git commit *)"} <= set(allow)
    assert (project / ".claude" / "commands" / "taskmaster-workflow.md").is_file()
    assert (project / ".taskmaster" / "tmxd.toml").is_file()


def test_second_run_changes_nothing(project: Path) -> None:
    apply_plan(project, with_servers=("git", "filesystem"))
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    again = scaffold.plan(project, scaffold.Options(with_servers=("git", "filesystem")))
    assert again.pending == []
    scaffold.apply(again.changes)
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before


FOREIGN_MCP = (
    "{\n"
    '\t"mcpServers" :{\n'
    '\t\t"docs":   { "command": "docs-server", "args": ["--port",  "9"] },\n'
    '\t\t"task-master-ai": {"command": "npx", "args": ["-y", "--package=task-master-ai",'
    ' "task-master-ai"], "env": {"ANTHROPIC_API_KEY": "${MY_ANTHROPIC}", "X": "1"}}\n'
    "\t},\n"
    '\t"zzz": [1,2,3]\n'
    "}"
)


def test_mcp_merge_keeps_foreign_entries_and_formatting(project: Path) -> None:
    path = project / ".mcp.json"
    path.write_text(FOREIGN_MCP)
    apply_plan(project)
    text = path.read_text()
    data = json.loads(text)
    assert text.startswith('{\n\t"mcpServers" :{\n\t\t"docs":   { "command": "docs-server", "args"')
    assert text.endswith('\t"zzz": [1,2,3]\n}')
    docs_line = '\t\t"docs":   { "command": "docs-server", "args": ["--port",  "9"] },\n'
    assert docs_line in text
    assert data["zzz"] == [1, 2, 3]
    assert data["mcpServers"]["docs"] == {"command": "docs-server", "args": ["--port", "9"]}
    tm = data["mcpServers"]["task-master-ai"]
    assert tm["args"] == ["-y", "task-master-ai"]  # ours: updated
    assert tm["type"] == "stdio"
    assert tm["env"]["ANTHROPIC_API_KEY"] == "${MY_ANTHROPIC}"  # theirs: kept
    assert tm["env"]["X"] == "1"
    assert tm["env"]["PERPLEXITY_API_KEY"] == "${PERPLEXITY_API_KEY}"  # missing: added


FOREIGN_SETTINGS = """{
    "model": "opus",
    "permissions": {
        "allow": ["Read", "Bash(npm run build)"],
        "deny": ["Read(./.env)"]
    },
    "hooks": {
        "PostToolUse": [
            {"matcher": "Write", "hooks": [{"type": "command", "command": "./fmt.sh"}]}
        ]
    }
}
"""


def test_settings_merge_keeps_foreign_rules_and_hooks(project: Path) -> None:
    path = project / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(FOREIGN_SETTINGS)
    apply_plan(project)
    text = path.read_text()
    data = json.loads(text)
    assert validate_settings(data) == []
    assert data["model"] == "opus"
    assert data["permissions"]["deny"] == ["Read(./.env)"]
    assert data["permissions"]["allow"][:2] == ["Read", "Bash(npm run build)"]
    assert "Bash(tmxd *)" in data["permissions"]["allow"]
    post = data["hooks"]["PostToolUse"]
    assert post[0] == {"matcher": "Write", "hooks": [{"type": "command", "command": "./fmt.sh"}]}
    assert post[1]["hooks"][0]["command"] == "tmxd hook claude"
    assert only_insertions(FOREIGN_SETTINGS, text)


def test_our_outdated_hook_is_updated_not_duplicated(project: Path) -> None:
    path = project / ".claude" / "settings.json"
    path.parent.mkdir()
    old = {
        "hooks": {
            "PostToolUse": [
                {
                    "matcher": "Edit",
                    "hooks": [{"type": "command", "command": "tmxd hook claude", "timeout": 600}],
                }
            ]
        }
    }
    path.write_text(json.dumps(old, indent=2))
    apply_plan(project)
    post = json.loads(path.read_text())["hooks"]["PostToolUse"]
    assert post == [
        {
            "matcher": "Edit|Write|MultiEdit|Bash",
            "hooks": [{"type": "command", "command": "tmxd hook claude", "timeout": 10}],
        }
    ]


@pytest.mark.parametrize("name", [".mcp.json", ".claude/settings.json"])
def test_invalid_json_is_reported_and_nothing_is_written(project: Path, name: str) -> None:
    path = project / name
    path.parent.mkdir(exist_ok=True)
    path.write_text('{\n  "hooks": {\n    "Stop": [,]\n  }\n}\n')
    before = sorted(p for p in project.rglob("*") if ".git" not in p.parts)
    with pytest.raises(InputError, match=rf"{re.escape(name)}: line 3 column 14: Expecting value"):
        scaffold.plan(project)
    assert path.read_text() == '{\n  "hooks": {\n    "Stop": [,]\n  }\n}\n'
    assert sorted(p for p in project.rglob("*") if ".git" not in p.parts) == before


def test_settings_with_wrong_shape_is_reported(project: Path) -> None:
    path = project / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text('{"permissions": {"allow": "Write"}}')
    with pytest.raises(InputError, match=r"settings\.json: permissions\.allow is not an array"):
        scaffold.plan(project)


def test_commands_use_arguments_and_existing_differing_file_is_kept(project: Path) -> None:
    cmd = project / ".claude" / "commands" / "taskmaster-debug.md"
    cmd.parent.mkdir(parents=True)
    cmd.write_text("my own debug command\n")
    plan = apply_plan(project)
    assert cmd.read_text() == "my own debug command\n"
    assert any("taskmaster-debug.md: kept your version" in w for w in plan.warnings)
    apply_plan(project, force=True)
    assert cmd.read_text() == scaffold.command_text("taskmaster-debug.md")
    for name in scaffold.COMMAND_FILES:
        text = scaffold.command_text(name)
        assert text.startswith("---\ndescription: ")
        assert "$ARGUMENTS" in text


def test_toml_lists_every_option_commented_at_its_default(project: Path) -> None:
    apply_plan(project)
    text = (project / ".taskmaster" / "tmxd.toml").read_text()
    parsed = tomllib.loads(text)
    sections = scaffold.registered_sections()
    assert {"autopilot", "daemon", "init", "links", "metrics"} <= {sec.name for sec in sections}
    assert "init" in SECTIONS
    chosen = scaffold.init_choices()
    for sec in sections:
        # header present, every option commented but those init chooses for the project
        assert parsed[sec.name] == {
            key: c.value for (name, key), c in chosen.items() if name == sec.name and c.active
        }
        for fld in dataclasses.fields(sec.cls):
            assert re.search(rf"^(# )?{fld.name} = ", text, re.M), fld.name
        # uncommenting every option gives a valid file with the defaults
    uncommented = re.sub(r"^# (\w+ = )", r"\1", text, flags=re.M)
    uncommented = re.sub(r'= ""  # not set by default', '= ""', uncommented)
    for sec in sections:
        cfg = sec.from_mapping(tomllib.loads(uncommented)[sec.name], Path("t"))
        for fld in dataclasses.fields(sec.cls):
            default = getattr(sec.defaults(), fld.name)
            choice = chosen.get((sec.name, fld.name))
            if choice is not None:
                assert getattr(cfg, fld.name) == choice.value
            elif default is not None:
                assert getattr(cfg, fld.name) == default


def test_init_turns_on_the_cascade_for_outside_edits(project: Path) -> None:
    apply_plan(project)
    text = (project / ".taskmaster" / "tmxd.toml").read_text()
    assert tomllib.loads(text)["daemon"]["cascade_external"] is True
    assert "# Set by tmxd init: a parent follows its subtasks" in text
    from tmxd.daemon.settings import DAEMON

    assert DAEMON.load(project).cascade_external is True
    assert DAEMON.defaults().cascade_external is False  # `watch add` alone keeps it off


def test_init_adds_its_choice_to_an_older_file_once_and_keeps_a_users_value(
    project: Path,
) -> None:
    path = project / ".taskmaster" / "tmxd.toml"
    path.write_text("[daemon]\nannounce_unblocked = true\n")
    apply_plan(project)
    assert tomllib.loads(path.read_text())["daemon"]["cascade_external"] is True
    assert scaffold.plan(project).pending == []
    path.write_text("[daemon]\ncascade_external = false\n")
    apply_plan(project)
    assert tomllib.loads(path.read_text())["daemon"]["cascade_external"] is False


def test_init_choice_under_a_commented_header_stays_commented(project: Path) -> None:
    path = project / ".taskmaster" / "tmxd.toml"
    path.write_text("[init]\nhook_timeout = 5\n\n# [daemon]\n")
    apply_plan(project)
    parsed = tomllib.loads(path.read_text())
    assert "daemon" not in parsed and "cascade_external" not in parsed["init"]


def test_init_fills_the_notify_command_with_the_notifier_on_path(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    apply_plan(project)
    path = project / ".taskmaster" / "tmxd.toml"
    text = path.read_text()
    assert "command" not in tomllib.loads(text)["notify"]  # not found: an example only
    argv, found = scaffold.platform_notifier()
    assert not found
    assert f"# command = {json.dumps(argv)}" in text and "was not found on PATH" in text
    path.unlink()
    fake = bin_dir / argv[0]
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    apply_plan(project)
    from tmxd.daemon import notify

    assert notify.load(project).command == argv
    assert notify.load(project).on == list(notify.EVENTS)


def test_each_platform_has_its_notifier_with_the_message_as_one_argument() -> None:
    linux, _ = scaffold.platform_notifier("linux")
    mac, _ = scaffold.platform_notifier("darwin")
    assert linux == ["notify-send", "tmxd", "{message}"]
    assert mac[0] == "osascript" and mac[-1] == "{message}"
    assert all("{" not in arg for arg in mac[:-1])  # the message is data, never script text


def test_toml_merge_keeps_user_values_and_adds_missing_options(project: Path) -> None:
    path = project / ".taskmaster" / "tmxd.toml"
    user = "# mine\n[init]\nhook_timeout = 5   # faster\n\n[other]\nx = 1\n"
    path.write_text(user)
    apply_plan(project)
    text = path.read_text()
    assert text.startswith("# mine\n[init]\nhook_timeout = 5   # faster\n")
    assert "# task_master_tools = " in text
    assert "# hook_timeout = " not in text
    assert "[other]\nx = 1\n" in text
    assert tomllib.loads(text)["init"] == {"hook_timeout": 5}
    assert scaffold.plan(project).pending == []


def test_settings_written_with_configured_hook_timeout(project: Path) -> None:
    path = project / ".taskmaster" / "tmxd.toml"
    path.write_text('[init]\nhook_timeout = 3\nextra_allow = ["Bash(make *)"]\n')
    apply_plan(project)
    settings = json.loads((project / ".claude" / "settings.json").read_text())
    assert settings["hooks"]["Stop"][0]["hooks"][0]["timeout"] == 3
    assert "Bash(make *)" in settings["permissions"]["allow"]


def test_literal_secret_in_existing_mcp_is_kept_but_warned(project: Path) -> None:
    path = project / ".mcp.json"
    path.write_text('{"mcpServers": {"x": {"command": "y", "env": {"OPENAI_API_KEY": "sk-1"}}}}')
    plan = scaffold.plan(project)
    assert any("OPENAI_API_KEY holds a literal value" in w for w in plan.warnings)


def test_diff_is_unified_and_relative(project: Path) -> None:
    plan = scaffold.plan(project)
    mcp = next(c for c in plan.changes if c.path.name == ".mcp.json")
    diff = mcp.diff(project)
    assert diff.startswith("--- /dev/null\n+++ b/.mcp.json\n@@ ")


def test_not_a_project_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a Task Master project"):
        scaffold.find_root(tmp_path)


# Commands of the Task Master CLI 0.43.1 (reference/taskmaster.md §1).
TASK_MASTER_COMMANDS = {
    "list", "show", "next", "set-status", "status", "update-subtask", "update-task", "update",
    "expand", "add-task", "add-subtask", "validate-dependencies", "fix-dependencies",
    "complexity-report", "analyze-complexity", "generate", "init", "models", "tags",
}  # fmt: skip


@pytest.mark.parametrize("name", scaffold.COMMAND_FILES)
def test_slash_commands_only_use_commands_that_exist(name: str) -> None:
    import click

    from tmxd.cli import cli

    text = scaffold.command_text(name)
    used = re.findall(r"`(tmxd|task-master) ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", text)
    assert len(used) >= 5
    for program, command, sub in used:
        if program == "task-master":
            assert command in TASK_MASTER_COMMANDS, command
            continue
        assert command in cli.list_commands(click.Context(cli)), f"tmxd {command}"
        group = cli.get_command(click.Context(cli), command)
        if isinstance(group, click.Group):
            assert sub in group.commands, f"tmxd {command} {sub}"


def test_toml_commented_section_header_is_completed_in_place(project: Path) -> None:
    path = project / ".taskmaster" / "tmxd.toml"
    path.write_text("# [init]\n# hook_timeout = 10\n")
    apply_plan(project)
    text = path.read_text()
    assert text.startswith("# [init]\n# hook_timeout = 10\n\n# MCP servers")
    assert text.count("[init]") == 1
    assert tomllib.loads(text).get("init") is None


def test_toml_table_given_by_dotted_keys_gets_a_commented_header(project: Path) -> None:
    path = project / ".taskmaster" / "tmxd.toml"
    path.write_text("init.hook_timeout = 4\n")
    apply_plan(project)
    text = path.read_text()
    assert "# [init]\n" in text
    assert tomllib.loads(text)["init"] == {"hook_timeout": 4}


def test_invalid_toml_is_reported_and_left_alone(project: Path) -> None:
    path = project / ".taskmaster" / "tmxd.toml"
    path.write_text("[init\n")
    with pytest.raises(InputError, match=r"tmxd\.toml: invalid TOML"):
        scaffold.plan(project)
    assert path.read_text() == "[init\n"


def test_foreign_invalid_handler_is_kept_but_warned(project: Path) -> None:
    path = project / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text('{"hooks": {"Stop": [{"hooks": [{"command": "./notify.sh"}]}]}}')
    plan = apply_plan(project)
    assert any(
        "a handler needs a type" in w and "ignores the whole file" in w for w in plan.warnings
    )
    stop = json.loads(path.read_text())["hooks"]["Stop"]
    assert stop[0] == {"hooks": [{"command": "./notify.sh"}]}
    assert stop[1]["hooks"][0]["command"] == "tmxd hook claude"


def test_every_resource_file_is_package_data() -> None:
    """A wheel (not only an editable checkout) must carry the slash command templates."""
    from helpers import REPO_ROOT

    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["tmxd"]
    package = REPO_ROOT / "daemon" / "tmxd"
    shipped = {p for pattern in patterns for p in package.glob(pattern) if p.is_file()}
    for name in scaffold.COMMAND_FILES:
        assert package / "resources" / "claude" / name in shipped


def test_every_config_section_tmxd_declares_is_in_the_list_init_and_doctor_use() -> None:
    import importlib
    import pkgutil

    import tmxd
    from tmxd.config import Section

    declared: set[str] = set()
    for info in pkgutil.walk_packages(tmxd.__path__, prefix="tmxd."):
        module = importlib.import_module(info.name)
        declared |= {v.name for v in vars(module).values() if isinstance(v, Section)}
    assert declared == {sec.name for sec in scaffold.registered_sections()}
    assert declared >= {"autopilot", "daemon", "init", "links", "metrics"}


def test_register_says_registered_only_once_a_running_daemon_watches_it(tmp_path: Path) -> None:
    from daemonproc import DaemonProcess

    alone = init_repo(tmp_path / "alone")
    copy_corpus("001", alone)
    step = scaffold.register_project(alone)
    assert step.ok is True and step.message.startswith("added to the watch list; no daemon")
    daemon = DaemonProcess(tmp_path / "daemon.log").start()
    try:
        root = init_repo(tmp_path / "proj")
        copy_corpus("001", root)
        step = scaffold.register_project(root)
        pid = daemon.status()["pid"]
        assert (step.ok, step.message) == (
            True,
            f"registered: the running daemon (pid {pid}) watches it",
        )
        watched = {p["root"]: p["watch"] for p in daemon.status()["projects"]}
        assert watched[str(root.resolve())] != "not watched"
    finally:
        daemon.stop()
