"""Which project an MCP call works on, and the parsed files kept while they are unchanged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import copy_corpus
from tmxd.errors import InputError
from tmxd.mcp.workspace import Workspace, require_text
from tmxd.taskmaster.ops import set_status
from tmxd.taskmaster.store import TaskStore


def make(root: Path, stem: str = "001") -> Path:
    copy_corpus(stem, root)
    return root.resolve()


def test_project_root_argument_then_the_servers_own(tmp_path: Path) -> None:
    one, two = make(tmp_path / "one"), make(tmp_path / "two", "005")
    ws = Workspace(one, env={})
    assert ws.project(None).root == one
    assert ws.project(str(two)).root == two
    assert ws.project(f"file://{two}").root == two
    assert ws.project(str(two / ".taskmaster" / "tasks" / "tasks.json")).root == two
    with pytest.raises(InputError, match="does not exist"):
        Workspace(tmp_path / "missing", env={}).project(None)


def test_without_p_the_environment_then_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = make(tmp_path / "one"), make(tmp_path / "two", "005")
    env = {"TASK_MASTER_PROJECT_ROOT": str(one), "CLAUDE_PROJECT_DIR": str(two)}
    assert Workspace(env=env).project(None).root == one
    assert Workspace(env={**env, "TMXD_PROJECT_ROOT": str(two)}).project(None).root == two
    assert Workspace(env={"CLAUDE_PROJECT_DIR": str(two)}).project(None).root == two
    below = two / "src" / "deep"
    below.mkdir(parents=True)
    monkeypatch.chdir(below)
    assert Workspace(env={}).project(None).root == two  # searched upwards, as Task Master does


def test_parsed_file_is_kept_until_its_stat_changes(tmp_path: Path) -> None:
    root = make(tmp_path / "p")
    ws = Workspace(root, env={})
    project = ws.project(None)
    first = ws.tasks(project)
    assert ws.tasks(project) is first
    tag = project.active_tag(None, first.tag_names())
    task_id = first.tasks(tag)[0].id
    set_status(TaskStore(project), [task_id], "review", tag=tag)  # atomic replace: new inode
    second = ws.tasks(project)
    assert second is not first and second.find(task_id, tag).status == "review"  # type: ignore[union-attr]
    # an editor writing in place: same inode, new mtime
    path = project.tasks_path
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert ws.tasks(project) is not second


def test_open_uses_the_given_tag_or_the_active_one(tmp_path: Path) -> None:
    root = make(tmp_path / "p", "133")  # tagged, state.json names "loop"
    ws = Workspace(root, env={})
    project = ws.project(None)
    assert ws.open(project, None).tag == "loop"
    other = next(t for t in ws.tasks(project).tag_names() if t != "loop")
    assert ws.open(project, other).tag == other
    with pytest.raises(InputError, match="tag 'nope'"):
        ws.open(project, "nope")


def test_complexity_report_is_read_once_per_version(tmp_path: Path) -> None:
    root = make(tmp_path / "p")
    report = root / ".taskmaster" / "reports" / "task-complexity-report.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps({"complexityAnalysis": [{"taskId": 1, "complexityScore": 4}]}))
    ws = Workspace(root, env={})
    project = ws.project(None)
    first = ws.complexity(project, "master")
    assert first["1"]["complexityScore"] == 4
    assert ws.complexity(project, "master") is first
    assert ws.complexity(project, "other") == {}


def test_require_text() -> None:
    assert require_text({"id": " 5 "}, "id") == "5"
    with pytest.raises(InputError, match="id is required"):
        require_text({"id": "  "}, "id")


def test_an_autopilot_agent_naming_its_worktree_means_the_project(tmp_path: Path) -> None:
    root, worktree = make(tmp_path / "p"), make(tmp_path / "wt-task-3")  # a checked-out copy
    agent = {"TMXD_PROJECT_ROOT": str(root), "CLAUDE_PROJECT_DIR": str(worktree)}
    ws = Workspace(root, env=agent)
    assert ws.project(str(worktree)).root == root
    assert ws.project(f"file://{worktree}").root == root
    other = make(tmp_path / "other", "005")
    assert ws.project(str(other)).root == other  # any other folder is taken as named
    assert (
        Workspace(root, env={"CLAUDE_PROJECT_DIR": str(worktree)}).project(str(worktree)).root
        == worktree
    )  # without the autopilot's variable, as named


def test_what_is_worked_out_from_a_file_lasts_as_long_as_that_version(tmp_path: Path) -> None:
    root = make(tmp_path / "p", "133")  # tagged; state.json names "loop"
    ws = Workspace(root, env={})
    project = ws.project(None)
    doc = ws.tasks(project)
    calls: list[int] = []
    assert ws.derived(doc, "k", lambda: calls.append(1) or 42) == 42
    assert ws.derived(doc, "k", lambda: calls.append(1) or 43) == 42
    assert calls == [1]
    assert ws.tag_of(project, doc, None) == "loop"
    state = root / ".taskmaster" / "state.json"
    other = next(t for t in doc.tag_names() if t != "loop")
    data = json.loads(state.read_text(encoding="utf-8"))
    state.write_text(json.dumps({**data, "currentTag": other}), encoding="utf-8")
    assert ws.tag_of(project, doc, None) == other  # state.json changed: asked again
    set_status(TaskStore(project), [doc.tasks(other)[0].id], "review", tag=other)
    fresh = ws.tasks(project)
    assert fresh is not doc
    assert ws.derived(fresh, "k", lambda: 44) == 44  # a new version starts afresh
