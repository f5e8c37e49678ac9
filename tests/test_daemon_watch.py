from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from helpers import git, init_repo, subprocess_env, wait_until
from tmxd.daemon import watch
from tmxd.daemon.watch import HOLD, Debouncer, Watcher, WatchSpec, read_git_dirs

Delivery = tuple[Path, frozenset[str]]


def _project(root: Path) -> WatchSpec:
    init_repo(root)
    tasks = root / ".taskmaster" / "tasks" / "tasks.json"
    tasks.parent.mkdir(parents=True)
    tasks.write_text('{"master": {"tasks": []}}')
    (root / ".git" / "tmxd").mkdir()
    return WatchSpec.for_project(root, tasks)


@pytest.fixture
def spec(tmp_path: Path) -> WatchSpec:
    return _project(tmp_path / "proj")


@contextmanager
def _watching() -> Iterator[tuple[Watcher, queue.Queue[Delivery]]]:
    """A started watcher (settle 50 ms) whose deliveries go to the queue; stopped after."""
    got: queue.Queue[Delivery] = queue.Queue()
    watcher = Watcher(lambda root, kinds: got.put((root, kinds)), settle=0.05, max_wait=0.5)
    watcher.start()
    try:
        yield watcher, got
    finally:
        watcher.stop(flush=False)


@pytest.fixture
def watched(spec: WatchSpec) -> Iterator[tuple[Watcher, queue.Queue[Delivery]]]:
    with _watching() as (watcher, got):
        assert watcher.watch(spec) == "inotify"
        yield watcher, got


def _next(got: queue.Queue[Delivery], timeout: float = 30) -> Delivery:
    return got.get(timeout=timeout)


def _kinds_until(got: queue.Queue[Delivery], kind: str) -> set[str]:
    seen: set[str] = set()
    while kind not in seen:
        seen |= _next(got)[1]
    return seen


# ----------------------------------------------------------------- classification


def test_classify(spec: WatchSpec) -> None:
    root = spec.root
    git_dir = root / ".git"
    assert spec.classify(spec.tasks_path) == "tasks"
    assert spec.classify(root / ".taskmaster" / "state.json") == "state"
    assert spec.classify(root / ".taskmaster" / "tmxd.toml") == "config"
    assert (
        spec.classify(root / ".taskmaster" / "reports" / "task-complexity-report.json")
        == "complexity"
    )
    assert spec.classify(git_dir / "tmxd" / "spool") == "spool"
    assert spec.classify(git_dir / "tmxd" / "batch-123") == "spool"  # a late hook line
    assert spec.classify(git_dir / "tmxd" / "batch-123.pos") is None  # the reader's progress
    assert spec.classify(git_dir / "tmxd" / "ledger.jsonl") is None
    assert spec.classify(git_dir / "HEAD") == "git"
    assert spec.classify(git_dir / "logs" / "HEAD") == "git"
    assert spec.classify(git_dir / "refs" / "heads" / "main") == "git"
    assert spec.classify(git_dir / "packed-refs") == "git"
    assert spec.classify(git_dir / "index.lock") == HOLD
    assert spec.classify(git_dir / "rebase-merge") == HOLD
    # noise: the index, objects, task files, Task Master's lock directory
    assert spec.classify(git_dir / "index") is None
    assert spec.classify(git_dir / "objects" / "ab") is None
    assert spec.classify(spec.tasks_path.parent / "task_001.txt") is None
    assert spec.classify(spec.tasks_path.parent / "tasks.json.lock") is None
    assert spec.classify(root / "src" / "main.py") is None


def test_directories_are_few_and_never_the_repo_root(spec: WatchSpec) -> None:
    dirs = spec.directories()
    assert spec.root not in dirs
    assert spec.tasks_path.parent in dirs
    assert spec.root / ".git" in dirs
    assert spec.root / ".git" / "tmxd" in dirs
    assert len(dirs) <= 8
    assert all(d.is_dir() for d in dirs)


def test_read_git_dirs_of_a_linked_worktree(tmp_path: Path) -> None:
    main = init_repo(tmp_path / "main")
    git(main, "worktree", "add", "-q", str(tmp_path / "wt"), "-b", "side")
    git_dir, common = read_git_dirs(tmp_path / "wt") or (None, None)
    assert common == (main / ".git").resolve()
    assert git_dir is not None and git_dir.parent == common / "worktrees"
    assert read_git_dirs(main) == (main / ".git", main / ".git")
    assert read_git_dirs(tmp_path) is None
    spec = WatchSpec.for_project(tmp_path / "wt", tmp_path / "wt" / "tasks.json")
    assert spec.spool_path == common / "tmxd" / "spool"


