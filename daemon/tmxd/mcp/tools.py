"""Task Master's MCP tools that need no AI, answered from tmxd's store.

Names, arguments and result shapes follow Task Master 0.43.1's own server
(``dist/mcp-server.js``), so prompts and slash commands written for it keep working:
every answer is one text block holding ``{"data": …, "version": {…}, "tag": …}`` as
2-space JSON, and a failure is a text block ``Error: …`` with ``isError`` set. What
tmxd does differently (and why) is listed in docs/mcp.md.

A tool is a :class:`Tool`: its JSON schema as Task Master publishes it and a plain
function ``(Workspace, arguments) -> Answer``. Nothing here imports the MCP SDK.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tmxd import __version__
from tmxd.errors import TmxdError
from tmxd.mcp.workspace import Opened, ToolError, Workspace, require_text
from tmxd.taskmaster.project import Project

SERVER_NAME = "tmxd"
JSON_SCHEMA = "http://json-schema.org/draft-07/schema#"
STATUSES = ["pending", "in-progress", "done", "deferred", "cancelled", "blocked", "review"]


@dataclass(frozen=True)
class Answer:
    """What a tool found: ``data`` for the envelope, the tag it read, the project root."""

    data: Any
    tag: str | None = None
    root: Path | None = None


Handler = Callable[[Workspace, Mapping[str, Any]], Answer]


@dataclass(frozen=True)
class Tool:
    """One MCP tool: what ``tools/list`` shows and the function that answers it."""

    name: str
    title: str
    description: str
    properties: dict[str, dict[str, Any]]
    run: Handler
    required: tuple[str, ...] = ()
    read_only: bool = True

    def input_schema(self) -> dict[str, Any]:
        return {
            "$schema": JSON_SCHEMA,
            "type": "object",
            "properties": self.properties,
            "required": list(self.required),
        }

    def annotations(self) -> dict[str, Any]:
        hint = {"readOnlyHint": True} if self.read_only else {"destructiveHint": True}
        return {"title": self.title, **hint}


# -- envelope ----------------------------------------------------------------------


def version_info() -> dict[str, str]:
    return {"version": __version__, "name": SERVER_NAME}


def envelope(answer: Answer) -> str:
    """The text Task Master's server answers with: data, server version, tag."""
    body: dict[str, Any] = {"data": answer.data, "version": version_info()}
    if answer.tag is not None:
        body["tag"] = answer.tag
    return json.dumps(body, indent=2, ensure_ascii=False)


def error_text(message: str, tag: str | None = None) -> str:
    """Task Master's error text: the message, the server's version and name, the tag."""
    text = f"Error: {message}\nVersion: {__version__}\nName: {SERVER_NAME}"
    return text + (f"\nCurrent Tag: {tag}" if tag else "")


@dataclass(frozen=True)
class Outcome:
    """One finished call: the text for the model, whether it failed, and where it acted."""

    text: str
    is_error: bool
    root: Path | None


def call(ws: Workspace, tool: Tool, arguments: Mapping[str, Any] | None) -> Outcome:
    """Check the arguments, run the tool, and turn its answer or failure into text."""
    args: Mapping[str, Any] = arguments or {}
    try:
        args = check_arguments(tool, args)
        answer = tool.run(ws, args)
    except ToolError as exc:
        return Outcome(error_text(ws.for_a_model(exc.message, args), exc.tag), True, None)
    except TmxdError as exc:
        return Outcome(error_text(ws.for_a_model(exc.message, args)), True, None)
    return Outcome(envelope(answer), False, answer.root)


