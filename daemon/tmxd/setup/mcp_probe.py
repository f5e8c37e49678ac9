"""Starting the stdio MCP servers of ``.mcp.json`` the way Claude Code does, for ``tmxd doctor``.

Each server is spawned with the SDK's own stdio client: its command, arguments and
environment after Claude Code's ``${VAR}`` / ``${VAR:-default}`` expansion, in the project
folder, with ``CLAUDE_PROJECT_DIR`` set. The probe initializes the session, lists the
tools and calls ``next_task`` for the project, within a time limit. npm is told to stay
offline, so a server started with ``npx -y`` that is not in npm's cache fails at once
instead of downloading, and to leave no debug log in ``~/.npm/_logs``: ``logs-max=0`` (then
npm writes no log file) and ``logs-dir`` a throwaway folder of the probe's (where an older npm
that ignores ``logs-max=0`` writes one). Both or neither: npm also prunes its logs folder down
to ``logs-max`` files, and must not empty the user's. Servers are probed side by side.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROBE_TIMEOUT_S = 60.0
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class Probe:
    """What starting one server showed: its tools and the task its next_task named."""

    server: str
    ok: bool
    detail: str  # what doctor prints: the tools and next_task's answer, or what went wrong
    tools: tuple[str, ...] = ()
    next_task: str | None = None
    seconds: float = 0.0


def expand(value: str, env: Mapping[str, str]) -> str:
    """Claude Code's expansion in .mcp.json: ``${VAR}``, ``${VAR:-default}``; unset stays."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if env.get(name):
            return env[name]
        return default if default is not None else match.group(0)

    return _VAR.sub(one, value)


def launch(
    entry: Mapping[str, Any], root: Path, env: Mapping[str, str], npm_logs: Path | None = None
) -> tuple[str, list[str], dict[str, str]]:
    """The command, arguments and environment a stdio entry starts with; with ``npm_logs``
    (an empty folder of the probe's own) npm writes no log file, there or anywhere."""
    command = expand(str(entry["command"]), env)
    args = [expand(str(a), env) for a in entry.get("args") or []]
    server_env = dict(env)
    for key, value in (entry.get("env") or {}).items():
        server_env[str(key)] = expand(str(value), env)
    server_env["CLAUDE_PROJECT_DIR"] = str(root)
    server_env["npm_config_offline"] = "true"
    if npm_logs is not None:
        # both or neither: logs-max=0 alone would prune the user's logs folder to nothing
        server_env["npm_config_logs_dir"] = str(npm_logs)
        server_env["npm_config_logs_max"] = "0"
    return command, args, server_env


def _last_line(text: str) -> str:
    """The line of a server's output that says most: its first error line, else its last."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [
        line
        for line in lines
        if "error" in line.lower()
        and "complete log" not in line
        and "Log files were not written" not in line
        and "code " not in line
    ]
    return (errors or lines or [""])[0 if errors else -1][:200]


def _next_id(text: str) -> str | None:
    try:
        task = json.loads(text)["data"]["nextTask"]
    except (ValueError, KeyError, TypeError):
        return None
    return None if not isinstance(task, dict) else str(task.get("id"))


async def _probe(
    name: str, entry: Mapping[str, Any], root: Path, env: Mapping[str, str], timeout: float
) -> Probe:
    import anyio
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    started = time.monotonic()
    with (
        tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog,
        tempfile.TemporaryDirectory(
            prefix="tmxd-npm-logs-", ignore_cleanup_errors=True
        ) as npm_logs,
    ):
        command, args, server_env = launch(entry, root, env, Path(npm_logs))
        params = StdioServerParameters(command=command, args=args, env=server_env, cwd=root)
        try:
            with anyio.fail_after(timeout):
                async with (
                    stdio_client(params, errlog=errlog) as (read, write),
                    ClientSession(read, write) as session,
                ):
                    await session.initialize()
                    tools = tuple(t.name for t in (await session.list_tools()).tools)
                    if "next_task" not in tools:
                        return Probe(name, False, f"{len(tools)} tools, no next_task", tools)
                    result = await session.call_tool("next_task", {"projectRoot": str(root)})
        except TimeoutError:
            return Probe(name, False, f"no answer within {timeout:.0f} s")
        except Exception as exc:  # a server that cannot start or dies: say what it printed
            errlog.seek(0)
            why = _last_line(errlog.read()) or f"{type(exc).__name__}: {exc}"
            return Probe(name, False, f"`{command}` did not answer: {why}")
    seconds = time.monotonic() - started
    text = "".join(getattr(block, "text", "") for block in result.content)
    if result.is_error:
        return Probe(name, False, f"next_task failed: {_last_line(text.splitlines()[0])}", tools)
    found = _next_id(text)
    shown = found if found is not None else "no task ready"
    detail = f"{len(tools)} tools, next_task → {shown} in {seconds:.1f} s"
    return Probe(name, True, detail, tools, found, seconds)


def probe_servers(
    entries: Sequence[tuple[str, Mapping[str, Any]]],
    root: Path,
    env: Mapping[str, str],
    timeout: float = PROBE_TIMEOUT_S,
) -> list[Probe]:
    """Start each server, list its tools and call next_task; results in ``entries`` order."""
    import anyio

    found: dict[str, Probe] = {}

    async def main() -> None:
        async def one(name: str, entry: Mapping[str, Any]) -> None:
            found[name] = await _probe(name, entry, root, env, timeout)

        async with anyio.create_task_group() as group:
            for name, entry in entries:
                group.start_soon(one, name, entry)

    anyio.run(main)
    return [found[name] for name, _ in entries]
