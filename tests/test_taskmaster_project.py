from __future__ import annotations

import json
from pathlib import Path

import pytest

from tmxd.errors import InputError
from tmxd.taskmaster.project import find_project


def _make(root: Path, data: object, *, legacy: bool = False) -> Path:
    path = root / ("tasks" if legacy else ".taskmaster/tasks") / "tasks.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data))
    return path


def test_finds_taskmaster_layout_walking_up(tmp_path: Path) -> None:
    tasks = _make(tmp_path, {"master": {"tasks": []}})
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    project = find_project(cwd=deep)
    assert project.root == tmp_path.resolve()
    assert project.tasks_path == tasks.resolve()
    assert project.complexity_report_path("master").name == "task-complexity-report.json"
    assert project.complexity_report_path("feat").name == "task-complexity-report_feat.json"


def test_finds_legacy_layout(tmp_path: Path) -> None:
    _make(tmp_path, {"tasks": []}, legacy=True)
    project = find_project(tmp_path)
    assert project.legacy
    assert project.taskmaster_dir is None


def test_not_a_project(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"not a Task Master project.*task-master init") as info:
        find_project(tmp_path)
    assert info.value.exit_code == 2
    with pytest.raises(InputError, match="does not exist"):
        find_project(tmp_path / "nope")


def test_active_tag_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make(tmp_path, {"alpha": {"tasks": []}, "feat": {"tasks": []}})
    project = find_project(tmp_path)
    assert project.active_tag() == "alpha"  # no master: the first tag
    (tmp_path / ".taskmaster" / "state.json").write_text('{"currentTag": "feat"}')
    assert project.active_tag() == "feat"
    monkeypatch.setenv("TASKMASTER_TAG", "alpha")
    assert project.active_tag() == "alpha"
    assert project.active_tag("feat") == "feat"
    with pytest.raises(InputError, match=r"tag 'nope'.*tags: alpha, feat"):
        project.active_tag("nope")


def test_stale_current_tag_falls_back_to_master(tmp_path: Path) -> None:
    _make(tmp_path, {"master": {"tasks": []}})
    (tmp_path / ".taskmaster" / "state.json").write_text('{"currentTag": "gone"}')
    assert find_project(tmp_path).active_tag() == "master"


def test_tag_list_follows_file_changes(tmp_path: Path) -> None:
    path = _make(tmp_path, {"alpha": {"tasks": []}})
    project = find_project(tmp_path)
    assert project.active_tag() == "alpha"
    path.write_text(json.dumps({"beta": {"tasks": []}, "gamma": {"tasks": []}}))
    assert project.active_tag() == "beta"
