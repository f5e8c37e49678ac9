from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from helpers import wait_until
from tmxd import clock
from tmxd.daemon.schedule import Scheduler
from tmxd.metrics.recorder import Recorder


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder.open()
    yield rec
    rec.close()


def ran_before(rec: Recorder, name: str, ago: timedelta) -> None:
    """A successful run of ``name`` recorded ``ago`` (what a previous daemon left)."""
    moment = clock.now() - ago
    rec.job_run(name, moment, moment, True, "earlier")


def runs(rec: Recorder) -> list[tuple[str, bool, str]]:
    rows = rec.db.execute(
        "SELECT name, ok, detail FROM job_runs WHERE detail != 'earlier' ORDER BY id"
    ).fetchall()
    return [(name, bool(ok), detail) for name, ok, detail in rows]


def test_interval_job_runs_and_is_recorded(recorder: Recorder) -> None:
    ran_before(recorder, "tick", timedelta(0))
    sched = Scheduler(lambda: recorder)
    ran = threading.Event()
    sched.add_job("tick", lambda: ran.set() or "did it", "interval", seconds=0.2)
    sched.start()
    try:
        assert ran.wait(30)
        wait_until(lambda: runs(recorder), what="the run to be recorded")
        assert runs(recorder)[0] == ("tick", True, "did it")
        (info,) = sched.jobs()
        assert info.name == "tick"
        assert info.next_run is not None
    finally:
        sched.shutdown()


def test_string_result_is_the_detail(recorder: Recorder) -> None:
    sched = Scheduler(lambda: recorder)
    sched.add_job("report", lambda: "3 stale task(s)", "interval", hours=1)  # never ran: catch up
    sched.start()
    try:
        wait_until(lambda: runs(recorder), what="the catch-up run")
        assert runs(recorder)[0] == ("report", True, "3 stale task(s)")
    finally:
        sched.shutdown()


def test_failing_job_is_recorded_and_keeps_the_scheduler_alive(recorder: Recorder) -> None:
    ran_before(recorder, "bad", timedelta(0))
    ran_before(recorder, "good", timedelta(0))
    sched = Scheduler(lambda: recorder)

    def bad() -> None:
        raise RuntimeError("disk on fire")

    sched.add_job("bad", bad, "interval", seconds=0.1)
    good = threading.Event()
    sched.add_job("good", good.set, "interval", seconds=0.1)
    sched.start()
    try:
        wait_until(
            lambda: any(not ok for _, ok, _ in runs(recorder)), what="the failure to be recorded"
        )
        failure = next(r for r in runs(recorder) if not r[1])
        assert failure == ("bad", False, "RuntimeError: disk on fire")
        assert good.wait(30)
    finally:
        sched.shutdown()


def test_overdue_job_catches_up_at_start_and_recent_one_does_not(recorder: Recorder) -> None:
    ran_before(recorder, "daily", timedelta(days=2))
    ran_before(recorder, "hourly", timedelta(minutes=5))
    sched = Scheduler(lambda: recorder)
    sched.add_job("daily", lambda: None, "cron", hour=3)
    sched.add_job("hourly", lambda: None, "interval", hours=1)
    sched.start()
    try:
        wait_until(lambda: ("daily", True, "") in runs(recorder), what="the daily catch-up run")
        assert all(name != "hourly" for name, _, _ in runs(recorder))
        (hourly,) = [job for job in sched.jobs() if job.name == "hourly"]
        assert hourly.next_run is not None
        assert hourly.next_run > clock.now() + timedelta(minutes=30)  # its normal hour
    finally:
        sched.shutdown()


def test_no_catch_up_when_disabled(recorder: Recorder) -> None:
    sched = Scheduler(lambda: recorder)
    sched.add_job("quiet", lambda: None, "interval", hours=1, catch_up=False)
    sched.add_job("eager", lambda: None, "interval", hours=1)  # never ran either: catches up
    sched.start()
    try:
        next_run = {job.name: job.next_run for job in sched.jobs()}
        soon = clock.now() + timedelta(minutes=30)
        assert next_run["eager"] is not None and next_run["eager"] < soon
        assert next_run["quiet"] is not None and next_run["quiet"] > soon
    finally:
        sched.shutdown()
    assert all(name != "quiet" for name, _, _ in runs(recorder))


def test_jobs_never_overlap_and_coalesce() -> None:
    sched = Scheduler(None)
    running = 0
    peak = 0
    lock = threading.Lock()
    release = threading.Event()
    calls = 0

    def slow() -> None:
        nonlocal running, peak, calls
        with lock:
            running += 1
            calls += 1
            peak = max(peak, running)
        release.wait(1.0)
        with lock:
            running -= 1

    sched.add_job("slow", slow, "interval", seconds=0.05, catch_up=False)
    sched.start()
    try:
        wait_until(lambda: calls >= 2, what="two runs")
    finally:
        release.set()
        sched.shutdown()
    assert peak == 1


def test_run_now_and_unknown_trigger() -> None:
    sched = Scheduler(None)
    ran = threading.Event()
    sched.add_job("later", ran.set, "interval", hours=5, catch_up=False)
    sched.start()
    try:
        sched.run_now("later")
        assert ran.wait(30)
        with pytest.raises(KeyError):
            sched.run_now("missing")
    finally:
        sched.shutdown()
    with pytest.raises(ValueError, match="unknown trigger"):
        Scheduler(None).add_job("x", lambda: None, "weekly")


def test_job_that_records_itself_is_not_recorded_twice(recorder: Recorder) -> None:
    def report() -> str:
        now = clock.now()
        recorder.job_run("self-recording", now, now, True, "by the job")
        return "ignored"

    sched = Scheduler(lambda: recorder)
    sched.add_job("self-recording", report, "interval", hours=1, record=False)
    sched.start()
    try:
        wait_until(lambda: runs(recorder), what="the job's own row")
    finally:
        sched.shutdown()
    assert runs(recorder) == [("self-recording", True, "by the job")]
