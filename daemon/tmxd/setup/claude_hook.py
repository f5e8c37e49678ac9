"""``tmxd hook claude``: turn Claude Code hook events into metrics rows.

Claude Code runs this command for the hooks ``tmxd init`` installs and writes
the event as JSON on stdin (see the hooks reference). Each event is recorded
against the project and the task being worked on:

``PostToolUse``         a successful tool call (tool name, ``duration_ms``, session id)
``PostToolUseFailure``  a failed tool call
``Stop``, ``SessionEnd`` and any other event: an ``events`` row ``claude.<event>``

The project is ``$TMXD_PROJECT_ROOT`` when set (the autopilot sets it for the
agents it runs, which may work in a worktree elsewhere), else Claude Code's
project dir. The task is ``$TMXD_TASK_ID`` when set (the autopilot sets it
too), else the single in-progress task of the active tag (the deepest one: an
in-progress subtask wins over its parent); with none or several, no task.

The command must never disturb Claude Code: it always exits 0, prints nothing
on stdout (which Claude Code would parse), and reports its own failures on
stderr, which Claude Code only shows in its debug log.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

TOOL_EVENTS = {"PostToolUse": True, "PostToolUseFailure": False}
MAX_INPUT = 64 * 1024 * 1024


def main(stream: IO[bytes], env: Mapping[str, str] | None = None) -> int:
    """Record the event on ``stream``; always 0."""
    env = os.environ if env is None else env
    try:
        payload = json.loads(stream.read(MAX_INPUT) or b"null")
        if not isinstance(payload, dict):
            raise ValueError("hook input is not a JSON object")
        record(payload, env)
    except Exception as exc:  # a hook must never break the session that runs it
        print(f"tmxd hook claude: not recorded: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 0


def record(payload: Mapping[str, Any], env: Mapping[str, str]) -> None:
    """Write one hook event to the metrics database."""
    event = str(payload.get("hook_event_name") or "unknown")
    session = str(payload.get("session_id") or env.get("CLAUDE_CODE_SESSION_ID") or "unknown")
    # the autopilot names its project: an agent in a worktree records against the project
    folder = (
        env.get("TMXD_PROJECT_ROOT")
        or env.get("CLAUDE_PROJECT_DIR")
        or payload.get("cwd")
        or os.getcwd()
    )
    root = project_root(Path(str(folder)))
    task_id = current_task(root, env)
    from tmxd.metrics.recorder import Recorder

    with Recorder.open() as recorder:
        if event in TOOL_EVENTS:
            success = TOOL_EVENTS[event] and not _interrupted(payload)
            recorder.tool_call(
                root,
                session,
                str(payload.get("tool_name") or "unknown"),
                success,
                _duration(payload.get("duration_ms")),
                task_id,
            )
        else:
            recorder.event(root, f"claude.{_snake(event)}", event_data(payload, session, task_id))


def event_data(payload: Mapping[str, Any], session: str, task_id: str | None) -> dict[str, Any]:
    """The small, secret-free part of a non-tool event worth keeping."""
    data: dict[str, Any] = {"session_id": session, "task_id": task_id}
    for key in ("reason", "source", "stop_hook_active", "permission_mode", "agent_type"):
        if key in payload and isinstance(payload[key], str | bool | int | float):
            data[key] = payload[key]
    return data


def project_root(folder: Path) -> Path:
    """The Task Master project containing ``folder``, or ``folder`` itself."""
    from tmxd.errors import InputError
    from tmxd.setup.scaffold import find_root

    try:
        return find_root(None, folder)
    except InputError:
        return folder.resolve()


def current_task(root: Path, env: Mapping[str, str]) -> str | None:
    """``$TMXD_TASK_ID``, else the one in-progress task of the active tag."""
    explicit = env.get("TMXD_TASK_ID", "").strip()
    if explicit:
        return explicit
    from tmxd.errors import TmxdError
    from tmxd.taskmaster.ops import working_on
    from tmxd.taskmaster.project import find_project
    from tmxd.taskmaster.store import TaskStore

    try:
        project = find_project(root)
        tasks = TaskStore(project).read().tasks(project.active_tag())
    except TmxdError:
        return None
    return working_on(tasks)


def _interrupted(payload: Mapping[str, Any]) -> bool:
    response = payload.get("tool_response")
    return isinstance(response, dict) and response.get("interrupted") is True


def _duration(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
