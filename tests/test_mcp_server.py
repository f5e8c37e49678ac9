"""`tmxd mcp` as a real process, driven by the mcp SDK's own stdio client.

The client lists the tools and calls each one on corpus projects; the answers are
compared with `tmxd … --format json` and, where Node and the Task Master oracle are
installed, with Task Master 0.43.1's own MCP server given the same calls. The metrics
database then holds one tool_calls row per call and the transitions with source mcp.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from autopilot_support import agent_env, details, statuses
from autopilot_support import task as autopilot_task
from claude_stub import Script, claude_binary, messages_stub, working_directory
from helpers import (
    ORACLE_DIR,
    copy_corpus,
    git,
    init_repo,
    oracle_missing,
    scripted_agent,
    subprocess_env,
    tmxd_argv,
)
from mcp_raw import raw_server
from test_autopilot_claude import claude_project
from test_mcp_tools import corpus_project
from tmxd.cli import main
from tmxd.metrics.recorder import Recorder

TASK_MASTER_SERVER = ORACLE_DIR / "node_modules" / "task-master-ai" / "dist" / "mcp-server.js"
# Task Master's tools that need no AI (update_subtask always calls a model there).
SHARED_TOOLS = "get_tasks,next_task,get_task,set_task_status,validate_dependencies"
TMXD_TOOLS = [
    "get_tasks",
    "next_task",
    "get_task",
    "set_task_status",
    "update_subtask",
    "validate_dependencies",
    "ready_tasks",
    "task_history",
    "report_summary",
    "autopilot_status",
]


def project(root: Path, stem: str) -> Path:
    return corpus_project(root, stem).resolve()


def tmxd_server(cwd: Path, *extra: str) -> StdioServerParameters:
    argv = tmxd_argv("mcp", *extra)
    return StdioServerParameters(command=argv[0], args=argv[1:], env=subprocess_env(), cwd=cwd)


def task_master_server(cwd: Path, home: Path) -> StdioServerParameters:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "TASK_MASTER_TOOLS": SHARED_TOOLS,
        "TASKMASTER_SKIP_AUTO_UPDATE": "1",
    }
    return StdioServerParameters(command="node", args=[str(TASK_MASTER_SERVER)], env=env, cwd=cwd)


@asynccontextmanager
async def session(params: StdioServerParameters, errlog: Path) -> AsyncIterator[ClientSession]:
    with errlog.open("a") as err:
        async with (
            stdio_client(params, errlog=err) as (read, write),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            yield client


async def body(client: ClientSession, name: str, **args: Any) -> dict[str, Any]:
    """A successful call's envelope ({data, version, tag})."""
    result = await client.call_tool(name, args)
    text = result.content[0].text  # type: ignore[union-attr]
    assert not result.is_error, text
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    main([*args, "--format", "json"])
    return json.loads(capsys.readouterr().out)


