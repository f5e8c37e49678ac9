"""`tmxd approve` / `tmxd reject` on tasks waiting in review, for each reason they wait."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopilot_support import details, make_project, statuses, task
from tmxd.autopilot import gate, state
from tmxd.errors import InputError
from tmxd.taskmaster.project import find_project


def waiting(tmp_path: Path, kind: str) -> Path:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Ship it", status="review")])
    state.StateFile(root).set_review("master", "1", kind, "why it waits")
    return root


def test_approve_an_expand_review_sends_the_task_back_to_pending(tmp_path: Path) -> None:
    root = waiting(tmp_path, "expand")
    message = gate.approve(find_project(root), "1", note="run it whole")
    assert message == "task 1 approved: pending; `tmxd autopilot` will run it"
    assert statuses(root) == {"1": "pending"}
    assert "tmxd: approved: run it whole" in details(root, "1")
    sf = state.StateFile(root)
    assert sf.is_approved("master", "1") and sf.review("master", "1") is None


def test_approve_a_merge_review_marks_the_task_done(tmp_path: Path) -> None:
    root = waiting(tmp_path, "merge")
    assert gate.approve(find_project(root), "1") == "task 1 approved: done"
    assert statuses(root) == {"1": "done"}


def test_reject_a_merge_review_sends_it_back_to_pending(tmp_path: Path) -> None:
    root = waiting(tmp_path, "merge")
    assert gate.reject(find_project(root), "1") == "task 1 rejected: pending"
    assert statuses(root) == {"1": "pending"}
    assert not state.StateFile(root).is_approved("master", "1")


def test_unknown_task_and_task_not_in_review_are_input_errors(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Ship it")])
    project = find_project(root)
    with pytest.raises(InputError, match="task 9 not found in tag master"):
        gate.approve(project, "9")
    with pytest.raises(InputError, match="task 1 is pending, not waiting in review"):
        gate.reject(project, "1")
    assert statuses(root) == {"1": "pending"}
