from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon_project import make_project, render, tasks_doc, transitions, write_plain
from tmxd.history.ledger import SnapshotLedger
from tmxd.history.observe import attributed, observe
from tmxd.metrics.recorder import Recorder
from tmxd.taskmaster.ops import StatusChange


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder.open()
    yield rec
    rec.close()


def test_observe_baseline_then_transitions(tmp_path: Path, recorder: Recorder) -> None:
    tasks = make_project(tmp_path / "p", git=False)
    ledger = SnapshotLedger(tmp_path / "p")
    first = observe(tasks, ledger, recorder)
    assert first.first and first.changed and first.transitions == []
    assert transitions() == []
    assert observe(tasks, ledger, recorder).changed is False  # same text: nothing to do
    write_plain(tasks, t1="in-progress")
    result = observe(tasks, ledger, recorder)
    assert [(c.task_id, c.old, c.new) for c in result.transitions] == [
        ("1", "pending", "in-progress")
    ]
    assert transitions() == [("1", "pending", "in-progress", "external")]


def test_invalid_file_is_reported_with_position_and_kept(
    tmp_path: Path, recorder: Recorder
) -> None:
    tasks = make_project(tmp_path / "p", git=False)
    ledger = SnapshotLedger(tmp_path / "p")
    observe(tasks, ledger, recorder)
    broken = render(tasks_doc(t1="done"))[:200]
    tasks.write_text(broken)
    result = observe(tasks, ledger, recorder)
    assert result.error is not None
    assert "tasks.json" in result.error and "line" in result.error and "column" in result.error
    assert tasks.read_text() == broken  # never written over
    write_plain(tasks, t1="done", t2="in-progress")
    fixed = observe(tasks, ledger, recorder)
    assert fixed.error is None
    assert [(c.task_id, c.new) for c in fixed.transitions] == [("1", "done"), ("2", "in-progress")]


def test_missing_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    ledger = SnapshotLedger(tmp_path)
    result = observe(tmp_path / "tasks.json", ledger, None)
    assert result.error is not None and "file is missing" in result.error


def test_attributed_splits_outside_edits_from_the_writers(
    tmp_path: Path, recorder: Recorder
) -> None:
    root = tmp_path / "p"
    tasks = make_project(root, git=False)
    observe(tasks, SnapshotLedger(root), recorder)
    write_plain(tasks, t3="pending")  # someone else, before
    with attributed(root, tasks, "autopilot", recorder) as scope:
        write_plain(tasks, t3="pending", t1="in-progress")
    assert scope.before is not None and scope.after is not None
    assert [c.task_id for c in scope.before.transitions] == ["3"]
    assert [c.task_id for c in scope.after.transitions] == ["1"]
    assert transitions() == [
        ("3", "done", "pending", "external"),
        ("1", "pending", "in-progress", "autopilot"),
    ]


def test_a_writer_records_its_own_changes_with_the_ledger(
    tmp_path: Path, recorder: Recorder
) -> None:
    root = tmp_path / "p"
    tasks = make_project(root, git=False)
    observe(tasks, SnapshotLedger(root), recorder)
    with attributed(root, tasks, "commit", recorder, others="external") as scope:
        write_plain(tasks, t1_1="done", t2="blocked")  # the writer closes 1.1; 2 is someone else
        scope.record("master", [StatusChange("1.1", "pending", "done")])
        # recorded at once, and the ledger moved with it
        assert transitions() == [("1.1", "pending", "done", "commit")]
        assert SnapshotLedger(root).load().snapshot["master"]["1.1"].status == "done"  # type: ignore[union-attr]
    assert transitions() == [
        ("1.1", "pending", "done", "commit"),
        ("2", "pending", "blocked", "external"),
    ]
    assert [c.task_id for c in scope.recorded] == ["1.1"]
    assert scope.after is not None and [c.task_id for c in scope.after.transitions] == ["2"]
    assert observe(tasks, SnapshotLedger(root), recorder).changed is False


def test_a_writers_own_change_hands_back_the_tasks_it_unblocked(
    tmp_path: Path, recorder: Recorder
) -> None:
    root = tmp_path / "p"
    tasks = make_project(root, git=False, t1="in-progress")
    observe(tasks, SnapshotLedger(root), recorder)
    with attributed(root, tasks, "commit", recorder, others="external") as scope:
        write_plain(tasks, t1="done")
        scope.record("master", [StatusChange("1", "in-progress", "done")])
    assert [(u.task_id, u.title) for u in scope.unblocked] == [("2", "Evaluate expressions")]
    assert scope.after is not None and scope.after.unblocked == []  # told once, here


