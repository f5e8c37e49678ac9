"""The prompt an agent gets for one task.

It carries the task (title, description, details, test strategy), its parent when
it is a subtask, and what its dependencies recorded (their details, where
update-subtask notes and commit notes accumulate), plus the rules of the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

DEP_NOTES_LIMIT = 2000


class TaskView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def details(self) -> str: ...
    @property
    def test_strategy(self) -> str: ...


def _section(title: str, body: str) -> str:
    return f"## {title}\n{body.strip()}\n"


def _tail(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def build(
    task: TaskView,
    *,
    parent: TaskView | None,
    dependencies: Sequence[TaskView],
    validation: Sequence[str],
    tag: str,
    mcp: bool = False,
) -> str:
    """The full prompt text for ``task`` (``mcp``: the agent has tmxd's MCP tools)."""
    kind = "subtask" if parent is not None else "task"
    parts = [
        f"You are implementing Task Master {kind} {task.id} (tag {tag}) in this repository.\n"
        f"# {task.id}: {task.title}\n"
    ]
    if task.description:
        parts.append(_section("Description", task.description))
    if parent is not None:
        body = f"{parent.id}: {parent.title}\n{parent.description or ''}"
        if parent.details:
            body += "\n" + _tail(parent.details, DEP_NOTES_LIMIT)
        parts.append(_section("Parent task", body))
    if task.details:
        parts.append(_section("Details", task.details))
    if task.test_strategy:
        parts.append(_section("Test strategy", task.test_strategy))
    if dependencies:
        lines = []
        for dep in dependencies:
            lines.append(f"- {dep.id} [{dep.status}] {dep.title}")
            if dep.details:
                lines.append("  " + _tail(dep.details, DEP_NOTES_LIMIT).replace("\n", "\n  "))
        parts.append(_section("Dependencies (already done) and their notes", "\n".join(lines)))
    rules = [
        "Work only on this task; keep changes focused.",
        "Do not change this task's status (no edit of .taskmaster/tasks/tasks.json, no "
        "Closes-Task: trailer, no set-status): tmxd sets it from the checks' verdict.",
    ]
    if mcp:
        rules.append(
            "Make task updates with tmxd's MCP tools, not by editing files: as you go, record "
            f"what you did, decided and found with mcp__tmxd__update_subtask (id {task.id}; it "
            "appends a timestamped note to the task), and read tasks with mcp__tmxd__get_task. "
            "Leave statuses to tmxd: it marks the task done when the checks pass."
        )
    if validation:
        rules.append("Afterwards these checks must pass: " + "; ".join(validation) + ".")
    parts.append(_section("Rules", "\n".join(f"- {r}" for r in rules)))
    return "\n".join(parts)
