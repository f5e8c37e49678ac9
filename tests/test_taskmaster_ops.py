from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from helpers import git, init_repo, oracle_missing, run_oracle, saved_by_an_editor_meanwhile
from tmxd.errors import InputError
from tmxd.taskmaster.document import parse_tasks
from tmxd.taskmaster.ops import (
    StatusChange,
    append_note,
    cascade_to_parent,
    next_task,
    recompute_parents,
    set_status,
    split_ids,
)
from tmxd.taskmaster.project import find_project
from tmxd.taskmaster.store import SAVE_ATTEMPTS, ChangedMeanwhile, TaskStore

AT = datetime(2026, 1, 8, 21, 17, 16, 264000, tzinfo=UTC)


def base_tasks() -> dict[str, Any]:
    return {
        "master": {
            "tasks": [
                {
                    "id": 1,
                    "title": "One",
                    "description": "d1",
                    "status": "done",
                    "priority": "high",
                    "dependencies": [],
                    "subtasks": [],
                },
                {
                    "id": 2,
                    "title": "Two",
                    "description": "d2",
                    "status": "in-progress",
                    "priority": "high",
                    "dependencies": [1],
                    "subtasks": [
                        {"id": 1, "title": "a", "status": "done", "dependencies": []},
                        {
                            "id": 2,
                            "title": "b",
                            "status": "pending",
                            "dependencies": [1],
                            "details": "start",
                        },
                    ],
                },
                {
                    "id": 3,
                    "title": "Three",
                    "description": "d3",
                    "status": "pending",
                    "priority": "medium",
                    "dependencies": [2],
                    "updatedAt": "2026-01-01T00:00:00.000Z",
                    "subtasks": [
                        {"id": 1, "title": "c", "status": "pending", "dependencies": []},
                    ],
                },
            ],
            "metadata": {"created": "x"},
        }
    }


def make_store(tmp_path: Path, data: Any | None = None) -> TaskStore:
    path = tmp_path / ".taskmaster" / "tasks" / "tasks.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(base_tasks() if data is None else data, indent=2, ensure_ascii=False)
    )
    return TaskStore(find_project(tmp_path))


def test_split_ids() -> None:
    assert split_ids(["1,2", " 3.1 ", ""]) == ["1", "2", "3.1"]


