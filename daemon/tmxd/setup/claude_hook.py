"""``tmxd hook claude``: turn Claude Code hook events into metrics rows.

Claude Code runs this command for the hooks ``tmxd init`` installs and writes
the event as JSON on stdin (see the hooks reference). Each event is recorded
against the project and the task being worked on:

``PostToolUse``         a successful tool call (tool name, ``duration_ms``, session id)
``PostToolUseFailure``  a failed tool call
``Stop``, ``SessionEnd`` and any other event: an ``events`` row ``claude.<event>``

and every call is a ``hook_runs`` row (hook ``claude``) with the hook's own time.

The project is ``$TMXD_PROJECT_ROOT`` when set (the autopilot sets it for the
agents it runs, which may work in a worktree elsewhere), else Claude Code's
project dir. The task is ``$TMXD_TASK_ID`` when set (the autopilot sets it
too), else the single in-progress task of the active tag (the deepest one: an
in-progress subtask wins over its parent); with none or several, no task.

The command must never disturb Claude Code: it always exits 0, prints nothing
on stdout (which Claude Code would parse), reports its own failures on stderr
(which Claude Code only shows in its debug log), and never holds the session
up: it reads at most :data:`MAX_INPUT` bytes for at most :data:`READ_SECONDS`,
and waits at most :data:`DB_WAIT_SECONDS` for a busy database before it appends
the event to the journal (``tmxd.metrics.journal``), which the daemon or the
next writer ingests.
"""

from __future__ import annotations

import json
import math
import os
import re
import select
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

TOOL_EVENTS = {"PostToolUse": True, "PostToolUseFailure": False}
MAX_INPUT = 10 * 1024 * 1024  # a hook event larger than this is read in part
READ_SECONDS = 2.0  # stdin that stays open longer (no EOF) is read no further
DB_WAIT_SECONDS = 0.05  # then the journal
BUSY_MEMORY_SECONDS = 2.0  # journaled this recently: straight to the journal, no wait
BUDGET_MS = 250  # what a call may take, by its own measure (recorded in hook_runs)
HOOK = "claude"


