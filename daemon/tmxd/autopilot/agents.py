"""Agent adapters: how a task's prompt becomes an argv, and its output a verdict.

Two adapters:

- ``ClaudeCodeAgent`` runs ``claude -p --output-format stream-json --verbose`` with the
  allowed tools, ``--max-turns``, ``--max-budget-usd`` and a fresh ``--session-id``;
- ``CommandAgent`` runs any program from an argv template; the placeholders
  ``{task_id}``, ``{prompt_file}``, ``{workdir}``, ``{session_id}`` and ``{tag}`` are
  replaced inside each argument. Nothing is ever handed to a shell.

Both read stdout as Claude Code ``stream-json`` when it is: tool calls are counted
from ``tool_use`` blocks, turns, tokens and cost come from the final ``result``
event. A run has failed when the exit code is not 0, when the result says
``is_error`` or a ``subtype`` other than ``success``, or when it timed out.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tmxd.errors import InputError

PLACEHOLDERS = ("task_id", "prompt_file", "workdir", "session_id", "tag")

# Variables that make a nested Claude Code run behave like a child session.
_STRIP_ENV = ("CLAUDE_CODE_CHILD_SESSION", "CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT")


@dataclass
class StreamStats:
    """What the agent's stream-json output said about the run."""

    tool_calls: int = 0
    tool_errors: int = 0
    events: int = 0
    malformed_lines: int = 0
    result: dict[str, Any] | None = None
    session_id: str | None = None
    texts: list[str] = field(default_factory=list)

    def feed(self, line: str) -> None:
        """Take one stdout line; anything that is not a JSON object is counted as malformed."""
        text = line.strip()
        if not text:
            return
        try:
            event = json.loads(text)
        except ValueError:
            self.malformed_lines += 1
            return
        if not isinstance(event, dict):
            self.malformed_lines += 1
            return
        self.events += 1
        kind = event.get("type")
        if kind == "system" and event.get("subtype") == "init":
            sid = event.get("session_id")
            self.session_id = sid if isinstance(sid, str) else self.session_id
        elif kind == "assistant":
            for block in _content(event):
                if block.get("type") == "tool_use":
                    self.tool_calls += 1
                elif block.get("type") == "text" and isinstance(block.get("text"), str):
                    self.texts.append(block["text"])
        elif kind == "user":
            for block in _content(event):
                if block.get("type") == "tool_result" and block.get("is_error") is True:
                    self.tool_errors += 1
        elif kind == "result":
            self.result = event

    @property
    def is_stream(self) -> bool:
        return self.events > 0


def _content(event: dict[str, Any]) -> list[dict[str, Any]]:
    message = event.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return []
    return [block for block in content if isinstance(block, dict)]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class AgentOutcome:
    """The verdict on one agent run plus what it cost."""

    success: bool
    error: str | None
    tool_calls: int
    turns: int | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    session_id: str | None
    permission_denials: tuple[dict[str, Any], ...] = ()

    @property
    def denied_edits(self) -> list[dict[str, Any]]:
        """The refused calls that would have changed files (Edit, Write, ...)."""
        return [d for d in self.permission_denials if d["tool"] in EDIT_TOOLS]


# Tools whose refusal means the agent's work is not on disk.
EDIT_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})
DENIAL_INPUT_LIMIT = 300


