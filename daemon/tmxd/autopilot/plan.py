"""What the autopilot can run now: ready tasks, routed, in Task Master's order.

A *unit* is what one agent run gets: a task without subtasks, or one subtask (a
complex task with subtasks is worked through them). A top-level task that needs a
person first is a *gate*: critical work waits for ``tmxd approve``, a complex task
without subtasks for expansion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tmxd.autopilot import routing
from tmxd.taskmaster.document import Task

PRIORITY = {"critical": 4, "high": 3, "medium": 2, "low": 1}
DONE = "done"
Outcome = Literal["done", "failed", "review", "interrupted", "paused", "skipped"]


def _num(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (1 << 30, text)


def _sort_key(task: Task, top: Task) -> tuple[Any, ...]:
    sub = task.id.split(".")[-1] if task.parent_id else "0"
    return (
        -PRIORITY.get(task.priority or top.priority or "medium", 2),
        len(task.dependencies),
        _num(top.id),
        _num(sub),
    )


def related(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are the same task or one is in the other's subtree."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


@dataclass(frozen=True)
class Unit:
    """One thing to hand to the agent: a task without subtasks, or one subtask."""

    task: Task
    top: Task
    route: routing.Route
    reason: str

    @property
    def id(self) -> str:
        return self.task.id


@dataclass(frozen=True)
class Gate:
    """A top-level task that needs a person first (approval or expansion)."""

    task: Task
    kind: Literal["critical", "expand"]
    reason: str


@dataclass
class Plan:
    units: list[Unit] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)


def done_ids(tasks: Sequence[Task]) -> set[str]:
    done = set()
    for task in tasks:
        if task.status == DONE:
            done.add(task.id)
        for sub in task.subtasks:
            if sub.status == DONE:
                done.add(sub.id)
    return done


def plan_tasks(
    tasks: Sequence[Task],
    scores: dict[str, float],
    rules: routing.RoutingRules,
    approved: Callable[[str], bool],
) -> Plan:
    """What is ready now, routed, in Task Master's order (priority, fewest deps, id)."""
    done = done_ids(tasks)
    plan = Plan()
    for top in tasks:
        if top.status not in ("pending", "in-progress"):
            continue
        if not all(dep in done for dep in top.dependencies):
            continue
        decision = routing.decide(
            [top.title, top.description, top.details], scores.get(top.id), rules
        )
        ok = approved(top.id)
        if decision.route == "critical" and not ok:
            if top.status == "pending":
                plan.gates.append(Gate(top, "critical", decision.reason))
            continue
        if top.subtasks:
            sub_route: routing.Route = "medium" if decision.route == "complex" else decision.route
            for sub in top.subtasks:
                if sub.status == "pending" and all(dep in done for dep in sub.dependencies):
                    plan.units.append(Unit(sub, top, sub_route, decision.reason))
            continue
        if top.status != "pending":
            continue  # someone is working on it
        if decision.route == "complex" and not ok:
            plan.gates.append(Gate(top, "expand", decision.reason))
            continue
        plan.units.append(Unit(top, top, decision.route, decision.reason))
    plan.units.sort(key=lambda u: _sort_key(u.task, u.top))
    return plan
