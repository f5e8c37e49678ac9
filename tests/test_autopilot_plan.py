from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autopilot_support import task
from tmxd.autopilot.plan import done_ids, plan_tasks
from tmxd.autopilot.routing import RoutingRules
from tmxd.taskmaster.document import Task, parse_tasks


def tasks_of(*items: dict[str, Any]) -> list[Task]:
    text = json.dumps({"master": {"tasks": list(items)}})
    return parse_tasks(text, Path("tasks.json")).tasks("master")


def test_ready_units_come_in_task_masters_order() -> None:
    tasks = tasks_of(
        task(1, "Done already", status="done"),
        task(2, "Low", [1], priority="low"),
        task(3, "High", [1], priority="high"),
        task(4, "Waits for 2", [2], priority="critical"),
        task(5, "Someone works on it", status="in-progress"),
        task(6, "High, more dependencies", [1, 5], priority="high"),
    )
    plan = plan_tasks(tasks, {}, RoutingRules(), lambda _: False)
    assert [u.id for u in plan.units] == ["3", "2"]
    assert plan.gates == []
    assert done_ids(tasks) == {"1"}


def test_critical_work_waits_at_the_gate_until_approved() -> None:
    tasks = tasks_of(task(1, "Rotate the production database credentials"))
    plan = plan_tasks(tasks, {}, RoutingRules(), lambda _: False)
    assert plan.units == []
    (gate,) = plan.gates
    assert (gate.task.id, gate.kind) == ("1", "critical")
    approved = plan_tasks(tasks, {}, RoutingRules(), lambda tid: tid == "1")
    assert [(u.id, u.route) for u in approved.units] == [("1", "critical")]


def test_a_complex_task_without_subtasks_asks_for_expansion_with_them_runs_them() -> None:
    scores = {"1": 7.0}
    bare = tasks_of(task(1, "Rewrite the parser"))
    plan = plan_tasks(bare, scores, RoutingRules(), lambda _: False)
    assert [(g.task.id, g.kind) for g in plan.gates] == [("1", "expand")]
    subtasks = [
        {"id": 1, "title": "a", "status": "done", "dependencies": []},
        {"id": 2, "title": "b", "status": "pending", "dependencies": [1]},
        {"id": 3, "title": "c", "status": "pending", "dependencies": [2]},
    ]
    split = tasks_of(task(1, "Rewrite the parser", subtasks=subtasks))
    plan = plan_tasks(split, scores, RoutingRules(), lambda _: False)
    assert [(u.id, u.route) for u in plan.units] == [("1.2", "medium")]  # 1.3 waits for 1.2
