from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon_project import engine_project as _engine_project
from daemon_project import render, tasks_doc, transitions, write_plain
from helpers import git, saved_by_an_editor_meanwhile
from tmxd.commits import hooks
from tmxd.daemon import engine
from tmxd.daemon.events import HooksSpooled, TasksFileChanged
from tmxd.history import observe
from tmxd.metrics.recorder import Recorder
from tmxd.taskmaster import store


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder.open()
    yield rec
    rec.close()


def test_engine_cascades_external_subtask_edits_when_enabled(
    tmp_path: Path, recorder: Recorder
) -> None:
    root, tasks = _engine_project(tmp_path, "[daemon]\ncascade_external = true\n")
    eng = engine.Engine(recorder)
    spec = eng.open(root)
    assert spec is not None and spec.tasks_path == tasks
    eng.catch_up(root)
    write_plain(tasks, t1_1="done", t1_2="done")  # an editor: the parent is left pending
    eng.handle(TasksFileChanged(root))
    assert '"status": "done"' in tasks.read_text().split('"subtasks"')[0]
    assert transitions() == [
        ("1.1", "pending", "done", "external"),
        ("1.2", "pending", "done", "external"),
        ("1", "pending", "done", "cascade"),
    ]
    eng.handle(TasksFileChanged(root))  # the daemon sees its own write: nothing new
    assert len(transitions()) == 3
    assert eng.describe(root)["transitions"] == 3


def _cascading(tmp_path: Path, recorder: Recorder) -> tuple[engine.Engine, Path, Path]:
    """An engine with a project whose cascade is on, baseline taken: (engine, root, tasks)."""
    root, tasks = _engine_project(tmp_path, "[daemon]\ncascade_external = true\n")
    eng = engine.Engine(recorder)
    eng.open(root)
    eng.catch_up(root)
    return eng, root, tasks


def test_cascade_waits_out_the_grace_window_of_the_edit(tmp_path: Path, recorder: Recorder) -> None:
    eng, root, tasks = _cascading(tmp_path, recorder)
    write_plain(tasks, t1_1="done", t1_2="done")
    edited = tasks.stat().st_mtime
    eng.handle(TasksFileChanged(root))
    assert transitions()[-1] == ("1", "pending", "done", "cascade")
    # the write came once the editor's save was at least the grace window old
    assert tasks.stat().st_mtime - edited >= store.HALF_WRITTEN_GRACE


