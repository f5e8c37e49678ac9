from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tmxd.daemon import registry
from tmxd.errors import InputError


def _project(path: Path, layout: str = ".taskmaster") -> Path:
    tasks = path / layout / "tasks" if layout == ".taskmaster" else path / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "tasks.json").write_text('{"master": {"tasks": []}}')
    return path


def test_add_list_remove(tmp_path: Path) -> None:
    a = _project(tmp_path / "a")
    b = _project(tmp_path / "b", layout="legacy")
    assert registry.list_projects() == []
    assert registry.add_project(a) == a.resolve()
    assert registry.add_project(b / "tasks") == b.resolve()  # found walking up
    assert registry.add_project(a) == a.resolve()  # idempotent
    assert registry.list_projects() == [a.resolve(), b.resolve()]
    assert registry.remove_project(a) is True
    assert registry.remove_project(a) is False
    assert registry.list_projects() == [b.resolve()]


def test_registry_file_is_private_json(tmp_path: Path) -> None:
    registry.add_project(_project(tmp_path / "p"))
    path = registry.registry_path()
    data = json.loads(path.read_text())
    assert data == {"version": 1, "projects": [str((tmp_path / "p").resolve())]}
    assert path.parent.stat().st_mode & 0o077 == 0


def test_not_a_project_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a Task Master project") as info:
        registry.add_project(tmp_path)
    assert info.value.exit_code == 2
    assert registry.list_projects() == []


def test_removed_project_directory_can_still_be_removed(tmp_path: Path) -> None:
    p = _project(tmp_path / "gone")
    registry.add_project(p)
    (p / ".taskmaster" / "tasks" / "tasks.json").unlink()
    assert registry.remove_project(p) is True


def test_invalid_registry_is_reported_and_left_alone(tmp_path: Path) -> None:
    path = registry.registry_path()
    path.write_text('{"projects": [')
    with pytest.raises(InputError, match=r"projects.json: line 1 column \d+"):
        registry.list_projects()
    with pytest.raises(InputError):
        registry.add_project(_project(tmp_path / "p"))
    assert path.read_text() == '{"projects": ['
    path.write_text('{"projects": "nope"}')
    with pytest.raises(InputError, match="expected"):
        registry.list_projects()


def test_concurrent_adds_lose_nothing(tmp_path: Path) -> None:
    projects = [_project(tmp_path / f"p{i}") for i in range(12)]
    threads = [threading.Thread(target=registry.add_project, args=(p,)) for p in projects]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(registry.list_projects()) == sorted(p.resolve() for p in projects)
