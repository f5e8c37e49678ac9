from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon_project import make_project, render, tasks_doc, transitions, write_plain
from tmxd.daemon import engine
from tmxd.daemon.engine import Ledger, TaskState, Transition, Unblocked, attributed, observe
from tmxd.metrics.recorder import Recorder
from tmxd.taskmaster.document import parse_tasks


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder.open()
    yield rec
    rec.close()


def snap(**statuses: str) -> engine.Snapshot:
    doc = parse_tasks(render(tasks_doc(**statuses)), Path("tasks.json"))
    return engine.snapshot_of(doc)


def test_snapshot_holds_tasks_and_subtasks_with_full_dependency_ids() -> None:
    s = snap()
    assert list(s) == ["master"]
    assert s["master"]["1"] == TaskState("pending", "Set up the parser", ())
    assert s["master"]["1.2"] == TaskState("pending", "Grammar", ("1.1",))
    assert s["master"]["2"].deps == ("1",)
    assert list(s["master"]) == ["1", "1.1", "1.2", "2", "3"]


def test_diff_reports_status_changes_and_new_tasks() -> None:
    before = snap()
    after = snap(t1="in-progress", t1_1="done")
    assert engine.diff(before, after) == [
        Transition("master", "1", "pending", "in-progress", "Set up the parser"),
        Transition("master", "1.1", "pending", "done", "Tokenizer"),
    ]
    assert engine.diff(after, after) == []
    new_tag = {"feature": {"9": TaskState("pending", "New", ())}}
    assert engine.diff(before, {**before, **new_tag}) == [
        Transition("feature", "9", None, "pending", "New")
    ]


def test_newly_unblocked() -> None:
    before = snap()
    assert engine.newly_unblocked(before, snap(t1_1="done")) == [
        Unblocked("master", "1.2", "Grammar")
    ]
    assert engine.newly_unblocked(before, snap(t1="done")) == [
        Unblocked("master", "2", "Evaluate expressions")
    ]
    # already in progress, or unblocked before: not announced
    assert engine.newly_unblocked(snap(t1="done"), snap(t1="done", t2="in-progress")) == []


def test_observe_baseline_then_transitions(tmp_path: Path, recorder: Recorder) -> None:
    tasks = make_project(tmp_path / "p", git=False)
    ledger = Ledger(tmp_path / "p")
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
    ledger = Ledger(tmp_path / "p")
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
    ledger = Ledger(tmp_path)
    result = observe(tmp_path / "tasks.json", ledger, None)
    assert result.error is not None and "file is missing" in result.error


def test_ledger_survives_a_restart(tmp_path: Path, recorder: Recorder) -> None:
    tasks = make_project(tmp_path / "p", git=False)
    observe(tasks, Ledger(tmp_path / "p"), recorder)
    write_plain(tasks, t2="blocked")  # edited while no daemon ran
    result = observe(tasks, Ledger(tmp_path / "p"), recorder)  # a fresh process
    assert [(c.task_id, c.old, c.new) for c in result.transitions] == [("2", "pending", "blocked")]


def test_corrupt_ledger_starts_a_new_baseline(tmp_path: Path, recorder: Recorder) -> None:
    tasks = make_project(tmp_path / "p", git=False)
    ledger = Ledger(tmp_path / "p")
    observe(tasks, ledger, recorder)
    ledger.path.write_text("{not json")
    assert observe(tasks, Ledger(tmp_path / "p"), recorder).first is True


def test_attributed_splits_outside_edits_from_the_writers(
    tmp_path: Path, recorder: Recorder
) -> None:
    root = tmp_path / "p"
    tasks = make_project(root, git=False)
    observe(tasks, Ledger(root), recorder)
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


def test_attributed_skips_what_the_writer_recorded_itself(
    tmp_path: Path, recorder: Recorder
) -> None:
    root = tmp_path / "p"
    tasks = make_project(root, git=False)
    observe(tasks, Ledger(root), recorder)
    with attributed(root, tasks, "commit", recorder, others="external") as scope:
        write_plain(tasks, t1_1="done", t2="blocked")  # the writer closes 1.1; 2 is someone else
        recorder.transition(root, "1.1", "pending", "done", "commit")
        scope.recorded.add(("1.1", "done"))
    assert transitions() == [
        ("1.1", "pending", "done", "commit"),
        ("2", "pending", "blocked", "external"),
    ]
    assert scope.after is not None
    assert [c.task_id for c in scope.after.recorded_by_writer] == ["1.1"]
    assert observe(tasks, Ledger(root), recorder).changed is False


def test_half_written_file_is_read_again(tmp_path: Path, recorder: Recorder) -> None:
    root = tmp_path / "p"
    tasks = make_project(root, git=False)
    observe(tasks, Ledger(root), recorder)
    tasks.write_text("")  # a writer truncated the file and is about to write it

    def finish() -> None:
        write_plain(tasks, t2="review")

    timer = threading.Timer(0.05, finish)
    timer.start()
    result = observe(tasks, Ledger(root), recorder)
    timer.join()
    if result.error is None:  # the second read came after the write (the usual case)
        assert transitions() == [("2", "pending", "review", "external")]
    else:  # a loaded machine delayed the writer past the grace period
        assert "the file is empty" in result.error


