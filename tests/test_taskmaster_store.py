from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import save_completes_while_waited
from tmxd.errors import InputError
from tmxd.taskmaster import store as store_module
from tmxd.taskmaster.project import find_project
from tmxd.taskmaster.store import TaskStore


def _project(tmp_path: Path, text: str) -> TaskStore:
    path = tmp_path / ".taskmaster" / "tasks" / "tasks.json"
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    return TaskStore(find_project(tmp_path))


def test_edit_writes_only_the_change(tmp_path: Path) -> None:
    text = (
        '{\n  "master": {\n    "tasks": [\n'
        '      {"id": 1, "status": "pending", "dependencies": [1,2]}\n    ]\n  }\n}\n'
    )
    store = _project(tmp_path, text)
    with store.edit() as doc:
        doc.task_dicts("master")[0]["status"] = "done"
    assert store.path.read_text() == text.replace('"pending"', '"done"')
    assert not store.path.with_name("tasks.json.lock").exists()


def test_no_change_no_write(tmp_path: Path) -> None:
    store = _project(tmp_path, '{"tasks": []}')
    before = store.path.stat().st_mtime_ns
    os.utime(store.path, ns=(before - 10**9, before - 10**9))
    with store.edit():
        pass
    assert store.path.stat().st_mtime_ns == before - 10**9


def test_error_inside_edit_leaves_file(tmp_path: Path) -> None:
    store = _project(tmp_path, '{"tasks": []}')
    with pytest.raises(RuntimeError), store.edit() as doc:
        doc.data["tasks"].append({"id": 1})
        raise RuntimeError("boom")
    assert store.path.read_text() == '{"tasks": []}'


def test_a_save_made_without_the_lock_during_an_edit_stands_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    """An editor saving while tmxd holds the lock (editors do not take it) keeps its save."""
    text = '{"tasks": [{"id": 1, "status": "pending"}]}'
    store = _project(tmp_path, text)
    saved = '{"tasks": [{"id": 1, "status": "pending"}, {"id": 2, "status": "pending"}]}'
    with pytest.raises(store_module.ChangedMeanwhile) as info, store.edit() as doc:
        doc.task_dicts("master")[0]["status"] = "done"
        store.path.write_text(saved, encoding="utf-8")  # the editor's save, after tmxd read
    assert store.path.read_text() == saved
    assert info.value.exit_code == 1
    assert info.value.message == (
        f"{store.path} was saved by another program while tmxd was changing it; "
        "tmxd wrote nothing and kept that save: run the command again"
    )
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["tasks.json"]
    with store.edit() as doc:  # run again: the change lands on the editor's save
        doc.task_dicts("master")[0]["status"] = "done"
    assert store.path.read_text() == saved.replace('"pending"', '"done"', 1)


def test_a_file_removed_during_an_edit_is_not_written_back(tmp_path: Path) -> None:
    store = _project(tmp_path, '{"tasks": []}')
    with pytest.raises(store_module.ChangedMeanwhile), store.edit() as doc:
        doc.data["tasks"].append({"id": 1})
        store.path.unlink()
    assert not store.path.exists()


def test_invalid_json_is_input_error_and_untouched(tmp_path: Path) -> None:
    store = _project(tmp_path, '{"tasks": [}')
    with pytest.raises(InputError, match="line 1 column 12") as info, store.edit():
        pass
    assert info.value.exit_code == 2
    assert store.path.read_text() == '{"tasks": [}'


def test_missing_file(tmp_path: Path) -> None:
    (tmp_path / ".taskmaster").mkdir()
    store = TaskStore(find_project(tmp_path))
    with pytest.raises(InputError, match="does not exist"):
        store.read()


def test_mode_is_kept(tmp_path: Path) -> None:
    store = _project(tmp_path, json.dumps({"tasks": [{"id": 1, "status": "pending"}]}))
    store.path.chmod(0o600)
    with store.edit() as doc:
        doc.data["tasks"][0]["status"] = "done"
    assert store.path.stat().st_mode & 0o777 == 0o600


def test_symlinked_file_keeps_its_link(tmp_path: Path) -> None:
    real = tmp_path / "shared" / "tasks.json"
    real.parent.mkdir()
    real.write_text('{"tasks": [{"id": 1, "status": "pending", "dependencies": []}]}')
    link = tmp_path / ".taskmaster" / "tasks" / "tasks.json"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    store = TaskStore(find_project(tmp_path))
    with store.edit() as doc:
        assert (tmp_path / "shared" / "tasks.json.lock").is_dir()
        doc.data["tasks"][0]["status"] = "done"
    assert link.is_symlink()
    assert '"status": "done"' in real.read_text()


FULL = '{"master": {"tasks": [{"id": 1, "title": "Parse", "status": "pending"}]}}'


def test_a_save_under_way_is_read_once_it_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _project(tmp_path, FULL[:30])  # truncated, then half written, a moment ago
    waited = save_completes_while_waited(monkeypatch, FULL)
    task = store.read_settled().find("1", "master")
    assert task is not None and task.status == "pending"
    assert waited == [store.path]


def test_an_edit_waits_for_a_save_under_way_then_changes_what_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _project(tmp_path, FULL[:30])
    waited = save_completes_while_waited(monkeypatch, FULL)
    with store.edit() as doc:
        doc.task_dicts("master")[0]["status"] = "done"
    assert store.path.read_text(encoding="utf-8") == FULL.replace("pending", "done")
    assert len(waited) == 1


def test_an_old_invalid_file_is_an_error_without_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _project(tmp_path, FULL[:30])
    old = store.path.stat().st_mtime - 60
    os.utime(store.path, (old, old))
    answers: list[bool] = []
    real = store_module.wait_settled

    def recorded(path: Path) -> bool:
        answers.append(real(path))
        return answers[-1]

    monkeypatch.setattr(store_module, "wait_settled", recorded)
    with pytest.raises(InputError, match="line 1 column 31"):
        store.read_settled()
    assert answers == [False]  # old enough: no wait, the error stands
    assert store.path.read_text(encoding="utf-8") == FULL[:30]


def test_wait_settled_returns_once_the_file_is_old_enough(tmp_path: Path) -> None:
    path = tmp_path / "tasks.json"
    path.write_text("{", encoding="utf-8")
    assert store_module.wait_settled(path) is True
    assert store_module.file_age(path) >= store_module.HALF_WRITTEN_GRACE
    assert store_module.wait_settled(path) is False
