"""The autopilot loop with real subprocesses, a real git repository and a real metrics DB."""

from __future__ import annotations

import json
import os
import random
import re
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from autopilot_support import (
    add_tests,
    agent_env,
    details,
    executions,
    make_project,
    project_venv,
    runs,
    set_plan,
    statuses,
    task,
)
from helpers import git, run_tmxd, save_completes_while_waited, subprocess_env, wait_until
from tmxd import paths
from tmxd.autopilot import config as ap_config
from tmxd.autopilot import gate, state
from tmxd.autopilot.baseline import BaselineFailed
from tmxd.autopilot.plan import plan_tasks, related
from tmxd.autopilot.routing import RoutingRules
from tmxd.autopilot.runner import (
    Autopilot,
    RunOptions,
    RunSummary,
    breaker_status,
    dispatch_ready,
    log_lines,
)
from tmxd.autopilot.tools import MissingTool
from tmxd.errors import InputError
from tmxd.metrics.recorder import Recorder
from tmxd.taskmaster.document import parse_tasks
from tmxd.taskmaster.project import find_project


def _run(root: Path, lines: list[str] | None = None, **options: Any) -> RunSummary:
    project = find_project(root)
    cfg = ap_config.load(root)
    with Recorder.open() as recorder:
        pilot = Autopilot(
            project,
            cfg,
            recorder,
            options=RunOptions(**options),
            env=subprocess_env(agent_env(root)),
            rng=random.Random(1),
            out=(lines.append if lines is not None else None),
        )
        return pilot.run()