def test_every_tool_over_stdio_against_the_json_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path / "p133", "133")
    scripted_agent(root)  # an agent that is there: the dry run plans
    other = project(tmp_path / "p081", "081")
    p = ("-p", str(root))
    listed = cli_json(capsys, "list", "--with-subtasks", *p)
    upcoming = cli_json(capsys, "next", *p)["task"]
    shown = cli_json(capsys, "show", "11", *p)["task"]
    checked = cli_json(capsys, "validate-dependencies", *p)
    planned = cli_json(capsys, "autopilot", "--dry-run", *p)["planned"]
    other_next = cli_json(capsys, "next", "-p", str(other))["task"]
    got: dict[str, Any] = {}

    async def scenario() -> None:
        async with session(tmxd_server(root), tmp_path / "server.log") as client:
            tools = (await client.list_tools()).tools
            got["tools"] = {t.name: t for t in tools}
            got["get_tasks"] = await body(client, "get_tasks", withSubtasks=True)
            got["next_task"] = await body(client, "next_task")
            got["get_task"] = await body(client, "get_task", id="11")
            got["validate"] = await body(client, "validate_dependencies")
            got["ready"] = await body(client, "ready_tasks")
            got["set"] = await body(
                client, "set_task_status", id=upcoming["id"], status="in-progress"
            )
            got["note"] = await body(client, "update_subtask", id=upcoming["id"], prompt="Began.")
            got["history"] = await body(client, "task_history", id=upcoming["id"])
            got["report"] = await body(client, "report_summary")
            got["autopilot"] = await body(client, "autopilot_status")
            got["elsewhere"] = await body(client, "next_task", projectRoot=str(other))
            missing = await client.call_tool("get_task", {"id": "9999"})
            got["missing"] = (missing.is_error, missing.content[0].text)  # type: ignore[union-attr]

    anyio.run(scenario)
    assert list(got["tools"]) == TMXD_TOOLS
    assert got["tools"]["set_task_status"].annotations.destructive_hint is True
    assert got["tools"]["get_tasks"].annotations.read_only_hint is True
    assert got["get_tasks"]["tag"] == "loop"
    assert got["get_tasks"]["data"]["tasks"] == [
        {k: v for k, v in t.items() if k != "blocks"} for t in listed["tasks"]
    ]
    assert got["next_task"]["data"]["nextTask"]["id"] == upcoming["id"]
    assert {k: got["get_task"]["data"][k] for k in shown} == shown
    assert {k: got["validate"]["data"][k] for k in checked} == checked
    assert [t["id"] for t in got["ready"]["data"]["tasks"]] == [u["task"] for u in planned]
    (change,) = got["set"]["data"]["tasks"]
    assert change == {
        "success": True,
        "oldStatus": "pending",
        "newStatus": "in-progress",
        "taskId": upcoming["id"],
    }
    details = got["note"]["data"]["subtask"]["details"]
    assert re.search(r"\n<info added on (\S+)>\nBegan\.\n</info added on \1>$", details)
    assert [(t["to"], t["source"]) for t in got["history"]["data"]["transitions"]] == [
        ("pending", "baseline"),
        ("in-progress", "mcp"),
    ]
    assert got["report"]["data"]["filters"]["project"] == str(root)
    assert got["autopilot"]["data"]["breaker"]["state"] == "closed"
    assert str(got["elsewhere"]["data"]["nextTask"]["id"]) == other_next["id"]
    error, text = got["missing"]
    assert error and text.splitlines() == [
        "Error: No tasks found for ID(s): 9999",
        "Version: 0.1.0",
        "Name: tmxd",
        "Current Tag: loop",
    ]
    # After the client closed the connection: one row per call, the task being worked on.
    with Recorder.open() as rec:
        rows = rec.db.execute(
            "SELECT tool, success, task_id, session_id FROM tool_calls ORDER BY id"
        ).fetchall()
    assert len(rows) == 12
    assert rows[0][:2] == ("mcp__tmxd__get_tasks", 1)
    assert rows[-1][:2] == ("mcp__tmxd__get_task", 0)
    assert rows[6][0] == "mcp__tmxd__update_subtask" and rows[6][2] == upcoming["id"]
    assert {r[3] for r in rows} == {rows[0][3]} and rows[0][3].startswith("mcp-")
    assert "set_task_status" in (tmp_path / "server.log").read_text()


def test_stdout_carries_protocol_only(tmp_path: Path) -> None:
    """Raw JSON-RPC lines in, every line out is JSON-RPC; the logs are on stderr."""
    root = project(tmp_path / "p", "001")
    proc = raw_server(
        root,
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "set_task_status", "arguments": {"id": "11", "status": "review"}},
        },
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "nope"}},
    )
    assert proc.stdout is not None
    replies = [json.loads(proc.stdout.readline()) for _ in range(4)]  # then close: the end
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out == ""
    assert all(r["jsonrpc"] == "2.0" for r in replies)
    by_id = {r["id"]: r for r in replies}
    assert by_id[1]["result"]["serverInfo"]["name"] == "tmxd"
    assert len(by_id[2]["result"]["tools"]) == len(TMXD_TOOLS)
    assert by_id[3]["result"]["isError"] is False
    assert "Unknown tool: nope" in by_id[4]["error"]["message"]
    assert "tmxd mcp: INFO set_task_status" in err


