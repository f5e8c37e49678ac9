from __future__ import annotations

from pathlib import Path

from daemon_project import render, tasks_doc
from tmxd.history.snapshot import (
    Snapshot,
    TaskState,
    Transition,
    Unblocked,
    diff,
    newly_unblocked,
    snapshot_of,
)
from tmxd.taskmaster.document import parse_tasks


def snap(**statuses: str) -> Snapshot:
    doc = parse_tasks(render(tasks_doc(**statuses)), Path("tasks.json"))
    return snapshot_of(doc)


def test_snapshot_holds_tasks_and_subtasks_with_full_dependency_ids() -> None:
    s = snap()
    assert list(s) == ["master"]
    assert s["master"]["1"] == TaskState("pending", "Set up the parser", ())
    assert s["master"]["1.2"] == TaskState("pending", "Grammar", ("1.1",))
    assert s["master"]["2"].deps == ("1",)
    assert list(s["master"]) == ["1", "1.1", "1.2", "2", "3"]


def test_diff_reports_status_changes_and_new_tasks() -> None:
    before = snap()
    after = snap(t1="in-progress", t1_1="done")
    assert diff(before, after) == [
        Transition("master", "1", "pending", "in-progress", "Set up the parser"),
        Transition("master", "1.1", "pending", "done", "Tokenizer"),
    ]
    assert diff(after, after) == []
    new_tag = {"feature": {"9": TaskState("pending", "New", ())}}
    assert diff(before, {**before, **new_tag}) == [
        Transition("feature", "9", None, "pending", "New")
    ]


def test_newly_unblocked() -> None:
    before = snap()
    assert newly_unblocked(before, snap(t1_1="done")) == [Unblocked("master", "1.2", "Grammar")]
    assert newly_unblocked(before, snap(t1="done")) == [
        Unblocked("master", "2", "Evaluate expressions")
    ]
    # already in progress, or unblocked before: not announced
    assert newly_unblocked(snap(t1="done"), snap(t1="done", t2="in-progress")) == []