def denials(result: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """``permission_denials`` of a result event as ``{"tool", "target", "input"}``: the
    file (or command) it aimed at, and its input as JSON, shortened."""
    raw = result.get("permission_denials")
    if not isinstance(raw, list):
        return ()
    out = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        tool_input = item.get("tool_input")
        target = ""
        if isinstance(tool_input, dict):
            for key in ("file_path", "notebook_path", "path", "command"):
                if isinstance(tool_input.get(key), str):
                    target = tool_input[key][:DENIAL_INPUT_LIMIT]
                    break
        text = json.dumps(tool_input, ensure_ascii=False) if tool_input is not None else ""
        if len(text) > DENIAL_INPUT_LIMIT:
            text = text[:DENIAL_INPUT_LIMIT] + "…"
        out.append(
            {"tool": str(item.get("tool_name") or "unknown"), "target": target, "input": text}
        )
    return tuple(out)


def describe_denial(denial: dict[str, Any]) -> str:
    """``Write(/repo/.git/x.txt)``: the tool and its file (or command, or input)."""
    return f"{denial['tool']}({denial.get('target') or denial.get('input') or ''})"


def judge(
    stats: StreamStats,
    exit_code: int | None,
    *,
    timed_out: bool = False,
    cancelled: bool = False,
    failure_text: str = "",
    require_result: bool = False,
) -> AgentOutcome:
    """Decide success from the exit code and the final result event (if any).

    With ``require_result`` (Claude Code), a run that printed no ``result`` event has
    failed: exit 0 alone is no proof. Refused tool calls are returned, not judged:
    the attempt decides what they mean.
    """
    result = stats.result or {}
    usage = result.get("usage") if isinstance(result.get("usage"), dict) else {}
    assert isinstance(usage, dict)
    input_tokens = _int(usage.get("input_tokens"))
    if input_tokens is not None:
        input_tokens += sum(
            _int(usage.get(k)) or 0
            for k in ("cache_creation_input_tokens", "cache_read_input_tokens")
        )
    cost = result.get("total_cost_usd")
    error: str | None = None
    if cancelled:
        error = "interrupted"
    elif timed_out:
        error = "timed out"
    elif exit_code != 0:
        error = f"exit code {exit_code}"
    if error is None and stats.result is not None:
        if result.get("is_error") is True:
            error = "is_error"
        elif result.get("subtype") not in (None, "success"):
            error = str(result.get("subtype"))
    if error is not None and not cancelled:
        detail = _result_detail(result) or failure_text
        if detail:
            error = f"{error}: {detail}"
    elif stats.malformed_lines and stats.result is None and stats.is_stream:
        # The stream started but ended without its result: it was cut short.
        error = f"no result event ({stats.malformed_lines} malformed lines)"
    elif error is None and require_result and stats.result is None:
        error = "no result event: the agent printed no stream-json result"
    elif error is None and require_result and result.get("subtype") != "success":
        error = f"result subtype {result.get('subtype')!r}, not 'success'"
    session = result.get("session_id")
    return AgentOutcome(
        success=error is None,
        error=error,
        tool_calls=stats.tool_calls,
        turns=_int(result.get("num_turns")),
        input_tokens=input_tokens,
        output_tokens=_int(usage.get("output_tokens")),
        cost_usd=float(cost)
        if isinstance(cost, int | float) and not isinstance(cost, bool)
        else None,
        session_id=session if isinstance(session, str) else stats.session_id,
        permission_denials=denials(result),
    )


def _result_detail(result: dict[str, Any]) -> str:
    errors = result.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)[:500]
    text = result.get("result")
    if isinstance(text, str) and text.strip():
        return text.strip()[:500]
    return ""


@dataclass(frozen=True)
class Invocation:
    """Everything needed to start one agent run."""

    argv: list[str]
    env: dict[str, str]
    stdin_text: str | None
    session_id: str


