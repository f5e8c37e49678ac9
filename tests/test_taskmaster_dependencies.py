from __future__ import annotations

import json
from pathlib import Path

from tmxd.taskmaster.dependencies import count_checked, validate_dependencies
from tmxd.taskmaster.document import parse_tasks

# The broken fixture of the CLI research: 4→99 missing, 9→9 self, 5↔8 cycle,
# 3.2→sibling 7 missing (task 7 exists, so the CLI misses it), 3.3→itself.
BROKEN = {
    "tasks": [
        {"id": 1, "status": "done", "dependencies": []},
        {
            "id": 3,
            "status": "pending",
            "dependencies": [1],
            "subtasks": [
                {"id": 1, "dependencies": []},
                {"id": 2, "dependencies": [7]},
                {"id": 3, "dependencies": [3]},
            ],
        },
        {"id": 4, "status": "pending", "dependencies": [99]},
        {"id": 5, "status": "pending", "dependencies": [8]},
        {"id": 7, "status": "review", "dependencies": []},
        {"id": 8, "status": "pending", "dependencies": [5]},
        {"id": 9, "status": "pending", "dependencies": [9]},
    ]
}
DOC = parse_tasks(json.dumps(BROKEN), Path("t.json"))


def test_cli_reading_matches_the_recorded_output() -> None:
    lines = [i.cli_line() for i in validate_dependencies(DOC, "master", cli_quirks=True)]
    assert lines == [
        "  [SELF] Task 3.3: Subtask 3.3 depends on itself",
        "  [CIRCULAR] Task 3.3: Subtask 3.3 is part of a circular dependency chain",
        "  [MISSING] Task 4: Task 4 depends on non-existent task 99 (Dependency: 99)",
        "  [CIRCULAR] Task 5: Task 5 is part of a circular dependency chain",
        "  [CIRCULAR] Task 8: Task 8 is part of a circular dependency chain",
        "  [SELF] Task 9: Task 9 depends on itself",
        "  [CIRCULAR] Task 9: Task 9 is part of a circular dependency chain",
    ]


def test_tmxd_reading_sees_the_missing_sibling() -> None:
    found = [(i.task_id, i.kind) for i in validate_dependencies(DOC, "master")]
    assert ("3.2", "missing") in found
    assert ("3.3", "self") in found and ("5", "circular") in found


def test_counts() -> None:
    assert count_checked(DOC, "master") == (7, 3, 7)


def test_deep_chain_is_not_recursive() -> None:
    tasks = [{"id": i, "status": "pending", "dependencies": [i + 1]} for i in range(1, 5000)]
    tasks.append({"id": 5000, "status": "pending", "dependencies": [1]})
    doc = parse_tasks(json.dumps({"tasks": tasks}), Path("t.json"))
    issues = validate_dependencies(doc, "master")
    assert len(issues) == 5000 and all(i.kind == "circular" for i in issues)