def main(stream: IO[bytes] | None, env: Mapping[str, str] | None = None) -> int:
    """Record the event on ``stream``; always 0."""
    from tmxd import clock

    started = clock.monotonic()
    env = os.environ if env is None else env
    if stream is None:
        print("tmxd hook claude: no input (stdin is closed); nothing recorded", file=sys.stderr)
        return 0
    try:
        raw, complete = read_input(stream, MAX_INPUT, READ_SECONDS)
        payload = parse_payload(raw, complete)
        record(payload, env, started)
    except Exception as exc:  # a hook must never break the session that runs it
        print(f"tmxd hook claude: not recorded: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 0


def read_input(stream: IO[bytes], limit: int, seconds: float) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of ``stream``, for at most ``seconds``; and whether that was
    all of it (EOF seen)."""
    from tmxd import clock

    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):  # not a real file (tests pass BytesIO)
        data = stream.read(limit + 1)
        return data[:limit], len(data) <= limit
    deadline = clock.monotonic() + seconds
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        left = deadline - clock.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return b"".join(chunks)[:limit], False
        chunk = os.read(fd, min(1 << 16, limit + 1 - size))
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:limit], False


_FIELD = re.compile(rb'"(hook_event_name|session_id|tool_name|cwd)"\s*:\s*"((?:[^"\\]|\\.)*)"')


def parse_payload(raw: bytes, complete: bool) -> dict[str, Any]:
    """The hook event as a dict. Input cut short (too large, or stdin left open) keeps the
    small fields found in what was read: a huge tool response still counts as a call."""
    try:
        payload = json.loads(raw or b"null")
    except ValueError:
        if complete:
            raise
        payload = {
            m.group(1).decode(): json.loads(b'"' + m.group(2) + b'"') for m in _FIELD.finditer(raw)
        }
        if "hook_event_name" not in payload:
            raise ValueError(f"hook input cut short after {len(raw):,} bytes") from None
    if not isinstance(payload, dict):
        raise ValueError("hook input is not a JSON object")
    return payload


def record(payload: Mapping[str, Any], env: Mapping[str, str], started: float) -> None:
    """Write one hook event (and its ``hook_runs`` row) to the metrics database, or to the
    journal when the database is busy or unusable.

    When something was journaled a moment ago (the database was busy), the journal takes
    it at once: no wait, and no sqlite3 loaded. The ``hook_runs`` row carries the hook's
    own time, from its start until its event was handed over.
    """
    from tmxd import clock, paths
    from tmxd.metrics import records
    from tmxd.metrics.journal import Journal

    event = _text(payload.get("hook_event_name")) or "unknown"
    # a session id that is not a string is no session id (not its repr): as if it were missing
    session = _text(payload.get("session_id")) or env.get("CLAUDE_CODE_SESSION_ID") or "unknown"
    # the autopilot names its project: an agent in a worktree records against the project
    folder = (
        env.get("TMXD_PROJECT_ROOT")
        or env.get("CLAUDE_PROJECT_DIR")
        or payload.get("cwd")
        or os.getcwd()
    )
    root = project_root(Path(str(folder)))
    task_id = current_task(root, env)
    if event in TOOL_EVENTS:
        success = TOOL_EVENTS[event] and not _interrupted(payload)
        row = records.tool_call(
            root,
            session,
            _text(payload.get("tool_name")) or "unknown",
            success,
            _duration(payload.get("duration_ms")),
            task_id,
        )
    else:
        row = records.event(root, f"claude.{_snake(event)}", event_data(payload, session, task_id))

    def run(journaled: bool) -> records.Record:
        return records.hook_run(
            root,
            HOOK,
            True,
            duration_ms=round((clock.monotonic() - started) * 1000.0, 3),
            detail=f"{event} via journal" if journaled else event,
        )

    journal = Journal(paths.db_path())
    if journal.recent(BUSY_MEMORY_SECONDS):
        journal.append([row, run(True)])
        return
    _store(row, run, journal)


def _store(row: Any, run: Any, journal: Any) -> None:
    from tmxd.metrics.recorder import Recorder
    from tmxd.metrics.schema import MetricsError

    recorder = Recorder(journal.db_path, wait=DB_WAIT_SECONDS, ingest_max_bytes=64 * 1024)
    try:
        try:
            recorder.store([row])
        except MetricsError as exc:
            # not busy but unusable (a newer schema, an unwritable folder): keep it anyway
            journal.append([row])
            recorder.journaled += 1
            print(
                f"tmxd hook claude: the database cannot take it ({exc.message}); "
                f"kept in {journal.path} until it can",
                file=sys.stderr,
            )
        if recorder.journaled:
            journal.append([run(True)])  # the database is busy: do not wait twice
        else:
            recorder.store([run(False)], ingest=False)
    finally:
        recorder.close()


def event_data(payload: Mapping[str, Any], session: str, task_id: str | None) -> dict[str, Any]:
    """The small, secret-free part of a non-tool event worth keeping."""
    data: dict[str, Any] = {"session_id": session, "task_id": task_id}
    for key in ("reason", "source", "stop_hook_active", "permission_mode", "agent_type"):
        value = payload.get(key)
        if isinstance(value, str | bool | int) or (
            isinstance(value, float) and math.isfinite(value)
        ):
            data[key] = value
    return data


def project_root(folder: Path) -> Path:
    """The Task Master project containing ``folder``, or ``folder`` itself."""
    from tmxd.errors import InputError
    from tmxd.taskmaster.project import find_project

    try:
        return find_project(None, folder).root
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
    """A duration in ms as given, or None (stored as NULL) for anything but a finite,
    non-negative number: JSON's ``1e400`` parses as infinity, ``NaN`` as a NaN."""
    from tmxd.metrics.records import finite

    number = finite(value)
    return number if number is not None and number >= 0 else None


def _text(value: Any) -> str | None:
    """A string field as given; None for a missing, empty or non-string one."""
    return value if isinstance(value, str) and value else None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
