"""The JSON objects ``task-master`` prints with ``--format json``, built from a TasksFile.

Shapes follow task-master-ai 0.43.1 (tm-core) so scripts written against the CLI keep
working: ``list`` → ``{tasks, metadata}``, ``next`` → ``{task, found, tag, storageType,
hasAnyTasks}``, ``show`` → ``{task, found, storageType[, originalTaskId]}`` or
``{tasks, notFound, storageType}``, ``set-status`` → ``{success, updatedTasks, storageType}``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tmxd.taskmaster.document import Task, TasksFile, js_string, raw_subtasks

STORAGE = "file"

# TaskEntity.toJSON() in tm-core: the fields it keeps, in its order.
_ENTITY_FIELDS = (
    "id",
    "title",
    "description",
    "status",
    "priority",
    "dependencies",
    "details",
    "testStrategy",
    "subtasks",
    "createdAt",
    "updatedAt",
    "effort",
    "actualEffort",
    "tags",
    "assignee",
    "complexity",
    "recommendedSubtasks",
    "expansionPrompt",
    "complexityReasoning",
    "metadata",
)


def load_complexity(path: Path | None) -> dict[str, dict[str, Any]]:
    """Complexity report entries by task id (empty when there is no readable report)."""
    if path is None:
        return {}
    try:
        report = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return {}
    entries = report.get("complexityAnalysis") if isinstance(report, dict) else None
    if not isinstance(entries, list):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if isinstance(entry, dict) and "taskId" in entry:
            out[js_string(entry["taskId"])] = entry
    return out


def subtask_json(raw: dict[str, Any]) -> dict[str, Any]:
    """A subtask as tm-core hands it out: stored fields, ``id`` and ``parentId`` as strings."""
    out = dict(raw)
    out["id"] = js_string(raw.get("id"))
    out["parentId"] = js_string(raw.get("parentId")) if "parentId" in raw else "undefined"
    return out


def task_json(
    raw: dict[str, Any],
    complexity: dict[str, dict[str, Any]] | None = None,
    *,
    with_subtasks: bool = True,
) -> dict[str, Any]:
    """A top-level task as tm-core's ``TaskEntity.toJSON()`` writes it."""
    values: dict[str, Any] = dict(raw)
    values["id"] = js_string(raw.get("id"))
    deps = raw.get("dependencies")
    values["dependencies"] = [js_string(d) for d in deps] if isinstance(deps, list) else []
    values["subtasks"] = [subtask_json(s) for s in raw_subtasks(raw)] if with_subtasks else []
    add_complexity(values, (complexity or {}).get(values["id"]))
    return {key: values[key] for key in _ENTITY_FIELDS if key in values}


def add_complexity(values: dict[str, Any], entry: dict[str, Any] | None) -> dict[str, Any]:
    """Set a task's ``complexity`` fields from its complexity report entry, as tm-core does."""
    if entry is not None:
        if "complexityScore" in entry:
            values["complexity"] = entry["complexityScore"]
        for key in ("recommendedSubtasks", "expansionPrompt", "complexityReasoning"):
            if key in entry:
                values[key] = entry[key]
    return values


def blocks_map(tasks: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """Task id → ids of the tasks that depend on it."""
    out: dict[str, list[str]] = {}
    for raw in tasks:
        deps = raw.get("dependencies")
        for dep in deps if isinstance(deps, list) else []:
            out.setdefault(js_string(dep), []).append(js_string(raw.get("id")))
    return out


def list_json(
    doc: TasksFile,
    tag: str,
    *,
    statuses: Sequence[str] | None = None,
    with_subtasks: bool = False,
    complexity: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``task-master list --format json``."""
    tasks = doc.task_dicts(tag)
    blocks = blocks_map(tasks)
    shown = [t for t in tasks if statuses is None or t.get("status") in statuses]
    items = []
    for raw in shown:
        item = task_json(raw, complexity, with_subtasks=with_subtasks)
        item["blocks"] = blocks.get(item["id"], [])
        items.append(item)
    return {
        "tasks": items,
        "metadata": {
            "total": len(tasks),
            "filtered": len(shown),
            "tag": tag,
            "storageType": STORAGE,
            "allTags": False,
        },
    }


def next_task_json(task: Task | None, complexity: dict[str, dict[str, Any]] | None) -> Any:
    """The ``task`` member of ``task-master next --format json``."""
    if task is None:
        return None
    if task.parent_id is None:
        return task_json(task.raw, complexity)
    raw = task.raw
    values: dict[str, Any] = {
        "id": task.id,
        "title": raw.get("title") or f"Subtask {js_string(raw.get('id'))}",
        "status": raw.get("status") or "pending",
        "priority": task.priority,
        "dependencies": task.dependencies,
        "parentId": task.parent_id,
    }
    for key in ("description", "details", "testStrategy"):
        if key in raw:  # JSON.stringify drops undefined members
            values[key] = raw[key]
    values["subtasks"] = []
    return values


def next_json(
    task: Task | None, tag: str, has_tasks: bool, complexity: dict[str, dict[str, Any]] | None
) -> dict[str, Any]:
    """``task-master next --format json``."""
    return {
        "task": next_task_json(task, complexity),
        "found": task is not None,
        "tag": tag,
        "storageType": STORAGE,
        "hasAnyTasks": has_tasks,
    }


def show_json(found: Sequence[tuple[str, Task | None]]) -> dict[str, Any]:
    """``task-master show ID[,ID] --format json``: stored objects as they are."""
    if len(found) == 1:
        wanted, task = found[0]
        if task is None:
            return {"task": None, "found": False, "storageType": STORAGE}
        out: dict[str, Any] = {"task": task.raw, "found": True, "storageType": STORAGE}
        if task.parent_id is not None:
            out["originalTaskId"] = wanted
        return out
    return {
        "tasks": [task.raw for _, task in found if task is not None],
        "notFound": [wanted for wanted, task in found if task is None],
        "storageType": STORAGE,
    }


def set_status_json(changes: Sequence[tuple[str, str, str]]) -> dict[str, Any]:
    """``task-master set-status --format json`` for the requested ids."""
    return {
        "success": True,
        "updatedTasks": [
            {"taskId": task_id, "oldStatus": old, "newStatus": new} for task_id, old, new in changes
        ],
        "storageType": STORAGE,
    }
