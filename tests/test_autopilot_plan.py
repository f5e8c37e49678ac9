"""What is ready: Task Master's `next` order (the same code as `tmxd next`), routed, explained."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autopilot_support import task
from corpus_tools import corpus_file, goldens
from tmxd.autopilot.plan import done_ids, explain, plan_tasks
from tmxd.autopilot.routing import RoutingRules
from tmxd.taskmaster.document import TasksFile, parse_tasks
from tmxd.taskmaster.ops import next_task, ready_tasks


def file_of(*items: dict[str, Any]) -> TasksFile:
    return parse_tasks(json.dumps({"master": {"tasks": list(items)}}), Path("tasks.json"))


def plan_of(
    doc: TasksFile, approved: set[str] | None = None, scores: dict[str, float] | None = None
):  # type: ignore[no-untyped-def]
    return plan_tasks(
        doc, "master", scores or {}, RoutingRules(), lambda t: t in (approved or set())
    )


def test_ready_units_come_in_task_masters_order() -> None:
    doc = file_of(
        task(1, "Done already", status="done"),
        task(2, "Low", [1], priority="low"),
        task(3, "High", [1], priority="high"),
        task(4, "Waits for 2", [2], priority="critical"),
        task(5, "Someone works on it", status="in-progress"),
        task(6, "High, more dependencies", [1, 5], priority="high"),
    )
    plan = plan_of(doc)
    assert [u.id for u in plan.units] == ["3", "2"]
    assert plan.gates == []
    assert done_ids(doc.tasks("master")) == {"1"}
    # 5 is ready for `tmxd next` (in progress counts), but it is its owner's
    assert "5" in [t.id for t in ready_tasks(doc, "master")]


def _subtask(sid: int, status: str = "pending", deps: list[int] | None = None) -> dict[str, Any]:
    return {"id": sid, "title": f"Part {sid}", "status": status, "dependencies": deps or []}


def test_a_parent_in_progress_never_blocks_its_subtasks() -> None:
    """A commit cascade put 61 in progress though its own dependency is not done: Task
    Master's next offers 61.4, and so does the autopilot (and --task 61.4 runs it)."""
    subs = [_subtask(i, "done") for i in (1, 2, 3)] + [_subtask(4, deps=[3]), _subtask(5, deps=[4])]
    doc = file_of(
        task(60, "Not done yet"),
        task(61, "Parent", [60], status="in-progress", subtasks=subs),
    )
    assert next_task(doc, "master").id == "61.4"  # type: ignore[union-attr]
    plan = plan_of(doc)
    assert [u.id for u in plan.units] == ["61.4", "60"]
    waiting = explain(doc, "master", plan, lambda _: None)
    assert [(w.id, w.reason) for w in waiting] == [("61.5", "waits for 61.4 (pending)")]


def test_a_pending_parent_runs_through_its_subtasks_in_next_order() -> None:
    subs = [_subtask(1), _subtask(2, deps=[1]), _subtask(3)]
    subs[2]["priority"] = "high"
    doc = file_of(task(1, "Parent", subtasks=subs))
    assert next_task(doc, "master").id == "1"  # type: ignore[union-attr]
    assert [(u.id, u.route) for u in plan_of(doc).units] == [("1.3", "medium"), ("1.1", "medium")]


def test_critical_work_waits_at_the_gate_until_approved() -> None:
    doc = file_of(task(1, "Rotate the production database credentials"))
    plan = plan_of(doc)
    assert plan.units == []
    (gate,) = plan.gates
    assert (gate.task.id, gate.kind) == ("1", "critical")
    approved = plan_of(doc, approved={"1"})
    assert [(u.id, u.route) for u in approved.units] == [("1", "critical")]
    assert approved.units[0].reason == "critical keyword 'production'; approved"


