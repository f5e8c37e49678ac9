from __future__ import annotations

import json
from pathlib import Path

from tmxd.taskmaster.dependencies import DependencyIssue
from tmxd.taskmaster.document import parse_tasks
from tmxd.taskmaster.text import clip, issues_table, progress_line, task_detail, task_table, width

DOC = parse_tasks(
    json.dumps(
        {
            "tasks": [
                {"id": 1, "title": "漢字のタイトル", "status": "done", "dependencies": []},
                {
                    "id": 2,
                    "title": "A long title " * 10,
                    "status": "pending",
                    "priority": "high",
                    "dependencies": [1],
                    "details": "line one\nline two",
                    "subtasks": [{"id": 1, "title": "sub", "dependencies": [5]}],
                },
            ]
        }
    ),
    Path("t.json"),
)


def test_width_and_clip() -> None:
    assert width("漢字") == 4
    assert width("ab") == 2
    assert clip("a  b\nc", 10) == "a b c"
    clipped = clip("x" * 50, 10)
    assert clipped.endswith("…") and width(clipped) == 10


def test_table_columns_align_with_wide_characters() -> None:
    lines = task_table(DOC.tasks("master"), with_subtasks=True, title_limit=20)
    status_col = lines[0].index("Status")
    for line in lines[1:]:
        prefix = line[: line.index("○") if "○" in line else line.index("✓")]
        assert width(prefix) == status_col
    assert any(line.startswith("  2.1") for line in lines)


def test_paint_is_applied_to_status_cells() -> None:
    lines = task_table(DOC.tasks("master"), with_subtasks=False, paint=lambda s, t: f"<{s}>{t}")
    assert "<done>✓ done" in lines[1]


def test_progress_and_detail() -> None:
    assert progress_line(DOC.tasks("master")).startswith("1/2 complete (50%)")
    task = DOC.find("2", "master")
    assert task is not None
    lines = task_detail(task, status_of=DOC.status_map("master").get)
    assert "  Depends on  1 (✓ done)" in lines
    assert "  line two" in lines
    sub = DOC.find("2.1", "master")
    assert sub is not None
    assert "  Depends on  2.5 (missing)" in task_detail(sub, status_of=lambda _id: None)


def test_issues_table() -> None:
    lines = issues_table([DependencyIssue("3", "missing", "Task 3 depends on 9", "9")])
    assert lines[0].split() == ["Kind", "Task", "Problem"]
    assert lines[1].split()[:2] == ["MISSING", "3"]


def test_long_text_wraps_keeping_indentation() -> None:
    from tmxd.taskmaster.text import wrap

    lines = wrap("word " * 40 + "\n\n   - nested " + "item " * 30, 40)
    assert all(width(line) <= 40 for line in lines)
    assert lines[0].startswith("  word")
    assert "" in lines
    nested = [line for line in lines if "item" in line]
    assert nested[0].startswith("     - nested") and nested[1].startswith("     item")
