"""Dependency checks with ``task-master validate-dependencies``' findings: self, missing, circular.

Two readings of a subtask's bare-number dependency exist inside Task Master: ``next`` and
the cycle check read ``[1]`` on subtask ``5.2`` as sibling ``5.1``; the CLI's missing-check
reads it as top-level task ``1`` and so reports false "missing" findings on most expanded
files. tmxd reads it as the sibling (``cli_quirks=False``, the default). With
``cli_quirks=True`` the CLI's own rules are followed exactly, including its integer id
normalisation; the conformance tests use that mode to show both readings are understood.

A task is reported circular when a dependency cycle is reachable from it (the CLI's rule:
tasks that merely lead into a cycle are reported too).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tmxd.taskmaster.document import (
    TasksFile,
    js_string,
    raw_dependencies,
    raw_subtasks,
    subtask_dep_id,
    subtask_full_id,
)

SELF = "self"
MISSING = "missing"
CIRCULAR = "circular"


@dataclass(frozen=True)
class DependencyIssue:
    """One finding: ``kind`` is ``self``, ``missing`` or ``circular``."""

    task_id: str
    kind: str
    message: str
    dependency: str | None = None

    def cli_line(self) -> str:
        """The line ``task-master validate-dependencies`` prints after ``[ERROR]``."""
        line = f"  [{self.kind.upper()}] Task {self.task_id}: {self.message}"
        if self.dependency is not None:
            line += f" (Dependency: {self.dependency})"
        return line


def count_checked(tasks_file: TasksFile, tag: str) -> tuple[int, int, int]:
    """(tasks, subtasks, dependencies) as the CLI's summary box counts them."""
    tasks = tasks_file.task_dicts(tag)
    subtasks = sum(len(raw_subtasks(t)) for t in tasks)
    deps = sum(
        len(raw_dependencies(t)) + sum(len(raw_dependencies(s)) for s in raw_subtasks(t))
        for t in tasks
    )
    return len(tasks), subtasks, deps


def validation_json(tasks_file: TasksFile, tag: str, *, cli_quirks: bool = False) -> dict[str, Any]:
    """``tmxd validate-dependencies --format json`` (and the MCP tool's findings)."""
    issues = validate_dependencies(tasks_file, tag, cli_quirks=cli_quirks)
    tasks, subtasks, deps = count_checked(tasks_file, tag)
    return {
        "valid": not issues,
        "issues": [
            {"type": i.kind, "taskId": i.task_id, "message": i.message}
            | ({"dependencyId": i.dependency} if i.dependency is not None else {})
            for i in issues
        ],
        "tag": tag,
        "tasksChecked": tasks,
        "subtasksChecked": subtasks,
        "dependenciesChecked": deps,
    }


def validate_dependencies(
    tasks_file: TasksFile, tag: str, *, cli_quirks: bool = False
) -> list[DependencyIssue]:
    """Every self, missing and circular dependency in ``tag``, in the CLI's order."""
    tasks = tasks_file.task_dicts(tag)
    if cli_quirks:
        return _validate_like_cli(copy.deepcopy(tasks))
    return _validate(tasks)


# -- tmxd's reading: ids as strings, bare subtask numbers are siblings ----------------------