def test_a_complex_task_without_subtasks_asks_for_expansion_with_them_runs_them() -> None:
    scores = {"1": 7.0}
    plan = plan_of(file_of(task(1, "Rewrite the parser")), scores=scores)
    assert [(g.task.id, g.kind) for g in plan.gates] == [("1", "expand")]
    subtasks = [_subtask(1, "done"), _subtask(2, deps=[1]), _subtask(3, deps=[2])]
    split = file_of(task(1, "Rewrite the parser", subtasks=subtasks))
    plan = plan_of(split, scores=scores)
    assert [(u.id, u.route) for u in plan.units] == [("1.2", "medium")]  # 1.3 waits for 1.2


def test_route_reasons_match_the_route() -> None:
    doc = file_of(
        task(12, "Integrate the payment-free billing-less API", subtasks=[_subtask(1)]),
        task(13, "Fix a typo in the docs"),
        task(14, "Integrate the search service", subtasks=[_subtask(1)]),
    )
    units = {u.id: u for u in plan_of(doc).units}
    assert (units["14.1"].route, units["14.1"].reason) == (
        "medium",
        "a subtask of complex task 14 (complex keyword 'Integrate')",
    )
    assert (units["13"].route, units["13"].reason) == ("simple", "simple keyword 'typo'")
    for unit in units.values():
        said = unit.reason.split("keyword")[0]
        assert unit.route in said or "subtask of complex" in said


def test_explain_says_why_each_task_is_not_ready() -> None:
    doc = file_of(
        task(1, "Blocked one", status="blocked"),
        task(2, "Waits", [1, 9]),
        task(3, "Cancelled dep", [4]),
        task(4, "Gone", status="cancelled"),
        task(5, "In review", status="review"),
        task(6, "Busy", status="in-progress"),
        task(7, "Parent waits", [2], subtasks=[_subtask(1)]),
        task(8, "Secret keys: rotate credentials"),
        task(9, "Ready"),
    )
    plan = plan_of(doc)
    assert [u.id for u in plan.units] == ["9"]
    assert [g.task.id for g in plan.gates] == ["8"]
    reasons = {w.id: w.reason for w in explain(doc, "master", plan, lambda t: "merge conflict")}
    assert reasons == {
        "1": "blocked: only pending tasks run; `tmxd set-status 1 pending` to run it",
        "2": "waits for 1 (blocked), 9 (pending)",
        "3": "waits for 4 (cancelled: only done satisfies a dependency)",
        "5": "in review (merge conflict): `tmxd approve 5` or `tmxd reject 5`",
        "6": "in progress: someone (or another run) is working on it",
        "7.1": "its task 7 waits for 2 (pending)",
    }


def test_the_first_unit_is_what_task_masters_next_answered_on_the_corpus() -> None:
    """On every corpus golden where the real CLI's `next` named a task, the autopilot
    (every gate approved) runs that task first, or its first ready subtask; a task
    already in progress is its owner's."""
    checked = 0
    for golden in goldens():
        cli = golden["next"]
        if ".invalid." in golden["file"] or cli["exit"] != 0 or not cli["json"]:
            continue
        if not (cli["json"].get("task") or {}).get("id"):
            continue
        path = corpus_file(golden)
        doc = parse_tasks(path.read_text(encoding="utf-8"), path)
        tag = golden["active_tag"] or "master"
        if not doc.has_tag(tag):
            continue
        nxt = next_task(doc, tag)
        assert nxt is not None
        plan = plan_tasks(doc, tag, {}, RoutingRules(), lambda _: True)
        first = plan.units[0] if plan.units else None
        if nxt.status == "in-progress":
            assert first is None or first.id != nxt.id
        elif nxt.subtasks:
            done = {t.id for t in nxt.subtasks if t.status == "done"}
            ready = [
                t for t in nxt.subtasks if t.status == "pending" and set(t.dependencies) <= done
            ]
            if not ready:
                continue  # nothing of it can run: explain() says why
            assert first is not None and first.task.parent_id == nxt.id, golden["file"]
        else:
            assert first is not None and first.id == nxt.id, golden["file"]
        checked += 1
    assert checked >= 50 or not goldens()
