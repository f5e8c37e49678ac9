from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from tmxd import fsutil
from tmxd.fsutil import acquire, append_durably, fsync_dir, locked, write_atomic


def test_fsync_dir_on_a_real_folder_keeps_its_entries(tmp_path: Path) -> None:
    (tmp_path / "a.tmp").write_text("x")
    (tmp_path / "a.tmp").rename(tmp_path / "a")
    fsync_dir(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["a"]


def test_fsync_dir_ignores_a_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    fsync_dir(missing)
    assert not missing.exists()


def test_write_atomic_replaces_the_file_and_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "tasks.json"
    write_atomic(target, "é one")
    assert target.read_bytes() == "é one".encode()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    target.chmod(0o600)
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    write_atomic(target, "three", mode=0o755)
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert [p.name for p in tmp_path.iterdir()] == ["tasks.json"]


def test_write_atomic_failure_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    seen: list[str] = []

    def refuse(src: str, dst: object) -> None:
        seen.append(Path(src).name)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsutil.os, "replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
    # the temp file had a name that says whose it is
    assert len(seen) == 1 and fsutil.is_temp(seen[0]) and seen[0].startswith(".f.txt.tmxd-")


def test_locked_excludes_other_holders_until_the_block_ends(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with locked(lock):
        assert acquire(lock, wait=False) is None  # another open file description
    fd = acquire(lock, wait=False)
    assert fd is not None
    os.close(fd)
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_locked_waits_for_the_holder(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    order: list[str] = []
    fd = acquire(lock)
    assert fd is not None

    def waiter() -> None:
        with locked(lock):
            order.append("waiter")

    thread = threading.Thread(target=waiter)
    thread.start()
    thread.join(timeout=0.2)
    assert thread.is_alive()  # still waiting: the lock is held
    order.append("holder")
    os.close(fd)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert order == ["holder", "waiter"]


def test_append_durably_adds_to_the_end(tmp_path: Path) -> None:
    log = tmp_path / "ledger.jsonl"
    append_durably(log, b"one\n")
    append_durably(log, b"two\n")
    assert log.read_bytes() == b"one\ntwo\n"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
