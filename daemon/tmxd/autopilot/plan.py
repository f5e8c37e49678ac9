"""What the autopilot can run now: ready tasks, routed, in Task Master's order.

Readiness is Task Master's ``next``, from the same code that answers ``tmxd next``
(:func:`tmxd.taskmaster.ops.ready_tasks`): first the ready subtasks of in-progress
tasks — a parent in progress never blocks them, whatever its own dependencies —,
then the ready top-level tasks; only ``done`` satisfies a dependency. The autopilot
then:

- runs a task without subtasks as one *unit*;
- runs a task with subtasks subtask by subtask (its ready pending subtasks, in
  ``next``'s order); the first one started puts the parent in progress, as a
  person following ``task-master next`` would;
- leaves alone what is already in progress (someone, or another run, has it);
- stops a top-level task that needs a person first at a *gate*: critical work
  waits for ``tmxd approve``, a complex task without subtasks for expansion.

:func:`explain` says why a task that is not run is not ready (dependency, status,
parent, gate), for ``--dry-run`` and for ``--task``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from tmxd.autopilot import routing
from tmxd.taskmaster import ops
from tmxd.taskmaster.document import Task, TasksFile

DONE = "done"
Outcome = Literal["done", "failed", "review", "interrupted", "skipped"]


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


@dataclass(frozen=True)
class Waiting:
    """A task that is not run now, and why."""

    id: str
    title: str
    reason: str


@dataclass
class Plan:
    units: list[Unit] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)


Decide = Callable[[Task], routing.Decision]


def done_ids(tasks: list[Task]) -> set[str]:
    done = set()
    for task in tasks:
        if task.status == DONE:
            done.add(task.id)
        for sub in task.subtasks:
            if sub.status == DONE:
                done.add(sub.id)
    return done


def _sub_order(sub: Task) -> tuple[int, int, float]:
    rank = ops.PRIORITY_RANK.get(sub.priority, 2)
    return (-rank, len(sub.dependencies), ops.js_number(sub.local_id))


def _unit(sub: Task, top: Task, decision: routing.Decision, approved: bool) -> Unit:
    """A subtask's unit: it inherits its task's route (a complex task's subtasks run as
    medium), with a reason that says so."""
    why = decision.reason + ("; approved" if approved and decision.route == "critical" else "")
    if decision.route == "complex":
        return Unit(sub, top, "medium", f"a subtask of complex task {top.id} ({why})")
    return Unit(sub, top, decision.route, f"as its task {top.id}: {why}")


def plan_tasks(
    tasks_file: TasksFile,
    tag: str,
    scores: dict[str, float],
    rules: routing.RoutingRules,
    approved: Callable[[str], bool],
) -> Plan:
    """What can run now, routed, in Task Master's ``next`` order."""
    tasks = tasks_file.tasks(tag)
    tops = {t.id: t for t in tasks}
    done = done_ids(tasks)
    decisions: dict[str, routing.Decision] = {}

    def decide(top: Task) -> routing.Decision:
        if top.id not in decisions:
            decisions[top.id] = routing.decide(
                [top.title, top.description, top.details], scores.get(top.id), rules
            )
        return decisions[top.id]

    plan = Plan()
    units: dict[str, Unit] = {}
    gated: set[str] = set()

    def gate(top: Task, kind: Literal["critical", "expand"], reason: str) -> None:
        if top.id not in gated:
            gated.add(top.id)
            plan.gates.append(Gate(top, kind, reason))

    for cand in ops.ready_tasks(tasks_file, tag):
        top = tops.get(cand.parent_id) if cand.parent_id else cand
        if top is None:
            continue
        decision = decide(top)
        ok = approved(top.id)
        if decision.route == "critical" and not ok:
            gate(top, "critical", decision.reason)
            continue
        if cand.parent_id is not None:  # a ready subtask of an in-progress task
            if cand.status == "pending":
                units.setdefault(cand.id, _unit(cand, top, decision, ok))
            continue
        if top.subtasks:
            ready = [
                s
                for s in top.subtasks
                if s.status == "pending" and all(d in done for d in s.dependencies)
            ]
            for sub in sorted(ready, key=_sub_order):
                units.setdefault(sub.id, _unit(sub, top, decision, ok))
            continue
        if top.status != "pending":
            continue  # someone is working on it
        if decision.route == "complex" and not ok:
            gate(top, "expand", decision.reason)
            continue
        reason = decision.reason + ("; approved" if ok and decision.route == "critical" else "")
        units.setdefault(top.id, Unit(top, top, decision.route, reason))
    plan.units = list(units.values())
    return plan


def explain(
    tasks_file: TasksFile, tag: str, plan: Plan, review_reason: Callable[[str], str | None]
) -> list[Waiting]:
    """Why each task that is neither run nor gated by ``plan`` is not ready, in file order.

    Tasks done or cancelled are not listed; a task with subtasks is explained
    through its subtasks.
    """
    tasks = tasks_file.tasks(tag)
    statuses = {t.id: t.status for t in tasks}
    for top in tasks:
        statuses.update({s.id: s.status for s in top.subtasks})
    taken = {u.id for u in plan.units} | {g.task.id for g in plan.gates}
    gates = {g.task.id: g for g in plan.gates}
    waiting: list[Waiting] = []
    for top in tasks:
        finished = ("done", "cancelled", "completed")
        open_parent = top.subtasks and top.status in ("pending", "in-progress")
        if open_parent and all(s.status in finished for s in top.subtasks):
            reason = f"all its subtasks are finished; `tmxd set-status {top.id} done`"
            waiting.append(Waiting(top.id, top.title, reason))
            continue
        leaves = top.subtasks or [top]
        for task in leaves:
            if task.id in taken or task.status in (DONE, "cancelled", "completed"):
                continue
            reason = _reason(task, top, statuses, gates, review_reason)
            waiting.append(Waiting(task.id, task.title, reason))
    return waiting


def _deps_text(deps: list[str], statuses: dict[str, str]) -> str:
    parts = []
    for dep in deps:
        status = statuses.get(dep)
        if status is None:
            parts.append(f"{dep} (no such task)")
        elif status == "cancelled":
            parts.append(f"{dep} (cancelled: only done satisfies a dependency)")
        else:
            parts.append(f"{dep} ({status})")
    return ", ".join(parts)


def _reason(
    task: Task,
    top: Task,
    statuses: dict[str, str],
    gates: dict[str, Gate],
    review_reason: Callable[[str], str | None],
) -> str:
    status = task.status
    if status == "in-progress":
        return "in progress: someone (or another run) is working on it"
    if status == "review":
        detail = review_reason(task.id)
        return (
            f"in review ({detail}): `tmxd approve {task.id}` or `tmxd reject {task.id}`"
            if detail
            else f"in review: `tmxd approve {task.id}` or `tmxd reject {task.id}`"
        )
    if status != "pending":
        return f"{status}: only pending tasks run; `tmxd set-status {task.id} pending` to run it"
    unmet = [d for d in task.dependencies if statuses.get(d) != DONE]
    if unmet:
        return "waits for " + _deps_text(unmet, statuses)
    if task is not top:
        if top.id in gates:
            g = gates[top.id]
            return f"its task {top.id} waits at the gate ({g.reason}): `tmxd approve {top.id}`"
        if top.status not in ("pending", "in-progress"):
            return f"its task {top.id} is {top.status}"
        parent_unmet = [d for d in top.dependencies if statuses.get(d) != DONE]
        if top.status == "pending" and parent_unmet:
            return f"its task {top.id} waits for " + _deps_text(parent_unmet, statuses)
    return "ready, but not taken in this pass"
