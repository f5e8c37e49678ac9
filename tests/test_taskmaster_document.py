from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import CORPUS
from tmxd.errors import InputError
from tmxd.taskmaster.document import display_path, js_string, parse_tasks

P = Path("tasks.json")


def doc(data: object):  # type: ignore[no-untyped-def]
    return parse_tasks(json.dumps(data, indent=2), P)


def test_js_string() -> None:
    assert js_string(5) == "5"
    assert js_string(5.0) == "5"
    assert js_string(29.1) == "29.1"
    assert js_string(None) == "null"
    assert js_string("task_004") == "task_004"
    assert js_string(True) == "true"


def test_layouts_and_tags() -> None:
    tagged = doc({"version": "1", "feat": {"tasks": []}, "master": {"tasks": [], "metadata": {}}})
    assert tagged.layout == "tagged"
    assert tagged.tag_names() == ["feat", "master"]
    assert doc({"tasks": [], "metadata": {}}).tag_names() == ["master"]
    assert doc([]).tag_names() == ["master"]
    listed = doc({"master": [{"id": 1, "dependencies": []}]})
    assert listed.tag_names() == ["master"]
    assert [t.id for t in listed.tasks("master")] == ["1"]
    assert doc({}).tag_names() == []


def test_views_normalise_ids_and_deps() -> None:
    d = doc(
        {
            "master": {
                "tasks": [
                    {
                        "id": 5,
                        "title": "T",
                        "status": "in-progress",
                        "priority": "high",
                        "dependencies": [3, "4"],
                        "details": ["a", "b"],
                        "subtasks": [
                            {"id": 1, "title": "s1", "dependencies": []},
                            {"id": 2, "status": "done", "dependencies": [1, "7.1"]},
                            {"id": "5.3", "priority": "low"},
                        ],
                    }
                ]
            }
        }
    )
    task = d.tasks("master")[0]
    assert task.id == "5"
    assert task.dependencies == ["3", "4"]
    assert task.details == "a\nb"
    assert [s.id for s in task.subtasks] == ["5.1", "5.2", "5.3"]
    assert task.subtasks[0].status == "pending"
    assert task.subtasks[0].priority == "high"
    assert task.subtasks[1].dependencies == ["5.1", "7.1"]
    assert task.subtasks[2].priority == "low"
    assert task.subtasks[2].local_id == "5.3"
    found = d.find("5.2", "master")
    assert found is not None and found.status == "done" and found.parent_id == "5"
    assert d.find("9", "master") is None
    located = d.locate("5.2", "master")
    assert located is not None and located[0] is not None and located[0]["id"] == 5
    assert located[1] is d.task_dicts("master")[0]["subtasks"][1]
    assert d.status_map("master") == {
        "5": "in-progress",
        "5.1": "pending",
        "5.2": "done",
        "5.3": "pending",
    }


def test_invalid_json_names_line_and_column() -> None:
    with pytest.raises(InputError, match=r"tasks.json: line 2 column 3: .*; fix the JSON and re"):
        parse_tasks("{\n  x\n}", P)
    for blank in ("", "\n", " \r\n\t\n", "\ufeff\n"):  # whitespace only: no line, no column
        with pytest.raises(InputError) as caught:
            parse_tasks(blank, P)
        assert caught.value.message.startswith(f"{display_path(P)}: the file is empty; restore it")
        assert "line" not in caught.value.message and "column" not in caught.value.message
    with pytest.raises(InputError, match="comments are not allowed"):
        parse_tasks('{\n  // hi\n  "tasks": []\n}', P)


@pytest.mark.parametrize("name", sorted(p.name for p in (CORPUS / "near_miss").glob("*.json")))
def test_other_tools_files_are_refused(name: str) -> None:
    path = CORPUS / "near_miss" / name
    with pytest.raises(InputError, match="not a Task Master tasks file"):
        parse_tasks(path.read_text(encoding="utf-8"), path)


def test_no_edit_renders_identically() -> None:
    text = '{"tasks": [ {"id": 1, "dependencies": [2,3]} ]}\n'
    assert parse_tasks(text, P).render() == text


def test_a_path_is_shown_relative_to_the_current_folder_except_at_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / ".taskmaster" / "tasks" / "tasks.json"
    monkeypatch.chdir(tmp_path)
    assert display_path(path) == ".taskmaster/tasks/tasks.json"
    monkeypatch.chdir("/")  # where a daemon runs: a full path, never "tmp/..."
    assert display_path(path) == str(path.resolve())