def test_cascade_never_writes_over_a_file_being_saved_again(
    tmp_path: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng, root, tasks = _cascading(tmp_path, recorder)
    write_plain(tasks, t1_1="done", t1_2="done")
    half = '{"master": {"tasks": [{"id": 1, "title": "Set up'

    saves = [half]

    def editor_saves_again(path: Path) -> bool:  # the next save starts within the window
        if saves:
            path.write_text(saves.pop())
            os.utime(path, (time.time() - 60, time.time() - 60))  # old: not read again later
        return True

    monkeypatch.setattr(engine, "wait_settled", editor_saves_again)
    eng.handle(TasksFileChanged(root))
    assert tasks.read_text() == half  # left as it is
    assert [t[3] for t in transitions()] == ["external", "external"]
    assert eng.describe(root)["error"] is not None
    write_plain(tasks, t1_1="done", t1_2="done")  # the save completes
    eng.handle(TasksFileChanged(root))
    assert transitions()[-1] == ("1", "pending", "done", "cascade")


def test_cascade_follows_edits_seen_while_draining_commits(
    tmp_path: Path, recorder: Recorder
) -> None:
    eng, root, tasks = _cascading(tmp_path, recorder)
    hooks.install(root)
    write_plain(tasks, t1_1="in-progress")  # an editor, then a commit before the edit is seen
    (root / "a.txt").write_text("a")
    git(root, "add", "a.txt")
    git(root, "commit", "-q", "-m", "Start the tokenizer")
    eng.handle(HooksSpooled(root))
    assert transitions() == [
        ("1.1", "pending", "in-progress", "external"),
        ("1", "pending", "in-progress", "cascade"),
    ]


def _committed(root: Path, tasks: Path, text: str) -> None:
    """``text`` as the committed tasks.json (what `git checkout` restores)."""
    tasks.write_text(text)
    git(root, "add", str(tasks))
    git(root, "commit", "-q", "-m", "Tasks")


def _tmxd_set_status(root: Path, task_id: str, status: str) -> None:
    """What `tmxd set-status` does: the change, and its parent's cascade, recorded as tmxd."""
    from tmxd.taskmaster.ops import set_status
    from tmxd.taskmaster.project import find_project
    from tmxd.taskmaster.store import TaskStore

    project = find_project(explicit=root)
    with observe.recording(project.root, project.tasks_path, "tmxd"):
        set_status(TaskStore(project), [task_id], status)


def test_cascade_takes_a_parent_set_in_the_same_edit_as_written(
    tmp_path: Path, recorder: Recorder
) -> None:
    """`git checkout` of a tasks.json whose parent disagrees with its subtasks: the parent
    was set by the edit itself, so the daemon leaves the restored file as it is; an edit of
    a subtask alone (an editor, an MCP server) still has its parent recomputed."""
    eng, root, tasks = _cascading(tmp_path, recorder)
    # done by hand though 1.2 is still pending: committed so
    write_plain(tasks, t1="done", t1_1="done", t1_2="pending")
    eng.handle(TasksFileChanged(root))
    assert [t[3] for t in transitions()] == ["external", "external"]  # 1 and 1.1, no cascade
    committed = tasks.read_text()
    assert '"status": "done"' in committed.split('"subtasks"')[0]  # left as written
    _committed(root, tasks, committed)
    _tmxd_set_status(root, "1.2", "in-progress")  # parent 1: done -> in-progress (tmxd's)
    eng.handle(TasksFileChanged(root))
    assert transitions()[-2:] == [
        ("1", "done", "in-progress", "tmxd"),
        ("1.2", "pending", "in-progress", "tmxd"),
    ]
    seen = len(transitions())
    git(root, "checkout", "--", str(tasks))  # the user discards it: 1 and 1.2 change back
    eng.handle(TasksFileChanged(root))
    assert tasks.read_text() == committed  # byte for byte: the tree is clean
    assert git(root, "status", "--porcelain", "--", str(tasks)) == ""
    assert transitions()[seen:] == [
        ("1", "in-progress", "done", "external"),
        ("1.2", "in-progress", "pending", "external"),
    ]
    eng.handle(TasksFileChanged(root))
    eng.reconcile(root)
    assert tasks.read_text() == committed
    # the control: an editor sets the subtask alone and leaves the parent done
    write_plain(tasks, t1="done", t1_1="done", t1_2="in-progress")
    eng.handle(TasksFileChanged(root))
    assert transitions()[seen + 2 :] == [
        ("1.2", "pending", "in-progress", "external"),
        ("1", "done", "in-progress", "cascade"),
    ]


def _statusless(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with task 1's subtasks carrying no status field (Task Master reads pending)."""
    for sub in doc["master"]["tasks"][0]["subtasks"]:
        del sub["status"]
    return doc


def test_cascade_leaves_a_done_parent_of_statusless_subtasks_restored_by_checkout(
    tmp_path: Path, recorder: Recorder
) -> None:
    """A done parent whose subtasks have no status (they read as pending): restoring it
    (`git checkout .`) after tmxd started a subtask must not reopen it as pending."""
    root, tasks = _engine_project(tmp_path, "[daemon]\ncascade_external = true\n")
    _committed(root, tasks, render(_statusless(tasks_doc(t1="done"))))
    committed = tasks.read_text()
    eng = engine.Engine(recorder)
    eng.open(root)
    eng.catch_up(root)  # the first look: the baseline, nothing written
    _tmxd_set_status(root, "1.1", "in-progress")
    eng.handle(TasksFileChanged(root))
    assert transitions() == [
        ("1", "done", "in-progress", "tmxd"),
        ("1.1", "pending", "in-progress", "tmxd"),
    ]
    git(root, "checkout", ".")
    eng.handle(TasksFileChanged(root))
    assert tasks.read_text() == committed
    assert git(root, "status", "--porcelain", "--", str(tasks)) == ""
    assert transitions()[2:] == [
        ("1", "in-progress", "done", "external"),
        ("1.1", "in-progress", "pending", "external"),
    ]
    # the control: an MCP server starts the subtask and leaves the parent done
    doc = _statusless(tasks_doc(t1="done"))
    doc["master"]["tasks"][0]["subtasks"][0]["status"] = "in-progress"
    tasks.write_text(render(doc))
    eng.handle(TasksFileChanged(root))
    assert transitions()[4:] == [
        ("1.1", "pending", "in-progress", "external"),
        ("1", "done", "in-progress", "cascade"),
    ]


def test_starting_on_a_parent_that_disagrees_with_its_subtasks_writes_nothing(
    tmp_path: Path, recorder: Recorder
) -> None:
    """The first look is the baseline, and a restart sees no change: no cascade either way."""
    root, tasks = _engine_project(tmp_path, "[daemon]\ncascade_external = true\n")
    write_plain(tasks, t1="done", t1_1="in-progress", t1_2="pending")
    before = tasks.read_text()
    for _start in range(2):  # the first start (no snapshot yet), then a restart
        eng = engine.Engine(recorder)
        eng.open(root)
        eng.catch_up(root)
        eng.reconcile(root)
        assert tasks.read_text() == before
    assert transitions() == []


def test_an_edit_folded_into_the_cascade_that_sets_the_parent_is_taken_as_written(
    tmp_path: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Edits that arrive while the cascade waits out the grace window are folded in by the
    same rule, in order: the later edit set the parent itself, so it is not recomputed."""
    eng, root, tasks = _cascading(tmp_path, recorder)
    write_plain(tasks, t1_1="in-progress")  # an editor: parent 1 due (pending)
    restored = render(tasks_doc(t1="review", t1_1="in-progress"))

    def user_edits_meanwhile(path: Path) -> bool:
        path.write_text(restored)  # the parent, set by hand
        return True

    monkeypatch.setattr(engine, "wait_settled", user_edits_meanwhile)
    eng.handle(TasksFileChanged(root))
    assert tasks.read_text() == restored
    assert transitions() == [
        ("1.1", "pending", "in-progress", "external"),
        ("1", "pending", "review", "external"),
    ]
    # the control: a subtask alone, then another one meanwhile: the parent follows both
    write_plain(tasks, t1="review", t1_1="done")

    def editor_edits_meanwhile(path: Path) -> bool:
        write_plain(path, t1="review", t1_1="done", t1_2="done")
        return True

    monkeypatch.setattr(engine, "wait_settled", editor_edits_meanwhile)
    eng.handle(TasksFileChanged(root))
    assert transitions()[2:] == [
        ("1.1", "in-progress", "done", "external"),
        ("1.2", "pending", "done", "external"),
        ("1", "review", "done", "cascade"),
    ]


def test_engine_leaves_external_edits_alone_by_default(tmp_path: Path, recorder: Recorder) -> None:
    root, tasks = _engine_project(tmp_path)
    eng = engine.Engine(recorder)
    eng.open(root)
    eng.catch_up(root)
    write_plain(tasks, t1_1="done", t1_2="done")
    before = tasks.read_text()
    eng.handle(TasksFileChanged(root))
    assert tasks.read_text() == before
    assert [r[0] for r in transitions()] == ["1.1", "1.2"]


def test_engine_reports_a_project_it_cannot_load(tmp_path: Path, recorder: Recorder) -> None:
    eng = engine.Engine(recorder)
    assert eng.open(tmp_path / "nothing-here") is None
    assert eng.describe(tmp_path / "nothing-here")["error"]


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
    eng.handle(TasksFileChanged(root))
    eng.handle(TasksFileChanged(root))
    errors = [r for r in caplog.records if "metrics are not recorded" in r.getMessage()]
    assert len(errors) == 1
    monkeypatch.setenv("TMXD_DB", good_db)  # the database is back
    with Recorder.open() as good:
        eng = engine.Engine(good)
        eng.open(root)
        eng.catch_up(root)
    assert transitions() == [("2", "pending", "in-progress", "external")]


@pytest.mark.parametrize(
    ("half", "reason"), [("", "the file is empty"), ('{\n  "master": {\n    "tas', "line 3")]
)
def test_a_save_still_being_written_is_debug_until_the_grace_period_passes(
    tmp_path: Path, recorder: Recorder, caplog: pytest.LogCaptureFixture, half: str, reason: str
) -> None:
    """An editor that truncates, then writes (not atomic): no ERROR for doctor to count."""
    caplog.set_level(logging.DEBUG, logger="tmxd.engine")
    root, tasks = _engine_project(tmp_path)
    rechecks: list[tuple[Path, float]] = []
    eng = engine.Engine(recorder, recheck=lambda r, delay: rechecks.append((r, delay)))
    eng.open(root)
    eng.catch_up(root)
    tasks.write_text(half)  # the first part of a save
    eng.handle(TasksFileChanged(root))
    assert eng.describe(root)["error"]  # status shows it
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert any(reason in r.getMessage() for r in caplog.records if r.levelname == "DEBUG")
    assert len(rechecks) == 1 and rechecks[0][0] == root
    assert 0 < rechecks[0][1] <= engine.INVALID_GRACE + 0.1
    old = time.time() - 60
    os.utime(tasks, (old, old))  # the recheck: still broken once the grace has passed
    eng.handle(TasksFileChanged(root))
    eng.reconcile(root)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and reason in errors[0]
    write_plain(tasks, t2="review")
    eng.handle(TasksFileChanged(root))
    assert eng.describe(root)["error"] is None
    assert transitions() == [("2", "pending", "review", "external")]


def test_a_look_at_a_save_under_way_reported_late_is_looked_at_again(
    tmp_path: Path, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """The file was read empty a moment after an editor truncated it, and the result is
    reported only seconds later (a sync ran first, the machine was busy): by then the
    file's write is old, but what was read was a save under way. No ERROR: it is looked
    at again, and that look, of the finished save, decides."""
    caplog.set_level(logging.DEBUG, logger="tmxd.engine")
    root, tasks = _engine_project(tmp_path)
    rechecks: list[float] = []
    eng = engine.Engine(recorder, recheck=lambda r, delay: rechecks.append(delay))
    eng.open(root)
    eng.catch_up(root)
    (state,) = eng.states()
    good = tasks.read_text()
    tasks.write_text("")  # the editor truncated the file
    with state.ledger.locked():
        seen = observe.observe(tasks, state.ledger, recorder)
    assert seen.error and "the file is empty" in seen.error
    assert seen.written_before is not None and seen.written_before < engine.INVALID_GRACE
    tasks.write_text(good)  # the save finished...
    old = time.time() - 60
    os.utime(tasks, (old, old))  # ...long before the late report
    eng._report(state, seen, "external")
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert rechecks == [0.1]
    eng.reconcile(root)  # the look again: the finished save
    assert eng.describe(root)["error"] is None
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_save_completed_within_the_grace_period_logs_no_error(
    tmp_path: Path, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    root, tasks = _engine_project(tmp_path)
    eng = engine.Engine(recorder, recheck=lambda r, delay: None)
    eng.open(root)
    eng.catch_up(root)
    tasks.write_text('{\n  "master": {')
    eng.handle(TasksFileChanged(root))
    write_plain(tasks, t2="done")  # the rest of the save
    eng.handle(TasksFileChanged(root))
    assert eng.describe(root)["error"] is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert transitions() == [("2", "pending", "done", "external")]


def _caught_up(tmp_path: Path, recorder: Recorder) -> tuple[Path, Path, engine.Engine]:
    """``(root, tasks.json, engine)``: a git project with the hooks, opened and caught up."""
    root, tasks = _engine_project(tmp_path)
    hooks.install(root)
    eng = engine.Engine(recorder, recheck=lambda r, delay: None)
    eng.open(root)
    eng.catch_up(root)
    return root, tasks, eng


def _commit_write_it(root: Path, trailer: str) -> None:
    """Commit a new src.txt as "Write it", with ``trailer`` in the message."""
    (root / "src.txt").write_text("x\n")
    git(root, "add", "src.txt")
    git(root, "commit", "-q", "-m", "Write it", "-m", trailer)


def test_commits_spooled_while_tasks_json_was_invalid_are_noted_once_it_reads_again(
    tmp_path: Path, recorder: Recorder
) -> None:
    from tmxd.taskmaster.project import find_project
    from tmxd.taskmaster.store import TaskStore

    root, tasks, eng = _caught_up(tmp_path, recorder)
    good = tasks.read_text()
    tasks.write_text(good[: len(good) // 2])
    _commit_write_it(root, "Task: 2")
    eng.handle(HooksSpooled(root))
    assert eng.describe(root)["sync_error"]  # the note waits in the spool
    tasks.write_text(good)
    eng.handle(TasksFileChanged(root))  # the fix: no new hook event, no reconcile
    info = eng.describe(root)
    assert info["sync_error"] is None and info["notes"] == 1
    task = TaskStore(find_project(explicit=root)).read().find("2", "master")
    assert task is not None and "Committed changes: Write it (" in task.details


def _editor_saves(monkeypatch: pytest.MonkeyPatch, tasks: Path, times: int) -> list[int]:
    """Saves setting task 1 in progress, each with its own trailing blank lines."""

    def save(n: int) -> None:
        tasks.write_text(render(tasks_doc(t1="in-progress")) + "\n" * (n + 1))

    return saved_by_an_editor_meanwhile(monkeypatch, times, save)


def test_a_project_is_caught_up_once_its_first_look_and_drain_are_done(
    tmp_path: Path, recorder: Recorder
) -> None:
    root, _tasks = _engine_project(tmp_path)
    hooks.install(root)
    eng = engine.Engine(recorder, recheck=lambda r, delay: None)
    assert eng.open(root) is not None and not eng.describe(root)["caught_up"]
    eng.catch_up(root)
    assert eng.describe(root)["caught_up"]


def test_an_editor_save_during_a_drain_stands_and_the_note_is_written_on_it(
    tmp_path: Path,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An editor does not take Task Master's lock: its save between the drain's read and
    its write is kept, and the commit's note is written on top of it."""
    caplog.set_level(logging.INFO, logger="tmxd.engine")
    root, tasks, eng = _caught_up(tmp_path, recorder)
    _commit_write_it(root, "Task: 2")
    saves = _editor_saves(monkeypatch, tasks, times=1)
    eng.handle(HooksSpooled(root))
    assert saves == [0]
    text = tasks.read_text()
    assert '"status": "in-progress"' in text and "Committed changes: Write it (" in text
    eng.handle(TasksFileChanged(root))  # the save's own change event
    info = eng.describe(root)
    assert (info["transitions"], info["notes"], info["sync_error"]) == (1, 1, None)
    assert ("1", "pending", "in-progress", "external") in transitions()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_drain_meeting_save_after_save_waits_for_the_next_change(
    tmp_path: Path,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tmxd.engine")
    root, tasks, eng = _caught_up(tmp_path, recorder)
    _commit_write_it(root, "Task: 2")
    saves = _editor_saves(monkeypatch, tasks, times=store.SAVE_ATTEMPTS)
    eng.handle(HooksSpooled(root))
    assert len(saves) == store.SAVE_ATTEMPTS
    text = tasks.read_text()
    assert '"status": "in-progress"' in text and "Committed changes" not in text  # it stands
    assert eng.describe(root)["notes"] == 0  # the commit waits in the spool
    eng.handle(TasksFileChanged(root))  # the last save's change event
    info = eng.describe(root)
    assert (info["transitions"], info["notes"], info["sync_error"]) == (1, 1, None)
    assert "Committed changes: Write it (" in tasks.read_text()
    messages = [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [m for m in messages if "works again" in m]
    assert f"{tasks}: saved by another program while commit notes were written; " in "".join(
        messages
    )


def test_a_link_word_from_elsewhere_is_logged_with_the_trailer_tmxd_reads(
    tmp_path: Path, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tmxd.engine")
    root, _tasks, eng = _caught_up(tmp_path, recorder)
    _commit_write_it(root, "Closes: 2")
    sha = git(root, "rev-parse", "--short=7", "HEAD").strip()
    eng.handle(HooksSpooled(root))
    logged = [r.getMessage() for r in caplog.records]
    assert (
        f"{root}: commit {sha}: 'Closes: 2' is not read as a task link; tmxd reads 'Closes-Task: 2'"
    ) in logged


def test_what_the_engine_logs_is_written_before_its_status_shows_it(
    tmp_path: Path, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """Whoever waits for `tmxd status` to show a change (the demo) finds its log lines."""
    root, _ = _engine_project(tmp_path)
    hooks.install(root)
    eng = engine.Engine(recorder)
    eng.open(root)
    eng.catch_up(root)
    at_log_time: list[tuple[str, int, int]] = []

    class Probe(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            info = eng.describe(root)
            at_log_time.append((record.getMessage(), info["transitions"], info["notes"]))

    probe = Probe()
    caplog.set_level(logging.INFO, logger="tmxd.engine")
    logging.getLogger("tmxd.engine").addHandler(probe)
    try:
        _commit_write_it(root, "Closes-Task: 2")
        eng.handle(HooksSpooled(root))
    finally:
        logging.getLogger("tmxd.engine").removeHandler(probe)
    noted = [seen for seen in at_log_time if "note for commit" in seen[0]]
    closed = [seen for seen in at_log_time if "task 2 pending -> done (commit" in seen[0]]
    assert len(noted) == 1 and noted[0][2] == 0  # logged while the status still says 0 notes
    assert len(closed) == 1 and closed[0][1] == 0  # ... and 0 transitions
    info = eng.describe(root)
    assert (info["transitions"], info["notes"]) == (1, 1)


def test_a_project_outside_git_is_one_warning_not_an_error_per_pass(
    tmp_path: Path, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    from daemon_project import make_project

    root = tmp_path / "nogit"
    tasks = make_project(root, git=False)
    caplog.set_level(logging.INFO, logger="tmxd.engine")
    eng = engine.Engine(recorder)
    assert eng.open(root) is not None
    eng.catch_up(root)
    write_plain(tasks, t1="in-progress")
    eng.handle(TasksFileChanged(root))
    eng.reconcile(root)
    eng.handle(HooksSpooled(root))
    assert transitions() == [("1", "pending", "in-progress", "external")]  # the rest works
    assert [r.levelname for r in caplog.records if r.levelname in ("WARNING", "ERROR")] == [
        "WARNING"
    ]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning == (
        f"{root}: not in a git repository: its commits cannot be linked to tasks "
        "(`git init`, then `tmxd hooks install`)"
    )
