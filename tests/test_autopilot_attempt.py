"""One attempt: the agent, the evidence (success, no refused edit, a change, the checks),
the execution row, and a failed attempt's changes saved as a patch and removed."""

from __future__ import annotations

import json
import re
import sys
import threading
from dataclasses import replace
from pathlib import Path

from autopilot_support import agent_env, details, executions, make_project, set_plan, task
from helpers import git, subprocess_env
from tmxd import paths
from tmxd.autopilot import config as ap_config
from tmxd.autopilot import state
from tmxd.autopilot.agents import CommandAgent
from tmxd.autopilot.attempt import Attempt, Place
from tmxd.autopilot.config import AutopilotConfig
from tmxd.autopilot.plan import Unit
from tmxd.metrics.recorder import Recorder
from tmxd.taskmaster.project import find_project
from tmxd.taskmaster.store import TaskStore

TASKS = ".taskmaster/tasks/tasks.json"


def _attempt(
    root: Path, recorder: Recorder, lines: list[str], cfg: AutopilotConfig | None = None
) -> tuple[Attempt, Unit]:
    project = find_project(root)
    cfg = cfg or ap_config.load(root)
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


def _here(root: Path) -> Place:
    return Place(root, root, (TASKS,))


def test_a_successful_attempt_is_one_execution_row_and_no_note(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Write it")])
    lines: list[str] = []
    with Recorder.open() as recorder:
        attempt, unit = _attempt(root, recorder, lines)
        result = attempt.run(unit, 1, _here(root))
    assert (result.ok, result.error, result.patch) == (True, None, None)
    assert (root / "task-1.txt").exists()
    assert result.before is not None and result.after is not None
    assert result.before.tree != result.after.tree
    (row,) = executions(paths.db_path())
    assert (row["task_id"], row["attempt"], row["success"], row["route"]) == ("1", 1, 1, "medium")
    assert row["cost_usd"] == result.cost_usd and row["permission_denials"] is None
    assert row["session_id"] and len(row["session_id"]) == 36  # the run's own session, a uuid
    assert "tmxd autopilot" not in details(root, "1")  # settling is the runner's job
    assert lines == []


def test_checks_are_detected_after_the_agent_ran(tmp_path: Path) -> None:
    """The agent adds the project's first test, and it fails: the attempt fails, its
    output is on the task, and the agent's files are saved as a patch and removed."""
    root = tmp_path / "proj"
    make_project(root, [task(1, "Add tests")], config='on_failure = "blocked"\n')
    set_plan(
        root,
        {
            "default": {
                "action": "edit",
                "file": "tests/test_it.py",
                "content": "def test_it():\n    assert 1 == 2, 'broken on purpose'\n",
            }
        },
    )
    lines: list[str] = []
    with Recorder.open() as recorder:
        attempt, unit = _attempt(root, recorder, lines)
        assert attempt.checks(root) == []
        result = attempt.run(unit, 2, _here(root))
    assert not result.ok and result.error is not None
    assert result.error.startswith("validation failed: pytest: pytest exited with code 1")
    assert result.patch is not None and "broken on purpose" in result.patch.read_text()
    # <tag>-<id>-attempt<n>-<time>.patch (a killed attempt's: see the runner's recovery test)
    assert re.fullmatch(r"master-1-attempt2-\d{8}T\d{6}\.patch", result.patch.name)
    assert not (root / "tests").exists(), "a failed attempt leaves nothing behind"
    assert git(root, "status", "--porcelain", "--untracked-files=all").strip() == f"M {TASKS}"
    (row,) = executions(paths.db_path())
    assert (row["attempt"], row["success"]) == (2, 0)
    notes = details(root, "1")
    assert "tmxd autopilot: attempt 2/" in notes and "broken on purpose" in notes
    assert f"its changes were saved to {result.patch} and removed" in notes
    assert f"task 1: attempt 2 failed: {result.error}" in lines


def test_an_agent_that_changes_nothing_has_failed(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Do nothing")])
    set_plan(
        root, {"default": {"action": "edit", "file": "README.md", "content": "# test project\n"}}
    )
    with Recorder.open() as recorder:
        attempt, unit = _attempt(root, recorder, [])
        result = attempt.run(unit, 1, _here(root))
        assert result.error == "no changes: the agent changed no file and made no commit"
        assert result.patch is None
        allowed = replace(ap_config.load(root), allow_empty_tasks=["1"])
        attempt, unit = _attempt(root, recorder, [], allowed)
        assert attempt.run(unit, 2, _here(root)).ok
    assert "no changes" in details(root, "1")


def test_a_refused_write_fails_the_attempt_and_is_stored(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Write into .git")])
    denied = [{"tool_name": "Write", "tool_input": {"file_path": str(root / ".git" / "x")}}]
    set_plan(root, {"default": {"action": "edit", "permission_denials": denied}})
    with Recorder.open() as recorder:
        attempt, unit = _attempt(root, recorder, [])
        result = attempt.run(unit, 1, _here(root))
    assert result.error == f"denied: Claude Code refused Write({root / '.git' / 'x'})"
    assert not (root / "task-1.txt").exists()
    (row,) = executions(paths.db_path())
    assert json.loads(row["permission_denials"])[0]["tool"] == "Write"
    assert f"refused tool calls: Write({root / '.git' / 'x'})" in details(root, "1")


def test_user_changes_survive_a_failed_attempt(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Edit the readme")], config='validate = [["false"]]\n')
    (root / "README.md").write_text("# mine, uncommitted\n")
    git(root, "add", "README.md")
    (root / "notes.txt").write_text("untracked, mine\n")
    set_plan(root, {"default": {"action": "edit", "file": "README.md", "content": "agent\n"}})
    with Recorder.open() as recorder:
        attempt, unit = _attempt(root, recorder, [])
        result = attempt.run(unit, 1, _here(root))
    assert result.error is not None and result.error.startswith("validation failed")
    assert (root / "README.md").read_text() == "# mine, uncommitted\n"
    assert (root / "notes.txt").read_text() == "untracked, mine\n"
    assert git(root, "diff", "--cached", "--name-only").strip() == "README.md"
    assert result.patch is not None and "+agent" in result.patch.read_text()


def test_what_the_failed_checks_wrote_beside_the_agents_files_goes_too(tmp_path: Path) -> None:
    """A check that fails leaves by-products next to the agent's new files (pytest's
    ``__pycache__``, a report): the failed attempt takes them out with the agent's work,
    the patch holds only the agent's work, and files the user had are kept."""
    root = tmp_path / "proj"
    check = (
        "import pathlib; "
        "pathlib.Path('src/__pycache__').mkdir(); "
        "pathlib.Path('src/__pycache__/new.pyc').write_text('by-product'); "
        "pathlib.Path('report.xml').write_text('<failed/>'); "
        "raise SystemExit(1)"
    )
    make_project(
        root,
        [task(1, "Add a module")],
        config=f'validate = [[{json.dumps(sys.executable)}, "-c", {json.dumps(check)}]]\n',
    )
    (root / "notes.txt").write_text("untracked, mine\n")
    set_plan(root, {"default": {"action": "edit", "file": "src/new.py", "content": "x = 1\n"}})
    with Recorder.open() as recorder:
        attempt, unit = _attempt(root, recorder, [])
        result = attempt.run(unit, 1, _here(root))
    assert result.error is not None and result.error.startswith("validation failed")
    assert not (root / "src").exists() and not (root / "report.xml").exists()
    assert (root / "notes.txt").read_text() == "untracked, mine\n"
    assert result.patch is not None
    patch = result.patch.read_text()
    assert "src/new.py" in patch and "by-product" not in patch and "report.xml" not in patch
