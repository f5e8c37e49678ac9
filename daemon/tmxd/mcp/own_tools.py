"""tmxd's own MCP tools: what is runnable now, a task's history, the report, the autopilot.

``ready_tasks`` is what "get_tasks with a ready filter" meant: every task whose
dependencies are done, with the route the autopilot would give it (simple, medium,
complex, critical) and why, plus the tasks that wait for a person. ``task_history``
reads the metrics database: transitions, commits, agent runs and tool calls of a task.
``report_summary`` is the summary of ``tmxd report``; ``autopilot_status`` the circuit
breaker, the tasks a run holds, the reviews waiting and what the daemon is doing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tmxd.errors import TmxdError
from tmxd.mcp.tools import PROJECT_ROOT, TAG, Answer, Tool, project_of
from tmxd.mcp.workspace import ToolError, Workspace, require_text

if TYPE_CHECKING:
    from tmxd.metrics.recorder import Recorder


def _recorder(ws: Workspace) -> Recorder:
    try:
        recorder = ws.recorder()
    except TmxdError as exc:
        raise ToolError(f"the metrics database cannot be read: {exc.message}") from exc
    if recorder is None:
        raise ToolError("this server has no metrics database")
    return recorder


# -- ready_tasks -------------------------------------------------------------------------


def ready_tasks(ws: Workspace, args: Mapping[str, Any]) -> Answer:
    from tmxd.autopilot import config
    from tmxd.autopilot.runner import Autopilot, RunOptions

    at = ws.open(project_of(ws, args), args.get("tag"))
    options = RunOptions(dry_run=True, tag=at.tag)
    pilot = Autopilot(at.project, config.load(at.root), None, options=options)
    plan = pilot.plan(at.doc)  # what `tmxd autopilot --dry-run` would run
    tasks = [
        {
            "id": unit.id,
            "title": unit.task.title,
            "status": unit.task.status,
            "priority": unit.task.priority,
            "dependencies": unit.task.dependencies,
            "parentId": unit.task.parent_id,
            "route": unit.route,
            "reason": unit.reason,
        }
        for unit in plan.units
    ]
    waiting = [
        {
            "id": gate.task.id,
            "title": gate.task.title,
            "status": gate.task.status,
            "waitingFor": "approval" if gate.kind == "critical" else "expansion",
            "reason": gate.reason,
        }
        for gate in plan.gates
    ]
    not_ready = [
        {"id": w.id, "title": w.title, "reason": w.reason} for w in pilot.waiting(at.doc, plan)
    ]
    data = {"tasks": tasks, "waiting": waiting, "notReady": not_ready, "count": len(tasks)}
    return Answer(data, at.tag, at.root)


# -- task_history ------------------------------------------------------------------------


def task_history(ws: Workspace, args: Mapping[str, Any]) -> Answer:
    from tmxd.metrics.timeline import task_timeline

    task_id = require_text(args, "id")
    at = ws.open(project_of(ws, args), args.get("tag"))
    task = at.doc.find(task_id, at.tag)
    if task is None:
        raise ToolError(
            f"task {task_id} not found in tag '{at.tag}'; get_tasks lists the ids", at.tag
        )
    timeline = task_timeline(_recorder(ws).db.conn, at.root, task.id, at.tag)
    data = {
        "task": {"id": task.id, "title": task.title, "status": task.status},
        **{k: v for k, v in timeline.items() if k != "taskId"},
    }
    return Answer(data, at.tag, at.root)


# -- report_summary ----------------------------------------------------------------------

SUMMARY_KEYS = (
    "window",
    "filters",
    "empty",
    "summary",
    "status",
    "failure_reasons",
    "stale_in_progress",
    "running_executions",
)


def report_summary(ws: Workspace, args: Mapping[str, Any]) -> Answer:
    from tmxd import clock
    from tmxd.metrics.report import ReportQuery, build_report
    from tmxd.metrics.settings import METRICS
    from tmxd.metrics.timespec import parse_window

    project = project_of(ws, args)
    now = clock.now()
    start, end = parse_window(
        args.get("since"), args.get("until"), now=now, names=("since", "until")
    )
    query = ReportQuery(
        since=start,
        until=end,
        project=project.root,
        tag=args.get("tag") or None,
        task=args.get("task") or None,
        stale_hours=METRICS.load(project.root).stale_hours,
        now=now,
    )
    try:
        report = build_report(_recorder(ws).db.conn, query)
    except sqlite3.Error as exc:
        raise ToolError(f"the metrics database cannot be read: {exc}") from exc
    data = {key: report[key] for key in SUMMARY_KEYS}
    data["lead_time"] = report["lead_cycle"]["lead_time"]
    data["cycle_time"] = report["lead_cycle"]["cycle_time"]
    return Answer(data, args.get("tag"), project.root)


# -- autopilot_status --------------------------------------------------------------------


def _split_key(key: str) -> tuple[str, str]:
    tag, _, task_id = key.partition(":")
    return tag, task_id


def _daemon(root: Path) -> dict[str, Any]:
    """What the daemon says about this project, if one is running."""
    from tmxd.daemon import control

    try:
        status = control.request("status", timeout=2.0)
    except TmxdError as exc:
        return {"running": False, "detail": exc.message}
    for entry in status.get("projects", []):
        if isinstance(entry, dict) and Path(str(entry.get("root"))).resolve() == root.resolve():
            return {
                "running": True,
                "pid": status.get("pid"),
                "watching": entry.get("watch", "watched"),
                "autopilot": entry.get("autopilot"),
            }
    return {"running": True, "pid": status.get("pid"), "watching": "not watched"}


def autopilot_status(ws: Workspace, args: Mapping[str, Any]) -> Answer:
    from tmxd.autopilot import config, state
    from tmxd.autopilot.runner import breaker_status
    from tmxd.proc import pid_alive

    project = project_of(ws, args)
    cfg = config.load(project.root)
    held = state.StateFile(project.root).read()
    running = []
    for key, claim in sorted(held["claims"].items()):
        tag, task_id = _split_key(key)
        pid = claim.get("pid") if isinstance(claim, dict) else None
        running.append(
            {
                "id": task_id,
                "tag": tag,
                "pid": pid,
                "alive": isinstance(pid, int) and pid_alive(pid),
                "previousStatus": claim.get("previous") if isinstance(claim, dict) else None,
            }
        )
    reviews = []
    for key, review in sorted(held["reviews"].items()):
        tag, task_id = _split_key(key)
        info = review if isinstance(review, dict) else {}
        reviews.append(
            {"id": task_id, "tag": tag, "kind": info.get("kind"), "detail": info.get("detail")}
        )
    approved = [
        {"id": _split_key(key)[1], "tag": _split_key(key)[0], "at": at}
        for key, at in sorted(held["approved"].items())
    ]
    data = {
        "enabled": cfg.enabled,
        "agent": cfg.agent,
        "parallel": cfg.parallel,
        "breaker": breaker_status(project.root, cfg),
        "running": running,
        "review": reviews,
        "approved": approved,
        "daemon": _daemon(project.root),
    }
    return Answer(data, None, project.root)


TMXD_TOOLS: tuple[Tool, ...] = (
    Tool(
        "ready_tasks",
        "Ready Tasks",
        "Every task that can be worked on now (its dependencies are done), in the order "
        "Task Master would take them, each with the autopilot's route (simple, medium, "
        "complex, critical) and the reason; the tasks waiting for approval or expansion; "
        "and why each other open task is not ready.",
        {"projectRoot": PROJECT_ROOT, "tag": TAG},
        ready_tasks,
    ),
    Tool(
        "task_history",
        "Task History",
        "What happened to a task (and its subtasks), from tmxd's records: every status "
        "transition and who made it, the commits linked to it, the agent runs and the tool "
        "calls made while it was in progress.",
        {
            "id": {"type": "string", "minLength": 1, "description": "Task or subtask ID"},
            "projectRoot": PROJECT_ROOT,
            "tag": TAG,
        },
        task_history,
        required=("id",),
    ),
    Tool(
        "report_summary",
        "Report Summary",
        "The summary of `tmxd report` for this project: tasks, agent success rate, execution "
        "time and tool calls, status counts, lead and cycle time, failure reasons, stale work.",
        {
            "projectRoot": PROJECT_ROOT,
            "since": {
                "type": "string",
                "description": "Start: a span back from now (7d, 12h) or a date (default: "
                "the first record)",
            },
            "until": {"type": "string", "description": "End (default: now)"},
            "tag": {"type": "string", "description": "Only this tag"},
            "task": {"type": "string", "description": "Only this task and its subtasks"},
        },
        report_summary,
    ),
    Tool(
        "autopilot_status",
        "Autopilot Status",
        "The autopilot's state for this project: whether autopilot mode is on, the circuit "
        "breaker, the tasks a run is working on, the tasks waiting in review and what the "
        "daemon is doing.",
        {"projectRoot": PROJECT_ROOT},
        autopilot_status,
    ),
)
