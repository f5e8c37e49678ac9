from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tmxd.errors import TmxdError
from tmxd.taskmaster.lock import LockTimeout, TaskLock


def test_lock_is_a_directory_and_released(tmp_path: Path) -> None:
    target = tmp_path / "tasks.json"
    with TaskLock(target) as lock:
        assert lock.path == tmp_path / "tasks.json.lock"
        assert lock.path.is_dir()
    assert not lock.path.exists()


def test_second_holder_waits_then_times_out(tmp_path: Path) -> None:
    target = tmp_path / "tasks.json"
    with TaskLock(target), pytest.raises(LockTimeout, match="held by another writer"):
        TaskLock(target, timeout=0.2).acquire()


def test_legacy_file_lock_is_respected(tmp_path: Path) -> None:
    target = tmp_path / "tasks.json"
    (tmp_path / "tasks.json.lock").write_text('{"pid": 1, "timestamp": 0}')
    with pytest.raises(LockTimeout):
        TaskLock(target, timeout=0.2).acquire()


@pytest.mark.parametrize("as_dir", [True, False])
def test_stale_lock_is_taken_over(tmp_path: Path, as_dir: bool) -> None:
    target = tmp_path / "tasks.json"
    lock_path = tmp_path / "tasks.json.lock"
    if as_dir:
        lock_path.mkdir()
    else:
        lock_path.write_text("{}")
    old = time.time() - 60
    os.utime(lock_path, (old, old))
    with TaskLock(target, timeout=1) as lock:
        assert lock.held
    assert not lock_path.exists()


def test_a_missing_folder_is_one_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "gone" / "tasks.json"
    with pytest.raises(TmxdError, match=f"cannot lock {target}: folder {target.parent} does not"):
        TaskLock(target, timeout=1).acquire()


def test_refresh_keeps_a_long_holder_from_looking_stale(tmp_path: Path) -> None:
    target = tmp_path / "tasks.json"
    old = time.time() - 60
    with TaskLock(target) as held:
        os.utime(held.path, (old, old))
        held.refresh()
        with pytest.raises(LockTimeout):
            TaskLock(target, timeout=0.2).acquire()
        # the control: the same lock, not refreshed, is taken over as a crashed writer's
        os.utime(held.path, (old, old))
        with TaskLock(target, timeout=1) as other:
            assert other.held
