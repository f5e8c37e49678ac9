from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from daemonproc import wait_for
from tmxd import clock
from tmxd.schedule import Scheduler


class MemoryJobLog:
    """Keeps job runs in a list; the daemon passes the metrics Recorder instead."""

    def __init__(self, last: dict[str, datetime] | None = None) -> None:
        self.runs: list[tuple[str, bool, str]] = []
        self.last = dict(last or {})
        self.lock = threading.Lock()

    def job_run(
        self, name: str, started: datetime, finished: datetime, ok: bool, detail: str = ""
    ) -> None:
        assert started <= finished
        with self.lock:
            self.runs.append((name, ok, detail))
            if ok:
                self.last[name] = started

    def last_job_run(self, name: str) -> datetime | None:
        return self.last.get(name)


def test_interval_job_runs_and_is_recorded() -> None:
    log = MemoryJobLog({"tick": clock.now()})
    sched = Scheduler(lambda: log)
    ran = threading.Event()
    sched.add_job("tick", lambda: ran.set() or "did it", "interval", seconds=0.2)
    sched.start()
    try:
        assert ran.wait(30)
        wait_for(lambda: log.runs, what="the run to be recorded")
        assert log.runs[0] == ("tick", True, "did it")
        (info,) = sched.jobs()
        assert info.name == "tick"
        assert info.next_run is not None
    finally:
        sched.shutdown()


def test_string_result_is_the_detail() -> None:
    log = MemoryJobLog()
    sched = Scheduler(lambda: log)
    sched.add_job("report", lambda: "3 stale task(s)", "interval", hours=1)  # never ran: catch up
    sched.start()
    try:
        wait_for(lambda: log.runs, what="the catch-up run")
        assert log.runs[0] == ("report", True, "3 stale task(s)")
    finally:
        sched.shutdown()


def test_failing_job_is_recorded_and_keeps_the_scheduler_alive() -> None:
    log = MemoryJobLog({"bad": clock.now(), "good": clock.now()})
    sched = Scheduler(lambda: log)

    def bad() -> None:
        raise RuntimeError("disk on fire")

    sched.add_job("bad", bad, "interval", seconds=0.1)
    good = threading.Event()
    sched.add_job("good", good.set, "interval", seconds=0.1)
    sched.start()
    try:
        wait_for(lambda: any(not ok for _, ok, _ in log.runs), what="the failure to be recorded")
        failure = next(r for r in log.runs if not r[1])
        assert failure == ("bad", False, "RuntimeError: disk on fire")
        assert good.wait(30)
    finally:
        sched.shutdown()


def test_overdue_job_catches_up_at_start_and_recent_one_does_not() -> None:
    log = MemoryJobLog(
        {"daily": clock.now() - timedelta(days=2), "hourly": clock.now() - timedelta(minutes=5)}
    )
    sched = Scheduler(lambda: log)
    sched.add_job("daily", lambda: None, "cron", hour=3)
    sched.add_job("hourly", lambda: None, "interval", hours=1)
    sched.start()
    try:
        wait_for(lambda: ("daily", True, "") in log.runs, what="the daily catch-up run")
        assert all(name != "hourly" for name, _, _ in log.runs)
    finally:
        sched.shutdown()


def test_no_catch_up_when_disabled() -> None:
    log = MemoryJobLog()
    sched = Scheduler(lambda: log)
    sched.add_job("quiet", lambda: None, "interval", hours=1, catch_up=False)
    sched.start()
    try:
        names = [job.name for job in sched.jobs()]
        assert names == ["quiet"]
    finally:
        sched.shutdown()
    assert log.runs == []


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
        wait_for(lambda: calls >= 2, what="two runs")
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