def test_first_look_records_where_each_task_stands(tmp_path: Path, recorder: Recorder) -> None:
    from daemon_project import query

    tasks = make_project(tmp_path / "p", git=False)
    observe(tasks, SnapshotLedger(tmp_path / "p"), recorder)
    rows = query("SELECT task_id, old_status, new_status, source, title FROM transitions")
    assert sorted(rows) == [
        ("1", "pending", "pending", "baseline", "Set up the parser"),
        ("1.1", "pending", "pending", "baseline", "Tokenizer"),
        ("1.2", "pending", "pending", "baseline", "Grammar"),
        ("2", "pending", "pending", "baseline", "Evaluate expressions"),
        ("3", "done", "done", "baseline", "Write the README"),
    ]
    assert transitions() == []  # not changes


def test_a_task_gone_from_the_file_is_removed(tmp_path: Path, recorder: Recorder) -> None:
    tasks = make_project(tmp_path / "p", git=False)
    ledger = SnapshotLedger(tmp_path / "p")
    observe(tasks, ledger, recorder)
    doc = tasks_doc()
    doc["master"]["tasks"].pop()  # task 3
    tasks.write_text(render(doc))
    result = observe(tasks, ledger, recorder)
    assert [(c.task_id, c.old, c.new) for c in result.transitions] == [("3", "done", "removed")]
    assert transitions() == [("3", "done", "removed", "external")]


def test_changes_wait_in_the_ledger_until_a_database_takes_them(
    tmp_path: Path, recorder: Recorder
) -> None:
    """The outbox: the ledger keeps the records it advanced by; a crash before they reach the
    database (here: no recorder) loses nothing, and storing them again adds nothing."""
    root = tmp_path / "p"
    tasks = make_project(root, git=False)
    observe(tasks, SnapshotLedger(root), recorder)
    write_plain(tasks, t1="in-progress")
    ledger = SnapshotLedger(root)
    observe(tasks, ledger, None)  # advanced, but nothing stored yet
    pending = ledger.load().pending  # type: ignore[union-attr]
    assert [(r["task_id"], r["new"]) for r in pending] == [("1", "in-progress")]
    assert transitions() == []
    assert observe(tasks, SnapshotLedger(root), recorder).transitions == []  # no change left
    assert transitions() == [("1", "pending", "in-progress", "external")]
    assert SnapshotLedger(root).load().pending == []  # type: ignore[union-attr]
    assert recorder.store(pending) == 0  # the same records again: nothing new
    assert transitions() == [("1", "pending", "in-progress", "external")]


def test_a_ledger_from_before_baselines_gets_them(tmp_path: Path, recorder: Recorder) -> None:
    from daemon_project import query

    root = tmp_path / "p"
    tasks = make_project(root, git=False)
    ledger = SnapshotLedger(root)
    observe(tasks, ledger, None)
    raw = json.loads(ledger.path.read_text())
    raw.update(version=1, pending=[])  # written by an older tmxd: no baseline rows
    ledger.path.write_text(json.dumps(raw))
    recorder.transition(root, "2", "pending", "pending", "baseline")  # already there once
    observe(tasks, SnapshotLedger(root), recorder)
    rows = query("SELECT task_id FROM transitions WHERE source = 'baseline' ORDER BY task_id")
    assert rows == [("1",), ("1.1",), ("1.2",), ("2",), ("3",)]
    assert SnapshotLedger(root).load().version == 2  # type: ignore[union-attr]


def test_half_written_file_is_read_again(tmp_path: Path, recorder: Recorder) -> None:
    root = tmp_path / "p"
    tasks = make_project(root, git=False)
    observe(tasks, SnapshotLedger(root), recorder)
    tasks.write_text("")  # a writer truncated the file and is about to write it

    def finish() -> None:
        write_plain(tasks, t2="review")

    timer = threading.Timer(0.05, finish)
    timer.start()
    result = observe(tasks, SnapshotLedger(root), recorder)
    timer.join()
    if result.error is None:  # the second read came after the write (the usual case)
        assert transitions() == [("2", "pending", "review", "external")]
    else:  # a loaded machine delayed the writer past the grace period
        assert "the file is empty" in result.error


def test_concurrent_observers_record_each_change_once(tmp_path: Path, recorder: Recorder) -> None:
    root = tmp_path / "p"
    tasks = make_project(root, git=False)
    observe(tasks, SnapshotLedger(root), recorder)
    write_plain(tasks, t1="in-progress", t2="deferred")

    def look() -> None:
        ledger = SnapshotLedger(root)  # each its own, as separate processes would have
        with ledger.locked():
            observe(tasks, ledger, recorder)

    threads = [threading.Thread(target=look) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(transitions()) == [
        ("1", "pending", "in-progress", "external"),
        ("2", "pending", "deferred", "external"),
    ]


def test_unblocked_tasks_become_events(tmp_path: Path, recorder: Recorder) -> None:
    from daemon_project import query

    tasks = make_project(tmp_path / "p", git=False)
    ledger = SnapshotLedger(tmp_path / "p")
    observe(tasks, ledger, recorder)
    write_plain(tasks, t1="done", t1_1="done", t1_2="done")
    observe(tasks, ledger, recorder)
    kinds = [row[0] for row in query("SELECT kind FROM events ORDER BY id")]
    assert kinds == ["task-unblocked"]