def test_sequential_run_takes_tasks_in_order_to_done(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(
        root,
        [
            task(1, "Set up the package"),
            task(2, "Add the list command", [1]),
            task(3, "Add next", [2], priority="high"),
        ],
    )
    lines: list[str] = []
    summary = _run(root, lines)
    assert summary.ok, lines
    assert [r.unit.id for r in summary.results] == ["1", "2", "3"]
    assert statuses(root) == {"1": "done", "2": "done", "3": "done"}
    for tid in "123":
        assert (root / f"task-{tid}.txt").exists(), "sequential runs work in the project itself"
        assert "tmxd autopilot: done on attempt 1 (medium)" in details(root, tid)
    rows = executions(paths.db_path())
    assert [(r["task_id"], r["attempt"], r["success"], r["route"]) for r in rows] == [
        ("1", 1, 1, "medium"),
        ("2", 1, 1, "medium"),
        ("3", 1, 1, "medium"),
    ]
    assert all(r["tool_calls"] == 1 and r["cost_usd"] == pytest.approx(0.01) for r in rows)
    assert all(r["turns"] == 2 and r["input_tokens"] == 1000 for r in rows)
    # sampled while the agent runs: one that ends before a sample has none (the measure
    # itself: test_proc.py::test_peak_rss_covers_the_process_tree)
    assert all(r["peak_rss_bytes"] is None or r["peak_rss_bytes"] > 0 for r in rows)
    assert all(r["duration_ms"] > 0 and r["finished_at"] for r in rows)
    with Recorder.open() as rec:
        moves = rec.db.execute(
            "SELECT task_id, old_status, new_status, source FROM transitions "
            "WHERE source != 'baseline' ORDER BY id"
        ).fetchall()
    assert ("1", "pending", "in-progress", "autopilot") in moves
    assert ("3", "in-progress", "done", "autopilot") in moves


def test_prompt_carries_the_task_and_dependency_notes(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(
        root,
        [
            task(1, "Base", status="done", details="Used SQLite for storage."),
            task(2, "Report", [1], details="Summarise the runs."),
        ],
    )
    assert _run(root, once=True).ok
    prompt_dir = state.prompts_dir(root)
    text = (prompt_dir / "master-2-1.md").read_text()
    assert "# 2: Report" in text and "Summarise the runs." in text
    assert "- 1 [done] Base" in text and "Used SQLite for storage." in text


def test_a_failing_agent_is_retried_with_backoff_and_every_attempt_recorded(
    tmp_path: Path,
) -> None:
    root = tmp_path / "proj"
    make_project(
        root, [task(1, "Flaky")], plan={"tasks": {"1": {"action": "edit", "fail_times": 2}}}
    )
    lines: list[str] = []
    summary = _run(root, lines)
    assert summary.ok
    assert summary.results[0].attempts == 3
    assert statuses(root) == {"1": "done"}
    rows = executions(paths.db_path())
    assert [(r["attempt"], r["success"], r["exit_code"]) for r in rows] == [
        (1, 0, 1),
        (2, 0, 1),
        (3, 1, 0),
    ]
    assert "scripted failure" in rows[0]["error"]
    notes = details(root, "1")
    assert notes.count("tmxd autopilot: attempt") == 2
    assert "attempt 1/3 failed (medium, python" in notes
    assert "stderr:\nscripted failure for task 1" in notes
    assert sum("retrying in" in line for line in lines) == 2
    assert breaker_status(root)["state"] == "closed"


@pytest.mark.parametrize(
    ("action", "error"),
    [("is_error", "is_error: Not logged in"), ("malformed", "no result event")],
)
def test_exit_zero_failures_block_the_task(tmp_path: Path, action: str, error: str) -> None:
    root = tmp_path / "proj"
    make_project(
        root,
        [task(1, "Broken agent")],
        plan={"default": {"action": action}},
        config="max_attempts = 2\n",
    )
    summary = _run(root)
    assert not summary.ok
    assert statuses(root) == {"1": "blocked"}
    rows = executions(paths.db_path())
    assert len(rows) == 2 and all(r["success"] == 0 and r["exit_code"] == 0 for r in rows)
    assert all(error in r["error"] for r in rows)
    assert "failed after 2" not in details(root, "1")
    assert details(root, "1").count(error) == 2


def test_a_hanging_agent_times_out_and_its_group_is_ended(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    state_dir = make_project(
        root,
        [task(1, "Hangs")],
        plan={"default": {"action": "hang"}},
        config='max_attempts = 1\ntimeout_s = 2\non_failure = "pending"\n',
    )
    summary = _run(root)
    assert not summary.ok
    assert statuses(root) == {"1": "pending"}
    leader, child = map(int, (state_dir / "hang-1.pids").read_text().split())
    for pid in (leader, child):
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    rows = executions(paths.db_path())
    assert rows[0]["error"].startswith("timed out") and rows[0]["success"] == 0


# A check that fails once the agent's file is there (it passes on the untouched tree).
FAILS_ON_TASK_1 = (
    "import pathlib, sys\n"
    "if pathlib.Path('task-1.txt').exists():\n"
    "    print('assert 1 == 2'); sys.exit(1)\n"
)


def test_validation_failure_keeps_the_output_tail(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    check = json.dumps([sys.executable, "-c", FAILS_ON_TASK_1])
    make_project(root, [task(1, "Feature")], config=f"validate = [{check}]\nmax_attempts = 1\n")
    summary = _run(root)
    assert not summary.ok
    assert statuses(root) == {"1": "blocked"}
    notes = details(root, "1")
    assert "validation failed" in notes and "assert 1 == 2" in notes
    assert executions(paths.db_path())[0]["error"].startswith("validation failed")


def test_simple_route_runs_only_basic_checks(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    py = sys.executable
    basic = json.dumps([py, "-c", "open('basic-ran', 'w')"])
    full = json.dumps([py, "-c", "open('full-ran', 'w')"])
    make_project(
        root,
        [task(1, "Fix typo in README"), task(2, "Add feature", [1])],
        config=f"validate = [{full}]\nvalidate_basic = [{basic}]\n",
    )
    summary = _run(root)
    assert [r.unit.route for r in summary.results] == ["simple", "medium"]
    assert (root / "basic-ran").exists() and (root / "full-ran").exists()
    rows = executions(paths.db_path())
    assert [r["route"] for r in rows] == ["simple", "medium"]


def _failing_project(root: Path, tasks: int, threshold: int) -> None:
    """``tasks`` independent tasks whose agent always fails, one attempt each."""
    make_project(
        root,
        [task(i, f"Task {i}") for i in range(1, tasks + 1)],
        plan={"default": {"action": "fail"}},
        config=f"max_attempts = 1\nbreaker_threshold = {threshold}\nbreaker_cooldown_s = 3600\n",
    )


def test_breaker_opens_and_pauses_dispatch(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _failing_project(root, 4, threshold=2)
    summary = _run(root)
    assert summary.breaker == "open"
    assert summary.stop_reason.startswith("circuit breaker open")
    assert statuses(root) == {"1": "blocked", "2": "blocked", "3": "pending", "4": "pending"}
    status = breaker_status(root)
    assert status["state"] == "open" and status["failures"] == 2
    assert "scripted failure" in status["reason"]
    again = _run(root)
    assert again.results == [] and again.stop_reason.startswith("circuit breaker open")
    with Recorder.open() as rec:
        rows = rec.db.execute("SELECT kind, data FROM events WHERE kind = 'autopilot.breaker'")
        assert [json.loads(d)["to"] for _, d in rows] == ["open"]


def test_half_open_trial_success_closes_the_breaker(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(
        root,
        [task(1, "A"), task(2, "B")],
        config="breaker_threshold = 1\nbreaker_cooldown_s = 0.01\n",
    )
    from tmxd.autopilot.resilience import BreakerSnapshot, save_snapshot

    save_snapshot(
        state.breaker_path(root),
        BreakerSnapshot(state="open", failures=1, opened_at=1.0, reason="old"),
    )
    summary = _run(root)
    assert summary.ok and summary.breaker == "closed"
    assert statuses(root) == {"1": "done", "2": "done"}


def test_critical_task_waits_for_approval(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Rotate production credentials"), task(2, "Docs typo")])
    summary = _run(root)
    assert [g.task.id for g in summary.gated] == ["1"]
    assert statuses(root) == {"1": "review", "2": "done"}
    assert "waiting for `tmxd approve 1`" in details(root, "1")
    assert runs(root, "1") == 0
    project = find_project(root)
    assert gate.approve(project, "1") == "task 1 approved: pending; `tmxd autopilot` will run it"
    summary = _run(root)
    assert [r.unit.id for r in summary.results] == ["1"]
    assert [r.unit.route for r in summary.results] == ["critical"]
    assert statuses(root)["1"] == "done"
    with pytest.raises(InputError, match="not waiting in review"):
        gate.approve(project, "1")


def test_reject_defers_a_critical_task(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Add payment processing")])
    _run(root)
    assert gate.reject(find_project(root), "1", note="not now") == "task 1 rejected: deferred"
    assert statuses(root) == {"1": "deferred"}
    assert "tmxd: rejected: not now" in details(root, "1")
    assert _run(root).results == []


def test_complex_task_without_subtasks_asks_for_expansion(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Refactor the storage layer")])
    summary = _run(root)
    assert summary.gated[0].kind == "expand"
    assert statuses(root) == {"1": "review"}
    assert "task-master expand --id=1" in details(root, "1")


def test_complex_task_runs_the_expand_command_then_its_subtasks(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    tasks_path = root / ".taskmaster" / "tasks" / "tasks.json"
    expander = (
        "import json, sys\n"
        f"p = {str(tasks_path)!r}\n"
        "d = json.load(open(p))\n"
        "t = d['master']['tasks'][0]\n"
        "t['subtasks'] = [{'id': 1, 'title': 'Split reads', 'status': 'pending',"
        " 'dependencies': []}, {'id': 2, 'title': 'Split writes', 'status': 'pending',"
        " 'dependencies': [1]}]\n"
        "json.dump(d, open(p, 'w'), indent=2)\n"
    )
    cmd = json.dumps([sys.executable, "-c", expander, "{task_id}"])
    make_project(root, [task(1, "Refactor the storage layer")], config=f"expand_command = {cmd}\n")
    summary = _run(root)
    assert summary.ok
    assert [r.unit.id for r in summary.results] == ["1.1", "1.2"]
    assert [r.unit.route for r in summary.results] == ["medium", "medium"]
    assert statuses(root) == {"1": "done", "1.1": "done", "1.2": "done"}


def test_subtasks_run_one_by_one_and_finish_the_parent(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    subs = [
        {"id": 1, "title": "Schema", "status": "done", "dependencies": []},
        {"id": 2, "title": "Writer", "status": "pending", "dependencies": [1]},
        {"id": 3, "title": "Reader", "status": "pending", "dependencies": [2]},
    ]
    make_project(root, [task(1, "Storage", subtasks=subs, status="in-progress")])
    summary = _run(root, once=True)
    assert [r.unit.id for r in summary.results] == ["1.2"]
    assert statuses(root) == {"1": "in-progress", "1.1": "done", "1.2": "done", "1.3": "pending"}
    _run(root)
    assert statuses(root) == {"1": "done", "1.1": "done", "1.2": "done", "1.3": "done"}
    prompt = (state.prompts_dir(root) / "master-1.3-1.md").read_text()
    assert "## Parent task\n1: Storage" in prompt and "- 1.2 [done] Writer" in prompt


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Fix typo"), task(2, "Payment gateway"), task(3, "Later", [1])])
    before = (root / ".taskmaster" / "tasks" / "tasks.json").read_text()
    summary = _run(root, dry_run=True)
    assert [(u.id, u.route) for u in summary.planned] == [("1", "simple")]
    assert [(g.task.id, g.kind) for g in summary.gated] == [("2", "critical")]
    assert (root / ".taskmaster" / "tasks" / "tasks.json").read_text() == before
    assert runs(root, "1") == 0


def test_task_option_runs_only_that_task(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "A"), task(2, "B"), task(3, "C", [1])])
    summary = _run(root, task_id="2")
    assert [r.unit.id for r in summary.results] == ["2"]
    assert statuses(root) == {"1": "pending", "2": "done", "3": "pending"}
    with pytest.raises(InputError, match=r"task 3 is not ready: waits for 1 \(pending\)"):
        _run(root, task_id="3")
    with pytest.raises(InputError, match="task 2 is done; nothing to run"):
        _run(root, task_id="2")
    with pytest.raises(InputError, match="task 9 not found"):
        _run(root, task_id="9")


def test_cost_ceiling_stops_dispatch(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(
        root,
        [task(i, f"T{i}") for i in range(1, 5)],
        plan={"default": {"action": "edit", "cost": 0.4}},
    )
    summary = _run(root, max_cost_usd=1.0)
    assert summary.count("done") == 3
    assert summary.cost_usd == pytest.approx(1.2)
    assert summary.stop_reason.startswith("cost ceiling $1 reached")
    assert statuses(root)["4"] == "pending"


def test_parallel_merge_conflict_goes_to_review(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    plan = {
        "default": {"action": "edit", "file": "shared.txt", "sleep": 0.5},
        "tasks": {"1": {"content": "one\n"}, "2": {"content": "two\n"}},
    }
    make_project(root, [task(1, "A"), task(2, "B")], plan=plan)
    summary = _run(root, parallel=2)
    outcomes = sorted(r.outcome for r in summary.results)
    assert outcomes == ["done", "review"]
    loser = next(r.unit.id for r in summary.results if r.outcome == "review")
    assert statuses(root)[loser] == "review"
    assert f"branch tmxd/task-{loser} is kept" in details(root, loser)
    assert git(root, "status", "--porcelain", "--untracked-files=no").strip() == (
        "M .taskmaster/tasks/tasks.json"
    )
    assert f"tmxd/task-{loser}" in git(root, "branch", "--list", "tmxd/*")
    assert gate.reject(find_project(root), loser) == f"task {loser} rejected: pending"
    assert git(root, "branch", "--list", "tmxd/*").strip() == ""


def test_plan_never_runs_two_tasks_of_one_subtree() -> None:
    text = json.dumps(
        {
            "master": {
                "tasks": [
                    task(
                        1,
                        "P",
                        subtasks=[
                            {"id": 1, "title": "a", "status": "pending", "dependencies": []},
                            {"id": 2, "title": "b", "status": "pending", "dependencies": []},
                        ],
                    ),
                    task(2, "Q"),
                    task(3, "R", [2]),
                ]
            }
        }
    )
    plan = plan_tasks(
        parse_tasks(text, Path("tasks.json")), "master", {}, RoutingRules(), lambda _: False
    )
    assert [u.id for u in plan.units] == ["1.1", "1.2", "2"]
    assert related("1", "1.2") and related("1.2", "1") and not related("1.1", "1.2")
    assert not related("1", "10.1")


# An agent that announces it started, then waits for a gate file before doing its work.
GATED_AGENT = (
    "import pathlib, sys, time\n"
    "gate = pathlib.Path(sys.argv[1])\n"
    "(gate.parent / ('started-' + sys.argv[2])).touch()\n"
    "while not gate.exists():\n"
    "    time.sleep(0.02)\n"
    "from tmxd.autopilot.scripted import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


def test_dispatch_ready_is_one_parallel_pass_and_never_reentrant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "proj"
    gate_file = tmp_path / "gate"
    command = [sys.executable, "-c", GATED_AGENT, str(gate_file), "{task_id}", "{prompt_file}"]
    make_project(
        root,
        [task(1, "A"), task(2, "B"), task(3, "C", [1])],
        config=f"command = {json.dumps(command)}\n",
    )
    for key, value in subprocess_env(agent_env(root)).items():
        monkeypatch.setenv(key, value)
    project = find_project(root)
    cfg = ap_config.load(root)
    results: list[Any] = []
    with Recorder.open() as rec:
        worker = threading.Thread(target=lambda: results.append(dispatch_ready(project, cfg, rec)))
        worker.start()
        try:
            wait_until((tmp_path / "started-1").exists, what="task 1's agent to start")
            assert dispatch_ready(project, cfg, rec) is None  # the first pass is still running
        finally:
            gate_file.touch()
            worker.join(120)
    assert not worker.is_alive()
    summary = results[0]
    assert sorted(r.unit.id for r in summary.results) == ["1", "2"]
    assert statuses(root) == {"1": "done", "2": "done", "3": "pending"}


def test_a_missing_expand_command_sends_the_task_to_review(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(
        root, [task(1, "Redesign the scheduler")], config='expand_command = ["no-such-expander"]\n'
    )
    summary = _run(root)
    assert summary.gated[0].kind == "expand"
    assert statuses(root) == {"1": "review"}
    assert "no-such-expander: command not found" in details(root, "1")


def test_sequential_runs_commit_each_task_and_its_note_lands(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Set up the package"), task(2, "Add the list command", [1])])
    from tmxd.commits import hooks

    hooks.install(root)
    summary = _run(root)
    assert summary.ok and statuses(root) == {"1": "done", "2": "done"}
    log = git(root, "log", "--format=%s|%(trailers:key=Task,valueonly,separator=)", "-2")
    assert log.splitlines() == ["Add the list command|2", "Set up the package|1"]
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == ["task-2.txt"]
    for tid, title in (("1", "Set up the package"), ("2", "Add the list command")):
        sha = git(root, "log", "-1", "--format=%h", f"--grep=Task: {tid}").strip()
        assert f"Committed changes: {title} ({sha})" in details(root, tid)
        assert f"; committed {sha}" in details(root, tid)
    # the agent's work is committed; tmxd's own statuses and notes stay for the user
    assert git(root, "status", "--porcelain").strip() == "M .taskmaster/tasks/tasks.json"


def test_commit_false_leaves_the_work_uncommitted(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "A")], config="commit = false\n")
    head = git(root, "rev-parse", "HEAD")
    assert _run(root).ok
    assert git(root, "rev-parse", "HEAD") == head
    assert "?? task-1.txt" in git(root, "status", "--porcelain")
    assert "changes left uncommitted (autopilot.commit = false)" in details(root, "1")


def test_a_dirty_tree_is_refused_unless_allowed_and_then_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "A")])
    (root / "README.md").write_text("# my edit in progress\n")
    with pytest.raises(InputError, match=r"uncommitted changes \(README.md\).*--allow-dirty"):
        _run(root)
    assert statuses(root) == {"1": "pending"}
    assert _run(root, allow_dirty=True).ok
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == ["task-1.txt"]
    assert (root / "README.md").read_text() == "# my edit in progress\n"
    assert " M README.md" in git(root, "status", "--porcelain")


def test_a_killed_sequential_attempt_is_undone_by_the_next_run(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "A", status="in-progress")])
    from tmxd.autopilot import workspace

    before = workspace.snapshot(root, [".taskmaster/tasks/tasks.json"], tmp_path / "scratch")
    sf = state.StateFile(root)
    assert sf.claim("master", "1", "pending")  # claimed by this (now "dead") process
    sf.update_claim(
        "master",
        "1",
        workspace={
            "top": str(root),
            "head": before.head,
            "tree": before.tree,
            "index_tree": before.index_tree,
            "exclude": [".taskmaster/tasks/tasks.json"],
        },
    )
    (root / "half-written.py").write_text("def half(\n")
    (root / "README.md").write_text("clobbered\n")
    set_plan(root, {"default": {"action": "edit"}})
    assert _run(root).ok
    assert not (root / "half-written.py").exists()
    assert (root / "README.md").read_text() == "# test project\n"
    note = details(root, "1")
    assert "an interrupted run was recovered; status restored to pending" in note
    patch = note.split("unfinished changes were saved to ")[1].split(" and removed")[0]
    assert "def half(" in Path(patch).read_text()
    # named as docs/autopilot.md says: <tag>-<id>-killed-<unix seconds>.patch, in patches/
    assert Path(patch).parent == state.patches_dir(root)
    assert re.fullmatch(r"master-1-killed-\d{10}\.patch", Path(patch).name), patch
    assert statuses(root) == {"1": "done"}


def test_an_open_breaker_stops_new_dispatch_in_a_parallel_run(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _failing_project(root, 7, threshold=1)
    summary = _run(root, parallel=3)
    assert summary.breaker == "open" and not summary.ok
    with Recorder.open() as rec:
        started = {
            r[0]
            for r in rec.db.execute(
                "SELECT task_id FROM transitions WHERE new_status = 'in-progress'"
            )
        }
    assert 1 <= len(started) <= 3, "only what was in flight when it opened"
    assert started <= {"1", "2", "3"}
    assert len(executions(paths.db_path())) <= 3
    assert [statuses(root)[str(i)] for i in range(4, 8)] == ["pending"] * 4


def test_the_summary_counts_this_runs_rows(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(
        root,
        [task(1, "Works"), task(2, "Breaks"), task(3, "Rotate the credentials")],
        plan={"tasks": {"2": {"action": "fail"}}},
        config="max_attempts = 2\nbreaker_threshold = 5\n",
    )
    summary = _run(root)
    lines = list(log_lines(summary))
    assert lines[0] == (
        "autopilot: 1 done, 1 failed (blocked), 1 to review, 0 interrupted; "
        "3 attempt(s): 1 succeeded, 2 failed; $0.0300"
    )
    assert summary.execution_ids == [r["id"] for r in executions(paths.db_path())]
    with Recorder.open() as rec:
        kinds = [
            (k, json.loads(d)["task_id"])
            for k, d in rec.db.execute(
                "SELECT kind, data FROM events WHERE kind LIKE 'autopilot.%' ORDER BY id"
            )
        ]
    assert kinds == [("autopilot.review", "3"), ("autopilot.done", "1"), ("autopilot.failed", "2")]


def test_leftover_worktrees_and_branches_are_pruned_on_start(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "A")])
    from tmxd.autopilot import worktrees

    old = worktrees.create(root, "7", worktrees.base_dir(root))
    lines: list[str] = []
    assert _run(root, lines, parallel=2).ok
    assert not old.path.exists()
    assert git(root, "branch", "--list", "tmxd/*").strip() == ""
    assert any(line.startswith("removed leftovers of earlier runs:") for line in lines)


def test_a_status_set_while_a_successful_attempt_ran_is_replaced_by_its_outcome(
    tmp_path: Path,
) -> None:
    """Someone (or the agent) cancels the task while it runs: the autopilot owns its
    status until the attempt ends, and the evidence says done."""
    root = tmp_path / "proj"
    closer = json.dumps(
        [
            sys.executable,
            "-c",
            "import pathlib, subprocess, sys\n"
            "pathlib.Path('late.txt').write_text('late\\n')\n"
            "subprocess.run([sys.executable, '-m', 'tmxd', 'set-status', '1', 'cancelled'],"
            " check=True)",
        ]
    )
    make_project(root, [task(1, "Race")], config=f"command = {closer}\n")
    summary = _run(root)
    assert [(r.outcome, r.status) for r in summary.results] == [("done", "done")]
    assert statuses(root) == {"1": "done"}
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == ["late.txt"]
    assert "the status 'cancelled' set while the attempt ran was replaced" in details(root, "1")


def test_a_sequential_run_has_the_project_to_itself(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "A"), task(2, "B")])
    from tmxd.autopilot.runner import SEQUENTIAL_LOCK
    from tmxd.fsutil import acquire

    lock = state.project_dir(root) / SEQUENTIAL_LOCK
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = acquire(lock)
    assert fd is not None
    try:
        with pytest.raises(InputError, match="another sequential `tmxd autopilot` is running"):
            _run(root)
        summary = _run(root, parallel=2)  # a parallel pass (the daemon's) starts nothing
        assert summary.results == []
        assert summary.stop_reason == "a sequential run is working in the project itself"
    finally:
        os.close(fd)
    sf = state.StateFile(root)
    sf.claim("master", "2", "pending")
    with sf.edit() as data:  # held by a live process other than this one
        data["claims"]["master:2"]["pid"] = os.getppid()
    with pytest.raises(InputError, match=r"another autopilot \(pid \d+\) is running tasks"):
        _run(root)


def test_work_that_landed_before_the_run_died_is_done_not_redone(tmp_path: Path) -> None:
    """Killed between the merge (or the commit) and "done": the next run sees the work
    on the branch and finishes the task instead of running it again."""
    root = tmp_path / "proj"
    make_project(
        root, [task(1, "Merged", status="in-progress"), task(2, "Committed", status="in-progress")]
    )
    from tmxd.autopilot import worktrees

    wt = worktrees.create(root, "1", worktrees.base_dir(root))
    (wt.path / "one.txt").write_text("1\n")
    git(wt.path, "add", "one.txt")
    git(wt.path, "commit", "-q", "-m", "Merged\n\nTask: 1")
    assert worktrees.merge_back(root, wt, "Merge task 1: Merged").merged
    head = git(root, "rev-parse", "HEAD").strip()
    (root / "two.txt").write_text("2\n")
    git(root, "add", "two.txt")
    git(root, "commit", "-q", "-m", "Committed\n\nTask: 2")
    sf = state.StateFile(root)
    for tid, fields in (
        ("1", {"branch_base": wt.base}),
        ("2", {"workspace": {"top": str(root), "head": head, "tree": "", "exclude": []}}),
    ):
        assert sf.claim("master", tid, "pending")  # this process: a "dead" run's claim
        sf.update_claim("master", tid, **fields)
    lines: list[str] = []
    assert _run(root, lines).results == []
    assert statuses(root) == {"1": "done", "2": "done"}
    assert "its work had landed (merged from tmxd/task-1)" in details(root, "1")
    sha = git(root, "rev-parse", "--short", "HEAD").strip()
    assert f"its work had landed (commit {sha})" in details(root, "2")
    assert runs(root, "1") == runs(root, "2") == 0


def test_task_option_names_the_subtask_that_is_not_ready(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    subs = [
        {"id": 1, "title": "a", "status": "blocked", "dependencies": []},
        {"id": 2, "title": "b", "status": "pending", "dependencies": [1]},
    ]
    make_project(root, [task(1, "Parent", subtasks=subs), task(2, "Busy", status="in-progress")])
    with pytest.raises(InputError) as parent:
        _run(root, task_id="1")
    assert str(parent.value) == (
        "task 1 is not ready: 1.1: blocked: only pending tasks run; "
        "`tmxd set-status 1.1 pending` to run it"
    )
    with pytest.raises(InputError) as busy:
        _run(root, task_id="2")
    assert str(busy.value) == (
        "task 2 is not ready: in progress: someone (or another run) is working on it"
    )


def test_an_agent_that_marks_its_own_task_done_without_doing_it_is_not_done(
    tmp_path: Path,
) -> None:
    """The agent only edits tasks.json to say "done": no change, a failed attempt, and
    the status it wrote is not trusted — retried from in-progress, then blocked."""
    root = tmp_path / "proj"
    make_project(
        root,
        [task(1, "Honest"), task(2, "Claims done")],
        plan={"tasks": {"2": {"action": "noop", "set_status": "done"}}},
        config="max_attempts = 2\nbreaker_threshold = 5\n",
    )
    lines: list[str] = []
    summary = _run(root, lines)
    assert not summary.ok
    assert [(r.unit.id, r.outcome, r.status) for r in summary.results] == [
        ("1", "done", "done"),
        ("2", "failed", "blocked"),
    ]
    assert statuses(root) == {"1": "done", "2": "blocked"}
    assert runs(root, "2") == 2
    note = details(root, "2")
    assert note.count("no changes: the agent changed no file") == 2
    assert "the status 'done' set while the attempt ran (by the agent" in note
    assert "is not trusted; the attempt's outcome decides: in-progress for attempt 2" in note
    assert "is not trusted; the attempt's outcome decides: blocked" in note
    assert list(log_lines(summary)) == [
        "autopilot: 1 done, 1 failed (blocked), 0 to review, 0 interrupted; "
        "3 attempt(s): 1 succeeded, 2 failed; $0.0300",
        "stopped: nothing more is ready",
    ]
    with Recorder.open() as rec:
        moves = rec.db.execute(
            "SELECT old_status, new_status, source FROM transitions "
            "WHERE task_id = '2' AND source != 'baseline' ORDER BY id"
        ).fetchall()
    assert moves[0] == ("pending", "in-progress", "autopilot")
    assert moves[-1][1:] == ("blocked", "autopilot")


def test_a_closes_task_commit_of_a_failed_attempt_closes_nothing(tmp_path: Path) -> None:
    """The agent commits its work with ``Closes-Task: 1`` and the checks fail: the commit
    is taken off the branch, the task is not done, and the commit's note says it is gone."""
    root = tmp_path / "proj"
    check = json.dumps([sys.executable, "-c", FAILS_ON_TASK_1])
    make_project(
        root,
        [task(1, "Closes itself")],
        plan={"default": {"action": "edit", "commit": True, "trailer": "Closes-Task: 1"}},
        config=f"validate = [{check}]\nmax_attempts = 1\n",
    )
    from tmxd.commits import hooks

    hooks.install(root)
    head = git(root, "rev-parse", "HEAD")
    summary = _run(root)
    assert [(r.outcome, r.status) for r in summary.results] == [("failed", "blocked")]
    assert statuses(root) == {"1": "blocked"}
    assert git(root, "rev-parse", "HEAD") == head and not (root / "task-1.txt").exists()
    note = details(root, "1")
    sha = note.split("Committed changes: agent work for 1 (")[1][:7]
    assert git(root, "branch", "--contains", sha).strip() == ""
    marked = note.split(f"({sha}) — ")[1].splitlines()[0]
    assert marked.endswith(".patch]"), marked
    assert "[reverted by tmxd autopilot: attempt 1 of task 1 failed, the commit is on no " in marked
    assert "branch; its changes are in " in marked
    assert "the status 'done' set while the attempt ran (by the agent" in note
    with Recorder.open() as rec:  # the metrics follow the history: the commit is gone
        recorded = [row[0] for row in rec.db.execute("SELECT sha FROM commits").fetchall()]
    assert not any(full.startswith(sha) for full in recorded), recorded
    # the commit's spool line was drained: a later sync closes nothing
    result = run_tmxd("sync", "-p", str(root), cwd=root)
    assert result.returncode == 0, result.stderr
    assert statuses(root) == {"1": "blocked"}


def test_in_a_worktree_an_agents_closing_commit_is_not_trusted_either(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    check = json.dumps([sys.executable, "-c", FAILS_ON_TASK_1])
    make_project(
        root,
        [task(1, "Closes itself"), task(2, "Honest")],
        plan={"tasks": {"1": {"action": "edit", "commit": True, "trailer": "Closes-Task: 1"}}},
        config=f"validate = [{check}]\nmax_attempts = 1\n",
    )
    from tmxd.commits import hooks

    hooks.install(root)
    summary = _run(root, parallel=2)
    assert sorted((r.unit.id, r.outcome, r.status) for r in summary.results) == [
        ("1", "failed", "blocked"),
        ("2", "done", "done"),
    ]
    assert statuses(root) == {"1": "blocked", "2": "done"}
    assert "[reverted by tmxd autopilot: attempt 1 of task 1 failed" in details(root, "1")
    assert git(root, "log", "--format=%s", "--all", "--grep=agent work").strip() == ""


# The project's own test: it runs in the project's virtualenv, and task 1's file, once
# there, must say "42".
PROJECT_TESTS = """\
import os, sys
from pathlib import Path


def test_runs_in_the_projects_own_virtualenv():
    assert sys.prefix == os.environ["VIRTUAL_ENV"] == str(Path(".venv").resolve())


def test_the_answer():
    answer = Path("task-1.txt")
    assert not answer.exists() or answer.read_text() == "42\\n", "the answer must be 42"
"""


def test_checks_run_with_the_projects_own_virtualenv(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(
        root,
        [task(1, "Answer")],
        plan={"default": {"action": "edit", "content": "41\n"}},
        config="max_attempts = 1\n",
    )
    project_venv(root)
    add_tests(root, PROJECT_TESTS)
    lines: list[str] = []
    summary = _run(root, lines)
    assert [(r.outcome, r.status) for r in summary.results] == [("failed", "blocked")]
    # the baseline passed in the venv; the attempt failed on the answer, not on the venv
    assert "checks before any change: pytest" in lines
    note = details(root, "1")
    assert "validation failed: pytest: pytest exited with code 1" in note
    assert "the answer must be 42" in note and "test_runs_in_the_projects_own" not in note


def _without_tools(root: Path, **kwargs: Any) -> Autopilot:
    """An autopilot for ``root`` whose PATH holds none of the checks' tools."""
    return Autopilot(
        find_project(root),
        ap_config.load(root),
        None,
        env=subprocess_env({**agent_env(root), "PATH": "/nonexistent"}),
        **kwargs,
    )


def test_a_missing_tool_is_a_setup_error_before_any_agent_runs(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "A")])
    add_tests(root, "def test_ok():\n    pass\n")
    pilot = _without_tools(root)
    with pytest.raises(MissingTool) as missing:
        pilot.run()
    assert str(missing.value).startswith("pytest: not found in a project virtualenv (none found")
    assert runs(root, "1") == 0 and statuses(root) == {"1": "pending"}


def test_a_dry_run_with_a_tool_missing_says_nothing_would_start(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "A"), task(2, "B", [1])])
    add_tests(root, "def test_ok():\n    pass\n")
    summary = _without_tools(root, options=RunOptions(dry_run=True)).run()
    assert not summary.ok and summary.problem.startswith("pytest: not found")
    # what is ready waits for the setup to be fixed; nothing is listed to run
    assert summary.planned == [] and summary.checks == []
    assert [(w.id, w.reason) for w in summary.waiting] == [
        ("1", "the checks cannot run: a tool they need is missing"),
        ("2", "waits for 1 (pending)"),
    ]
    assert runs(root, "1") == 0 and statuses(root) == {"1": "pending", "2": "pending"}


def test_a_stop_while_waiting_to_retry_puts_the_task_back_and_names_it(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(
        root,
        [task(1, "Flaky job"), task(2, "Next job")],
        plan={"default": {"action": "edit", "fail_times": 1}},
        config="backoff_base_s = 600\nbackoff_cap_s = 600\n",
    )
    stop = threading.Event()
    lines: list[str] = []

    def out(line: str) -> None:
        lines.append(line)
        if "retrying in" in line:
            stop.set()  # as SIGINT would, while the retry waits out its backoff

    with Recorder.open() as recorder:
        summary = Autopilot(
            find_project(root),
            ap_config.load(root),
            recorder,
            stop=stop,
            out=out,
            env=subprocess_env(agent_env(root)),
            rng=random.Random(1),
        ).run()
    assert [(r.unit.id, r.outcome, r.attempts, r.status) for r in summary.results] == [
        ("1", "interrupted", 1, "pending")
    ]
    assert statuses(root) == {"1": "pending", "2": "pending"} and runs(root, "2") == 0
    assert "stopped before a retry; status restored to pending" in details(root, "1")
    assert "task 1: stopped before a retry; status restored to pending" in lines
    assert list(log_lines(summary)) == [
        "autopilot: 0 done, 0 failed, 0 to review, 1 interrupted; "
        "1 attempt(s): 0 succeeded, 1 failed; $0.0100",
        "interrupted: task 1 (Flaky job), status restored to pending",
        "stopped: stop requested",
    ]


def test_a_tool_missing_for_tests_the_agent_added_stops_the_run(tmp_path: Path) -> None:
    """No tests when the run starts; the agent adds the first, and pytest is nowhere: the
    attempt's work is set aside, the task goes back, and nothing else starts."""
    root = tmp_path / "proj"
    make_project(
        root,
        [task(1, "First test"), task(2, "Other")],
        plan={"default": {"action": "edit", "file": "tests/test_new.py", "content": "x = 1\n"}},
    )
    summary = _without_tools(root, rng=random.Random(1)).run()
    assert not summary.ok and summary.problem.startswith("pytest: not found")
    assert [(r.unit.id, r.outcome, r.status) for r in summary.results] == [
        ("1", "interrupted", "pending")
    ]
    assert summary.stop_reason.startswith("setup problem: pytest: not found")
    assert statuses(root) == {"1": "pending", "2": "pending"}
    assert runs(root, "2") == 0 and not (root / "tests").exists()
    assert "attempt 1's work could not be checked (pytest: not found" in details(root, "1")
    assert breaker_status(root)["failures"] == 0, "a setup problem is not the task's failure"


def test_checks_that_fail_before_any_change_stop_the_run_spending_nothing(
    tmp_path: Path,
) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "A")], config="max_attempts = 1\n")
    project_venv(root)
    add_tests(root, "def test_broken():\n    assert False, 'broken before the run'\n")
    lines: list[str] = []
    with pytest.raises(BaselineFailed) as failed:
        _run(root, lines)
    assert str(failed.value).startswith(
        "the checks fail before any change: pytest: pytest exited with code 1; fix them first"
    )
    assert "--no-baseline (autopilot.baseline = false)" in str(failed.value)
    assert any("broken before the run" in line for line in lines)
    assert runs(root, "1") == 0 and statuses(root) == {"1": "pending"}
    assert executions(paths.db_path()) == []
    # a project whose failing tests are what the task is for skips the baseline
    summary = _run(root, baseline=False)
    assert runs(root, "1") == 1 and summary.results[0].outcome == "failed"


def test_a_passing_baseline_is_not_run_again_on_the_same_tree(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    counter = tmp_path / "baseline-runs"
    check = json.dumps([sys.executable, "-c", f"open({str(counter)!r}, 'a').write('x')"])
    make_project(root, [task(1, "A"), task(2, "B")], config=f"validate = [{check}]\n")
    assert _run(root, once=True).ok
    assert counter.read_text() == "xx"  # the baseline, then task 1's check
    git(root, "reset", "-q", "--hard", "HEAD~1")  # the tree the baseline passed on
    assert _run(root, task_id="2").ok
    assert counter.read_text() == "xxx"  # task 2's check only


def test_one_tasks_repeated_failures_do_not_stop_independent_tasks(tmp_path: Path) -> None:
    """Defaults (max_attempts = breaker_threshold = 3): task 1 fails every attempt and is
    blocked; the breaker stays closed and tasks 2 and 3 run."""
    root = tmp_path / "proj"
    make_project(
        root,
        [task(1, "Broken", priority="high"), task(2, "Fine"), task(3, "Also fine")],
        plan={"tasks": {"1": {"action": "fail"}}},
    )
    summary = _run(root)
    assert statuses(root) == {"1": "blocked", "2": "done", "3": "done"}
    assert runs(root, "1") == 3
    assert summary.breaker == "closed" and breaker_status(root)["state"] == "closed"
    assert list(log_lines(summary))[-1] == "stopped: nothing more is ready"


def test_failures_across_task_runs_open_the_breaker_and_a_reset_closes_it(
    tmp_path: Path,
) -> None:
    root = tmp_path / "proj"
    make_project(
        root,
        [task(i, f"Task {i}") for i in range(1, 5)],
        plan={"default": {"action": "fail"}},
        config="max_attempts = 2\nbreaker_threshold = 2\n",
    )
    summary = _run(root)
    # task 1 fails twice (one run), task 2's first failure is the second run: open
    assert [(r.unit.id, r.outcome, r.attempts, r.status) for r in summary.results] == [
        ("1", "failed", 2, "blocked"),
        ("2", "failed", 1, "pending"),
    ]
    assert statuses(root) == {"1": "blocked", "2": "pending", "3": "pending", "4": "pending"}
    assert "the circuit breaker opened, so no retry for now" in details(root, "2")
    status = breaker_status(root)
    assert status["state"] == "open" and status["failures"] == 3
    assert "(3 failed attempt(s); tasks 1, 2)" in status["summary"]
    first = next(iter(log_lines(summary)))
    assert first.startswith("autopilot: 0 done, 2 failed (blocked, pending)")
    set_plan(root, {"default": {"action": "edit"}})
    lines: list[str] = []
    summary = _run(root, lines, reset_breaker=True)
    assert lines[0] == (
        "circuit breaker closed by hand (it was open; last failure: "
        "exit code 1: API Error: scripted failure)"
    )
    assert summary.ok and statuses(root)["4"] == "done"
    with Recorder.open() as rec:
        moves = [
            (json.loads(d)["from"], json.loads(d)["to"])
            for (d,) in rec.db.execute("SELECT data FROM events WHERE kind = 'autopilot.breaker'")
        ]
    assert moves == [("closed", "open"), ("open", "closed")]


def test_a_tasks_json_caught_half_saved_is_read_again_once_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent or an editor saving tasks.json in place (truncate, then write) while the
    runner reads it: the runner waits for the save to finish instead of failing the run."""
    root = tmp_path / "proj"
    make_project(root, [task(1, "Set up the package"), task(2, "Add the list command", [1])])
    tasks = root / ".taskmaster" / "tasks" / "tasks.json"
    full = tasks.read_text(encoding="utf-8")
    tasks.write_text(full[: len(full) // 2], encoding="utf-8")
    waited = save_completes_while_waited(monkeypatch, full)
    summary = _run(root)
    assert summary.ok
    assert statuses(root) == {"1": "done", "2": "done"}
    assert waited == [tasks]
