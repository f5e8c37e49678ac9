from __future__ import annotations

import json
from pathlib import Path

from tmxd.setup.claude_settings import (
    HOOK_COMMAND,
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
