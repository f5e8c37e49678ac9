from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon_project import engine_project as _engine_project
from daemon_project import write_plain
from tmxd.daemon import engine, jobs
from tmxd.daemon.events import TasksFileChanged
from tmxd.metrics.recorder import Recorder


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
