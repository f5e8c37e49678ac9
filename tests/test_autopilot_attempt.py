from __future__ import annotations

import threading
from pathlib import Path

from autopilot_support import agent_env, details, executions, make_project, task
from helpers import subprocess_env
from tmxd import paths
from tmxd.autopilot import config as ap_config
from tmxd.autopilot import state, validation
from tmxd.autopilot.agents import CommandAgent
from tmxd.autopilot.attempt import Attempt
from tmxd.autopilot.plan import Unit
from tmxd.metrics.recorder import Recorder
from tmxd.taskmaster.project import find_project
from tmxd.taskmaster.store import TaskStore


def _attempt(root: Path, recorder: Recorder, lines: list[str]) -> tuple[Attempt, Unit]:
    project = find_project(root)
    cfg = ap_config.load(root)
    store = TaskStore(project)
    one = store.read().find("1", "master")
    assert one is not None
    attempt = Attempt(
        root,
        "master",
        cfg,
        CommandAgent(template=tuple(cfg.command), name="scripted"),
        recorder,
        store,
        state.StateFile(root),
        subprocess_env(agent_env(root)),
        threading.Event(),
        lines.append,
    )
    return attempt, Unit(one, one, "medium", "test")


def test_a_successful_attempt_is_one_execution_row_and_no_note(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Write it")])
    lines: list[str] = []
    with Recorder.open() as recorder:
        attempt, unit = _attempt(root, recorder, lines)
        result = attempt.run(unit, 1, root, [])
    assert (result.ok, result.error) == (True, None)
    assert (root / "task-1.txt").exists()
    (row,) = executions(paths.db_path())
    assert (row["task_id"], row["attempt"], row["success"], row["route"]) == ("1", 1, 1, "medium")
    assert row["cost_usd"] == result.cost_usd
    assert row["session_id"] and len(row["session_id"]) == 36  # the run's own session, a uuid
    assert "tmxd autopilot" not in details(root, "1")  # settling is the runner's job
    assert lines == []


def test_a_failed_check_fails_the_attempt_and_leaves_its_output_on_the_task(
    tmp_path: Path,
) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Write it")])
    checks = validation.configured([["sh", "-c", "echo broken build; exit 3"]], [])
    lines: list[str] = []
    with Recorder.open() as recorder:
        attempt, unit = _attempt(root, recorder, lines)
        result = attempt.run(unit, 2, root, checks)
    assert not result.ok and result.error is not None
    assert result.error.startswith("validation failed: ")
    (row,) = executions(paths.db_path())
    assert (row["attempt"], row["success"]) == (2, 0)
    notes = details(root, "1")
    assert "tmxd autopilot: attempt 2/" in notes and "broken build" in notes
    assert lines == [f"task 1: attempt 2 failed: {result.error}"]