def test_sigterm_still_records_the_calls_made(tmp_path: Path) -> None:
    root = project(tmp_path / "p", "001")
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "next_task"}}
    proc = raw_server(root, call)
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline())["id"] == 1
    assert json.loads(proc.stdout.readline())["id"] == 2
    proc.terminate()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    with Recorder.open() as rec:
        tools = [r[0] for r in rec.db.execute("SELECT tool FROM tool_calls").fetchall()]
    assert tools == ["mcp__tmxd__next_task"]


STEMS = ["001", "005", "022", "081", "133"]


@pytest.mark.slow
@pytest.mark.skipif(oracle_missing() is not None, reason=str(oracle_missing()))
def test_same_calls_same_answers_as_task_masters_server(tmp_path: Path) -> None:
    """Task Master's server and tmxd's, each on its own copy of the same projects."""
    answers: dict[str, dict[str, Any]] = {"tm": {}, "tmxd": {}}
    lists: dict[str, dict[str, Any]] = {}

    async def ask(side: str, client: ClientSession, base: Path) -> None:
        found = answers[side]
        for stem in STEMS:
            where = str(base / stem)
            for name, args in (
                ("get_tasks", {"withSubtasks": True}),
                ("get_tasks", {"status": "pending,done"}),
                ("get_tasks", {"withSubtasks": False}),
                ("next_task", {}),
                ("validate_dependencies", {}),
            ):
                key = f"{stem} {name} {json.dumps(args)}"
                found[key] = await body(client, name, projectRoot=where, **args)
            first = found[f"{stem} get_tasks {json.dumps({'withSubtasks': True})}"]["data"]["tasks"]
            wanted = [first[0]["id"], f"{first[0]['id']},{first[-1]['id']},424242"]
            for task_id in wanted:
                found[f"{stem} get_task {task_id}"] = await body(
                    client, "get_task", projectRoot=where, id=task_id
                )
            pending = [t["id"] for t in first if t["status"] == "pending"][:2]
            if pending:
                ids = ",".join(pending)
                found[f"{stem} set"] = await body(
                    client, "set_task_status", projectRoot=where, id=ids, status="review"
                )
            missing = await client.call_tool("get_task", {"projectRoot": where, "id": "424242"})
            found[f"{stem} missing"] = missing.content[0].text  # type: ignore[union-attr]

    async def scenario() -> None:
        async with AsyncExitStack() as stack:
            tm = await stack.enter_async_context(
                session(task_master_server(tmp_path, tmp_path / "tm-home"), tmp_path / "tm.log")
            )
            ours = await stack.enter_async_context(
                session(tmxd_server(tmp_path), tmp_path / "tmxd.log")
            )
            lists["tm"] = {t.name: t for t in (await tm.list_tools()).tools}
            lists["tmxd"] = {t.name: t for t in (await ours.list_tools()).tools}
            await ask("tm", tm, tmp_path / "tm")
            await ask("tmxd", ours, tmp_path / "tmxd")

    for side in ("tm", "tmxd"):
        for stem in STEMS:
            project(tmp_path / side / stem, stem)
    anyio.run(scenario)

    for name, theirs in lists["tm"].items():
        mine = lists["tmxd"][name]
        assert set(theirs.input_schema["properties"]) <= set(mine.input_schema["properties"])
        for arg, spec in theirs.input_schema["properties"].items():
            assert mine.input_schema["properties"][arg]["type"] == spec["type"], (name, arg)
        assert mine.description == theirs.description or name == "update_subtask"
    tm, ours = answers["tm"], answers["tmxd"]
    assert tm.keys() == ours.keys()
    for key, theirs in tm.items():
        mine = ours[key]
        if key.endswith("missing"):
            # same message and tag lines; only the server's name and version differ
            lines, their_lines = mine.splitlines(), theirs.splitlines()
            assert (lines[0], lines[3]) == (their_lines[0], their_lines[3]), key
            continue
        assert list(mine) == list(theirs) == ["data", "version", "tag"], key
        assert mine["tag"] == theirs["tag"], key
        if "validate_dependencies" in key:
            # Task Master says only this; tmxd adds the findings (and its own copy's path)
            assert set(theirs["data"]) <= set(mine["data"]), key
            assert mine["data"]["message"] == theirs["data"]["message"], key
        elif "next_task" in key:
            assert list(mine["data"]) == list(theirs["data"]), key
            assert mine["data"]["nextTask"] == theirs["data"]["nextTask"], key
        else:
            assert mine["data"] == theirs["data"], key


