from __future__ import annotations

import json
from pathlib import Path

from tmxd.taskmaster import cli_json
from tmxd.taskmaster.document import parse_tasks
from tmxd.taskmaster.ops import next_task

DATA = {
    "master": {
        "tasks": [
            {
                "id": 1,
                "title": "T",
                "description": "d",
                "status": "in-progress",
                "priority": "low",
                "dependencies": [],
                "extra": {"kept": False},
                "updatedAt": "2026-01-01T00:00:00.000Z",
                "subtasks": [{"id": 1, "title": "s", "status": "pending", "dependencies": []}],
            },
            {"id": 2, "title": "U", "status": "pending", "dependencies": [1]},
        ]
    }
}
DOC = parse_tasks(json.dumps(DATA), Path("t.json"))


def test_task_json_is_tm_core_entity() -> None:
    raw = DOC.task_dicts("master")[0]
    out = cli_json.task_json(raw, {"1": {"complexityScore": 7, "recommendedSubtasks": 3}})
    assert list(out) == [
        "id",
        "title",
        "description",
        "status",
        "priority",
        "dependencies",
        "subtasks",
        "updatedAt",
        "complexity",
        "recommendedSubtasks",
    ]
    assert out["subtasks"] == [
        {"id": "1", "title": "s", "status": "pending", "dependencies": [], "parentId": "undefined"}
    ]


def test_list_json_blocks_and_filter() -> None:
    out = cli_json.list_json(DOC, "master", statuses=["in-progress"])
    assert [t["id"] for t in out["tasks"]] == ["1"]
    assert out["tasks"][0]["blocks"] == ["2"]
    assert out["tasks"][0]["subtasks"] == []
    assert out["metadata"]["filtered"] == 1 and out["metadata"]["total"] == 2


def test_next_json_for_a_subtask() -> None:
    task = next_task(DOC, "master")
    out = cli_json.next_json(task, "master", True, None)
    assert out["task"] == {
        "id": "1.1",
        "title": "s",
        "status": "pending",
        "priority": "low",
        "dependencies": [],
        "parentId": "1",
        "subtasks": [],
    }
    assert cli_json.next_json(None, "master", False, None)["found"] is False


def test_show_and_set_status_shapes() -> None:
    sub = DOC.find("1.1", "master")
    assert cli_json.show_json([("1.1", sub)])["originalTaskId"] == "1.1"
    assert cli_json.show_json([("9", None)]) == {
        "task": None,
        "found": False,
        "storageType": "file",
    }
    multi = cli_json.show_json([("1", DOC.find("1", "master")), ("9", None)])
    assert multi["notFound"] == ["9"] and len(multi["tasks"]) == 1
    assert cli_json.set_status_json([("1", "pending", "done")])["updatedTasks"] == [
        {"taskId": "1", "oldStatus": "pending", "newStatus": "done"}
    ]


def test_load_complexity(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    report.write_text('{"complexityAnalysis": [{"taskId": 4, "complexityScore": 9}]}')
    assert cli_json.load_complexity(report) == {"4": {"taskId": 4, "complexityScore": 9}}
    assert cli_json.load_complexity(tmp_path / "missing.json") == {}
    report.write_text("{broken")
    assert cli_json.load_complexity(report) == {}