def check_arguments(tool: Tool, args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments the schema knows, type-checked; unknown ones are dropped (as zod does).

    A number given for a string (``"id": 5``) is taken as its text.
    """
    out: dict[str, Any] = {}
    for name, value in args.items():
        spec = tool.properties.get(name)
        if spec is None or value is None:
            continue
        kind = spec.get("type")
        if kind == "string":
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise ToolError(f"{name} must be a string")
            if len(value) < spec.get("minLength", 0):
                raise ToolError(f"{name} must not be empty")
            if "enum" in spec and value not in spec["enum"]:
                raise ToolError(f"{name} must be one of: {', '.join(spec['enum'])}")
        elif kind == "boolean" and not isinstance(value, bool):
            raise ToolError(f"{name} must be true or false")
        out[name] = value
    missing = [name for name in tool.required if name not in out]
    if missing:
        raise ToolError(f"missing required argument(s): {', '.join(missing)}")
    return out


# -- shared argument schemas ----------------------------------------------------------

PROJECT_ROOT = {
    "type": "string",
    "description": "The directory of the project. Must be an absolute path. Optional: "
    "defaults to the project `tmxd mcp` serves.",
}
TAG = {"type": "string", "description": "Tag context to operate on"}
FILE = {
    "type": "string",
    "description": "Absolute path to the tasks file (default: the project's tasks.json)",
}


def project_of(ws: Workspace, args: Mapping[str, Any]) -> Project:
    """The call's project; ``file`` (a tasks.json path) wins over ``projectRoot``."""
    return ws.project(args.get("file") or args.get("projectRoot"))


def opened(ws: Workspace, args: Mapping[str, Any]) -> Opened:
    return ws.open(project_of(ws, args), args.get("tag"))


# -- get_tasks ---------------------------------------------------------------------


def _percent(part: int, whole: int) -> float | int:
    value = part / whole * 100 if whole else 0
    return int(value) if float(value).is_integer() else value


def _status_of(item: Any) -> str | None:
    """An item's status when it is text (a list or an object there counts as none)."""
    status = item.get("status") if isinstance(item, Mapping) else None
    return status if isinstance(status, str) else None


def _subtasks_of(task: Mapping[str, Any]) -> list[Any]:
    subtasks = task.get("subtasks")
    return subtasks if isinstance(subtasks, list) else []


def get_tasks_stats(tasks: Sequence[Mapping[str, Any]], total: int) -> dict[str, Any]:
    """Task Master's ``stats``: counts over the listed tasks, percentage of all tasks."""
    counts = Counter(_status_of(t) for t in tasks)
    subs = Counter(_status_of(s) for t in tasks for s in _subtasks_of(t))
    sub_total = sum(subs.values())
    return {
        "total": total,
        "completed": counts["done"],
        "inProgress": counts["in-progress"],
        "pending": counts["pending"],
        "blocked": counts["blocked"],
        "deferred": counts["deferred"],
        "cancelled": counts["cancelled"],
        "review": counts["review"],
        "completionPercentage": _percent(counts["done"], total),
        "subtasks": {
            "total": sub_total,
            "completed": subs["done"],
            "inProgress": subs["in-progress"],
            "pending": subs["pending"],
            "blocked": subs["blocked"],
            "deferred": subs["deferred"],
            "cancelled": subs["cancelled"],
            "completionPercentage": _percent(subs["done"], sub_total),
        },
    }


def get_tasks(ws: Workspace, args: Mapping[str, Any]) -> Answer:
    from tmxd.taskmaster.cli_json import list_json

    at = opened(ws, args)
    status = args.get("status") or None
    statuses = None
    if status and status != "all":
        statuses = [s.strip() for s in status.split(",")]
    listing = list_json(
        at.doc,
        at.tag,
        statuses=statuses,
        with_subtasks=args.get("withSubtasks") is not False,  # omitted: included, as in tm-core
        complexity=ws.complexity(at.project, at.tag),
    )
    tasks = [{k: v for k, v in t.items() if k != "blocks"} for t in listing["tasks"]]
    stats = get_tasks_stats(tasks, listing["metadata"]["total"])
    return Answer({"tasks": tasks, "filter": status or "all", "stats": stats}, at.tag, at.root)


# -- next_task ---------------------------------------------------------------------

NO_NEXT_TASK = (
    "No eligible next task found. All tasks are either completed or have unsatisfied dependencies"
)
NEXT_STEPS = (
    'When ready to work on the {kind}, use set_task_status to set its status to "in-progress". '
    "Record progress, findings and decisions on it as you go with update_subtask "
    "(timestamped notes appended to its details), and set it to done when it is finished."
)


def numeric_id(value: Any) -> Any:
    """An id as Task Master's file reader hands it out: ``"12"`` becomes ``12``."""
    if isinstance(value, str) and value.isdigit() and str(int(value)) == value:
        return int(value)
    return value


def next_task(ws: Workspace, args: Mapping[str, Any]) -> Answer:
    from tmxd.taskmaster.ops import next_task as choose

    at = opened(ws, args)
    report = args.get("complexityReport")
    report_path = None
    if report:
        report_path = Path(report) if Path(report).is_absolute() else at.root / report
    task = ws.derived(at.doc, ("next_task", at.tag), lambda: choose(at.doc, at.tag))
    if task is None:
        return Answer({"message": NO_NEXT_TASK, "nextTask": None}, at.tag, at.root)
    if task.parent_id is not None:
        found = at.doc.locate(task.id, at.tag)
        parent = found[0] if found else None
        shown: dict[str, Any] = {
            "id": task.id,
            "title": task.raw.get("title") or f"Subtask {task.local_id}",
            "status": task.raw.get("status") or "pending",
            "priority": task.priority,
            "dependencies": task.dependencies,
            "parentId": numeric_id(parent.get("id") if parent else task.parent_id),
        }
    else:
        shown = dict(task.raw)
        shown["id"] = numeric_id(shown.get("id"))
    # Task Master scores a subtask with its parent's complexity
    scored = task.parent_id or task.id
    entry = ws.complexity(at.project, at.tag, report_path).get(scored)
    if entry is not None and "complexityScore" in entry:
        shown["complexityScore"] = entry["complexityScore"]
    kind = "subtask" if task.parent_id is not None else "task"
    data = {
        "nextTask": shown,
        "isSubtask": task.parent_id is not None,
        "nextSteps": NEXT_STEPS.format(kind=kind),
    }
    return Answer(data, at.tag, at.root)


# -- get_task ----------------------------------------------------------------------


def _status_text(raw: Mapping[str, Any]) -> str:
    from tmxd.taskmaster.document import js_string

    return js_string(raw["status"]) if "status" in raw else "undefined"


def get_task(ws: Workspace, args: Mapping[str, Any]) -> Answer:
    from tmxd.taskmaster.cli_json import add_complexity
    from tmxd.taskmaster.ops import split_ids

    wanted_text = require_text(args, "id")
    wanted = split_ids([wanted_text])
    at = opened(ws, args)
    status = args.get("status")
    keep = {s.strip().lower() for s in status.split(",")} if status else None
    complexity = ws.complexity(at.project, at.tag)
    found = []
    for task_id in wanted:
        task = at.doc.find(task_id, at.tag)
        if task is None:
            continue
        shown = dict(task.raw)
        if task.parent_id is None:
            add_complexity(shown, complexity.get(task.id))
        subtasks = shown.get("subtasks")
        if keep is not None and isinstance(subtasks, list) and subtasks:
            shown["subtasks"] = [
                s for s in subtasks if isinstance(s, dict) and _status_text(s).lower() in keep
            ]
        found.append(shown)
    if not found:
        raise ToolError(f"No tasks found for ID(s): {wanted_text}", at.tag)
    return Answer(found[0] if len(wanted) == 1 else found, at.tag, at.root)


# -- set_task_status -------------------------------------------------------------------


def set_task_status(ws: Workspace, args: Mapping[str, Any]) -> Answer:
    from tmxd.history.observe import attributed
    from tmxd.taskmaster.ops import requested_changes, set_status, split_ids
    from tmxd.taskmaster.store import TaskStore

    wanted = split_ids([require_text(args, "id")])
    status = require_text(args, "status")
    project = project_of(ws, args)
    tag = args.get("tag") or None
    try:
        with attributed(project.root, project.tasks_path, "mcp", ws.recorder()):
            changes = set_status(TaskStore(project), wanted, status, tag=tag)
    except TmxdError as exc:
        raise ToolError(f"Failed to set task status: {exc.message}", tag) from exc
    done = requested_changes(wanted, changes)
    active = project.active_tag(tag)
    data = {
        "message": f'Successfully updated {len(done)} task(s) to "{status}"',
        "tasks": [
            {
                "success": True,
                "oldStatus": c.old_status,
                "newStatus": c.new_status,
                "taskId": c.task_id,
            }
            for c in done
        ],
    }
    return Answer(data, active, project.root)


# -- update_subtask --------------------------------------------------------------------


def update_subtask(ws: Workspace, args: Mapping[str, Any]) -> Answer:
    from tmxd.taskmaster.ops import append_note
    from tmxd.taskmaster.store import TaskStore

    task_id = require_text(args, "id")
    prompt = (args.get("prompt") or "").strip()
    if args.get("metadata"):
        raise ToolError(
            "metadata updates are not supported by tmxd's server; "
            "use Task Master's update_subtask for them"
        )
    if not prompt:
        raise ToolError("Either prompt or metadata must be provided for update-subtask")
    project = project_of(ws, args)
    tag = args.get("tag") or None
    store = TaskStore(project)
    try:
        append_note(store, task_id, prompt, tag=tag)
    except TmxdError as exc:
        raise ToolError(f"Error updating subtask: {exc.message}", tag) from exc
    doc = ws.tasks(project)
    active = ws.tag_of(project, doc, tag)
    updated = doc.find(task_id, active)
    data = {
        "message": f"Successfully updated subtask with ID {task_id}",
        "subtaskId": task_id,
        "parentId": task_id.split(".")[0],
        "subtask": updated.raw if updated is not None else None,
        "tasksPath": str(project.tasks_path),
        "useResearch": False,
        "telemetryData": None,
        "tagInfo": {"tag": active},
    }
    return Answer(data, active, project.root)


# -- validate_dependencies ---------------------------------------------------------------


def validate_dependencies(ws: Workspace, args: Mapping[str, Any]) -> Answer:
    from tmxd.taskmaster.dependencies import validation_json

    at = opened(ws, args)
    findings = validation_json(at.doc, at.tag)
    count = len(findings["issues"])
    message = (
        "Dependencies validated successfully"
        if not count
        else f"Found {count} invalid dependenc{'y' if count == 1 else 'ies'}; "
        "Task Master's fix_dependencies repairs them"
    )
    data = {"message": message, "tasksPath": str(at.project.tasks_path), **findings}
    return Answer(data, at.tag, at.root)


# -- the catalogue -----------------------------------------------------------------------

TASK_MASTER_TOOLS: tuple[Tool, ...] = (
    Tool(
        "get_tasks",
        "Get Tasks",
        "Get all tasks from Task Master, optionally filtering by status and including subtasks.",
        {
            "projectRoot": PROJECT_ROOT,
            "status": {
                "type": "string",
                "description": "Filter tasks by status (e.g., 'pending', 'done') or multiple "
                "statuses separated by commas (e.g., 'blocked,deferred')",
            },
            "withSubtasks": {
                "type": "boolean",
                "description": "Include subtasks nested within their parent tasks in the response",
            },
            "tag": TAG,
        },
        get_tasks,
    ),
    Tool(
        "next_task",
        "Next Task",
        "Find the next task to work on based on dependencies and status",
        {
            "file": FILE,
            "complexityReport": {
                "type": "string",
                "description": "Path to the complexity report file (relative to project root "
                "or absolute)",
            },
            "projectRoot": PROJECT_ROOT,
            "tag": TAG,
        },
        next_task,
    ),
    Tool(
        "get_task",
        "Get Task",
        "Get detailed information about a specific task",
        {
            "id": {
                "type": "string",
                "minLength": 1,
                "description": "Task ID(s) to get (can be comma-separated for multiple tasks)",
            },
            "status": {
                "type": "string",
                "description": "Filter subtasks by status (e.g., 'pending', 'done')",
            },
            "projectRoot": PROJECT_ROOT,
            "tag": TAG,
        },
        get_task,
        required=("id",),
    ),
    Tool(
        "set_task_status",
        "Set Task Status",
        "Set the status of one or more tasks or subtasks.",
        {
            "id": {
                "type": "string",
                "minLength": 1,
                "description": "Task ID or subtask ID (e.g., '15', '15.2'). Can be "
                "comma-separated to update multiple tasks/subtasks at once.",
            },
            "status": {
                "type": "string",
                "enum": STATUSES,
                "description": "New status to set (e.g., 'pending', 'done', 'in-progress', "
                "'review', 'deferred', 'cancelled').",
            },
            "projectRoot": PROJECT_ROOT,
            "tag": {"type": "string", "description": "Optional tag context to operate on"},
        },
        set_task_status,
        required=("id", "status"),
        read_only=False,
    ),
    Tool(
        "update_subtask",
        "Update Subtask",
        "Appends timestamped information to a specific subtask without replacing existing "
        "content. If you just want to update the subtask status, use set_task_status instead.",
        {
            "id": {
                "type": "string",
                "description": 'ID of the subtask to update in format "parentId.subtaskId" '
                '(e.g., "5.2"). Parent ID is the ID of the task that contains the subtask.',
            },
            "prompt": {
                "type": "string",
                "description": "Information to add to the subtask, appended as given (no AI).",
            },
            "research": {
                "type": "boolean",
                "description": "Accepted for compatibility; tmxd never calls an AI.",
            },
            "metadata": {
                "type": "string",
                "description": "Not supported by tmxd (Task Master's server merges it).",
            },
            "file": FILE,
            "projectRoot": PROJECT_ROOT,
            "tag": TAG,
        },
        update_subtask,
        required=("id",),
        read_only=False,
    ),
    Tool(
        "validate_dependencies",
        "Validate Dependencies",
        "Check tasks for dependency issues (like circular references or links to non-existent "
        "tasks) without making changes.",
        {"file": FILE, "projectRoot": PROJECT_ROOT, "tag": TAG},
        validate_dependencies,
    ),
)