def _validate(tasks: list[dict[str, Any]]) -> list[DependencyIssue]:
    graph: dict[str, list[str]] = {}
    for task in tasks:
        tid = js_string(task.get("id"))
        graph.setdefault(tid, [js_string(d) for d in raw_dependencies(task)])
        for sub in raw_subtasks(task):
            sid = subtask_full_id(tid, sub.get("id"))
            graph.setdefault(sid, [subtask_dep_id(tid, d) for d in raw_dependencies(sub)])
    in_cycle = _cycle_reachable(graph)
    issues: list[DependencyIssue] = []
    for task in tasks:
        if not isinstance(task.get("dependencies"), list):
            continue
        tid = js_string(task.get("id"))
        for dep in task["dependencies"]:
            dep_id = js_string(dep)
            if dep_id == tid:
                issues.append(DependencyIssue(tid, SELF, f"Task {tid} depends on itself"))
            elif dep_id not in graph:
                issues.append(
                    DependencyIssue(
                        tid, MISSING, f"Task {tid} depends on non-existent task {dep_id}", dep_id
                    )
                )
        if in_cycle(tid):
            issues.append(
                DependencyIssue(tid, CIRCULAR, f"Task {tid} is part of a circular dependency chain")
            )
        for sub in raw_subtasks(task):
            if not isinstance(sub.get("dependencies"), list):
                continue
            sid = subtask_full_id(tid, sub.get("id"))
            for dep in sub["dependencies"]:
                full = subtask_dep_id(tid, dep)
                shown = js_string(dep)
                if full == sid:
                    issues.append(DependencyIssue(sid, SELF, f"Subtask {sid} depends on itself"))
                elif full not in graph:
                    issues.append(
                        DependencyIssue(
                            sid,
                            MISSING,
                            f"Subtask {sid} depends on non-existent task/subtask {full}",
                            shown,
                        )
                    )
            if in_cycle(sid):
                issues.append(
                    DependencyIssue(
                        sid, CIRCULAR, f"Subtask {sid} is part of a circular dependency chain"
                    )
                )
    return issues


def _cycle_reachable(graph: dict[str, list[str]]) -> Callable[[str], bool]:
    """``f(node)``: is a cycle reachable from ``node``? (iterative, memoised)."""
    state: dict[str, int] = {}  # 1 on the stack, 2 finished
    result: dict[str, bool] = {}

    def visit(start: str) -> bool:
        if start in result:
            return result[start]
        stack: list[tuple[str, int]] = [(start, 0)]
        state[start] = 1
        found_on: dict[str, bool] = {start: False}
        while stack:
            node, index = stack[-1]
            edges = graph.get(node, [])
            if index < len(edges):
                stack[-1] = (node, index + 1)
                nxt = edges[index]
                if nxt not in graph:
                    continue
                if state.get(nxt) == 1:
                    for n, _ in stack:
                        found_on[n] = True
                    continue
                if nxt in result:
                    if result[nxt]:
                        for n, _ in stack:
                            found_on[n] = True
                    continue
                state[nxt] = 1
                found_on[nxt] = False
                stack.append((nxt, 0))
            else:
                stack.pop()
                state[node] = 2
                result[node] = found_on[node]
                if found_on[node] and stack:
                    for n, _ in stack:
                        found_on[n] = True
        return result[start]

    return visit


# -- the CLI's own reading (legacy dependency-manager), kept exact -------------------------


def _parse_int(value: Any) -> float:
    """JavaScript ``parseInt(value, 10)`` (NaN as ``math.nan``)."""
    match = re.match(r"\s*([+-]?\d+)", js_string(value))
    return float(int(match.group(1))) if match else math.nan


def _normalise_ids(tasks: list[dict[str, Any]]) -> None:
    """The legacy reader's id normalisation (numeric-looking ids become integers)."""
    for task in tasks:
        if "id" in task:
            n = _parse_int(task["id"])
            if not math.isnan(n) and n > 0:
                task["id"] = int(n)
        for sub in raw_subtasks(task):
            if "id" not in sub:
                continue
            if isinstance(sub["id"], str) and "." in sub["id"]:
                last = _parse_int(sub["id"].split(".")[-1])
                sub["id"] = None if math.isnan(last) else int(last)
            else:
                n = _parse_int(sub["id"])
                if not math.isnan(n) and n > 0:
                    sub["id"] = int(n)


