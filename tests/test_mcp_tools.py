"""Task Master's tools in tmxd's MCP server, called in process, against `tmxd … --format json`.

Every corpus file that parses: get_tasks is `tmxd list --format json` without `blocks`,
next_task names the task `tmxd next` names, get_task returns what `tmxd show` does, and
validate_dependencies carries `tmxd validate-dependencies --format json`. The writes are
checked on real files: one-line diffs, Task Master's note block, transitions with source
mcp. (The same tools over stdio, against Task Master's own server: test_mcp_server.py.)
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corpus_tools import corpus_stem, goldens
from helpers import CORPUS, copy_corpus, git, init_repo
from tmxd.cli import main
from tmxd.mcp.tools import (
    TASK_MASTER_TOOLS,
    Outcome,
    Tool,
    call,
    check_arguments,
    get_tasks_stats,
)
from tmxd.mcp.workspace import ToolError, Workspace
from tmxd.metrics.recorder import Recorder
from tmxd.taskmaster.document import js_string, subtask_full_id

TOOLS = {tool.name: tool for tool in TASK_MASTER_TOOLS}
COMPLEXITY_KEYS = {"complexity", "recommendedSubtasks", "expansionPrompt", "complexityReasoning"}
VALID = [
    pytest.param(corpus_stem(g), id=corpus_stem(g))
    for g in goldens()
    if ".invalid." not in g["file"]
]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with Recorder.open() as rec:
        yield rec


def corpus_project(root: Path, stem: str) -> Path:
    """A project as the golden harness built it (the complexity report under master's name)."""
    copy_corpus(stem, root)
    report = CORPUS / f"{stem}.complexity.json"
    if report.exists():
        target = root / ".taskmaster" / "reports" / "task-complexity-report.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(report, target)
    return root


def run(ws: Workspace, name: str, **args: Any) -> Outcome:
    return call(ws, TOOLS[name], args)


def data(ws: Workspace, name: str, **args: Any) -> Any:
    outcome = run(ws, name, **args)
    assert not outcome.is_error, outcome.text
    body = json.loads(outcome.text)
    assert body["version"] == {"version": body["version"]["version"], "name": "tmxd"}
    return body


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    main([*args, "--format", "json"])
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("stem", VALID)
def test_reads_match_the_cli_on_every_corpus_file(
    tmp_path: Path, stem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = corpus_project(tmp_path, stem)
    ws = Workspace(root)
    p = ("-p", str(root))

    listed = cli_json(capsys, "list", "--with-subtasks", *p)
    body = data(ws, "get_tasks", withSubtasks=True)
    want = [{k: v for k, v in t.items() if k != "blocks"} for t in listed["tasks"]]
    assert body["data"]["tasks"] == want
    assert body["data"]["filter"] == "all"
    assert body["tag"] == listed["metadata"]["tag"]
    assert body["data"]["stats"] == get_tasks_stats(want, listed["metadata"]["total"])
    assert data(ws, "get_tasks")["data"]["tasks"] == want  # subtasks unless told otherwise
    plain = data(ws, "get_tasks", withSubtasks=False)["data"]["tasks"]
    assert [t["id"] for t in plain] == [t["id"] for t in want]
    assert all(t["subtasks"] == [] for t in plain)

    upcoming = cli_json(capsys, "next", *p)["task"]
    found = data(ws, "next_task")["data"]
    if upcoming is None:
        assert found["nextTask"] is None and "No eligible next task" in found["message"]
    else:
        # a task is shown as stored (its id may be a number), a subtask as "P.S"
        assert js_string(found["nextTask"]["id"]) == upcoming["id"]
        assert found["isSubtask"] == (upcoming.get("parentId") is not None)

    ids = [t["id"] for t in want[:1]]
    ids += [subtask_full_id(t["id"], t["subtasks"][0]["id"]) for t in want if t["subtasks"]][:1]
    for task_id in ids:
        shown = cli_json(capsys, "show", task_id, *p)["task"]
        got = data(ws, "get_task", id=task_id)["data"]
        assert {k: got[k] for k in shown} == shown
        assert set(got) - set(shown) <= COMPLEXITY_KEYS
    if len(ids) > 1:
        many = data(ws, "get_task", id=",".join([*ids, "999999"]))["data"]
        assert [t["id"] for t in many] == [data(ws, "get_task", id=i)["data"]["id"] for i in ids]

    main(["validate-dependencies", "--format", "json", *p])
    checked = json.loads(capsys.readouterr().out)
    found = data(ws, "validate_dependencies")["data"]
    assert {k: found[k] for k in checked} == checked
    assert found["tasksPath"] == str(root / ".taskmaster" / "tasks" / "tasks.json")
    ok = "Dependencies validated successfully"
    assert (found["message"] == ok) == checked["valid"]


def task(tid: int, title: str, status: str, deps: list[int], **more: Any) -> dict[str, Any]:
    return {"id": tid, "title": title, "status": status, "dependencies": deps, **more}


# 1 done; 2 in progress with 2.1 done and 2.2 pending (after 2.1); 3 waits for 2.
TASKS = {
    "master": {
        "tasks": [
            task(1, "Scaffold", "done", [], priority="high", subtasks=[]),
            task(
                2,
                "Config loader",
                "in-progress",
                [1],
                priority="high",
                subtasks=[
                    task(1, "Parse", "done", []),
                    task(
                        2,
                        "Merge defaults",
                        "pending",
                        [1],
                        description="Defaults under user values",
                        details="Start from the schema.",
                    ),
                ],
            ),
            task(3, "Graph 図", "pending", [2], priority="medium", subtasks=[]),
        ],
        "metadata": {"created": "2026-11-01T00:00:00.000Z"},
    }
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    path = root / ".taskmaster" / "tasks" / "tasks.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(TASKS, indent=2, ensure_ascii=False), encoding="utf-8")
    init_repo(root)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "tasks")
    return root


def tasks_of(root: Path) -> dict[str, Any]:
    text = (root / ".taskmaster" / "tasks" / "tasks.json").read_text(encoding="utf-8")
    return json.loads(text)["master"]["tasks"]  # type: ignore[no-any-return]


def transitions(recorder: Recorder, root: Path) -> set[tuple[str, str | None, str, str]]:
    rows = recorder.db.execute(
        "SELECT task_id, old_status, new_status, source FROM transitions "
        "WHERE project_id = (SELECT id FROM projects WHERE root = ?) AND source != 'baseline'",
        [str(root.resolve())],
    ).fetchall()
    return {tuple(r) for r in rows}


def test_set_task_status_cascades_records_mcp_and_changes_one_line_each(
    project: Path, recorder: Recorder, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(project, twin)
    ws = Workspace(project, recorder=lambda: recorder)
    body = data(ws, "set_task_status", id="2.2", status="done")
    cli = cli_json(capsys, "set-status", "--id", "2.2", "--status", "done", "-p", str(twin))
    assert body["data"] == {
        "message": 'Successfully updated 1 task(s) to "done"',
        "tasks": [
            {"success": True, "oldStatus": u["oldStatus"], "newStatus": u["newStatus"],
             "taskId": u["taskId"]}
            for u in cli["updatedTasks"]
        ],
    }  # fmt: skip
    assert body["tag"] == "master"
    tasks = tasks_of(project)
    assert tasks[1]["status"] == "done"  # the parent follows its last subtask
    assert tasks[1]["subtasks"][1]["status"] == "done"
    diff = git(project, "diff", "--numstat")
    assert diff.split()[:2] == ["2", "2"]  # the subtask's line and the parent's, nothing else
    assert transitions(recorder, project) == {
        ("2.2", "pending", "done", "mcp"),
        ("2", "in-progress", "done", "mcp"),
    }


def test_set_task_status_errors_leave_the_file_alone(project: Path, recorder: Recorder) -> None:
    ws = Workspace(project, recorder=lambda: recorder)
    before = (project / ".taskmaster/tasks/tasks.json").read_bytes()
    failed = run(ws, "set_task_status", id="2.2,99", status="done")
    assert failed.is_error
    assert failed.text.splitlines()[0].startswith("Error: Failed to set task status: task 99")
    assert failed.text.splitlines()[1:3] == ["Version: 0.1.0", "Name: tmxd"]
    bad = run(ws, "set_task_status", id="2.2", status="completed")
    assert bad.is_error and "status must be one of: pending, in-progress" in bad.text
    assert (project / ".taskmaster/tasks/tasks.json").read_bytes() == before
    assert transitions(recorder, project) == set()


def test_update_subtask_appends_task_masters_block_and_nothing_else(
    project: Path, recorder: Recorder
) -> None:
    ws = Workspace(project, recorder=lambda: recorder)
    body = data(ws, "update_subtask", id="2.2", prompt="  Merged with dict union.  ")
    sub = tasks_of(project)[1]["subtasks"][1]
    head, block = sub["details"].split("\n", 1)
    assert head == "Start from the schema."
    opening, text, closing = block.split("\n")
    assert opening.startswith("<info added on ") and opening.endswith("Z>")
    assert closing == "</" + opening[1:]
    assert text == "Merged with dict union."
    assert sub["description"] == "Defaults under user values"  # Task Master appends a date here
    assert body["data"]["subtask"] == sub
    assert body["data"]["subtaskId"] == "2.2" and body["data"]["parentId"] == "2"
    assert body["data"]["useResearch"] is False
    assert git(project, "diff", "--numstat").split()[:2] == ["1", "1"]
    assert transitions(recorder, project) == set()  # a note is no status change
    empty = run(ws, "update_subtask", id="2.2", prompt="   ")
    assert empty.is_error and "Either prompt or metadata" in empty.text
    meta = run(ws, "update_subtask", id="2.2", metadata='{"a": 1}')
    assert meta.is_error and "metadata updates are not supported" in meta.text
    missing = run(ws, "update_subtask", id="2.9", prompt="x")
    assert missing.is_error and "task 2.9 not found" in missing.text


def test_get_task_filters_subtasks_and_names_what_is_missing(project: Path) -> None:
    ws = Workspace(project)
    got = data(ws, "get_task", id="2", status="done")["data"]
    assert [s["id"] for s in got["subtasks"]] == [1]
    assert data(ws, "get_task", id=2)["data"]["title"] == "Config loader"  # a number is read
    missing = run(ws, "get_task", id="8,9")
    assert missing.is_error
    assert missing.text.splitlines()[0] == "Error: No tasks found for ID(s): 8,9"
    assert missing.text.splitlines()[-1] == "Current Tag: master"


def test_get_tasks_status_filter_and_stats(project: Path) -> None:
    ws = Workspace(project)
    body = data(ws, "get_tasks", status="pending,done", withSubtasks=True)["data"]
    assert [t["id"] for t in body["tasks"]] == ["1", "3"]
    assert body["filter"] == "pending,done"
    assert body["stats"]["total"] == 3
    assert body["stats"]["completed"] == 1 and body["stats"]["pending"] == 1
    assert body["stats"]["completionPercentage"] == pytest.approx(100 / 3)
    nothing = data(ws, "get_tasks", status="bogus")["data"]
    assert nothing["tasks"] == [] and nothing["stats"]["completionPercentage"] == 0


def test_next_task_shapes_for_a_subtask_and_a_task(project: Path, recorder: Recorder) -> None:
    ws = Workspace(project, recorder=lambda: recorder)
    sub = data(ws, "next_task")["data"]
    assert sub["nextTask"] == {
        "id": "2.2",
        "title": "Merge defaults",
        "status": "pending",
        "priority": "high",
        "dependencies": ["2.1"],
        "parentId": 2,
    }
    assert sub["isSubtask"] is True and "set_task_status" in sub["nextSteps"]
    data(ws, "set_task_status", id="2", status="done")
    task = data(ws, "next_task")["data"]
    assert task["isSubtask"] is False
    assert task["nextTask"] == tasks_of(project)[2]  # the stored task as it is


def test_bad_input_is_one_error_line_never_a_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    path = broken / ".taskmaster" / "tasks" / "tasks.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"master": {"tasks": [}', encoding="utf-8")
    ws = Workspace(broken)
    for name in ("get_tasks", "next_task", "validate_dependencies"):
        outcome = run(ws, name)
        assert outcome.is_error
        first = outcome.text.splitlines()[0]
        assert first.startswith("Error: ") and "line 1 column" in first
    nowhere = run(Workspace(tmp_path / "nothing-here"), "next_task")
    assert nowhere.is_error and "project folder" in nowhere.text
    assert path.read_text(encoding="utf-8") == '{"master": {"tasks": [}'


def test_arguments_are_checked_against_the_schema() -> None:
    tool: Tool = TOOLS["set_task_status"]
    assert check_arguments(tool, {"id": 5, "status": "done", "extra": 1}) == {
        "id": "5",
        "status": "done",
    }
    for args, message in (
        ({"status": "done"}, r"missing required argument\(s\): id"),
        ({"id": "", "status": "done"}, "id must not be empty"),
        ({"id": ["1"], "status": "done"}, "id must be a string"),
    ):
        with pytest.raises(ToolError, match=message):
            check_arguments(tool, args)
    with pytest.raises(ToolError, match="withSubtasks must be true or false"):
        check_arguments(TOOLS["get_tasks"], {"withSubtasks": "yes"})


def test_tool_definitions_keep_task_masters_names_and_arguments() -> None:
    """Task Master 0.43.1's schemas (dist/mcp-server.js), by tool: arguments and required."""
    task_master = {
        "get_tasks": ({"projectRoot", "status", "withSubtasks", "tag"}, {"projectRoot"}),
        "next_task": ({"file", "complexityReport", "projectRoot", "tag"}, {"projectRoot"}),
        "get_task": ({"id", "status", "projectRoot", "tag"}, {"id", "projectRoot"}),
        "set_task_status": (
            {"id", "status", "projectRoot", "tag"},
            {"id", "status", "projectRoot"},
        ),
        "update_subtask": (
            {"id", "prompt", "research", "metadata", "file", "projectRoot", "tag"},
            {"id", "projectRoot"},
        ),
        "validate_dependencies": ({"file", "projectRoot", "tag"}, {"projectRoot"}),
    }
    assert list(TOOLS) == list(task_master)
    for name, (arguments, required) in task_master.items():
        schema = TOOLS[name].input_schema()
        assert set(schema["properties"]) == arguments
        # projectRoot is optional here: the server knows its project
        assert set(schema["required"]) == required - {"projectRoot"}
        assert schema["type"] == "object"


def test_project_errors_tell_the_model_about_projectroot_not_the_cli_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model calling a tool names its project with projectRoot; `-p/--project` is the
    CLI's (mentioned only for a server started with `tmxd mcp -p` and a call without
    projectRoot)."""
    good = copy_corpus("001", tmp_path / "good").parent.parent.parent.resolve()
    bare = tmp_path / "bare"
    bare.mkdir()
    other = tmp_path / "other.json"
    other.write_text('{"name": "not tasks"}')
    monkeypatch.chdir(bare)
    plain = Workspace(env={})
    assert not run(plain, "get_tasks", projectRoot=str(good)).is_error  # control
    for ws, args, reason in [
        (plain, {"projectRoot": str(tmp_path / "missing")}, "does not exist"),
        (plain, {"projectRoot": str(bare)}, "not a Task Master project"),
        (plain, {}, "not a Task Master project"),  # the folder the server runs in
        (plain, {"file": str(other)}, "not a Task Master project"),
        (Workspace(bare, env={}), {"projectRoot": str(bare)}, "not a Task Master project"),
    ]:
        outcome = run(ws, "get_tasks", **args)
        assert outcome.is_error and reason in outcome.text, outcome.text
        assert "projectRoot" in outcome.text
        assert "--project" not in outcome.text and "mcp -p" not in outcome.text, outcome.text
    served = run(Workspace(bare, env={}), "next_task")
    assert served.is_error
    assert "the projectRoot argument" in served.text
    assert f"this server uses {bare}, from its `tmxd mcp -p`" in served.text


def test_the_cli_still_names_its_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The control: the same error on the command line names -p/--project."""
    assert main(["list", "-p", str(tmp_path / "missing")]) == 2
    assert "check -p/--project" in capsys.readouterr().err


def test_a_non_task_master_file_names_projectroot(tmp_path: Path) -> None:
    """The document's own hint (`point -p/--project at …`) reaches the model as projectRoot."""
    root = tmp_path / "p"
    tasks = root / ".taskmaster" / "tasks" / "tasks.json"
    tasks.parent.mkdir(parents=True)
    tasks.write_text('{"notes": {"a": 1}}')
    outcome = run(Workspace(env={}), "get_tasks", projectRoot=str(root))
    assert outcome.is_error, outcome.text
    assert "point the projectRoot argument at a Task Master project" in outcome.text