def test_held_while_index_lock_or_rebase(spec: WatchSpec) -> None:
    assert spec.held() is None
    (spec.root / ".git" / "index.lock").write_text("")
    assert spec.held() == "index.lock"
    (spec.root / ".git" / "index.lock").unlink()
    (spec.root / ".git" / "rebase-merge").mkdir()
    assert spec.held() == "rebase-merge"


# ----------------------------------------------------------------- real watching


def test_plain_write_is_delivered(
    spec: WatchSpec, watched: tuple[Watcher, queue.Queue[Delivery]]
) -> None:
    _, got = watched
    spec.tasks_path.write_text('{"master": {"tasks": [1]}}')
    root, kinds = _next(got)
    assert root == spec.root
    assert "tasks" in kinds


def test_editor_rename_save_is_delivered(
    spec: WatchSpec, watched: tuple[Watcher, queue.Queue[Delivery]]
) -> None:
    _, got = watched
    tmp = spec.tasks_path.with_name(".tasks.json.swp")
    tmp.write_text('{"master": {"tasks": [2]}}')
    os.replace(tmp, spec.tasks_path)
    assert "tasks" in _kinds_until(got, "tasks")


def test_reads_and_unrelated_files_are_ignored(
    spec: WatchSpec, watched: tuple[Watcher, queue.Queue[Delivery]]
) -> None:
    _, got = watched
    spec.tasks_path.read_text()
    (spec.tasks_path.parent / "task_001.txt").write_text("generated")
    (spec.root / "notes.md").write_text("not watched")
    (spec.root / ".git" / "index").write_bytes(b"index refresh")
    spec.tasks_path.with_name("tasks.json.lock").mkdir()
    # a real change afterwards is the first thing delivered
    (spec.root / ".taskmaster" / "state.json").write_text("{}")
    assert _next(got)[1] == frozenset({"state"})


def test_commit_and_spool_are_delivered(
    spec: WatchSpec, watched: tuple[Watcher, queue.Queue[Delivery]]
) -> None:
    _, got = watched
    (spec.root / "a.txt").write_text("a")
    git(spec.root, "add", "a.txt")
    git(spec.root, "commit", "-q", "-m", "a")
    assert "git" in _kinds_until(got, "git")
    assert spec.spool_path is not None
    with open(spec.spool_path, "a") as fh:
        fh.write("line\n")
    assert "spool" in _kinds_until(got, "spool")


def test_spool_renamed_aside_by_its_reader_is_not_a_change(
    spec: WatchSpec, watched: tuple[Watcher, queue.Queue[Delivery]]
) -> None:
    _, got = watched
    assert spec.spool_path is not None
    # renamed into place: one event, so one delivery (a write's create, modify and close
    # events may be delivered apart, and a late one would be taken for the rename)
    written = spec.spool_path.with_name("spool.tmp")
    written.write_text("x\n")
    os.replace(written, spec.spool_path)
    assert "spool" in _kinds_until(got, "spool")
    os.replace(spec.spool_path, spec.spool_path.with_name("batch-1"))
    spec.tasks_path.write_text("{}")
    assert _next(got)[1] == frozenset({"tasks"})


def test_delivery_is_held_while_index_lock_exists(
    spec: WatchSpec, watched: tuple[Watcher, queue.Queue[Delivery]]
) -> None:
    watcher, got = watched
    lock = spec.root / ".git" / "index.lock"
    lock.write_text("")
    spec.tasks_path.write_text('{"x": 1}')
    wait_until(lambda: watcher.pending() == 1, what="the change to be seen")
    with pytest.raises(queue.Empty):
        got.get(timeout=0.8)  # seen, and held past its settle window
    lock.unlink()
    assert "tasks" in _next(got)[1]


def test_directory_created_later_is_picked_up_by_refresh(
    spec: WatchSpec, watched: tuple[Watcher, queue.Queue[Delivery]]
) -> None:
    watcher, got = watched
    reports = spec.root / ".taskmaster" / "reports"
    reports.mkdir()
    _kinds_until(got, "complexity")  # the folder appearing is itself a complexity change
    watcher.refresh(spec)
    (reports / "task-complexity-report.json").write_text("{}")
    assert "complexity" in _kinds_until(got, "complexity")


def test_unwatch_stops_deliveries(
    spec: WatchSpec, watched: tuple[Watcher, queue.Queue[Delivery]]
) -> None:
    watcher, got = watched
    watcher.unwatch(spec.root)
    assert watcher.modes() == {}
    spec.tasks_path.write_text("{}")
    # positive control: watched again, a later change is delivered, and it comes alone
    watcher.watch(spec)
    (spec.root / ".taskmaster" / "state.json").write_text("{}")
    assert _next(got) == (spec.root, frozenset({"state"}))


