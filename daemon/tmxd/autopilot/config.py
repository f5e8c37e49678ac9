"""The ``[autopilot]`` table of ``.taskmaster/tmxd.toml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tmxd.autopilot.routing import DEFAULT_PATTERNS, RoutingRules, validate_patterns
from tmxd.config import option, section
from tmxd.errors import InputError

DEFAULT_ALLOWED_TOOLS = [
    "Read",
    "Edit",
    "Write",
    "Glob",
    "Grep",
    "Bash(git status *)",
    "Bash(git diff *)",
    "Bash(git add *)",
    "Bash(git commit *)",
    "Bash(pytest *)",
    "Bash(python -m pytest *)",
    "Bash(npm test *)",
    "Bash(ruff *)",
    "mcp__tmxd__*",
]


@dataclass(frozen=True)
class AutopilotConfig:
    enabled: bool = option(False, "the daemon dispatches ready tasks by itself (autopilot mode)")
    agent: str = option("claude", 'agent adapter: "claude" (Claude Code headless) or "command"')
    command: list[str] = option(
        [],
        "argv template for the command agent; {task_id} {prompt_file} {workdir} {session_id} {tag}",
    )
    claude_bin: str = option("claude", "the Claude Code executable")
    model: str = option("", "--model for Claude Code (empty: its default)")
    allowed_tools: list[str] = option(DEFAULT_ALLOWED_TOOLS, "--allowedTools rules for Claude Code")
    permission_mode: str = option("acceptEdits", "--permission-mode (never bypass as root)")
    max_turns: int = option(40, "--max-turns per run (0: no cap)")
    max_budget_usd: float = option(5.0, "--max-budget-usd per run (0: no cap)")
    extra_args: list[str] = option([], "more arguments for Claude Code")
    mcp: bool = option(
        True, "give Claude Code tmxd's MCP server, and have it note its progress through it"
    )
    timeout_s: float = option(1800.0, "wall-clock limit of one agent run, seconds")
    parallel: int = option(3, "tasks at once with --parallel and in the daemon")
    worktree_dir: str = option(
        "", "where parallel runs make their worktrees (empty: <state dir>/worktrees)"
    )
    commit: bool = option(True, "sequential runs commit each task's work (Task: <id> trailer)")
    allow_empty: bool = option(False, "an attempt that changes no file may still succeed")
    allow_empty_tasks: list[str] = option(
        [], "ids of tasks that may succeed without changing a file"
    )
    max_attempts: int = option(3, "attempts per task before it is blocked")
    backoff_base_s: float = option(5.0, "first retry waits up to this long (full jitter)")
    backoff_cap_s: float = option(300.0, "no retry waits longer than this")
    breaker_threshold: int = option(
        3, "failing task runs in a row (a task's retries are one run) that open the breaker"
    )
    breaker_cooldown_s: float = option(600.0, "an open breaker allows a trial run after this long")
    max_cost_usd: float = option(0.0, "stop dispatching once a run has cost this much (0: none)")
    on_failure: str = option("blocked", 'status after the last failed attempt: "blocked"/"pending"')
    validate: list[list[str]] = option([], "validation commands (argv lists); empty: detect")
    validate_basic: list[list[str]] = option([], "the checks the simple route runs; empty: linters")
    validate_timeout_s: float = option(600.0, "time limit of each validation command, seconds")
    baseline: bool = option(
        True, "run the checks once before a run changes anything; stop if they fail already"
    )
    output_tail_lines: int = option(40, "lines of failing output kept in the task note")
    expand_command: list[str] = option(
        [], "argv template run for a complex task without subtasks (empty: ask for expansion)"
    )
    simple_max_score: float = option(3.0, "complexity scores up to this route as simple")
    medium_max_score: float = option(6.0, "complexity scores up to this route as medium")
    critical_min_score: float = option(9.0, "complexity scores from this route as critical")
    critical_patterns: list[str] = option(
        DEFAULT_PATTERNS["critical"], "regexes that send a task to the approval gate"
    )
    complex_patterns: list[str] = option(DEFAULT_PATTERNS["complex"], "regexes for complex")
    simple_patterns: list[str] = option(DEFAULT_PATTERNS["simple"], "regexes for simple")

    def routing_rules(self) -> RoutingRules:
        return RoutingRules(
            simple_max_score=self.simple_max_score,
            medium_max_score=self.medium_max_score,
            critical_min_score=self.critical_min_score,
            critical=tuple(self.critical_patterns),
            complex=tuple(self.complex_patterns),
            simple=tuple(self.simple_patterns),
        )


AUTOPILOT = section(
    "autopilot",
    AutopilotConfig,
    "How `tmxd autopilot` (and the daemon in autopilot mode) runs tasks through an agent.",
)


def load(root: Path | None) -> AutopilotConfig:
    """The validated ``[autopilot]`` table."""
    cfg = AUTOPILOT.load(root)
    where = f"{root}/.taskmaster/tmxd.toml" if root is not None else "tmxd.toml"
    if cfg.agent not in ("claude", "command"):
        raise InputError(f'{where}: autopilot.agent = {cfg.agent!r}; use "claude" or "command"')
    if cfg.on_failure not in ("blocked", "pending"):
        raise InputError(
            f'{where}: autopilot.on_failure = {cfg.on_failure!r}; use "blocked" or "pending"'
        )
    for name in ("parallel", "max_attempts", "breaker_threshold"):
        if getattr(cfg, name) < 1:
            raise InputError(f"{where}: autopilot.{name} must be at least 1")
    for name in ("timeout_s", "validate_timeout_s"):
        if getattr(cfg, name) <= 0:
            raise InputError(f"{where}: autopilot.{name} must be positive")
    if cfg.permission_mode == "bypassPermissions":
        raise InputError(
            f"{where}: autopilot.permission_mode = bypassPermissions is refused; "
            'use "acceptEdits" with allowed_tools'
        )
    validate_patterns(cfg.routing_rules())
    return cfg