class Agent(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def requires_result(self) -> bool:
        """True when only a stream-json ``result`` with ``subtype: success`` proves success."""
        ...

    def invocation(
        self,
        *,
        task_id: str,
        tag: str,
        prompt: str,
        prompt_file: Path,
        workdir: Path,
        base_env: Mapping[str, str],
    ) -> Invocation: ...


def _clean_env(base_env: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in base_env.items() if k not in _STRIP_ENV}
    env.setdefault("DISABLE_AUTOUPDATER", "1")
    env.setdefault("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
    return env


@dataclass(frozen=True)
class ClaudeCodeAgent:
    """Claude Code headless: ``claude -p`` with stream-json output and hard caps."""

    binary: str = "claude"
    allowed_tools: tuple[str, ...] = ()
    permission_mode: str = "acceptEdits"
    max_turns: int = 40
    max_budget_usd: float = 0.0
    model: str = ""
    extra_args: tuple[str, ...] = ()
    name: str = "claude"
    requires_result: bool = True
    # argv that starts tmxd's MCP server (``tmxd mcp``); empty: the agent gets none from us
    mcp_server: tuple[str, ...] = ()

    def invocation(
        self,
        *,
        task_id: str,
        tag: str,
        prompt: str,
        prompt_file: Path,
        workdir: Path,
        base_env: Mapping[str, str],
    ) -> Invocation:
        session_id = str(uuid.uuid4())
        argv = [
            self.binary,
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--session-id",
            session_id,
            "--permission-mode",
            self.permission_mode,
        ]
        if self.max_turns > 0:
            argv += ["--max-turns", str(self.max_turns)]
        if self.max_budget_usd > 0:
            argv += ["--max-budget-usd", f"{self.max_budget_usd:g}"]
        allowed = list(self.allowed_tools)
        if self.mcp_server:
            argv += ["--mcp-config", mcp_config(self.mcp_server, base_env.get(PROJECT_ENV))]
            if MCP_TOOLS not in allowed:
                allowed.append(MCP_TOOLS)
        if allowed:
            argv += ["--allowedTools", ",".join(allowed)]
        if self.model:
            argv += ["--model", self.model]
        argv += list(self.extra_args)
        env = _clean_env(base_env)
        if self.mcp_server:
            # Claude Code connects MCP servers in the background by default: make the first
            # turn wait for tmxd's tools (up to a minute, a loaded machine included).
            env.setdefault("MCP_CONNECTION_NONBLOCKING", "0")
            env.setdefault("MCP_CONNECT_TIMEOUT_MS", "60000")
        # Claude Code passes its environment to hooks: `tmxd hook claude` reads the task from it.
        env["TMXD_TASK_ID"] = task_id
        env["TMXD_TAG"] = tag
        # The prompt goes on stdin: no length limit from argv, nothing visible in ps.
        return Invocation(argv, env, prompt, session_id)


MCP_SERVER_NAME = "tmxd"
MCP_TOOLS = f"mcp__{MCP_SERVER_NAME}__*"
PROJECT_ENV = "TMXD_PROJECT_ROOT"


def mcp_config(server: Sequence[str], project: str | None) -> str:
    """``--mcp-config`` JSON naming tmxd's server, on the main project when it is known.

    It overrides a ``tmxd`` entry of the working directory's ``.mcp.json`` (a worktree may
    have one, or none when ``.mcp.json`` is not committed).
    """
    args = [*server[1:], *(["-p", project] if project else [])]
    entry = {"type": "stdio", "command": server[0], "args": args}
    return json.dumps({"mcpServers": {MCP_SERVER_NAME: entry}})


def expand_template(template: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """Replace ``{name}`` placeholders inside each argument; unknown ``{...}`` are kept."""
    argv = []
    for arg in template:
        out = arg
        for key in PLACEHOLDERS:
            if key in values:
                out = out.replace("{" + key + "}", values[key])
        argv.append(out)
    return argv


@dataclass(frozen=True)
class CommandAgent:
    """Any program, from an argv template; the prompt also arrives on stdin."""

    template: tuple[str, ...]
    name: str = "command"
    requires_result: bool = False

    def invocation(
        self,
        *,
        task_id: str,
        tag: str,
        prompt: str,
        prompt_file: Path,
        workdir: Path,
        base_env: Mapping[str, str],
    ) -> Invocation:
        session_id = str(uuid.uuid4())
        values = {
            "task_id": task_id,
            "prompt_file": str(prompt_file),
            "workdir": str(workdir),
            "session_id": session_id,
            "tag": tag,
        }
        env = dict(base_env)
        env.update(
            {
                "TMXD_TASK_ID": task_id,
                "TMXD_PROMPT_FILE": str(prompt_file),
                "TMXD_SESSION_ID": session_id,
                "TMXD_TAG": tag,
            }
        )
        return Invocation(expand_template(self.template, values), env, prompt, session_id)


def make_agent(
    kind: str,
    *,
    command: Sequence[str],
    claude_bin: str,
    allowed_tools: Sequence[str],
    permission_mode: str,
    max_turns: int,
    max_budget_usd: float,
    model: str,
    extra_args: Sequence[str],
    mcp_server: Sequence[str] = (),
) -> Agent:
    """The adapter named by ``[autopilot] agent``."""
    if kind == "claude":
        return ClaudeCodeAgent(
            binary=claude_bin,
            allowed_tools=tuple(allowed_tools),
            permission_mode=permission_mode,
            max_turns=max_turns,
            max_budget_usd=max_budget_usd,
            model=model,
            extra_args=tuple(extra_args),
            mcp_server=tuple(mcp_server),
        )
    if kind == "command":
        if not command:
            raise InputError(
                'autopilot.agent = "command" needs autopilot.command, an argv list such as '
                '["my-agent", "--task", "{task_id}", "{prompt_file}"]'
            )
        return CommandAgent(template=tuple(command), name=os.path.basename(command[0]) or "command")
    raise InputError(f'autopilot.agent = {kind!r} is unknown; use "claude" or "command"')
