"""Agent adapters: stream-json parsing, verdicts, argv building, and the real Claude Code CLI."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from claude_stub import Script, claude_binary, messages_stub
from tmxd import proc
from tmxd.autopilot.agents import (
    DENIAL_INPUT_LIMIT,
    ClaudeCodeAgent,
    CommandAgent,
    StreamStats,
    describe_denial,
    expand_template,
    judge,
    make_agent,
)
from tmxd.errors import InputError

RESULT = {
    "type": "result",
    "subtype": "success",
    "is_error": False,
    "num_turns": 3,
    "result": "Done.",
    "session_id": "s-1",
    "total_cost_usd": 0.0123,
    "usage": {
        "input_tokens": 2400,
        "cache_creation_input_tokens": 600,
        "cache_read_input_tokens": 1000,
        "output_tokens": 84,
    },
    "permission_denials": [{"tool_name": "Bash"}],
}


def _assistant(*blocks: dict[str, object]) -> str:
    return json.dumps({"type": "assistant", "message": {"id": "m1", "content": list(blocks)}})


def _feed(lines: list[str]) -> StreamStats:
    stats = StreamStats()
    for line in lines:
        stats.feed(line)
    return stats


def test_counts_tool_calls_from_tool_use_blocks_and_reads_the_result() -> None:
    lines = [
        json.dumps({"type": "system", "subtype": "init", "session_id": "s-1"}),
        _assistant({"type": "text", "text": "let me look"}),
        _assistant({"type": "tool_use", "id": "t1", "name": "Read", "input": {}}),
        _assistant({"type": "tool_use", "id": "t2", "name": "Bash", "input": {}}),
        json.dumps(
            {
                "type": "user",
                "message": {
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t2",
                            "is_error": True,
                            "content": "denied",
                        }
                    ]
                },
            }
        ),
        _assistant({"type": "tool_use", "id": "t3", "name": "Edit", "input": {}}),
        json.dumps(RESULT),
    ]
    stats = _feed(lines)
    assert stats.tool_calls == 3 and stats.tool_errors == 1
    outcome = judge(stats, 0)
    assert outcome.success and outcome.error is None
    assert outcome.turns == 3
    assert outcome.input_tokens == 2400 + 600 + 1000
    assert outcome.output_tokens == 84
    assert outcome.cost_usd == pytest.approx(0.0123)
    assert outcome.session_id == "s-1"
    assert outcome.permission_denials == ({"tool": "Bash", "target": "", "input": ""},)
    assert outcome.denied_edits == []  # a refused Bash call is noted, not a failed edit


def test_refused_edits_are_told_apart_and_named() -> None:
    denials = [
        {"tool_name": "Write", "tool_input": {"file_path": "/w/.git/x.txt", "content": "y" * 900}},
        {"tool_name": "Bash", "tool_input": {"command": "curl example.com"}},
    ]
    outcome = judge(_feed([json.dumps({**RESULT, "permission_denials": denials})]), 0)
    assert outcome.success  # judged by the attempt: the adapter only reports them
    assert [d["tool"] for d in outcome.denied_edits] == ["Write"]
    assert all(len(d["input"]) <= DENIAL_INPUT_LIMIT + 1 for d in outcome.permission_denials)
    named = [describe_denial(d) for d in outcome.permission_denials]
    assert named == ["Write(/w/.git/x.txt)", "Bash(curl example.com)"]


def test_claude_code_needs_a_successful_result_event() -> None:
    plain = _feed(["did the thing"])
    assert judge(plain, 0).success
    assert judge(plain, 0, require_result=True).error == (
        "no result event: the agent printed no stream-json result"
    )
    odd = {**RESULT, "subtype": "partial"}
    assert judge(_feed([json.dumps(odd)]), 0, require_result=False).error == "partial: Done."
    assert ClaudeCodeAgent().requires_result and not CommandAgent(("x",)).requires_result


def test_is_error_with_exit_zero_is_a_failure() -> None:
    result = {**RESULT, "is_error": True, "result": "Not logged in · Please run /login"}
    outcome = judge(_feed([json.dumps(result)]), 0)
    assert not outcome.success
    assert outcome.error == "is_error: Not logged in · Please run /login"


def test_error_subtypes_and_exit_codes_fail() -> None:
    result = {**RESULT, "subtype": "error_max_turns", "errors": ["Reached max turns (2)"]}
    result.pop("result")
    outcome = judge(_feed([json.dumps(result)]), 0)
    assert outcome.error == "error_max_turns: Reached max turns (2)"
    outcome = judge(_feed([json.dumps(RESULT)]), 1)
    assert outcome.error == "exit code 1: Done."
    assert judge(StreamStats(), None, timed_out=True).error == "timed out"
    assert judge(StreamStats(), -15, cancelled=True, failure_text="x").error == "interrupted"
    assert judge(StreamStats(), 2, failure_text="boom").error == "exit code 2: boom"


def test_malformed_lines_are_counted_and_a_cut_stream_fails() -> None:
    stats = _feed([json.dumps({"type": "system", "subtype": "init"}), "{broken", "[1, 2]", ""])
    assert stats.malformed_lines == 2
    outcome = judge(stats, 0)
    assert not outcome.success
    assert outcome.error == "no result event (2 malformed lines)"


def test_plain_text_output_with_exit_zero_succeeds() -> None:
    outcome = judge(_feed(["did the thing", "all good"]), 0)
    assert outcome.success and outcome.tool_calls == 0 and outcome.cost_usd is None


def test_claude_invocation_has_the_headless_flags(tmp_path: Path) -> None:
    agent = ClaudeCodeAgent(
        binary="/opt/claude",
        allowed_tools=("Read", "Bash(pytest *)"),
        max_turns=12,
        max_budget_usd=2.5,
        model="sonnet",
    )
    inv = agent.invocation(
        task_id="4.2",
        tag="master",
        prompt="do it; rm -rf /",
        prompt_file=tmp_path / "p.md",
        workdir=tmp_path,
        base_env={"PATH": "/bin", "CLAUDE_CODE_CHILD_SESSION": "1"},
    )
    argv = inv.argv
    assert argv[:5] == ["/opt/claude", "-p", "--output-format", "stream-json", "--verbose"]
    assert argv[argv.index("--session-id") + 1] == inv.session_id
    assert argv[argv.index("--max-turns") + 1] == "12"
    assert argv[argv.index("--max-budget-usd") + 1] == "2.5"
    assert argv[argv.index("--allowedTools") + 1] == "Read,Bash(pytest *)"
    assert argv[argv.index("--permission-mode") + 1] == "acceptEdits"
    assert argv[argv.index("--model") + 1] == "sonnet"
    assert "do it; rm -rf /" not in argv, "the prompt goes on stdin"
    assert inv.stdin_text == "do it; rm -rf /"
    assert "CLAUDE_CODE_CHILD_SESSION" not in inv.env
    assert inv.env["DISABLE_AUTOUPDATER"] == "1"
    assert inv.env["TMXD_TASK_ID"] == "4.2" and inv.env["TMXD_TAG"] == "master"


def test_claude_gets_tmxds_mcp_server_on_the_project_and_may_use_its_tools(
    tmp_path: Path,
) -> None:
    def invoke(agent: ClaudeCodeAgent) -> Any:
        env = {"PATH": "/bin", "TMXD_PROJECT_ROOT": str(tmp_path)}
        return agent.invocation(
            task_id="2",
            tag="master",
            prompt="p",
            prompt_file=tmp_path / "p.md",
            workdir=tmp_path / "worktree",
            base_env=env,
        )

    inv = invoke(ClaudeCodeAgent("claude", ("Read",), mcp_server=("/opt/tmxd", "mcp")))
    config = json.loads(inv.argv[inv.argv.index("--mcp-config") + 1])
    assert config == {
        "mcpServers": {
            "tmxd": {"type": "stdio", "command": "/opt/tmxd", "args": ["mcp", "-p", str(tmp_path)]}
        }
    }
    assert inv.argv[inv.argv.index("--allowedTools") + 1] == "Read,mcp__tmxd__*"
    assert inv.env["MCP_CONNECTION_NONBLOCKING"] == "0"  # the first turn has the tools
    assert int(inv.env["MCP_CONNECT_TIMEOUT_MS"]) >= 30000
    bare = invoke(ClaudeCodeAgent("claude", ("Read",)))
    assert "--mcp-config" not in bare.argv and "MCP_CONNECTION_NONBLOCKING" not in bare.env


def test_command_template_substitutes_inside_arguments_only(tmp_path: Path) -> None:
    agent = CommandAgent(("agent", "--task={task_id}", "{prompt_file}", "{unknown}", "$(id)"))
    inv = agent.invocation(
        task_id="7",
        tag="feat",
        prompt="p",
        prompt_file=tmp_path / "x y.md",
        workdir=tmp_path,
        base_env={},
    )
    assert inv.argv == ["agent", "--task=7", str(tmp_path / "x y.md"), "{unknown}", "$(id)"]
    assert inv.env["TMXD_TASK_ID"] == "7" and inv.env["TMXD_TAG"] == "feat"
    assert expand_template(["{task_id}{task_id}"], {"task_id": "1; rm"}) == ["1; rm1; rm"]


def test_make_agent_validates_its_config() -> None:
    common = dict(
        claude_bin="claude",
        allowed_tools=[],
        permission_mode="acceptEdits",
        max_turns=1,
        max_budget_usd=0.0,
        model="",
        extra_args=[],
    )
    assert make_agent("claude", command=[], **common).name == "claude"  # type: ignore[arg-type]
    assert make_agent("command", command=["/x/my-agent"], **common).name == "my-agent"  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"needs autopilot\.command"):
        make_agent("command", command=[], **common)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="unknown"):
        make_agent("gpt", command=[], **common)  # type: ignore[arg-type]


def test_command_agent_runs_a_real_program_without_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    agent = CommandAgent((sys.executable, "-c", "import sys; print(sys.argv[1:])", "{task_id}"))
    inv = agent.invocation(
        task_id=f"1; touch {marker}",
        tag="master",
        prompt="",
        prompt_file=tmp_path / "p",
        workdir=tmp_path,
        base_env=dict(os.environ),
    )
    stats = StreamStats()
    res = proc.run(inv.argv, cwd=tmp_path, timeout_s=60, env=inv.env, on_stdout_line=stats.feed)
    assert res.ok and not marker.exists()
    assert res.stdout_tail == (f"['1; touch {marker}']",)


CLAUDE = claude_binary()


@pytest.mark.skipif(
    CLAUDE is None,
    reason="Claude Code CLI not installed (npm @anthropic-ai/claude-code); "
    "run scripts/install-claude-code — npm was unreachable",
)
def test_real_claude_code_against_a_loopback_messages_stub(tmp_path: Path) -> None:
    """The real CLI runs a Write tool from the canned tool_use; the adapter reads its stream."""
    assert CLAUDE is not None
    work = tmp_path / "work"
    work.mkdir()
    target = work / "hello.txt"
    script = Script(
        tool_uses=[{"name": "Write", "input": {"file_path": str(target), "content": "hi\n"}}],
        final_text="Wrote hello.txt.",
    )
    agent = ClaudeCodeAgent(
        binary=str(CLAUDE), allowed_tools=("Write", "Read"), max_turns=5, max_budget_usd=1.0
    )
    with messages_stub(script) as url:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path / "home"),
            "ANTHROPIC_BASE_URL": url,
            "ANTHROPIC_API_KEY": "test-key-not-real",
        }
        inv = agent.invocation(
            task_id="1",
            tag="master",
            prompt="Create hello.txt",
            prompt_file=tmp_path / "p.md",
            workdir=work,
            base_env=env,
        )
        stats = StreamStats()
        res = proc.run(
            inv.argv,
            cwd=work,
            timeout_s=180,
            env=inv.env,
            stdin_text=inv.stdin_text,
            on_stdout_line=stats.feed,
        )
    assert res.exit_code == 0, res.output_tail(20)
    outcome = judge(stats, res.exit_code)
    assert outcome.success, outcome.error
    assert target.read_text() == "hi\n"
    assert outcome.tool_calls == 1
    assert outcome.turns == 2
    assert outcome.session_id == inv.session_id
    assert outcome.input_tokens == 2400 and outcome.output_tokens == 84
    assert outcome.cost_usd is not None and outcome.cost_usd > 0
    assert res.peak_rss_bytes is not None and res.peak_rss_bytes > 10 * 1024 * 1024
    assert stats.malformed_lines == 0
    assert script.requests and script.requests[0]["messages"][0]["role"] == "user"
    first = json.dumps(script.requests[0]["messages"])
    assert "Create hello.txt" in first


@pytest.mark.skipif(CLAUDE is None, reason="Claude Code CLI not installed; npm was unreachable")
def test_real_claude_code_max_turns_is_a_failure(tmp_path: Path) -> None:
    assert CLAUDE is not None
    work = tmp_path / "work"
    work.mkdir()
    script = Script(tool_uses=[{"name": "Read", "input": {"file_path": str(work / "nope")}}])
    agent = ClaudeCodeAgent(binary=str(CLAUDE), allowed_tools=("Read",), max_turns=1)
    with messages_stub(script) as url:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path / "home"),
            "ANTHROPIC_BASE_URL": url,
            "ANTHROPIC_API_KEY": "test-key-not-real",
        }
        inv = agent.invocation(
            task_id="1",
            tag="master",
            prompt="Read",
            prompt_file=tmp_path / "p",
            workdir=work,
            base_env=env,
        )
        stats = StreamStats()
        res = proc.run(
            inv.argv,
            cwd=work,
            timeout_s=180,
            env=inv.env,
            stdin_text=inv.stdin_text,
            on_stdout_line=stats.feed,
        )
    outcome = judge(stats, res.exit_code)
    assert res.exit_code == 1
    assert not outcome.success
    assert outcome.error is not None and outcome.error.startswith("exit code 1")
    assert stats.result is not None and stats.result["subtype"] == "error_max_turns"
