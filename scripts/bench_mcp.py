#!/usr/bin/env python3
"""MCP `next_task` on corpus 133.json over stdio: tmxd's server against Task Master's.

Each server is started by the mcp SDK's own stdio client, as Claude Code starts the
servers of .mcp.json, in a scratch project holding 133.json (Task Master's own tasks, with
its state.json and complexity report):

- cold start: from spawning the process to the first `next_task` answer (the
  initialize handshake included), median of --cold-runs fresh processes;
- warm call: the median (and p90) of --calls `next_task` calls in one session (the one
  started last), after a second's pause in which start-up work (tmxd's recording thread
  opening the metrics database) settles, as it does while a model thinks.

Task Master's server is `node …/task-master-ai/dist/mcp-server.js` from the oracle install
(offline, TASK_MASTER_TOOLS=core, its default). Two baselines run the same way in the
same run, so a loaded machine shows as slower baselines too: `python -c "import mcp"`
(the SDK's import, the floor of any SDK server) and a trivial SDK server with one tool
that returns a constant. Targets: tmxd cold start <= 1.5 s, warm median <= 5 ms, and
>= 20x faster per call than Task Master's server.

    python scripts/bench_mcp.py [--cold-runs 5] [--calls 50] [--no-oracle] [--check]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from bench_next import find_shared, oracle_dir  # noqa: E402  (the same corpus and oracle)

TARGET_COLD_S = 1.5
TARGET_WARM_MS = 5.0
TARGET_RATIO = 20.0
WARM_PAUSE_S = 1.0


CORPUS = find_shared() / "corpus" / "taskmaster"


def task_master_server() -> Path:
    return oracle_dir() / "node_modules" / "task-master-ai" / "dist" / "mcp-server.js"


def oracle_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not task_master_server().is_file():
        return f"Task Master is not installed at {task_master_server()}"
    return None


TRIVIAL_SERVER = textwrap.dedent(
    """
    import anyio
    import mcp_types as types
    from mcp.server.lowlevel import Server
    from mcp.server.stdio import stdio_server

    async def list_tools(ctx, params):
        schema = {"type": "object", "properties": {}}
        return types.ListToolsResult(tools=[types.Tool(name="next_task", input_schema=schema)])

    async def call_tool(ctx, params):
        return types.CallToolResult(content=[types.TextContent(text='{"data": {}}')])

    server = Server("trivial", on_list_tools=list_tools, on_call_tool=call_tool)

    async def main():
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)
    """
)


def make_project(root: Path) -> Path:
    tm = root / ".taskmaster"
    (tm / "tasks").mkdir(parents=True)
    (tm / "reports").mkdir()
    shutil.copyfile(CORPUS / "133.json", tm / "tasks" / "tasks.json")
    shutil.copyfile(CORPUS / "133.state.json", tm / "state.json")
    shutil.copyfile(CORPUS / "133.complexity.json", tm / "reports" / "task-complexity-report.json")
    shutil.copyfile(CORPUS / "133.config.json", tm / "config.json")  # else Task Master warns
    return root


def servers(project: Path, scratch: Path, with_oracle: bool) -> dict[str, Any]:
    from mcp import StdioServerParameters

    env = {
        "PYTHONPATH": str(ROOT / "daemon"),
        "TMXD_DB": str(scratch / "metrics.db"),
        "TMXD_STATE_DIR": str(scratch / "state"),
        "TMXD_RUNTIME_DIR": str(scratch / "run"),
        "HOME": str(scratch / "home"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    found: dict[str, Any] = {
        "trivial SDK server": StdioServerParameters(
            command=sys.executable, args=["-c", TRIVIAL_SERVER], env=env, cwd=project
        ),
        "tmxd mcp": StdioServerParameters(
            command=sys.executable, args=["-m", "tmxd", "mcp"], env=env, cwd=project
        ),
    }
    if with_oracle:
        tm_env = dict(env, TASK_MASTER_TOOLS="core", TASKMASTER_SKIP_AUTO_UPDATE="1")
        found["Task Master"] = StdioServerParameters(
            command="node", args=[str(task_master_server())], env=tm_env, cwd=project
        )
    return found


async def session_times(
    params: Any, project: Path, calls: int, errlog: Any
) -> tuple[float, str, list[float]]:
    """Spawn → initialize → first next_task answer (the cold start, and the task it named),
    then ``calls`` more next_task calls in the same session (each one's time)."""
    import anyio
    from mcp import ClientSession
    from mcp.client.stdio import stdio_client

    start = time.perf_counter()
    times = []
    async with (
        stdio_client(params, errlog=errlog) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        result = await session.call_tool("next_task", {"projectRoot": str(project)})
        elapsed = time.perf_counter() - start
        if calls:
            await anyio.sleep(WARM_PAUSE_S)  # start-up work settles, as a model thinks
        for _ in range(calls):
            begin = time.perf_counter()
            await session.call_tool("next_task", {"projectRoot": str(project)})
            times.append(time.perf_counter() - begin)
    return elapsed, _picked(result), times


def _picked(result: Any) -> str:
    text = "".join(getattr(block, "text", "") for block in result.content)
    if result.is_error:
        return f"error: {text.splitlines()[0] if text else '?'}"
    try:
        task = json.loads(text)["data"].get("nextTask")
    except (ValueError, KeyError, AttributeError):
        return "-"
    return "-" if not isinstance(task, dict) else str(task.get("id"))


def sdk_import(runs: int) -> float:
    """Median wall time of `python -c "import mcp"` (the SDK's whole import)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import mcp"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(coro: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    import anyio

    return anyio.run(coro)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--no-oracle", action="store_true", help="skip Task Master's server")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    logging.getLogger("mcp").setLevel(logging.CRITICAL)  # a server's stray stdout line
    reason = "--no-oracle given" if args.no_oracle else oracle_missing()
    if reason:
        print(f"Task Master's server not run: {reason}")
    if not (CORPUS / "133.json").is_file():
        print(f"133.json not found in {CORPUS}; nothing to measure")
        return 1
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="tmxd-bench-mcp-") as tmp:
        scratch = Path(tmp)
        project = make_project(scratch / "project")
        params = servers(project, scratch, with_oracle=reason is None)
        with (scratch / "servers.log").open("w") as errlog:
            colds: dict[str, list[float]] = {name: [] for name in params}
            picked: dict[str, str] = {}
            warms: dict[str, list[float]] = {}
            for turn in range(args.cold_runs):  # in turns, so load hits every server alike
                last = turn == args.cold_runs - 1  # the warm calls follow the last cold start
                for name, server in params.items():
                    elapsed, task, times = run(
                        lambda s=server, n=args.calls if last else 0: session_times(
                            s, project, n, errlog
                        )
                    )
                    colds[name].append(elapsed)
                    picked[name] = task
                    warms[name] = sorted(times) or warms.get(name, [])
            for name in params:
                times = warms[name]
                results[name] = {
                    "cold_s": statistics.median(colds[name]),
                    "warm_ms": statistics.median(times) * 1000,
                    "warm_p90_ms": times[max(0, int(len(times) * 0.9) - 1)] * 1000,
                    "next_task": picked[name],
                }
    floor = sdk_import(args.cold_runs)
    print(f"133.json, next_task over stdio: cold start median of {args.cold_runs} processes,")
    print(f"warm median and p90 of {args.calls} calls in one session")
    label = 'python -c "import mcp"'
    print(f"  {label:<20} cold {floor:6.3f} s")
    for name, got in results.items():
        print(
            f"  {name:<20} cold {got['cold_s']:6.3f} s   warm {got['warm_ms']:7.2f} ms "
            f"(p90 {got['warm_p90_ms']:7.2f} ms)   next_task → {got['next_task']}"
        )
    mine = results["tmxd mcp"]
    ok = mine["cold_s"] <= TARGET_COLD_S and mine["warm_ms"] <= TARGET_WARM_MS
    print(
        f"tmxd: cold {mine['cold_s']:.3f} s (target <= {TARGET_COLD_S} s), "
        f"warm {mine['warm_ms']:.2f} ms (target <= {TARGET_WARM_MS} ms)"
    )
    theirs = results.get("Task Master")
    if theirs is not None:
        warm_ratio = theirs["warm_ms"] / mine["warm_ms"]
        cold_ratio = theirs["cold_s"] / mine["cold_s"]
        print(
            f"ratio Task Master/tmxd: warm {warm_ratio:.1f}x (target >= {TARGET_RATIO:.0f}x), "
            f"cold {cold_ratio:.1f}x"
        )
        if theirs["next_task"] != mine["next_task"]:
            print(f"WARNING Task Master named {theirs['next_task']}, tmxd {mine['next_task']}")
        ok = ok and warm_ratio >= TARGET_RATIO
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