def test_stop_flushes_pending_changes(spec: WatchSpec) -> None:
    got: queue.Queue[Delivery] = queue.Queue()
    watcher = Watcher(lambda root, kinds: got.put((root, kinds)), settle=30, max_wait=60)
    watcher.start()
    watcher.watch(spec)
    spec.tasks_path.write_text("{}")
    wait_until(lambda: watcher.pending() == 1, what="the change to be pending")
    watcher.stop(flush=True)
    assert got.get_nowait() == (spec.root, frozenset({"tasks"}))


# ----------------------------------------------------------------- debouncing


def test_burst_is_one_delivery(tmp_path: Path) -> None:
    got: queue.Queue[Delivery] = queue.Queue()
    deb = Debouncer(lambda r, k: got.put((r, k)), settle=0.3, max_wait=30, held=lambda r: None)
    deb.start()
    for kind in ["tasks", "git", "tasks", "spool"] * 5:
        deb.push(tmp_path, kind)
    assert got.get(timeout=30) == (tmp_path, frozenset({"tasks", "git", "spool"}))
    # nothing of the burst is left over: the next delivery is only a later change
    deb.push(tmp_path, "config")
    assert got.get(timeout=30) == (tmp_path, frozenset({"config"}))
    deb.stop()


def test_max_wait_bounds_a_continuous_stream(tmp_path: Path) -> None:
    got: queue.Queue[Delivery] = queue.Queue()
    deb = Debouncer(lambda r, k: got.put((r, k)), settle=0.2, max_wait=0.4, held=lambda r: None)
    deb.start()

    def pushed_and_delivered_twice() -> bool:
        deb.push(tmp_path, "tasks")  # called every 20 ms: never quiet for the settle window
        return got.qsize() >= 2

    try:
        wait_until(pushed_and_delivered_twice, interval=0.02, what="two deliveries (max wait)")
    finally:
        deb.stop()


def test_hold_is_released_after_max_hold(tmp_path: Path) -> None:
    got: queue.Queue[Delivery] = queue.Queue()
    deb = Debouncer(
        lambda r, k: got.put((r, k)),
        settle=0.01,
        max_wait=0.05,
        held=lambda r: "index.lock",
        max_hold=0.5,
        hold_recheck=0.05,
    )
    deb.start()
    deb.push(tmp_path, "tasks")
    assert got.get(timeout=30) == (tmp_path, frozenset({"tasks"}))
    deb.stop()


def test_hold_marker_alone_delivers_nothing(tmp_path: Path) -> None:
    got: queue.Queue[Delivery] = queue.Queue()
    deb = Debouncer(lambda r, k: got.put((r, k)), settle=0.01, max_wait=0.05, held=lambda r: None)
    deb.start()
    deb.push(tmp_path, HOLD)
    assert deb.pending() == 0
    # positive control: a real change afterwards is delivered, and nothing came before it
    deb.push(tmp_path, "tasks")
    assert got.get(timeout=30) == (tmp_path, frozenset({"tasks"}))
    deb.stop()


# ----------------------------------------------------------------- inotify exhaustion