CLAUDE = claude_binary()


def tool_results(script: Script) -> list[dict[str, Any]]:
    """The tool_result blocks the stub (the model) was sent, in order."""
    return [
        block
        for request in script.requests
        for message in request["messages"]
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]


@pytest.mark.slow
@pytest.mark.skipif(CLAUDE is None, reason="Claude Code CLI not installed; npm was unreachable")
def test_real_claude_code_uses_the_tools_tmxd_init_set_up(tmp_path: Path) -> None:
    """`tmxd init --yes`, then the real `claude -p` whose model (the stub) calls three tools."""
    assert CLAUDE is not None
    root = init_repo(tmp_path / "proj")
    copy_corpus("133", root)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "tasks")
    venv_bin = str(Path(sys.executable).parent)
    env = subprocess_env(
        {
            "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",  # the hooks run `tmxd`
            "npm_config_offline": "true",  # Task Master's npx server fails at once, offline
        }
    )
    init = subprocess.run(
        tmxd_argv("init", "--yes"), cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert init.returncode == 0, init.stderr
    servers = json.loads((root / ".mcp.json").read_text())["mcpServers"]
    assert servers["tmxd"]["args"] == ["mcp"] and servers["tmxd"]["type"] == "stdio"
    note = "Started: the option parsing tests first."
    script = Script(
        tool_uses=[],
        steps=[
            [{"name": "mcp__tmxd__next_task", "input": {}}],
            [
                {
                    "name": "mcp__tmxd__set_task_status",
                    "input": {"id": "11.3", "status": "in-progress"},
                }
            ],
            [{"name": "mcp__tmxd__update_subtask", "input": {"id": "11.3", "prompt": note}}],
        ],
        final_text="Working on 11.3.",
    )
    with messages_stub(script) as url:
        run_env = dict(
            env,
            HOME=str(tmp_path / "home"),
            ANTHROPIC_BASE_URL=url,
            ANTHROPIC_API_KEY="test-key-not-real",
            DISABLE_AUTOUPDATER="1",
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
            # 2.1.197 connects MCP servers in the background by default: on a busy machine
            # the first turn would go out before tmxd's tools are there. Wait for them, and
            # longer than its default 5 s (a loaded machine, coverage on the server).
            MCP_CONNECTION_NONBLOCKING="0",
            MCP_CONNECT_TIMEOUT_MS="120000",
        )
        # project allow rules are ignored under -p in a folder nobody trusted: say it here
        argv = [str(CLAUDE), "-p", "Take the next task and start it.", "--output-format"]
        argv += ["stream-json", "--verbose", "--permission-mode", "acceptEdits"]
        argv += ["--allowedTools", "mcp__tmxd__*", "--max-turns", "8"]
        proc = subprocess.run(
            argv,
            cwd=root,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    init_event = next(e for e in events if e.get("subtype") == "init")
    assert {"name": "tmxd", "status": "connected"} in init_event["mcp_servers"]
    result = events[-1]
    assert result["type"] == "result" and result["is_error"] is False
    assert result["permission_denials"] == []
    # tasks.json changed as asked: the subtask started, the note appended
    tasks = json.loads((root / ".taskmaster/tasks/tasks.json").read_text())["loop"]["tasks"]
    sub = next(t for t in tasks if t["id"] == "11")["subtasks"][2]
    assert sub["status"] == "in-progress"
    assert re.search(
        r"\n<info added on (\S+)>\n" + re.escape(note) + r"\n</info added on \1>$", sub["details"]
    )
    # the stub (the model) received each tool's answer
    results = tool_results(script)
    texts = [json.dumps(r["content"]) for r in results[-3:]]
    assert '\\"id\\": \\"11.3\\"' in texts[0] and "nextTask" in texts[0]
    assert "Successfully updated 1 task(s)" in texts[1]
    assert "Successfully updated subtask with ID 11.3" in texts[2]
    assert not any(r.get("is_error") for r in results)
    # recorded: the transition with source mcp, and each call under Claude Code's session
    with Recorder.open() as rec:
        moves = rec.db.execute(
            "SELECT task_id, old_status, new_status, source FROM transitions"
        ).fetchall()
        calls = rec.db.execute(
            "SELECT tool, success, session_id FROM tool_calls WHERE tool LIKE 'mcp__%' ORDER BY id"
        ).fetchall()
    assert ("11.3", "pending", "in-progress", "mcp") in moves
    assert calls == [
        (f"mcp__tmxd__{name}", 1, result["session_id"])
        for name in ("next_task", "set_task_status", "update_subtask")
    ]


def _write_here(name: str, content: str) -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    """A turn writing ``name`` into the directory Claude Code says it works in."""

    def uses(body: dict[str, Any]) -> list[dict[str, Any]]:
        where = working_directory(body)
        assert where is not None
        target = str(Path(where) / name)
        return [{"name": "Write", "input": {"file_path": target, "content": content}}]

    return uses


@pytest.mark.skipif(CLAUDE is None, reason="Claude Code CLI not installed; npm was unreachable")
@pytest.mark.parametrize("mode", ["sequential", "parallel"])
def test_autopilot_agents_note_their_progress_through_tmxds_tools(
    tmp_path: Path, mode: str
) -> None:
    """`tmxd autopilot` gives the real `claude` tmxd's server and tells it to use it: the
    model notes its progress with update_subtask, writes its file, and the task is done —
    the note in the project's tasks.json, from the project itself or from a worktree."""
    assert CLAUDE is not None
    root = tmp_path / "proj"
    claude_project(root, [autopilot_task(1, "Write the greeting file")])
    note = "Wrote greeting.txt; kept it to one line."
    script = Script(
        steps=[
            [{"name": "mcp__tmxd__update_subtask", "input": {"id": "1", "prompt": note}}],
            _write_here("greeting.txt", "hello\n"),
        ],
        final_text="Done: greeting.txt.",
    )
    with messages_stub(script) as url:
        result = subprocess.run(
            tmxd_argv("autopilot", "--once", "-p", str(root))
            + (["--parallel", "1"] if mode == "parallel" else []),
            cwd=root,
            env=subprocess_env(
                {
                    **agent_env(root),
                    "ANTHROPIC_BASE_URL": url,
                    "ANTHROPIC_API_KEY": "test-key-not-real",
                    "HOME": str(tmp_path / "home"),
                }
            ),
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert statuses(root) == {"1": "done"}
    assert (root / "greeting.txt").read_text() == "hello\n"  # merged back in parallel mode
    assert note in details(root, "1")
    first = script.requests[0]
    assert "mcp__tmxd__update_subtask" in [t["name"] for t in first["tools"]]
    assert "mcp__tmxd__update_subtask (id 1;" in json.dumps(first["messages"])
    results = tool_results(script)
    assert results and not any(r.get("is_error") for r in results)
    with Recorder.open() as rec:
        calls = rec.db.execute(
            "SELECT task_id FROM tool_calls WHERE tool = 'mcp__tmxd__update_subtask'"
        ).fetchall()
    assert calls == [("1",)]  # recorded against the task the autopilot gave the agent
