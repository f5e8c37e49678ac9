from __future__ import annotations

import json
from pathlib import Path

from tmxd.paths import tmxd_command
from tmxd.setup.claude_settings import (
    HOOK_COMMAND,
    TASK_MASTER_AI_TOOLS,
    InitConfig,
    allow_rules,
    literal_secrets,
    merge_mcp,
    merge_settings,
    settings_problems,
    settings_warnings,
)

P = Path(".mcp.json")


def test_test_commands_detected_from_project_files(tmp_path: Path) -> None:
    project = tmp_path
    (project / "pyproject.toml").write_text("[project]\nname='x'\n")
    rules = allow_rules(project, InitConfig())
    assert "Bash(pytest *)" in rules
    assert "Bash(cargo test *)" not in rules


def test_mcp_merge_keeps_the_users_key_values_and_bytes() -> None:
    old = '{"mcpServers": {"task-master-ai": {"env": {"ANTHROPIC_API_KEY": "${MINE}"}}}}'
    warnings: list[str] = []
    new = merge_mcp(old, P, InitConfig(), warnings=warnings)
    server = json.loads(new)["mcpServers"]["task-master-ai"]
    assert server["env"]["ANTHROPIC_API_KEY"] == "${MINE}"  # never overwritten
    assert server["env"]["PERPLEXITY_API_KEY"] == "${PERPLEXITY_API_KEY}"
    assert server["command"] == "npx" and warnings == []
    assert merge_mcp(new, P, InitConfig()) == new  # a second run changes nothing


def test_a_new_settings_file_passes_the_checks_doctor_makes(tmp_path: Path) -> None:
    text = merge_settings(None, tmp_path / "settings.json", tmp_path, InitConfig())
    data = json.loads(text)
    assert text.endswith("}\n")
    assert settings_problems(data) == [] and settings_warnings(data) == []
    commands = [h["command"] for g in data["hooks"]["Stop"] for h in g["hooks"]]
    assert commands == [HOOK_COMMAND]


def test_shapes_claude_code_rejects_and_literal_secrets_are_named() -> None:
    assert settings_problems({"permissions": {"allow": "Write"}}) == [
        "permissions.allow must be a list of strings"
    ]
    assert "hooks.beforeEdit is not a Claude Code hook event: it never runs" in settings_warnings(
        {"hooks": {"beforeEdit": []}}
    )
    data = {"mcpServers": {"x": {"env": {"OPENAI_API_KEY": "sk-1", "OTHER": "${OTHER}"}}}}
    (warning,) = literal_secrets(data, P)
    assert "mcpServers.x.env.OPENAI_API_KEY holds a literal value" in warning


def test_init_writes_tmxds_server_and_limits_task_masters_to_its_ai_tools() -> None:
    data = json.loads(merge_mcp(None, P, InitConfig()))["mcpServers"]
    command, args = tmxd_command()
    assert data["tmxd"] == {"type": "stdio", "command": command, "args": [*args, "mcp"]}
    tools = data["task-master-ai"]["env"]["TASK_MASTER_TOOLS"].split(",")
    assert tools == list(TASK_MASTER_AI_TOOLS)
    assert not {"get_tasks", "next_task", "get_task", "set_task_status", "update_subtask"} & set(
        tools
    )
    alone = json.loads(merge_mcp(None, P, InitConfig(mcp_servers=["task-master-ai"])))
    assert "tmxd" not in alone["mcpServers"]
    assert alone["mcpServers"]["task-master-ai"]["env"]["TASK_MASTER_TOOLS"] == "core"
    chosen = InitConfig(task_master_tools="standard")
    assert (
        json.loads(merge_mcp(None, P, chosen))["mcpServers"]["task-master-ai"]["env"][
            "TASK_MASTER_TOOLS"
        ]
        == "standard"
    )


def test_an_older_core_entry_is_narrowed_and_a_users_choice_kept() -> None:
    old = '{"mcpServers": {"task-master-ai": {"env": {"TASK_MASTER_TOOLS": "core"}}}}'
    new = json.loads(merge_mcp(old, P, InitConfig()))["mcpServers"]["task-master-ai"]
    assert new["env"]["TASK_MASTER_TOOLS"] == ",".join(TASK_MASTER_AI_TOOLS)
    mine = '{"mcpServers": {"task-master-ai": {"env": {"TASK_MASTER_TOOLS": "all"}}}}'
    kept = json.loads(merge_mcp(mine, P, InitConfig()))["mcpServers"]["task-master-ai"]
    assert kept["env"]["TASK_MASTER_TOOLS"] == "all"


def test_permissions_allow_both_servers_tools(tmp_path: Path) -> None:
    rules = allow_rules(tmp_path, InitConfig())
    assert "mcp__tmxd__*" in rules and "mcp__task-master-ai__*" in rules
    assert "mcp__tmxd__*" not in allow_rules(tmp_path, InitConfig(mcp_servers=["task-master-ai"]))