FALLBACK_SCRIPT = textwrap.dedent(
    """
    import logging, queue, sys
    from pathlib import Path
    from tmxd.daemon.watch import Watcher, WatchSpec
    logging.basicConfig(level=logging.INFO, stream=sys.stdout)
    root = Path(sys.argv[1])
    spec = WatchSpec.for_project(root, root / ".taskmaster" / "tasks" / "tasks.json")
    got = queue.Queue()
    w = Watcher(lambda r, k: got.put(k), settle=0.05, max_wait=0.5, poll_interval=0.2)
    w.start()
    print("MODE", w.watch(spec), flush=True)
    spec.tasks_path.write_text('{"changed": true}')
    print("KINDS", sorted(got.get(timeout=60)), flush=True)
    w.stop(flush=False)
    """
)


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-Ur", "sh", "-c", "echo 5 > /proc/sys/user/max_inotify_watches"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.skipif(sys.platform != "linux", reason="inotify is Linux-only")
def test_inotify_exhaustion_falls_back_to_polling(spec: WatchSpec) -> None:
    if not _unshare_works():
        pytest.skip("needs `unshare -Ur` to lower max_inotify_watches in a user namespace")
    proc = subprocess.run(
        [
            "unshare",
            "-Ur",
            "sh",
            "-c",
            'echo 2 > /proc/sys/user/max_inotify_watches && exec "$0" -c "$1" "$2"',
            sys.executable,
            FALLBACK_SCRIPT,
            str(spec.root),
        ],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "MODE polling" in out
    assert "KINDS ['tasks']" in out
    assert "inotify ran out of watches" in out
    assert "max_user_watches" in out


def test_inotify_help_names_the_sysctl() -> None:
    assert "fs.inotify.max_user_watches" in watch.INOTIFY_HELP


# ----------------------------------------------------------------- a symlinked tasks.json


def _linked(tmp_path: Path) -> tuple[WatchSpec, Path]:
    """A project whose tasks.json is a symlink to a file in a folder of its own."""
    spec = _project(tmp_path / "proj")
    target = tmp_path / "elsewhere" / "tasks.json"
    target.parent.mkdir()
    target.write_text(spec.tasks_path.read_text())
    spec.tasks_path.unlink()
    spec.tasks_path.symlink_to(target)
    return WatchSpec.for_project(spec.root, spec.tasks_path), target


def _write_in_place(path: Path, text: str) -> None:
    """What the Task Master CLI and most editors do: open(path, "w") through the link."""
    with open(path, "w") as fh:
        fh.write(text)


def test_a_write_through_a_symlinked_tasks_json_is_delivered(tmp_path: Path) -> None:
    spec, target = _linked(tmp_path)
    assert spec.tasks_target == target.resolve()
    assert target.parent.resolve() in spec.directories()
    assert spec.classify(target.resolve()) == "tasks"
    assert spec.classify(target.parent.resolve() / "notes.md") is None
    with _watching() as (watcher, got):
        watcher.watch(spec)
        # an unrelated file beside the target is not a change: the write after it comes alone
        (target.parent / "notes.md").write_text("x")
        _write_in_place(spec.tasks_path, '{"master": {"tasks": [1]}}')
        assert _next(got) == (spec.root, frozenset({"tasks"}))


def test_without_the_target_folder_a_write_through_the_link_goes_unseen(tmp_path: Path) -> None:
    """Positive control of the test above: the link's own folder hears nothing of it."""
    spec, _target = _linked(tmp_path)
    unlinked = replace(spec, tasks_target=None)
    with _watching() as (watcher, got):
        watcher.watch(unlinked)
        _write_in_place(spec.tasks_path, '{"master": {"tasks": [1]}}')
        (spec.root / ".taskmaster" / "state.json").write_text("{}")
        assert _next(got) == (spec.root, frozenset({"state"}))


def test_a_link_replaced_by_a_file_or_pointed_elsewhere_is_followed(tmp_path: Path) -> None:
    spec, target = _linked(tmp_path)
    with _watching() as (watcher, got):
        watcher.watch(spec)
        # `sed -i`: a new file renamed over the link, which is a change of its own
        tmp = spec.tasks_path.with_name("sedXYZ")
        tmp.write_text('{"master": {"tasks": [2]}}')
        os.replace(tmp, spec.tasks_path)
        assert "tasks" in _kinds_until(got, "tasks")
        plain = spec.resolved()
        assert plain.tasks_target is None and target.parent.resolve() not in plain.directories()
        watcher.refresh(plain)
        assert watcher.specs()[spec.root] == plain
        _write_in_place(target, "{}")  # the old target is no longer the project's
        _write_in_place(spec.tasks_path, '{"master": {"tasks": [3]}}')
        assert _next(got) == (spec.root, frozenset({"tasks"}))
        # `ln -sf` to a file in a third folder
        other = tmp_path / "third" / "tasks.json"
        other.parent.mkdir()
        other.write_text("{}")
        spec.tasks_path.unlink()
        spec.tasks_path.symlink_to(other)
        assert "tasks" in _kinds_until(got, "tasks")
        watcher.refresh(watcher.specs()[spec.root].resolved())
        _write_in_place(spec.tasks_path, '{"master": {"tasks": [4]}}')
        assert _next(got) == (spec.root, frozenset({"tasks"}))


def test_two_projects_linking_to_one_file_keep_their_watch_when_one_goes(tmp_path: Path) -> None:
    """watchdog keys a watch by folder: unwatching one project must not silence the other."""
    first, target = _linked(tmp_path)
    second = _project(tmp_path / "proj2")
    second.tasks_path.unlink()
    second.tasks_path.symlink_to(target)
    second = WatchSpec.for_project(second.root, second.tasks_path)
    with _watching() as (watcher, got):
        watcher.watch(first)
        watcher.watch(second)
        watcher.unwatch(first.root)
        _write_in_place(target, '{"master": {"tasks": [5]}}')
        assert _next(got) == (second.root, frozenset({"tasks"}))
