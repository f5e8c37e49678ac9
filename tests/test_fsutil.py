from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
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
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # a new file is private
    target.chmod(0o644)
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # an existing one keeps its mode
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


def _leftover(folder: Path, name: str, *, pid: int, age: float = 0.0) -> Path:
    """A temp file as write_atomic names it, written by ``pid``, ``age`` seconds old."""
    path = folder / f".{name}{fsutil.TEMP_MARK}{pid}-{os.urandom(4).hex()}{fsutil.TEMP_SUFFIX}"
    path.write_text("half a file")
    if age:
        when = time.time() - age
        os.utime(path, (when, when))
    return path


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temp_names_carry_the_writers_pid(tmp_path: Path) -> None:
    name = fsutil.temp_prefix(tmp_path / "tasks.json") + "xyz" + fsutil.TEMP_SUFFIX
    assert fsutil.is_temp(name)
    assert fsutil.temp_writer(name) == os.getpid()
    assert fsutil.temp_writer(".tasks.json.tmxd-abcdef.tmp") is None  # an older name


def test_remove_stale_temps_takes_what_killed_writers_left(tmp_path: Path) -> None:
    dead = _leftover(tmp_path, "tasks.json", pid=_dead_pid())
    old = _leftover(tmp_path, "tasks.json", pid=os.getpid(), age=120)
    fresh = _leftover(tmp_path, "tasks.json", pid=os.getpid())  # a live writer, mid-write
    unnamed = tmp_path / ".tasks.json.tmxd-abcdef.tmp"  # no pid: only age counts
    unnamed.write_text("x")
    other = tmp_path / ".tasks.json.swp"  # not ours
    other.write_text("x")
    sub = tmp_path / "sub"
    sub.mkdir()
    below = _leftover(sub, "registry.json", pid=_dead_pid())

    removed = fsutil.remove_stale_temps(tmp_path)

    assert sorted(removed) == sorted([dead, old])
    assert fresh.exists() and unnamed.exists() and other.exists() and below.exists()
    assert fsutil.remove_stale_temps(tmp_path, depth=1) == [below]
    assert fsutil.remove_stale_temps(tmp_path / "missing") == []


def test_write_atomic_asks_before_replacing_and_a_refusal_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    at_check: list[tuple[str, list[str]]] = []

    def check() -> None:  # the new content is on disk, the rename not made yet
        temps = [p.read_text() for p in tmp_path.iterdir() if fsutil.is_temp(p.name)]
        at_check.append((target.read_text(), temps))

    write_atomic(target, "new", before_replace=check)
    assert at_check == [("old", ["new"])] and target.read_text() == "new"

    def refuse() -> None:
        raise ValueError("changed meanwhile")

    with pytest.raises(ValueError, match="changed meanwhile"):
        write_atomic(target, "newer", before_replace=refuse)
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_write_atomic_leaves_no_temp_file_and_names_it_for_cleanup(tmp_path: Path) -> None:
    target = tmp_path / "tasks.json"
    write_atomic(target, "{}")
    assert [p.name for p in tmp_path.iterdir()] == ["tasks.json"]


def test_open_private_creates_0600_and_tightens_an_open_file(
    tmp_path: Path, umask_022: None
) -> None:
    fresh = tmp_path / "daemon.log"
    os.close(fsutil.open_private(fresh))
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    loose = tmp_path / "old.log"
    loose.write_text("x")
    loose.chmod(0o644)
    os.close(fsutil.open_private(loose))
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600
    assert loose.read_text() == "x"  # appended to, not truncated
    db = tmp_path / "metrics.db"
    fsutil.create_private(db)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600 and db.read_bytes() == b""


def test_create_private_never_opens_an_existing_database(tmp_path: Path) -> None:
    """Closing any descriptor of a SQLite file drops this process's locks on it: a
    connection opened while another holds a write lock must not break that lock."""
    db = tmp_path / "metrics.db"
    fsutil.create_private(db)
    holder = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        holder.execute("CREATE TABLE t (x)")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO t VALUES (1)")
        db.chmod(0o644)
        fsutil.create_private(db)  # what each new metrics connection does first
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
        writer = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=0); "
                "c.execute('INSERT INTO t VALUES (2)'); c.commit()",
                str(db),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert writer.returncode != 0 and "locked" in writer.stderr  # the lock still holds
        holder.execute("COMMIT")
    finally:
        holder.close()


def test_make_private_dirs_makes_each_missing_level_0700(tmp_path: Path, umask_022: None) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    fsutil.make_private_dirs(shared / "a" / "b")
    fsutil.make_private_dirs(shared / "a" / "b")  # there already: fine
    modes = {
        p.name: stat.S_IMODE(p.stat().st_mode) for p in (shared, shared / "a", shared / "a" / "b")
    }
    assert modes == {"shared": 0o755, "a": 0o700, "b": 0o700}  # an existing folder keeps its mode