def _js_eq(a: Any, b: Any) -> bool:
    """``a === b`` for JSON values."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "") and not (
        isinstance(value, float) and math.isnan(value)
    )


def _num(value: float) -> Any:
    return int(value) if not math.isnan(value) else math.nan


def _task_exists(tasks: list[dict[str, Any]], dep: Any) -> bool:
    if not _truthy(dep):
        return False
    if isinstance(dep, str) and "." in dep:
        parts = dep.split(".")
        parent_n, sub_n = _parse_int(parts[0]), _parse_int(parts[1])
        parent = next((t for t in tasks if _js_eq(t.get("id"), _num(parent_n))), None)
        if parent is None or not _truthy(parent.get("subtasks")):
            return False
        return any(_js_eq(s.get("id"), _num(sub_n)) for s in raw_subtasks(parent))
    n = _parse_int(dep)
    return any(_js_eq(t.get("id"), _num(n)) for t in tasks)


def _js_number(text: str) -> Any:
    try:
        value = float(text) if text.strip() else 0.0
    except ValueError:
        return math.nan
    return int(value) if value.is_integer() else value


def _cli_is_circular(tasks: list[dict[str, Any]], start: Any, memo: dict[str, bool]) -> bool:
    """The CLI's DFS; ``memo`` holds nodes known to reach no cycle (valid for any path)."""

    def walk(node: Any, path: list[str]) -> bool:
        key = js_string(node)
        if key in path:
            return True
        if key in memo and not memo[key]:
            return False
        item: dict[str, Any] | None = None
        parent_number: Any = None
        if "." in key:
            parts = key.split(".")
            p, s = _js_number(parts[0]), _js_number(parts[1])
            parent = next((t for t in tasks if _js_eq(t.get("id"), p)), None)
            parent_number = p
            if parent is not None and _truthy(parent.get("subtasks")):
                item = next((x for x in raw_subtasks(parent) if _js_eq(x.get("id"), s)), None)
        else:
            n = _num(_parse_int(key))
            item = next(
                (t for t in tasks if _js_eq(t.get("id"), n) or js_string(t.get("id")) == key),
                None,
            )
        deps = raw_dependencies(item) if item is not None else []
        if not deps:
            memo[key] = False
            return False
        here = [*path, key]
        for dep in deps:
            nxt = js_string(dep)
            is_number = isinstance(dep, int | float) and not isinstance(dep, bool)
            if is_number and parent_number is not None:
                nxt = f"{js_string(parent_number)}.{js_string(dep)}"
            if walk(nxt, here):
                return True
        memo[key] = False
        return False

    return walk(start, [])


def _validate_like_cli(tasks: list[dict[str, Any]]) -> list[DependencyIssue]:
    _normalise_ids(tasks)
    memo: dict[str, bool] = {}
    issues: list[DependencyIssue] = []
    for task in tasks:
        deps = task.get("dependencies")
        if not _truthy(deps) or not isinstance(deps, list):
            continue
        tid = js_string(task.get("id"))
        for dep in deps:
            if js_string(dep) == tid:
                issues.append(DependencyIssue(tid, SELF, f"Task {tid} depends on itself"))
            elif not _task_exists(tasks, dep):
                shown = js_string(dep)
                issues.append(
                    DependencyIssue(
                        tid, MISSING, f"Task {tid} depends on non-existent task {shown}", shown
                    )
                )
        if _cli_is_circular(tasks, task.get("id"), memo):
            issues.append(
                DependencyIssue(tid, CIRCULAR, f"Task {tid} is part of a circular dependency chain")
            )
        for sub in raw_subtasks(task):
            sub_deps = sub.get("dependencies")
            if not _truthy(sub_deps) and not isinstance(sub_deps, list):
                continue
            sid = f"{tid}.{js_string(sub.get('id'))}"
            for dep in sub_deps if isinstance(sub_deps, list) else []:
                own = sub.get("id")
                if js_string(dep) == sid or (
                    isinstance(dep, int | float) and not isinstance(dep, bool) and _js_eq(dep, own)
                ):
                    issues.append(DependencyIssue(sid, SELF, f"Subtask {sid} depends on itself"))
                elif not _task_exists(tasks, dep):
                    shown = js_string(dep)
                    issues.append(
                        DependencyIssue(
                            sid,
                            MISSING,
                            f"Subtask {sid} depends on non-existent task/subtask {shown}",
                            shown,
                        )
                    )
            if _cli_is_circular(tasks, sid, memo):
                issues.append(
                    DependencyIssue(
                        sid, CIRCULAR, f"Subtask {sid} is part of a circular dependency chain"
                    )
                )
    return issues
