"""The task commands end to end: real files, the real CLI entry point, exit codes."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from helpers import CORPUS, copy_corpus, git, init_repo, oracle_missing, run_oracle, run_tmxd
from tmxd.cli import main

TASKS = {
    "master": {
        "tasks": [
            {
                "id": 1,
                "title": "Scaffold",
                "description": "Repo layout",
                "status": "done",
                "priority": "high",
                "dependencies": [],
                "subtasks": [],
            },
            {
                "id": 2,
                "title": "Config loader",
                "description": "Load config",
                "status": "in-progress",
                "priority": "high",
                "dependencies": [1],
                "subtasks": [
                    {"id": 1, "title": "Parse", "status": "done", "dependencies": []},
                    {"id": 2, "title": "Merge defaults", "status": "pending", "dependencies": [1]},
                ],
            },
            {
                "id": 3,
                "title": "Graph 図",
                "description": "Cycle check",
                "status": "pending",
                "priority": "medium",
                "dependencies": [2, 9],
                "subtasks": [],
            },
        ]
    }
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / ".taskmaster" / "tasks" / "tasks.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(TASKS, indent=2, ensure_ascii=False), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def tasks_json(project: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((project / ".taskmaster/tasks/tasks.json").read_text(encoding="utf-8"))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_text_and_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--with-subtasks")
    assert code == 0
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("ID"))
    assert header.split() == ["ID", "Title", "Status", "Priority", "Dependencies"]
    row = next(line for line in lines if line.lstrip().startswith("2.2"))
    assert "○ pending" in row and row.index("○") == header.index("Status")
    assert "Next:     2.2" in out
    code, out, _ = run(capsys, "list", "--format", "json", "--status", "pending")
    data = json.loads(out)
    assert [t["id"] for t in data["tasks"]] == ["3"]
    code, _, err = run(capsys, "list", "--status", "pendng")
    assert code == 2 and "unknown status pendng" in err
    assert data["metadata"] == {
        "total": 3,
        "filtered": 1,
        "tag": "master",
        "storageType": "file",
        "allTags": False,
    }


def test_next_json_shape(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "next", "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert list(data) == ["task", "found", "tag", "storageType", "hasAnyTasks"]
    assert data["task"]["id"] == "2.2" and data["task"]["parentId"] == "2"
    assert data["task"]["priority"] == "high"


def test_next_says_how_to_start_and_finish_it_in_the_same_tag_and_project(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tasks_json(project)
    doc["feature x"] = {"tasks": [{**doc["master"]["tasks"][2], "id": 1, "dependencies": []}]}
    (project / ".taskmaster/tasks/tasks.json").write_text(json.dumps(doc), encoding="utf-8")
    code, out, _ = run(capsys, "next")
    assert code == 0
    assert out.splitlines()[-1] == "Finish it: tmxd set-status 2.2 done"
    assert "Start it: tmxd set-status 2.2 in-progress\n" in out
    code, out, _ = run(capsys, "next", "--tag", "feature x", "-p", str(project))
    assert code == 0
    where = f"--tag 'feature x' -p {project}"
    start = f"Start it: tmxd set-status 1 in-progress {where}"
    assert start in out.splitlines()
    code, _, _ = run(capsys, *shlex.split(start.removeprefix("Start it: tmxd ")))
    assert code == 0
    after = tasks_json(project)
    assert after["feature x"]["tasks"][0]["status"] == "in-progress"
    assert after["master"]["tasks"][0]["status"] == "done"  # master's task 1 untouched


def test_show_found_and_missing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", "2.2", "--format", "json")
    assert code == 0
    assert json.loads(out)["originalTaskId"] == "2.2"
    code, out, _ = run(capsys, "show", "2")
    assert "Subtasks:" in out and "Merge defaults" in out
    code, out, err = run(capsys, "show", "1,42", "--format", "json")
    assert code == 2
    assert json.loads(out)["notFound"] == ["42"]
    assert "error: task 42 not found in tag 'master'" in err


def test_set_status_positional_and_cascade(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init_repo(project)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "tasks")
    code, out, _ = run(capsys, "set-status", "2.2", "done")
    assert code == 0
    assert "2.2: pending → done" in out and "parent 2: in-progress → done" in out
    diff = git(project, "diff", "--numstat").split()
    assert diff[:2] == ["2", "2"]
    code, out, _ = run(
        capsys, "set-status", "--id", "3,1", "--status", "review", "--format", "json"
    )
    assert json.loads(out)["updatedTasks"] == [
        {"taskId": "3", "oldStatus": "pending", "newStatus": "review"},
        {"taskId": "1", "oldStatus": "done", "newStatus": "review"},
    ]


def test_set_status_errors_exit_2_and_leave_file(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (project / ".taskmaster/tasks/tasks.json").read_bytes()
    code, _, err = run(capsys, "set-status", "--id", "7", "--status", "done")
    assert code == 2 and "task 7 not found in tag 'master'" in err
    code, _, err = run(capsys, "set-status", "1", "completed")
    assert code == 2 and "valid statuses: pending, in-progress, done" in err
    forms = "`tmxd set-status ID STATUS` or `tmxd set-status --id ID --status STATUS`"
    code, _, err = run(capsys, "set-status", "1")
    assert code == 2 and f"Error: missing a STATUS: {forms}" in err
    code, _, err = run(capsys, "set-status", "--status", "done")
    assert code == 2 and f"Error: missing an ID: {forms}" in err
    code, _, err = run(capsys, "set-status")
    assert code == 2 and f"Error: missing an ID and a STATUS: {forms}" in err
    code, _, err = run(capsys, "set-status", "1", "done", "3")  # both given, and one more
    assert code == 2
    assert "Error: extra argument '3': set-status takes one ID and one STATUS" in err
    assert "comma list: 5,6.1" in err and forms in err and "missing" not in err
    code, _, err = run(capsys, "set-status", "--id", "1", "review", "done")
    assert code == 2 and "Error: extra argument 'done'" in err
    code, _, err = run(capsys, "set-status", "1", "done", "3", "4")
    assert code == 2 and "Error: extra arguments '3' '4'" in err
    assert (project / ".taskmaster/tasks/tasks.json").read_bytes() == before


def test_update_subtask_appends_block(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "update-subtask", "--id", "2.2", "--prompt", "Merged with dict union"
    )
    assert code == 0 and "2.2: note added" in out
    details = tasks_json(project)["master"]["tasks"][1]["subtasks"][1]["details"]
    assert details.startswith("<info added on ")
    assert "\nMerged with dict union\n</info added on " in details


def test_update_subtask_refuses_a_top_level_id(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (project / ".taskmaster/tasks/tasks.json").read_bytes()
    code, out, err = run(capsys, "update-subtask", "--id", "2", "--prompt", "a note")
    assert code == 2 and out == ""
    assert err.startswith("error: invalid subtask id '2': update-subtask takes ")
    assert '"parentId.subtaskId"' in err and "nothing was written" in err
    assert (project / ".taskmaster/tasks/tasks.json").read_bytes() == before


@pytest.mark.slow
@pytest.mark.skipif(oracle_missing() is not None, reason=str(oracle_missing()))
def test_task_master_refuses_a_top_level_id_too(tmp_path: Path) -> None:
    root = tmp_path / "tm"
    tasks = copy_corpus("001", root)
    (root / ".taskmaster" / "state.json").write_text(
        '{"currentTag": "master", "migrationNoticeShown": true}'
    )
    before = tasks.read_bytes()
    top = str(json.loads(before)["master"]["tasks"][0]["id"])
    done = run_oracle("update-subtask", f"--id={top}", "--prompt=a note", cwd=root)
    assert f"Invalid subtask ID format: {top}." in done.stdout + done.stderr
    assert "parentId.subtaskId" in done.stdout + done.stderr
    assert tasks.read_bytes() == before  # (the CLI exits 0 all the same; tmxd exits 2)
    ours = run_tmxd("update-subtask", "--id", top, "--prompt", "a note", cwd=root)
    assert ours.returncode == 2 and "parentId.subtaskId" in ours.stderr
    assert tasks.read_bytes() == before


def test_validate_dependencies(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate-dependencies")
    assert code == 1
    assert "MISSING" in out and "Task 3 depends on non-existent task 9" in out
    code, out, _ = run(capsys, "validate-dependencies", "--format", "json")
    data = json.loads(out)
    assert data["valid"] is False
    assert data["issues"] == [
        {
            "type": "missing",
            "taskId": "3",
            "message": "Task 3 depends on non-existent task 9",
            "dependencyId": "9",
        }
    ]


def test_invalid_json_exit_2_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / ".taskmaster" / "tasks" / "tasks.json"
    path.parent.mkdir(parents=True)
    path.write_text('{\n  "master": {\n    "tasks": [,]\n  }\n}')
    for args in (("list",), ("next",), ("set-status", "1", "done")):
        proc = run_tmxd(*args, cwd=tmp_path)
        assert proc.returncode == 2
        assert proc.stderr.startswith("error: .taskmaster/tasks/tasks.json: line 3 column 15:"), (
            proc.stderr
        )
        assert "Traceback" not in proc.stderr
    assert path.read_text() == '{\n  "master": {\n    "tasks": [,]\n  }\n}'


def test_not_a_project(tmp_path: Path) -> None:
    proc = run_tmxd("next", cwd=tmp_path)
    assert proc.returncode == 2
    assert "not a Task Master project" in proc.stderr and "task-master init" in proc.stderr


def test_project_option_and_legacy_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_corpus("072", tmp_path, layout="tasks")
    code, out, _ = run(capsys, "-h")
    code, out, _ = run(capsys, "next", "-p", str(tmp_path), "--format", "json")
    assert code == 0
    assert json.loads(out)["hasAnyTasks"] is True


def test_other_tag(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tasks_json(project)
    data["feat"] = {"tasks": [{"id": 1, "title": "F", "status": "pending", "dependencies": []}]}
    (project / ".taskmaster/tasks/tasks.json").write_text(json.dumps(data, indent=2))
    code, out, _ = run(capsys, "next", "--tag", "feat", "--format", "json")
    assert json.loads(out)["task"]["title"] == "F"
    code, _, err = run(capsys, "next", "--tag", "nope")
    assert code == 2 and "tag 'nope'" in err


CORPUS_NAMES = sorted(
    p.name[: -len(".json")]
    for p in CORPUS.glob("[0-9]*.json")
    if p.name.count(".") == 1 or ".invalid." in p.name
)


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_every_corpus_file_gets_an_answer_never_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = copy_corpus(name, tmp_path)
    original = path.read_bytes()
    monkeypatch.chdir(tmp_path)
    invalid = ".invalid" in name
    for args in (
        ("list", "--with-subtasks"),
        ("list", "--format", "json"),
        ("next",),
        ("next", "--format", "json"),
        ("validate-dependencies",),
        ("show", "1"),
    ):
        code, out, err = run(capsys, *args)
        if invalid:
            # where the JSON breaks; an empty file (134) is named as such, with no place
            where = r"the file is empty;" if not original.strip() else r"line \d+ column \d+"
            assert code == 2 and re.search(where, err), (args, err)
        else:
            assert code in (0, 1, 2), (args, code, err)
            assert code == 2 or out, args
            if args[-1] == "json":
                json.loads(out)
    assert path.read_bytes() == original


@pytest.mark.parametrize("folder", [True, False], ids=["tasks-folder", "no-tasks-folder"])
def test_set_status_without_a_tasks_file_says_only_that(tmp_path: Path, folder: bool) -> None:
    """No file to change: the message is the read's own, without "(the file was not
    changed)", and the same input error (exit 2) whether or not tasks/ exists."""
    (tmp_path / ".taskmaster" / ("tasks" if folder else "")).mkdir(parents=True)
    out = run_tmxd("set-status", "1", "done", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr == (
        "error: .taskmaster/tasks/tasks.json does not exist; create tasks with Task Master "
        "(`task-master init`, then `task-master parse-prd` or `task-master add-task`)\n"
    )
    assert not (tmp_path / ".taskmaster" / "tasks" / "tasks.json").exists()


def test_invalid_json_says_unchanged_only_when_a_write_was_asked(tmp_path: Path) -> None:
    path = tmp_path / ".taskmaster" / "tasks" / "tasks.json"
    path.parent.mkdir(parents=True)
    path.write_text('{\n  "master": {\n    "tasks": [,]\n  }\n}')
    read = run_tmxd("list", cwd=tmp_path)
    assert read.returncode == 2
    assert read.stderr.strip().endswith("fix the JSON and retry")
    assert "not changed" not in read.stderr
    write = run_tmxd("set-status", "1", "done", cwd=tmp_path)
    assert write.returncode == 2
    assert write.stderr.strip().endswith("fix the JSON and retry (the file was not changed)")


def test_writes_name_their_tag_when_it_is_not_obvious(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """set-status and update-subtask start with list's `tag: X · path` header when the file
    has several tags or --tag was given; one tag and no --tag prints what it always did, and
    --format json never gets a header."""
    path = project / ".taskmaster" / "tasks" / "tasks.json"
    header = "tag: {} · .taskmaster/tasks/tasks.json"
    # control: one tag, no --tag
    code, out, _ = run(capsys, "set-status", "2.2", "review")
    assert code == 0 and out.splitlines()[0] == "2.2: pending → review"
    code, out, _ = run(capsys, "update-subtask", "--id", "2.2", "--prompt", "one")
    assert code == 0 and out.startswith("2.2: note added (")
    code, out, _ = run(capsys, "set-status", "2.2", "pending", "--tag", "master")
    assert code == 0 and out.splitlines()[:2] == [header.format("master"), "2.2: review → pending"]
    # a second tag: each write says which one it changed
    data = json.loads(path.read_text(encoding="utf-8"))
    data["feature"] = {"tasks": [dict(TASKS["master"]["tasks"][1], status="pending")]}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    code, out, _ = run(capsys, "set-status", "2.2", "done")
    assert code == 0 and out.splitlines()[:2] == [header.format("master"), "2.2: pending → done"]
    code, out, _ = run(capsys, "set-status", "2.1", "done", "--tag", "feature")
    assert code == 0
    assert out.splitlines()[:2] == [
        header.format("feature"),
        "2.1: already done (nothing to change)",
    ]
    code, out, _ = run(
        capsys, "update-subtask", "--id", "2.2", "--prompt", "two", "--tag", "feature"
    )
    assert code == 0 and out.splitlines()[0] == header.format("feature")
    assert out.splitlines()[1].startswith("2.2: note added (")
    code, out, _ = run(
        capsys, "set-status", "2.2", "review", "--tag", "feature", "--format", "json"
    )
    assert code == 0 and json.loads(out)["updatedTasks"][0]["taskId"] == "2.2"
    code, out, _ = run(
        capsys, "update-subtask", "--id", "2.2", "--prompt", "x", "--tag", "feature", "--format",
        "json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["taskId"] == "2.2"