def test_concurrent_observers_record_each_change_once(tmp_path: Path, recorder: Recorder) -> None:
    root = tmp_path / "p"
    tasks = make_project(root, git=False)
    observe(tasks, Ledger(root), recorder)
    write_plain(tasks, t1="in-progress", t2="deferred")

    def look() -> None:
        ledger = Ledger(root)  # each its own, as separate processes would have
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
    ledger = Ledger(tmp_path / "p")
    observe(tasks, ledger, recorder)
    write_plain(tasks, t1="done", t1_1="done", t1_2="done")
    observe(tasks, ledger, recorder)
    kinds = [row[0] for row in query("SELECT kind FROM events ORDER BY id")]
    assert kinds == ["task-unblocked"]


def _engine_project(tmp_path: Path, config: str = "") -> tuple[Path, Path]:
    root = tmp_path / "p"
    tasks = make_project(root)
    if config:
        (root / ".taskmaster" / "tmxd.toml").write_text(config)
    return root, tasks


def test_engine_cascades_external_subtask_edits_when_enabled(
    tmp_path: Path, recorder: Recorder
) -> None:
    root, tasks = _engine_project(tmp_path, "[daemon]\ncascade_external = true\n")
    eng = engine.Engine(recorder)
    spec = eng.open(root)
    assert spec is not None and spec.tasks_path == tasks
    eng.catch_up(root)
    write_plain(tasks, t1_1="done", t1_2="done")  # an editor: the parent is left pending
    eng.handle(root, frozenset({"tasks"}))
    assert '"status": "done"' in tasks.read_text().split('"subtasks"')[0]
    assert transitions() == [
        ("1.1", "pending", "done", "external"),
        ("1.2", "pending", "done", "external"),
        ("1", "pending", "done", "tmxd"),
    ]
    eng.handle(root, frozenset({"tasks"}))  # the daemon sees its own write: nothing new
    assert len(transitions()) == 3
    assert eng.describe(root)["transitions"] == 3


def test_engine_leaves_external_edits_alone_by_default(tmp_path: Path, recorder: Recorder) -> None:
    root, tasks = _engine_project(tmp_path)
    eng = engine.Engine(recorder)
    eng.open(root)
    eng.catch_up(root)
    write_plain(tasks, t1_1="done", t1_2="done")
    before = tasks.read_text()
    eng.handle(root, frozenset({"tasks"}))
    assert tasks.read_text() == before
    assert [r[0] for r in transitions()] == ["1.1", "1.2"]


def test_engine_reports_a_project_it_cannot_load(tmp_path: Path, recorder: Recorder) -> None:
    eng = engine.Engine(recorder)
    assert eng.open(tmp_path / "nothing-here") is None
    assert eng.describe(tmp_path / "nothing-here")["error"]


def test_stale_in_progress_is_announced_once(tmp_path: Path, recorder: Recorder) -> None:
    from daemon_project import query

    root, tasks = _engine_project(tmp_path, "[metrics]\nstale_hours = 0.0\n")
    eng = engine.Engine(recorder)
    eng.open(root)
    eng.catch_up(root)
    write_plain(tasks, t2="in-progress")
    eng.handle(root, frozenset({"tasks"}))
    assert eng.stale_check() == "1 stale task(s)"
    assert eng.stale_check() == "1 stale task(s)"
    events = [row[0] for row in query("SELECT kind FROM events WHERE kind = 'task-stale'")]
    assert events == ["task-stale"]


def test_scheduled_jobs_run_against_the_real_database(tmp_path: Path, recorder: Recorder) -> None:
    root, _ = _engine_project(tmp_path)
    eng = engine.Engine(recorder)
    eng.open(root)
    names = [job[0] for job in eng.jobs()]
    assert names == ["stale-in-progress", "daily-report", "retention"]
    assert "tmxd-" in eng.daily_reports()
    assert eng.daily_reports() == "nothing due"  # once per day
    assert eng.retention() == "nothing deleted"


def test_unusable_database_keeps_the_changes_for_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    root, tasks = _engine_project(tmp_path)
    with Recorder.open() as good:
        eng = engine.Engine(good)
        eng.open(root)
        eng.catch_up(root)  # baseline taken
    bad_db = tmp_path / "not-a-db"
    bad_db.write_text("this is not a database " * 100)
    good_db = os.environ["TMXD_DB"]
    monkeypatch.setenv("TMXD_DB", str(bad_db))
    eng = engine.Engine()
    eng.open(root)
    write_plain(tasks, t2="in-progress")
    eng.handle(root, frozenset({"tasks"}))
    eng.handle(root, frozenset({"tasks"}))
    errors = [r for r in caplog.records if "metrics are not recorded" in r.getMessage()]
    assert len(errors) == 1
    monkeypatch.setenv("TMXD_DB", good_db)  # the database is back
    with Recorder.open() as good:
        eng = engine.Engine(good)
        eng.open(root)
        eng.catch_up(root)
    assert transitions() == [("2", "pending", "in-progress", "external")]


def test_a_file_emptied_moments_ago_is_not_reported_yet(
    tmp_path: Path, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    root, tasks = _engine_project(tmp_path)
    eng = engine.Engine(recorder)
    eng.open(root)
    eng.catch_up(root)
    tasks.write_text("")  # truncated by a slow writer
    eng.handle(root, frozenset({"tasks"}))
    assert eng.describe(root)["error"]  # status shows it
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    old = time.time() - 60
    os.utime(tasks, (old, old))  # still empty a minute later: now it is reported, once
    eng.reconcile(root)
    eng.reconcile(root)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "the file is empty" in errors[0]
    write_plain(tasks, t2="review")
    eng.handle(root, frozenset({"tasks"}))
    assert eng.describe(root)["error"] is None
    assert transitions() == [("2", "pending", "review", "external")]