def test_subtask_done_recomputes_parent(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    changes = set_status(store, ["2.2"], "done", at=AT)
    assert changes == [
        StatusChange("2.2", "pending", "done"),
        StatusChange("2", "in-progress", "done"),
    ]
    assert store.read().status_map("master")["2"] == "done"


def test_task_status_never_cascades(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    set_status(store, ["3"], "done", at=AT)
    doc = store.read()
    assert doc.status_map("master")["3.1"] == "pending"
    assert doc.task_dicts("master")[2]["updatedAt"] == "2026-01-08T21:17:16.264Z"
    assert "updatedAt" not in doc.task_dicts("master")[1]


def test_same_status_writes_nothing(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    before = store.path.read_bytes()
    changes = set_status(store, ["1"], "done")
    assert changes == [StatusChange("1", "done", "done")] and not changes[0].changed
    assert store.path.read_bytes() == before


def test_unknown_id_or_status_changes_nothing(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    before = store.path.read_bytes()
    with pytest.raises(InputError, match="task 9 not found in tag 'master'") as info:
        set_status(store, ["3", "9"], "done")
    assert info.value.exit_code == 2
    with pytest.raises(InputError, match="valid statuses"):
        set_status(store, ["3"], "completed")
    assert store.path.read_bytes() == before


def test_set_status_is_a_one_line_git_diff(tmp_path: Path) -> None:
    init_repo(tmp_path)
    store = make_store(tmp_path)
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "tasks")
    set_status(store, ["2.2"], "review", at=AT)
    diff = git(tmp_path, "diff", "--numstat")
    assert diff.split()[:2] == ["1", "1"]


def test_append_note_block(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    append_note(store, "2.2", "  Used a queue.\n", at=AT)
    append_note(store, "2.1", "first", at=AT)
    append_note(store, "3", "top-level", at=AT)
    doc = store.read()
    stamp = "2026-01-08T21:17:16.264Z"
    block = f"<info added on {stamp}>\nUsed a queue.\n</info added on {stamp}>"
    assert doc.find("2.2", "master").details == "start\n" + block  # type: ignore[union-attr]
    assert doc.find("2.1", "master").raw["details"].startswith("<info added on")  # type: ignore[union-attr]
    assert "top-level" in doc.find("3", "master").details  # type: ignore[union-attr]
    with pytest.raises(InputError, match="empty"):
        append_note(store, "2.2", "   ")


def test_next_prefers_subtasks_of_in_progress_parents(tmp_path: Path) -> None:
    doc = parse_tasks(json.dumps(base_tasks()), tmp_path / "t.json")
    found = next_task(doc, "master")
    assert found is not None and found.id == "2.2" and found.priority == "high"
    assert found.dependencies == ["2.1"]


def test_next_only_done_satisfies_dependencies() -> None:
    data = {
        "tasks": [
            {"id": 5, "status": "pending", "priority": "critical", "dependencies": [6]},
            {"id": 6, "status": "cancelled", "priority": "low", "dependencies": []},
            {"id": 9, "status": "pending", "priority": "high", "dependencies": []},
            {"id": 4, "status": "pending", "priority": "high", "dependencies": []},
        ]
    }
    found = next_task(parse_tasks(json.dumps(data), Path("t.json")), "master")
    assert found is not None and found.id == "4"


def test_next_none_when_all_done() -> None:
    data = {"tasks": [{"id": 1, "status": "done", "dependencies": []}]}
    assert next_task(parse_tasks(json.dumps(data), Path("t.json")), "master") is None


@pytest.mark.slow
def test_oracle_agrees_on_this_file(tmp_path: Path) -> None:
    """Smoke check against the real CLI."""
    reason = oracle_missing()
    if reason:
        pytest.skip(reason)
    init_repo(tmp_path, commit=False)
    store = make_store(tmp_path)
    (tmp_path / ".taskmaster" / "state.json").write_text('{"migrationNoticeShown": true}')
    out = run_oracle("next", "--format", "json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    answer = json.JSONDecoder().raw_decode(out.stdout.lstrip())[0]
    mine = next_task(store.read(), "master")
    assert mine is not None and answer["task"]["id"] == mine.id


def test_recompute_parents_applies_the_set_status_cascade(tmp_path: Path) -> None:
    data = base_tasks()
    # edited outside tmxd: the last open subtask of 2 is done, 3's subtask started
    data["master"]["tasks"][1]["subtasks"][1]["status"] = "done"
    data["master"]["tasks"][2]["subtasks"][0]["status"] = "in-progress"
    store = make_store(tmp_path, data)
    changes = recompute_parents(store, [("master", "2"), ("master", "3"), ("other", "1")], AT)
    assert changes == [
        StatusChange("2", "in-progress", "done"),
        StatusChange("3", "pending", "in-progress"),
    ]
    doc = store.read()
    assert doc.status_map("master")["2"] == "done"
    assert doc.task_dicts("master")[2]["updatedAt"] == "2026-01-08T21:17:16.264Z"


def test_recompute_parents_writes_nothing_when_no_parent_changes(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    before = store.path.read_bytes()
    # 3 has updatedAt; its status already follows its subtasks, so it is not stamped
    assert recompute_parents(store, [("master", "2"), ("master", "3")], AT) == []
    assert store.path.read_bytes() == before


def test_cascade_stamps_an_unchanged_parent_only_for_set_status() -> None:
    parent: dict[str, Any] = {
        "id": 3,
        "status": "pending",
        "updatedAt": "old",
        "subtasks": [{"id": 1, "status": "pending"}],
    }
    assert cascade_to_parent(parent, "new", stamp_unchanged=False) is None
    assert parent["updatedAt"] == "old"
    assert cascade_to_parent(parent, "new", stamp_unchanged=True) is None
    assert parent["updatedAt"] == "new"
    parent["subtasks"][0]["status"] = "done"
    assert cascade_to_parent(parent, "newer", stamp_unchanged=False) == StatusChange(
        "3", "pending", "done"
    )
    assert (parent["status"], parent["updatedAt"]) == ("done", "newer")


def _editor_adds_task(store: TaskStore) -> Any:
    """A save adding task 4 (the ``n``-th save titles it ``Four n``)."""

    def save(n: int) -> None:
        data = base_tasks()
        data["master"]["tasks"].append(
            {"id": 4, "title": f"Four {n}", "status": "pending", "dependencies": []}
        )
        store.path.write_text(json.dumps(data, indent=2))

    return save


def test_a_change_meeting_an_editor_save_is_made_again_on_that_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(tmp_path)
    saves = saved_by_an_editor_meanwhile(monkeypatch, 2, _editor_adds_task(store))
    changes = set_status(store, ["2.2"], "done", at=AT)
    assert saves == [0, 1]  # two saves met, made a third time
    assert changes == [
        StatusChange("2.2", "pending", "done"),
        StatusChange("2", "in-progress", "done"),
    ]
    doc = store.read()
    assert doc.status_map("master")["2.2"] == "done"
    assert doc.find("4", "master") is not None and doc.find("4", "master").title == "Four 1"
    saved_by_an_editor_meanwhile(monkeypatch, 1, _editor_adds_task(store))
    append_note(store, "2.2", "after the save", at=AT)
    assert "after the save" in (store.read().find("2.2", "master").details or "")
    saved_by_an_editor_meanwhile(monkeypatch, 1, _editor_adds_task(store))
    assert recompute_parents(store, [("master", "3")], at=AT) == []
    assert store.read().find("4", "master") is not None  # the save stands


def test_saves_that_keep_coming_leave_the_last_one_and_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(tmp_path)
    saves = saved_by_an_editor_meanwhile(monkeypatch, SAVE_ATTEMPTS, _editor_adds_task(store))
    with pytest.raises(ChangedMeanwhile, match="saved by another program while tmxd"):
        set_status(store, ["2.2"], "done", at=AT)
    assert len(saves) == SAVE_ATTEMPTS
    doc = store.read()
    assert doc.status_map("master")["2.2"] == "pending"  # nothing of tmxd's written
    assert doc.find("4", "master").title == f"Four {SAVE_ATTEMPTS - 1}"
