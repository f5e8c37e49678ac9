from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from daemon_project import engine_project as _engine_project
from daemon_project import write_plain
from helpers import wait_until
from tmxd import clock
from tmxd.daemon import engine, jobs
from tmxd.daemon.events import TasksFileChanged
from tmxd.history.observe import observe
from tmxd.metrics.recorder import Recorder
from tmxd.metrics.report import ReportQuery, build_report


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder.open()
    yield rec
    rec.close()


def test_stale_in_progress_is_announced_once(tmp_path: Path, recorder: Recorder) -> None:
    from daemon_project import query

    root, tasks = _engine_project(tmp_path, "[metrics]\nstale_hours = 0.0\n")
    eng = engine.Engine(recorder)
    eng.open(root)
    eng.catch_up(root)
    write_plain(tasks, t2="in-progress")
    eng.handle(TasksFileChanged(root))
    assert jobs.stale_check(eng) == "1 stale task(s)"
    assert jobs.stale_check(eng) == "1 stale task(s)"
    events = [row[0] for row in query("SELECT kind FROM events WHERE kind = 'task-stale'")]
    assert events == ["task-stale"]


def test_scheduled_jobs_run_against_the_real_database(tmp_path: Path, recorder: Recorder) -> None:
    root, _ = _engine_project(tmp_path)
    eng = engine.Engine(recorder)
    eng.open(root)
    names = [job[0] for job in jobs.scheduled(eng)]
    assert names == ["stale-in-progress", "daily-report", "retention"]
    assert "tmxd-" in jobs.daily_reports(eng)
    assert jobs.daily_reports(eng) == "nothing due"  # once per day
    assert jobs.retention(eng) == "nothing deleted"


def test_the_daemon_and_the_report_share_one_stale_rule(tmp_path: Path, recorder: Recorder) -> None:
    """In progress for 30 h: 1.1 (and so its parent 1) had a commit 2 h ago, 3 had none."""
    from daemon_project import query

    root, tasks = _engine_project(tmp_path, "[metrics]\nstale_hours = 24\n")
    eng = engine.Engine(recorder)
    eng.open(root)
    now = clock.now()
    (state,) = eng.states()
    with state.ledger.locked():  # the first look (the baseline), then the edit, in the past
        observe(tasks, state.ledger, recorder, at=now - timedelta(hours=31))
        write_plain(tasks, t1="in-progress", t1_1="in-progress", t3="in-progress")
        observe(tasks, state.ledger, recorder, at=now - timedelta(hours=30))
    two_hours_ago = now - timedelta(hours=2)
    recorder.commit(root, "a" * 40, "Lexer", "dev", two_hours_ago, 1, 5, 0, "main", ["1.1"])
    assert jobs.stale_check(eng) == "1 stale task(s)"
    events = query("SELECT data FROM events WHERE kind = 'task-stale'")
    assert [json.loads(row[0])["task_id"] for row in events] == ["3"]
    reported = build_report(recorder.db.conn, ReportQuery(project=root, stale_hours=24))
    assert [row["task"] for row in reported["stale_in_progress"]] == ["3"]


def test_a_stale_task_runs_the_notify_command_once(tmp_path: Path, recorder: Recorder) -> None:
    from notify_support import notify_toml, received, recorder_command

    command, out = recorder_command(tmp_path, "{event}", "{task}", "{message}")
    config = "[metrics]\nstale_hours = 0.0\n" + notify_toml(command, ["task-stale"])
    root, tasks = _engine_project(tmp_path, config)
    eng = engine.Engine(recorder)
    try:
        eng.open(root)
        eng.catch_up(root)
        write_plain(tasks, t2="in-progress")
        eng.handle(TasksFileChanged(root))
        jobs.stale_check(eng)
        jobs.stale_check(eng)  # the same spell in progress: told once
        # close() gives what is queued a few seconds, then drops it: wait for the command
        wait_until(lambda: eng.notifier.sent >= 1, what="the notify command to run")
    finally:
        eng.close()  # runs what was queued, then stops the notifier's thread
    assert received(out) == [
        [
            "task-stale",
            "2",
            "p: task 2 is stale: in progress for 0 h, no commit since it started: "
            "Evaluate expressions",
        ]
    ]
